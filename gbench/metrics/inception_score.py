"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs", Sec. 4):

    IS = exp( E_x KL( p(y|x) ‖ p(y) ) ),   p(y) = E_x p(y|x)

computed, as in the original OpenAI code and torch-fidelity, on ``splits``
disjoint parts of the samples; the result is the mean and the standard
deviation of the per-part scores.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.metrics._arrays import as_float64, check_seed
from gbench.metrics.spec import FeatureInputs, MetricSpec, Score, register_metric


def inception_score(logits, splits: int = 10, seed: int = 0) -> tuple[float, float]:
    """Inception Score of classifier logits: (mean, std) over ``splits`` parts.

    Args:
        logits: (N, K) classifier logits (pre-softmax), numpy or torch, any
            device; softmax is taken in float64. Log-probabilities are fine too
            (softmax(log p) = p); probabilities are refused, since their softmax
            would be silently wrong.
        splits: number of disjoint parts (10 in the literature); N ≥ splits.
        seed: seed of the row shuffle (``numpy.random.default_rng(seed).permutation(N)``)
            applied before splitting, so that parts do not inherit any order
            of the input (e.g. samples generated class by class).

    Returns:
        (mean, std) of IS_i = exp(mean_x KL(p(y|x) ‖ p_i(y))) over the parts,
        part i being rows [i·N // splits, (i+1)·N // splits) of the shuffled
        logits (OpenAI's and torch-fidelity's boundaries). std is the
        population standard deviation (ddof=0, ``np.std``) as in both. torch-fidelity
        shuffles with ``np.random.RandomState(2020)`` instead, so its parts —
        not its formula — differ from gbench's.

    Raises:
        GbenchError: wrong shape, NaN/Inf, probabilities instead of logits,
            splits < 1 or N < splits.
    """
    z = as_float64(logits, "logits")
    if z.ndim != 2 or z.shape[1] < 2:
        raise GbenchError(f"logits must have shape (N, K) with K ≥ 2 classes, got {tuple(z.shape)}")
    n = z.shape[0]
    if isinstance(splits, bool) or not isinstance(splits, int) or splits < 1:
        raise GbenchError(f"splits must be a positive integer, got {splits!r}")
    if n < splits:
        raise GbenchError(f"{n} samples cannot be split into {splits} parts: "
                          f"pass at least {splits} samples or fewer splits")
    if _looks_like_probabilities(z):
        raise GbenchError("logits look like probabilities (rows in [0, 1] summing to 1): pass the classifier's "
                          "logits, or the log of the probabilities")

    perm = torch.from_numpy(np.random.default_rng(check_seed(seed, "inception_score")).permutation(n)).to(z.device)
    log_p = torch.log_softmax(z[perm], dim=1)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits:(i + 1) * n // splits]
        # log p_i(y) = log mean_x p(y|x) via logsumexp: it stays finite where
        # p(y|x) underflows to 0 in every row, so such terms are 0 · finite = 0
        # rather than 0 · ∞ = NaN.
        log_py = torch.logsumexp(part, dim=0) - math.log(part.shape[0])
        kl = (part.exp() * (part - log_py)).sum(dim=1)
        scores.append(math.exp(float(kl.mean())))
    return float(np.mean(scores)), float(np.std(scores))


def _looks_like_probabilities(z: torch.Tensor) -> bool:
    """Every entry in [0, 1] and every row summing to 1: softmax outputs, not logits."""
    return bool((z >= 0).all() and (z <= 1).all() and torch.allclose(z.sum(dim=1), torch.ones_like(z[:, 0]), atol=1e-4))


IS_SPLITS = 10  # Salimans et al. 2016


def inception_score_score(inputs: FeatureInputs) -> Score:
    """The registered IS: the samples' logits in 10 splits."""
    if inputs.logits is None:
        raise GbenchError("the Inception Score needs classifier logits: use an extractor with logits")
    mean, std = inception_score(inputs.logits, splits=IS_SPLITS, seed=inputs.seed)
    return Score(mean, std, {"is_splits": IS_SPLITS})


register_metric(MetricSpec(
    "is", "IS", True, "Inception Score exp E KL(p(y|x) ‖ p(y)) (Salimans et al. 2016)", decimals=2,
    consumes="logits", compute=inception_score_score, protocol={"is_splits": IS_SPLITS},
    spread="std over the 10 splits"))
