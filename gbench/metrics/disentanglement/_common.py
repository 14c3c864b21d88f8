"""Shared pieces of the disentanglement metrics: input checks, discretization,
discrete entropy / mutual information, seeded train/test splits.

Conventions (as in disentanglement_lib, but row-major): ``codes`` are float64
(N, L) — one row per observation, one column per latent (mean codes of an
encoder); ``factors`` are int64 (N, F) ground-truth factor indices. Entropies
and mutual informations are in nats (sklearn's natural log); every metric
divides them by one another, so the base cancels.
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.errors import GbenchError


def _to_numpy(x) -> np.ndarray:
    return x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)


def as_codes(codes, name: str = "codes") -> np.ndarray:
    """Validate a code matrix: numeric (N, L), finite → float64 numpy (N, L)."""
    arr = _to_numpy(codes)
    if arr.ndim != 2:
        raise GbenchError(f"{name} must have shape (N, L): one row per observation, got shape {arr.shape}")
    if not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise GbenchError(f"{name} must be numeric, got dtype {arr.dtype}")
    arr = arr.astype(np.float64)
    if not np.isfinite(arr).all():
        raise GbenchError(f"{name} contain NaN or Inf: check the encoder's outputs before scoring")
    return arr


def as_factors(factors, name: str = "factors") -> np.ndarray:
    """Validate ground-truth factors: integer-valued (N, F) → int64 numpy (N, F).

    Float arrays are accepted only when every entry is an integer (e.g. factor
    indices stored as float); continuous factor values are refused, since
    these metrics treat factors as discrete classes.
    """
    arr = _to_numpy(factors)
    if arr.ndim != 2:
        raise GbenchError(f"{name} must have shape (N, F): one row per observation, got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.integer) or arr.dtype == np.bool_:
        return arr.astype(np.int64)
    if np.issubdtype(arr.dtype, np.floating) and np.isfinite(arr).all() and (arr == np.round(arr)).all():
        return arr.astype(np.int64)
    raise GbenchError(
        f"{name} must be integer factor indices (discrete classes), got dtype {arr.dtype} with non-integer "
        "values: pass the factor indices (e.g. dsprites factors), not their continuous values"
    )


def check_pair(codes: np.ndarray, factors: np.ndarray, min_latents: int = 1) -> None:
    """Check that codes (N, L) and factors (N, F) describe the same N observations."""
    if codes.shape[0] != factors.shape[0]:
        raise GbenchError(
            "codes and factors must have one row per observation each, "
            f"got {codes.shape[0]} and {factors.shape[0]} rows"
        )
    if codes.shape[0] < 2:
        raise GbenchError(f"need at least 2 observations to score a representation, got {codes.shape[0]}")
    if codes.shape[1] < min_latents:
        raise GbenchError(f"this metric needs at least {min_latents} latents, got {codes.shape[1]}")
    if factors.shape[1] < 1:
        raise GbenchError("factors must have at least one column")


def histogram_discretize(codes: np.ndarray, num_bins: int) -> np.ndarray:
    """Discretize each latent into ``num_bins`` equal-width bins over its range.

    Exactly disentanglement_lib's ``_histogram_discretize``: for latent i,
    ``np.digitize(c, np.histogram(c, num_bins)[1][:-1])``, so labels are
    1..num_bins, the minimum falls in bin 1 and the maximum in bin num_bins.
    A constant latent lands in a single bin (numpy widens a zero range to
    ±0.5), so it carries no information.

    Args:
        codes: float64 (N, L).
        num_bins: number of bins, ≥ 1.

    Returns:
        int64 (N, L) bin labels in 1..num_bins.
    """
    if int(num_bins) != num_bins or num_bins < 1:
        raise GbenchError(f"num_bins must be a positive integer, got {num_bins!r}")
    out = np.empty(codes.shape, dtype=np.int64)
    for i in range(codes.shape[1]):
        edges = np.histogram(codes[:, i], int(num_bins))[1]
        out[:, i] = np.digitize(codes[:, i], edges[:-1])
    return out


def discrete_mutual_info(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Empirical mutual information (nats) between every column of a and of b.

    Args:
        a: int (N, L) discrete labels; b: int (N, F) discrete labels.

    Returns:
        float64 (L, F): ``m[i, j] = I(a_i; b_j)`` with the plug-in estimator
        ``sklearn.metrics.mutual_info_score`` (as disentanglement_lib).
    """
    from sklearn.metrics import mutual_info_score  # on use: sklearn takes ~1 s to import

    m = np.zeros((a.shape[1], b.shape[1]))
    for i in range(a.shape[1]):
        for j in range(b.shape[1]):
            m[i, j] = mutual_info_score(b[:, j], a[:, i])
    return m


def discrete_entropy(b: np.ndarray) -> np.ndarray:
    """Empirical entropy (nats) of each column of int (N, F) labels → float64 (F,).

    Computed as ``mutual_info_score(y, y)`` (= H(y)), as disentanglement_lib.
    """
    from sklearn.metrics import mutual_info_score

    return np.array([mutual_info_score(b[:, j], b[:, j]) for j in range(b.shape[1])])


def train_test_split(n: int, test_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A seeded random split of range(n): (train_idx, test_idx), each sorted.

    ``numpy.random.default_rng(seed).permutation(n)``; the first
    ``round(test_fraction · n)`` indices are the test set.
    """
    if not 0.0 < test_fraction < 1.0:
        raise GbenchError(f"test_fraction must be in (0, 1), got {test_fraction}")
    num_test = int(round(test_fraction * n))
    if num_test < 1 or num_test > n - 1:
        raise GbenchError(f"cannot split {n} observations with test_fraction={test_fraction}: pass more observations")
    perm = np.random.default_rng(seed).permutation(n)
    return np.sort(perm[num_test:]), np.sort(perm[:num_test])


def resolve_split(codes, factors, codes_test, factors_test, test_fraction: float, seed: int, min_latents: int = 1):
    """Validated (codes_train, factors_train, codes_test, factors_test).

    Either both ``codes_test`` and ``factors_test`` are given (an explicit
    held-out set, as disentanglement_lib samples one), or neither, and
    (codes, factors) is split by :func:`train_test_split` (test_fraction, seed).
    """
    codes, factors = as_codes(codes), as_factors(factors)
    check_pair(codes, factors, min_latents)
    if (codes_test is None) != (factors_test is None):
        raise GbenchError("pass both codes_test and factors_test, or neither (then a seeded split is used)")
    if codes_test is None:
        train, test = train_test_split(codes.shape[0], test_fraction, seed)
        return codes[train], factors[train], codes[test], factors[test]
    codes_test, factors_test = as_codes(codes_test, "codes_test"), as_factors(factors_test, "factors_test")
    check_pair(codes_test, factors_test, min_latents)
    if codes_test.shape[1] != codes.shape[1] or factors_test.shape[1] != factors.shape[1]:
        raise GbenchError(
            f"train and test sets must have the same columns: codes {codes.shape[1]} vs {codes_test.shape[1]}, "
            f"factors {factors.shape[1]} vs {factors_test.shape[1]}"
        )
    return codes, factors, codes_test, factors_test
