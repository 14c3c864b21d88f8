"""Precision/recall and density/coverage: brute-force parity, published behaviour, chunking."""

import numpy as np
import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics import prdc
from gbench.metrics.prdc import density_coverage, precision_recall


def _brute_force(real, fake, k):
    """The authors' definitions, all pairwise distances at once (Kynkäänniemi: ≤, Naeem: <)."""
    dist = lambda x, y: np.sqrt(((x[:, None, :] - y[None, :, :]) ** 2).sum(-1))  # noqa: E731
    r_real = np.sort(dist(real, real), axis=1)[:, k]  # column 0 is the point itself
    r_fake = np.sort(dist(fake, fake), axis=1)[:, k]
    d_rf = dist(real, fake)  # (N, M)
    precision = (d_rf <= r_real[:, None]).any(axis=0).mean()
    recall = (d_rf <= r_fake[None, :]).any(axis=1).mean()
    density = (d_rf < r_real[:, None]).sum(axis=0).mean() / k
    coverage = (d_rf.min(axis=1) < r_real).mean()
    return precision, recall, density, coverage


@pytest.mark.parametrize("k", [1, 3, 5])
def test_matches_brute_force(rng, k):
    real = rng.standard_normal((90, 6))
    fake = rng.standard_normal((70, 6)) * 1.3 + 0.4
    p, r, dens, cov = _brute_force(real, fake, k)
    # Same comparisons on the same distances (up to rounding; no near-ties in
    # continuous random data), so the fractions are equal exactly.
    assert precision_recall(real, fake, k=k) == (p, r)
    assert density_coverage(real, fake, k=k) == pytest.approx((dens, cov), abs=1e-15)


def test_identical_sets(rng):
    x = rng.standard_normal((200, 8))
    assert precision_recall(x, x.copy()) == (1.0, 1.0)
    density, coverage = density_coverage(x, x.copy())
    assert coverage == 1.0
    # Each sample counts itself plus the k − 1 samples strictly inside whose
    # balls it lies: N·k in all, so density is exactly 1 (Naeem et al., Sec. 4).
    assert density == pytest.approx(1.0, abs=1e-12)


def test_ball_boundary_follows_the_authors_code():
    # Duplicated real points have 1-NN radius 0: a fake sample on such a point
    # lies on the ball's boundary — inside for Kynkäänniemi et al. (d ≤ r),
    # outside for Naeem et al.'s prdc (d < r).
    real = np.array([[0.0, 0.0], [0.0, 0.0], [10.0, 0.0], [10.0, 0.0]])
    fake = np.array([[0.0, 0.0], [0.0, 0.0]])
    assert precision_recall(real, fake, k=1)[0] == 1.0
    assert density_coverage(real, fake, k=1) == (0.0, 0.0)


def test_shift_lowers_precision_and_recall(rng):
    d = 8
    real = rng.standard_normal((400, d))
    scores = [precision_recall(real, rng.standard_normal((400, d)) + shift) for shift in (0.0, 0.5, 1.5)]
    precisions, recalls = zip(*scores)
    assert precisions[0] > 0.6 and recalls[0] > 0.6  # same distribution: most samples inside
    assert precisions[0] > precisions[1] > precisions[2] and recalls[0] > recalls[1] > recalls[2]
    assert precisions[2] < 0.3 and recalls[2] < 0.3
    densities = [density_coverage(real, rng.standard_normal((400, d)) + s)[0] for s in (0.0, 1.5)]
    assert 0.7 < densities[0] < 1.3 and densities[1] < 0.3  # E[density] = 1 for matching distributions


def test_mode_collapse_keeps_precision_and_loses_recall(rng):
    d = 8
    real = rng.standard_normal((500, d))
    collapsed = 0.1 * rng.standard_normal((500, d))  # a narrow, central part of the real distribution
    precision, recall = precision_recall(real, collapsed)
    assert precision > 0.95 and recall < 0.2
    density, coverage = density_coverage(real, collapsed)
    assert density > 1.0 and coverage < 0.2  # crowded into few real balls, which cover little


def test_chunking_does_not_change_results(rng, monkeypatch):
    real = rng.standard_normal((60, 4))
    fake = rng.standard_normal((50, 4)) + 0.3
    whole = precision_recall(real, fake), density_coverage(real, fake)
    monkeypatch.setattr(prdc, "_BLOCK_ELEMENTS", 7 * 60)  # blocks of 7 rows (last one shorter)
    assert (precision_recall(real, fake), density_coverage(real, fake)) == whole
    blocks = list(prdc._distance_blocks(torch.from_numpy(real), torch.from_numpy(real)))
    assert all(d2.numel() <= 7 * 60 for _, d2 in blocks) and sum(d2.shape[0] for _, d2 in blocks) == 60


def test_default_blocks_bound_memory_at_10k():
    # 10k × 10k float64 would be 800 MB; a block holds at most 2²⁴ entries = 128 MB.
    rows = prdc._BLOCK_ELEMENTS // 10_000
    assert rows * 10_000 * 8 <= 128 * 2**20


def test_bad_input_is_an_error(rng):
    x = rng.standard_normal((5, 3))
    with pytest.raises(GbenchError, match="at least 6"):
        precision_recall(x, x, k=5)
    with pytest.raises(GbenchError, match="k must be a positive integer"):
        density_coverage(x, x, k=0)
    with pytest.raises(GbenchError, match="dimensions"):
        precision_recall(x, rng.standard_normal((5, 4)), k=2)
    # density/coverage need k + 1 real samples but only one fake one; that
    # fake sample is x[0], inside its own ball at least
    assert density_coverage(x, x[:1], k=2)[1] >= 1 / 5
