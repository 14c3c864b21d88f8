"""Spectral normalization and the weight initializations of SAGAN / BigGAN.

Miyato, Kataoka, Koyama & Yoshida 2018, "Spectral Normalization for Generative
Adversarial Networks", Eq. 8: a layer's weight is used as W / σ(W), σ(W) its
largest singular value, estimated by one power iteration per forward pass in
training mode (Algorithm 1) on persistent vectors u, v. The layer is PyTorch's
``torch.nn.utils.parametrizations.spectral_norm``; this file adds what the zoo
needs around it:

* ``raw_weight`` — the trainable, unnormalized weight (``original`` under the
  parametrization), which is what an initializer or a regularizer must touch:
  ``module.weight`` is recomputed W / σ on every access, so writing into it is lost;
* ``reset_spectral_norm_`` — redraws u, v from the global RNG and runs 15 power
  iterations (what the parametrization does at construction), so that a model
  re-initialized from a seed has the same u, v as one built from that seed;
* ``gan_init_`` — SAGAN's Xavier-uniform or BigGAN's orthogonal init of the raw
  weights (Brock et al. 2019, App. B), then the u, v reset.

u and v are buffers (``parametrizations.weight.0._u`` / ``._v`` in the state
dict), so checkpoints carry them and a resumed run continues the same power
iteration.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils import parametrize
from torch.nn.utils.parametrizations import spectral_norm

GAN_INITS = ("ortho", "xavier", "N02")
_WEIGHTED = (nn.Conv2d, nn.Linear, nn.Embedding)


def maybe_sn(module: nn.Module, enabled: bool) -> nn.Module:
    """``spectral_norm(module)`` (one power iteration per training forward) if enabled, else module."""
    return spectral_norm(module) if enabled else module


def raw_weight(module: nn.Module) -> torch.Tensor:
    """The trainable weight of a layer: the parametrization's ``original`` if it has one."""
    if parametrize.is_parametrized(module, "weight"):
        return module.parametrizations.weight.original
    return module.weight


@torch.no_grad()
def reset_spectral_norm_(module: nn.Module) -> None:
    """Redraw u ~ N(0, I), v ~ N(0, I) (normalized) of every spectral norm on
    ``module``'s weight and run 15 power iterations on its current raw weight,
    as ``spectral_norm`` does when it is applied. No-op for other modules."""
    if not parametrize.is_parametrized(module, "weight"):
        return
    w = module.parametrizations.weight.original
    for p in module.parametrizations.weight:
        if hasattr(p, "_u"):  # a torch _SpectralNorm (1-D weights have no u, v)
            p._u.copy_(F.normalize(torch.randn_like(p._u), dim=0, eps=p.eps))
            p._v.copy_(F.normalize(torch.randn_like(p._v), dim=0, eps=p.eps))
            p._power_method(p._reshape_weight_to_matrix(w), 15)


@torch.no_grad()
def gan_init_(module: nn.Module, kind: str = "ortho") -> None:
    """Initialize one module (use with ``model.apply``): conv / linear / embedding
    raw weights by ``kind`` ("ortho": orthogonal, Saxe et al. 2014, BigGAN;
    "xavier": Glorot-uniform, the SAGAN code; "N02": N(0, 0.02²)), biases 0,
    then reset its spectral-norm vectors. Batch norm keeps PyTorch's init (γ 1, β 0)."""
    if kind not in GAN_INITS:
        raise ValueError(f"unknown init {kind!r}: choose one of {', '.join(GAN_INITS)}")
    if not isinstance(module, _WEIGHTED):
        return
    w = raw_weight(module)
    if kind == "ortho":
        nn.init.orthogonal_(w)
    elif kind == "xavier":
        nn.init.xavier_uniform_(w)
    else:
        nn.init.normal_(w, 0.0, 0.02)
    if getattr(module, "bias", None) is not None:
        nn.init.zeros_(module.bias)
    reset_spectral_norm_(module)
