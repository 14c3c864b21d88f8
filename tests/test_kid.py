"""KID: unbiased MMD² with the cubic kernel — brute-force parity, properties, bad input."""

import numpy as np
import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics.kid import kid


def _brute_force_mmd2(x, y):
    """Unbiased MMD²ᵤ (Gretton et al. 2012), k(a, b) = (aᵀb/d + 1)³, one pair at a time."""
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1.0) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2.0 * xy / (m * m)


def test_matches_brute_force_on_documented_subsets(rng):
    a = rng.standard_normal((60, 6))
    b = rng.standard_normal((50, 6)) * 1.2 + 0.3
    m, subsets, seed = 20, 3, 7
    draw = np.random.default_rng(seed)  # documented: rows of a, then rows of b, per subset
    expected = []
    for _ in range(subsets):
        ia = draw.choice(60, m, replace=False)
        ib = draw.choice(50, m, replace=False)
        expected.append(_brute_force_mmd2(a[ia], b[ib]))
    mean, std = kid(a, b, subsets=subsets, subset_size=m, seed=seed)
    # same sums in a different order: float64 rounding of ~1e3 terms of size ~1
    assert mean == pytest.approx(np.mean(expected), rel=1e-10, abs=1e-12)
    assert std == pytest.approx(np.std(expected), rel=1e-8)  # ddof=0, as torch-fidelity


def test_same_distribution_is_near_zero_and_shift_is_positive(rng):
    d = 16
    a = rng.standard_normal((600, d))
    b = rng.standard_normal((600, d))
    mean, std = kid(a, b, subsets=20, subset_size=200)
    # unbiased: the expectation is exactly 0, single subsets scatter by ~std
    assert abs(mean) < 3 * std
    shifted_mean, shifted_std = kid(a, b + 0.5, subsets=20, subset_size=200)
    assert shifted_mean > 10 * shifted_std and shifted_mean > 10 * abs(mean)
    # larger shift, larger distance
    assert kid(a, b + 1.0, subsets=20, subset_size=200)[0] > shifted_mean


def test_seeded_and_input_type_independent(rng):
    a, b = rng.standard_normal((100, 5)), rng.standard_normal((80, 5)) + 0.2
    r = kid(a, b, subsets=5, subset_size=30, seed=1)
    assert kid(torch.from_numpy(a), torch.from_numpy(b), subsets=5, subset_size=30, seed=1) == r
    assert kid(a, b, subsets=5, subset_size=30, seed=2) != r


def test_subset_size_is_clipped_with_a_warning(rng):
    a, b = rng.standard_normal((40, 4)), rng.standard_normal((30, 4))
    with pytest.warns(UserWarning, match="using subsets of 15"):  # half the smaller set
        clipped = kid(a, b, subsets=4, subset_size=1000)
    assert clipped == kid(a, b, subsets=4, subset_size=15)
    assert clipped[1] > 0  # subsets differ, so their spread is a spread (with m = 30 = N_b it was not)


def test_registered_kid_uses_at_most_half_the_set_and_records_it(rng):
    from gbench.metrics.spec import METRICS, FeatureInputs

    real, fake = torch.from_numpy(rng.standard_normal((359, 8))), torch.from_numpy(rng.standard_normal((359, 8)))
    with pytest.warns(UserWarning, match="subsets of 179"):
        score = METRICS.get("kid").compute(FeatureInputs(fake=fake, real=real, seed=0))
    assert score.protocol == {"kid_subsets": 100, "kid_subset_size": 179}
    assert (score.value, score.std) == kid(fake, real, subsets=100, subset_size=179, seed=0)
    assert score.std > 0


def test_bad_input_is_an_error(rng):
    a = rng.standard_normal((10, 4))
    with pytest.raises(GbenchError, match="dimensions"):
        kid(a, rng.standard_normal((10, 3)))
    with pytest.raises(GbenchError, match="at least 2"):
        kid(a, a[:1])
    with pytest.raises(GbenchError, match="subsets"):
        kid(a, a, subsets=0)
    with pytest.raises(GbenchError, match="subset_size"):
        kid(a, a, subset_size=1)
    with pytest.raises(GbenchError, match="NaN"):
        kid(a, np.full((10, 4), np.inf))
