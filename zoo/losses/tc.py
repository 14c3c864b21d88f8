"""Total correlation of the aggregate posterior, by minibatch weighted sampling.

Chen, Li, Grosse & Duvenaud 2018, "Isolating Sources of Disentanglement in
Variational Autoencoders" (β-TCVAE). With the aggregate posterior
q(z) = 1/N Σ_n q(z|x_n) over a training set of N images, the KL term of the
ELBO averaged over the data splits into (Eq. 2)

    E_p(x) KL(q(z|x) ‖ p(z)) = I_q(z; x)                       mutual information
                              + KL(q(z) ‖ Π_d q(z_d))           total correlation (TC)
                              + Σ_d KL(q(z_d) ‖ p(z_d))          dimension-wise KL

and β-TCVAE weights them α, β, γ (Eq. 4); with α = γ = 1 the objective is the
ELBO minus (β − 1)·TC.

q(z) and its marginals q(z_d) need the whole data set. Minibatch weighted
sampling (MWS, Sec. 4 and Appendix C.1; ``vae_quant.py`` of the authors' code)
estimates them from the M samples z_i ~ q(z|x_i) of a minibatch:

    log q(z_i)   ≈ logsumexp_j log q(z_i | x_j)     − log(N·M)
    log q(z_id)  ≈ logsumexp_j log q(z_id | x_jd)   − log(N·M)
    TC ≈ 1/M Σ_i [ log q(z_i) − Σ_d log q(z_id) ]

Read the value with care: MWS is biased, and by a constant that depends on
the regime, so only differences and gradients are meaningful. When the
minibatch mixture 1/M Σ_j q(z|x_j) already describes q(z) well (posteriors
that overlap, M large), every MWS log-density is low by log N, so the TC
estimate is the true TC **plus (L − 1)·log N** for L latents; in particular
a factorized aggregate gives (L − 1)·log N, not 0. That constant does not
depend on the parameters, so the gradient of the β-TCVAE objective is
unaffected, which is what Chen et al. rely on.
"""

from __future__ import annotations

import math

import torch

from zoo.losses.elbo import LOG_2PI


def pairwise_log_density(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """log N(z_id; μ_jd, σ²_jd) for every pair of samples i, j and latent d.

    Args:
        z: (M, L) samples, z_i ~ q(z|x_i).
        mu, logvar: (M, L) parameters of q(z|x_j).

    Returns:
        (M, M, L): entry [i, j, d] is log q(z_id | x_j) (nats).
    """
    if z.ndim != 2 or mu.shape != z.shape or logvar.shape != z.shape:
        raise ValueError(f"z, mu and logvar must all be (M, L), got {tuple(z.shape)}, {tuple(mu.shape)}, "
                         f"{tuple(logvar.shape)}")
    diff = z[:, None, :] - mu[None, :, :]
    return -0.5 * (LOG_2PI + logvar[None] + diff.pow(2) * torch.exp(-logvar[None]))


def mws_log_densities(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor,
                      dataset_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MWS estimates of log q(z_i) and Σ_d log q(z_id) (Chen et al. 2018, Appendix C.1).

    Args:
        z: (M, L) samples z_i ~ q(z|x_i) of a minibatch (M ≥ 2).
        mu, logvar: (M, L) posterior parameters of the same minibatch.
        dataset_size: N, the number of training images the minibatch was drawn from.

    Returns:
        (log_qz, log_prod_qz), each (M,), nats; see the module docstring for their bias.
    """
    if dataset_size < 1:
        raise ValueError(f"dataset_size must be ≥ 1, got {dataset_size}")
    m = z.shape[0]
    if m < 2:
        raise ValueError(f"the minibatch estimate needs at least 2 samples, got {m}")
    log_nm = math.log(dataset_size * m)
    pairwise = pairwise_log_density(z, mu, logvar)  # (M, M, L)
    log_qz = torch.logsumexp(pairwise.sum(dim=2), dim=1) - log_nm
    log_prod_qz = (torch.logsumexp(pairwise, dim=1) - log_nm).sum(dim=1)
    return log_qz, log_prod_qz


def total_correlation(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int) -> torch.Tensor:
    """Per-sample MWS estimate of the total correlation, log q(z_i) − Σ_d log q(z_id).

    Its mean over the minibatch estimates KL(q(z) ‖ Π_d q(z_d)) (Chen et al.
    2018, Eq. 2) up to the estimator's bias (module docstring: + (L − 1)·log N
    when the posteriors overlap).

    Args:
        z: (M, L) samples z_i ~ q(z|x_i).
        mu, logvar: (M, L) posterior parameters.
        dataset_size: N, the training-set size.

    Returns:
        (M,) nats, differentiable in z, mu and logvar.
    """
    log_qz, log_prod_qz = mws_log_densities(z, mu, logvar, dataset_size)
    return log_qz - log_prod_qz
