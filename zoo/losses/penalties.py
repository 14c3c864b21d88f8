"""Discriminator regularizers: the WGAN-GP gradient penalty, R1 and ProGAN's drift term.

* Gulrajani et al. 2017, "Improved Training of Wasserstein GANs", Eq. 3:
  λ · E_x̂[(‖∇_x̂ D(x̂)‖₂ − 1)²], x̂ = ε·x_real + (1 − ε)·x_fake, ε ~ U[0, 1]
  per sample (λ = 10).
* Mescheder, Geiger & Nowozin 2018, "Which Training Methods for GANs do
  actually Converge?", Eq. 9: R1 = (γ/2) · E_x_real[‖∇_x D(x)‖²] (γ = 10 in
  StyleGAN); the γ/2 factor is the caller's.
* Karras et al. 2018 (ProGAN), App. A.1: ε_drift · E_x_real[D(x)²] keeps the
  critic's output near zero (ε_drift = 0.001).

All return scalar float32 tensors that keep the graph (create_graph), so the
penalties train D through its input gradients.
"""

from __future__ import annotations

from typing import Callable

import torch

from zoo.train.distributed import draw_rows


def gradient_penalty(critic: Callable[[torch.Tensor], torch.Tensor], real: torch.Tensor, fake: torch.Tensor,
                     generator: torch.Generator | None = None, target: float = 1.0) -> torch.Tensor:
    """E[(‖∇D(x̂)‖₂ − target)²] at random interpolates x̂ of ``real`` and ``fake`` (N, ...).

    ε ~ U[0, 1] per sample is drawn from ``generator`` (global RNG if None) on
    its own device, so the penalty is reproducible from the training noise. In
    data-parallel training each rank gets its rows of the one-process draw
    (:func:`zoo.train.distributed.draw_rows`), as the models' noise does.
    """
    where = generator.device if generator is not None else real.device
    shape = (1,) * (real.ndim - 1)
    eps = draw_rows(lambda n: torch.rand((n, *shape), generator=generator, device=where), real.shape[0])
    eps = eps.to(real.device)
    x_hat = torch.lerp(fake.detach(), real.detach(), eps).requires_grad_(True)
    grad, = torch.autograd.grad(critic(x_hat).float().sum(), x_hat, create_graph=True)
    return (grad.float().flatten(1).norm(dim=1) - target).pow(2).mean()


def r1_penalty(real_scores: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
    """E[‖∇_x D(x)‖²] for real images ``real`` (N, ...) that require grad, given ``real_scores = D(real)`` (N,)."""
    grad, = torch.autograd.grad(real_scores.float().sum(), real, create_graph=True)
    return grad.float().pow(2).flatten(1).sum(dim=1).mean()


def drift_penalty(real_scores: torch.Tensor) -> torch.Tensor:
    """E[D(x_real)²] (ProGAN's drift term, before its ε_drift factor)."""
    return real_scores.float().pow(2).mean()
