"""Pieces of the evidence lower bound and the importance-weighted bound.

Kingma & Welling 2014, "Auto-Encoding Variational Bayes": ELBO
L(x) = E_q(z|x)[log p(x|z)] − KL(q(z|x) ‖ p(z)) (Eq. 3), with the closed-form
Gaussian KL of Appendix B. Burda, Grosse & Salakhutdinov 2016, "Importance
Weighted Autoencoders": L_k(x) = E[log (1/k) Σ_i p(x, z_i) / q(z_i|x)] (Eq. 8),
L_1 = ELBO ≤ L_k ≤ L_{k+1} ≤ log p(x).

All log densities are in nats and summed over every non-batch dimension, so
each function returns shape (N,).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

LOG_2PI = math.log(2.0 * math.pi)


def _sum_per_sample(t: torch.Tensor) -> torch.Tensor:
    return t.flatten(1).sum(dim=1)


def kl_normal_standard(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)
    (Kingma & Welling 2014, Appendix B). mu, logvar: (N, L) → (N,)."""
    return 0.5 * _sum_per_sample(mu.pow(2) + logvar.exp() - 1.0 - logvar)


def normal_log_prob(z: torch.Tensor, mu: torch.Tensor | float = 0.0, logvar: torch.Tensor | float = 0.0) -> torch.Tensor:
    """log N(z; μ, diag σ²) summed over non-batch dims: (N, ...) → (N,)."""
    logvar = torch.as_tensor(logvar, dtype=z.dtype, device=z.device)
    return _sum_per_sample(-0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar)))


def bernoulli_log_likelihood(x: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """log Bern(x; σ(logits)) = x·l − softplus(l), summed: (N, ...) → (N,).

    x in [0, 1]. For binary x this is an exact log-probability; for gray
    levels it is the negative binary cross-entropy commonly reported on
    non-binarized MNIST (not a normalized density over [0, 1]).
    """
    logits = logits.float()
    return _sum_per_sample(x * logits - F.softplus(logits))


def gaussian_log_likelihood(x: torch.Tensor, mean: torch.Tensor, log_sigma: torch.Tensor | float) -> torch.Tensor:
    """log N(x; mean, σ²) with σ fixed (a float) or learned (a tensor
    broadcastable to x), summed over non-batch dims: (N, ...) → (N,)."""
    log_sigma = torch.as_tensor(log_sigma, dtype=mean.dtype, device=mean.device)
    return _sum_per_sample(-0.5 * LOG_2PI - log_sigma - 0.5 * ((x - mean) * torch.exp(-log_sigma)).pow(2))


def log_mean_exp(a: torch.Tensor, dim: int = 0) -> torch.Tensor:
    """log (1/k) Σ_i exp(a_i) along ``dim`` (k = a.shape[dim]), stably via logsumexp."""
    return torch.logsumexp(a, dim=dim) - math.log(a.shape[dim])


def bits_per_dim(log_px: torch.Tensor, num_dims: int, bin_width: float | None = None) -> torch.Tensor:
    """Negative log-likelihood in bits per dimension from a bound in nats.

    Discrete likelihoods (``bin_width=None``, e.g. a Bernoulli decoder):
    NLL = −log p(x) / (D ln 2).

    Densities on dequantized 8-bit data: if y = x + u, u uniform over the
    quantization bin of width Δ (in the model's units), then log P(x) ≥
    log p(y) + D·log Δ (Theis et al. 2016, "A note on the evaluation of
    generative models", Sec. 3.1), so NLL = −(log p(y) + D log Δ) / (D ln 2).
    For 8-bit images on the [-1, 1] scale Δ = 2/256, i.e. +7 bits/dim.
    """
    correction = 0.0 if bin_width is None else num_dims * math.log(bin_width)
    return -(log_px.double() + correction) / (num_dims * math.log(2.0))


DEQUANTIZED_BIN_WIDTH = 2.0 / 256.0


def dequantize_uint8(images: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """uint8 (N, C, H, W) 0..255 → float32 y = 2·(k + u)/256 − 1 in [-1, 1),
    u ~ U[0, 1) per pixel (Theis et al. 2016). Every bin has width
    ``DEQUANTIZED_BIN_WIDTH`` = 2/256: pass it to :func:`bits_per_dim`."""
    if images.dtype != torch.uint8:
        raise ValueError(f"dequantize_uint8 expects uint8 images, got {images.dtype}")
    u = torch.rand(images.shape, generator=generator, device=generator.device if generator else images.device)
    return (images.float() + u.to(images.device)) * DEQUANTIZED_BIN_WIDTH - 1.0
