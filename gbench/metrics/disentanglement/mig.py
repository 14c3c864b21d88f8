"""Mutual Information Gap (MIG).

Chen, Li, Grosse & Duvenaud, "Isolating Sources of Disentanglement in
Variational Autoencoders", NeurIPS 2018, Eq. (6):

    MIG = 1/K · Σ_k  [ I(z_{j(k)}; v_k) − max_{j ≠ j(k)} I(z_j; v_k) ] / H(v_k),
    j(k) = argmax_j I(z_j; v_k).

Estimator: disentanglement_lib's ``compute_mig`` / ``_compute_mig`` (Locatello
et al. 2019), which replaces the paper's sampling estimate of I(z_j; v_k) by a
plug-in one on discretized mean codes: each latent is cut into ``num_bins``
equal-width bins over its observed range (``_histogram_discretize``), and
I and H are the empirical discrete mutual information and entropy
(``sklearn.metrics.mutual_info_score``).

What the number means, and its limits:
  * a code whose latents are the factors (in any order, any positive or
    negative affine rescaling) scores ≈ 1 when every factor has at most
    ``num_bins`` values;
  * a factor with more values than bins cannot be fully resolved: since
    I(z; v) ≤ H(z_binned) ≤ log num_bins, its normalized MI is at most
    log(num_bins) / H(v) — e.g. dSprites' 40 orientations with 20 bins cap it
    at log 20 / log 40 ≈ 0.81 even for a perfect code;
  * a latent duplicated (two latents carrying the same factor) gives that
    factor a gap ≈ 0;
  * the plug-in MI is biased upwards by ≈ (bins − 1)(values − 1) / (2N) nats,
    so random codes score a little above 0 for small N.
"""

from __future__ import annotations

import numpy as np

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.metrics.disentanglement._common import (
    as_codes,
    as_factors,
    check_pair,
    discrete_entropy,
    discrete_mutual_info,
    histogram_discretize,
)


def normalized_mutual_info_matrix(codes, factors, num_bins: int = 20) -> np.ndarray:
    """I(z_j; v_k) / H(v_k) for every latent j and factor k.

    Args:
        codes: float (N, L) mean codes, numpy or torch, finite.
        factors: int (N, F) ground-truth factor indices; each factor must take
            at least two values in the sample (else H(v_k) = 0).
        num_bins: equal-width histogram bins per latent.

    Returns:
        float64 (L, F), entries in [0, 1].
    """
    codes, factors = as_codes(codes), as_factors(factors)
    check_pair(codes, factors)
    entropy = discrete_entropy(factors)
    constant = np.flatnonzero(entropy <= 0.0)
    if constant.size:
        raise GbenchError(
            f"factor column(s) {constant.tolist()} take a single value in this sample, so their entropy is 0 "
            "and MIG is undefined: drop those columns or sample more observations"
        )
    mi = discrete_mutual_info(histogram_discretize(codes, num_bins), factors)
    return mi / entropy[None, :]


def mig_per_factor(codes, factors, num_bins: int = 20) -> np.ndarray:
    """The gap for each factor: float64 (F,), in [0, 1]. See :func:`mig`."""
    codes = as_codes(codes)
    if codes.shape[1] < 2:
        raise GbenchError(f"MIG needs at least 2 latents (it is a gap between the top two), got {codes.shape[1]}")
    nmi = normalized_mutual_info_matrix(codes, factors, num_bins)
    top_two = np.sort(nmi, axis=0)[::-1][:2]
    return top_two[0] - top_two[1]


def mig(codes, factors, num_bins: int = 20) -> float:
    """Mutual Information Gap, disentanglement_lib's discrete estimator.

    Chen et al. 2018, Eq. (6), with histogram-discretized codes (Locatello et
    al. 2019's protocol: mean codes, ``num_bins=20``).

    Args:
        codes: float (N, L) mean codes, L ≥ 2, numpy or torch, finite.
        factors: int (N, F) ground-truth factor indices (each taking at least
            two values in the sample).
        num_bins: equal-width histogram bins per latent (over the latent's
            observed min..max).

    Returns:
        MIG in [0, 1], the mean over factors of
        (largest − second largest normalized MI).
    """
    return float(np.mean(mig_per_factor(codes, factors, num_bins)))


register_metric(MetricSpec(
    "mig", "MIG", True, "Mutual Information Gap on mean codes, 20 bins (Chen et al. 2018, Eq. 6)", decimals=3,
    consumes="codes", protocol={"mig_bins": 20}))
