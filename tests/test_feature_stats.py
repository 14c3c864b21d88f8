"""FeatureStats: exact streaming and merging (also far from the origin), files, pytorch-fid interop."""

import os

import numpy as np
import pytest
import torch

import gbench
from gbench.errors import GbenchError
from gbench.metrics.stats import FeatureStats, SingularCovarianceWarning

# Relative agreement of statistics that differ only in summation order or
# shift: the float64 rounding of the sums is ~1e-16 (measured ≤ 3e-15 here).
RTOL_ORDER = 1e-12

# The target for features with a large common offset (raw sums gave
# 1.4e-10, 4.4e-6 and 1.4e-2 at mean/std = 1e2, 1e4, 1e6); measured 3e-15 to 7e-15.
RTOL_OFFSET = 1e-10


def _features(rng, n=600, d=12):
    scale = np.linspace(0.5, 2.0, d)
    return rng.standard_normal((n, d)) * scale + 1.0


def _offset_features(rng, ratio, n=2000, d=16):
    """Correlated features whose mean is ``ratio`` times their standard deviation."""
    std = np.linspace(0.5, 2.0, d)
    mixing = np.eye(d) + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d)
    return (rng.standard_normal((n, d)) @ mixing) * std + ratio * std


def _rel(a, b):
    return np.linalg.norm(a - b) / np.linalg.norm(b)


def _stats_in_batches(x, sizes):
    stats, start = FeatureStats(), 0
    for size in sizes:
        stats.update(x[start:start + size])
        start += size
    assert start == len(x)
    return stats


# --- what the statistics mean ---------------------------------------------------


def test_compute_matches_numpy_mean_and_unbiased_cov(rng):
    x = _features(rng)
    mu, sigma = FeatureStats().update(x).compute()
    assert mu.dtype == np.float64 and sigma.dtype == np.float64
    assert mu.shape == (12,) and sigma.shape == (12, 12)
    assert _rel(mu, x.mean(axis=0)) < RTOL_ORDER
    assert _rel(sigma, np.cov(x, rowvar=False)) < RTOL_ORDER  # ddof=1, as pytorch-fid
    assert np.array_equal(sigma, sigma.T)


def test_batch_size_independence(rng):
    x = _features(rng)
    mu1, s1 = _stats_in_batches(x, [600]).compute()
    mu2, s2 = _stats_in_batches(x, [1, 7, 100, 92, 400]).compute()
    mu3, s3 = _stats_in_batches(x, [50] * 12).compute()
    for mu, s in ((mu2, s2), (mu3, s3)):
        assert _rel(mu, mu1) < RTOL_ORDER and _rel(s, s1) < RTOL_ORDER


def test_merge_equals_single_pass(rng):
    x = _features(rng)
    whole = FeatureStats().update(x)
    shards = [FeatureStats().update(x[i::3]) for i in range(3)]  # interleaved, unequal order
    merged = FeatureStats().merge(shards[2]).merge(shards[0]).merge(shards[1])
    assert merged.n == whole.n == 600
    for a, b in zip(merged.compute(), whole.compute()):
        assert _rel(a, b) < RTOL_ORDER
    # merge leaves the other state untouched
    assert shards[0].n == 200


def test_torch_input_float32_accumulates_in_float64(rng):
    x = _features(rng).astype(np.float32)
    mu_t, s_t = FeatureStats().update(torch.from_numpy(x)).compute()
    mu_n, s_n = FeatureStats().update(x).compute()
    # identical float32 values, both accumulated in float64: same numbers
    np.testing.assert_array_equal(mu_t, mu_n)
    np.testing.assert_array_equal(s_t, s_n)
    # and equal to numpy's float64 statistics of the same float32 values
    assert _rel(s_t, np.cov(x.astype(np.float64), rowvar=False)) < RTOL_ORDER
    assert FeatureStats().update(torch.from_numpy(x)).state_dict()["shifted_sum_outer"].dtype == torch.float64


def test_state_dict_sum_is_a_merge(rng):
    """What a distributed all-reduce does: re-centre on one shift, add the sums, load them."""
    x = _offset_features(rng, 1e6)
    a, b = FeatureStats().update(x[:250]), FeatureStats().update(x[250:])
    assert not torch.equal(a.shift, b.shift)  # each state's first batch set its own
    b.recentre(a.shift)
    sa, sb = a.state_dict(), b.state_dict()
    summed = {k: sa[k] + sb[k] for k in ("n", "shifted_sum", "shifted_sum_outer")}
    total = FeatureStats().load_state_dict({**summed, "shift": sa["shift"]})
    for u, v in zip(total.compute(), FeatureStats().update(x).compute()):
        assert _rel(u, v) < RTOL_ORDER


# --- exactness far from the origin --------------------------------------------------


@pytest.mark.parametrize("ratio", [1e2, 1e4, 1e6])
def test_covariance_is_exact_with_a_large_common_offset(rng, ratio):
    x = _offset_features(rng, ratio)
    mu, sigma = _stats_in_batches(x, [1, 99, 400, 500, 1000]).compute()
    expected = np.cov(x, rowvar=False)  # centres first: exact to ~1e-16 at any offset
    assert _rel(sigma, expected) <= RTOL_OFFSET
    assert _rel(mu, x.mean(axis=0)) < 1e-14  # both round μ ≈ ratio · std to ~ε
    assert np.linalg.eigvalsh(sigma).min() > 0  # raw sums made it indefinite at 1e6


def test_merge_of_shards_with_different_shifts_equals_one_pass(rng):
    # Sorted by the first feature, the shards' means (and so their shifts) lie
    # several standard deviations apart: the re-centring carries real weight.
    x = _offset_features(rng, 1e6)
    x = x[np.argsort(x[:, 0])]
    shards = [_stats_in_batches(part, [len(part) // 2, len(part) - len(part) // 2])
              for part in np.array_split(x, 4)]
    merged = FeatureStats()
    for shard in (shards[3], shards[0], shards[2], shards[1]):
        merged.merge(shard)
    whole = FeatureStats().update(x)
    assert merged.n == whole.n == len(x)
    mu_m, sigma_m = merged.compute()
    mu_w, sigma_w = whole.compute()
    assert _rel(sigma_m, sigma_w) < RTOL_ORDER and _rel(mu_m, mu_w) < 1e-15
    assert _rel(sigma_m, np.cov(x, rowvar=False)) < RTOL_ORDER


def test_recentre_keeps_the_statistics(rng):
    x = _offset_features(rng, 1e4, n=300)
    stats = FeatureStats().update(x)
    before = stats.compute()
    stats.recentre(torch.from_numpy(x[0]))  # one sample: a few σ from the mean
    assert torch.equal(stats.shift, torch.from_numpy(x[0]))
    for a, b in zip(stats.compute(), before):
        assert _rel(a, b) < RTOL_ORDER
    with pytest.raises(GbenchError, match="shape"):
        stats.recentre(np.zeros(3))


def test_empty_batches_do_not_set_the_shift(rng):
    x = _offset_features(rng, 1e6, n=100)
    stats = FeatureStats().update(x[:0]).update(x[:40]).update(x[40:40]).update(x[40:])
    assert torch.equal(stats.shift, torch.from_numpy(x[:40]).mean(dim=0))  # the first non-empty batch
    assert _rel(stats.compute()[1], np.cov(x, rowvar=False)) <= RTOL_OFFSET
    # merging into an empty state adopts the other's shift: the same sums, bit for bit
    merged = FeatureStats(dim=16).merge(stats)
    for a, b in zip(merged.compute(), stats.compute()):
        np.testing.assert_array_equal(a, b)


# --- bad input and small samples --------------------------------------------------


def test_too_few_samples_is_an_error(rng):
    with pytest.raises(GbenchError, match="at least 2"):
        FeatureStats().compute()
    with pytest.raises(GbenchError, match="at least 2"):
        FeatureStats().update(_features(rng, n=1)).compute()


def test_fewer_samples_than_dimensions_warns(rng):
    stats = FeatureStats().update(_features(rng, n=8, d=12))
    with pytest.warns(SingularCovarianceWarning, match="singular"):
        stats.compute()


@pytest.mark.parametrize("bad, match", [
    (np.ones((4, 3, 2)), r"\(N, d\)"),
    (np.array([[1.0, np.nan]]), "NaN"),
    (torch.tensor([[1.0, float("inf")]]), "NaN or Inf"),
    (np.ones((3, 2), dtype=bool), "real numbers"),
    ([[1.0, 2.0]], "numpy array or a torch tensor"),
])
def test_bad_features_are_errors(bad, match):
    with pytest.raises(GbenchError, match=match):
        FeatureStats().update(bad)


def test_dimension_mismatch_is_an_error(rng):
    stats = FeatureStats().update(_features(rng, d=12))
    with pytest.raises(GbenchError, match="12"):
        stats.update(_features(rng, d=5))
    with pytest.raises(GbenchError, match="dimensions"):
        stats.merge(FeatureStats().update(_features(rng, d=5)))
    with pytest.raises(GbenchError, match="dimensions"):
        FeatureStats(dim=4).update(_features(rng, d=12))


# --- files ------------------------------------------------------------------------


def test_save_load_roundtrip_is_exact_and_mergeable(rng, tmp_path):
    x = _features(rng)
    path = tmp_path / "stats.npz"
    FeatureStats().update(x[:300]).save(path)
    loaded = FeatureStats.load(path)
    assert loaded.mergeable and loaded.n == 300
    np.testing.assert_array_equal(loaded.compute()[1], FeatureStats().update(x[:300]).compute()[1])
    loaded.update(x[300:])
    for a, b in zip(loaded.compute(), FeatureStats().update(x).compute()):
        assert _rel(a, b) < RTOL_ORDER
    assert sorted(os.listdir(tmp_path)) == ["stats.npz"]  # no temporary file left behind


def test_save_load_roundtrip_keeps_the_shifted_state(rng, tmp_path):
    x = _offset_features(rng, 1e6, n=400)
    stats = FeatureStats().update(x[:150])
    stats.save(tmp_path / "stats.npz")
    with np.load(tmp_path / "stats.npz") as f:
        # new names for shifted sums: gbench before the shift would misread "sum"
        assert sorted(f.files) == ["mu", "n", "shift", "shifted_sum", "shifted_sum_outer", "sigma"]
    loaded = FeatureStats.load(tmp_path / "stats.npz")
    assert torch.equal(loaded.shift, stats.shift)
    loaded.update(x[150:])
    assert _rel(loaded.compute()[1], np.cov(x, rowvar=False)) <= RTOL_OFFSET


def test_load_file_written_before_the_shift(rng, tmp_path):
    """Files of earlier gbench versions hold the raw sums n, Σx, Σxxᵀ (no shift)."""
    x = _features(rng)
    n, s1, s2 = len(x[:300]), x[:300].sum(axis=0), x[:300].T @ x[:300]
    mu = s1 / n
    sigma = (s2 - np.outer(s1, mu)) / (n - 1)  # exactly how they computed sigma
    sigma = 0.5 * (sigma + sigma.T)
    path = tmp_path / "old.npz"
    np.savez(path, mu=mu, sigma=sigma, n=np.float64(n), sum=s1, sum_outer=s2)
    loaded = FeatureStats.load(path)
    assert loaded.mergeable and loaded.n == 300
    mu_l, sigma_l = loaded.compute()
    np.testing.assert_array_equal(mu_l, mu)
    assert _rel(sigma_l, sigma) < 1e-15  # the same numerator, divided in another order
    loaded.update(x[300:])  # still mergeable, and equal to one pass
    for a, b in zip(loaded.compute(), FeatureStats().update(x).compute()):
        assert _rel(a, b) < RTOL_ORDER


def test_save_is_atomic_when_writing_fails(rng, tmp_path, monkeypatch):
    path = tmp_path / "stats.npz"
    FeatureStats().update(_features(rng)).save(path)
    before = path.read_bytes()

    def broken_savez(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(np, "savez", broken_savez)
    with pytest.raises(OSError, match="disk full"):
        FeatureStats().update(_features(rng, n=50)).save(path)
    assert path.read_bytes() == before  # the old file is intact
    assert sorted(os.listdir(tmp_path)) == ["stats.npz"]


def test_saved_statistics_keep_the_users_umask(rng, tmp_path):
    """A statistics file is the user's output: mode 0o666 less the umask, as open() would give,
    not the 0o600 of the temporary file it is written through (issue 17, item 6)."""
    old = os.umask(0o022)
    try:
        FeatureStats().update(_features(rng)).save(tmp_path / "stats.npz")
    finally:
        os.umask(old)
    assert (tmp_path / "stats.npz").stat().st_mode & 0o777 == 0o644


def test_load_pytorch_fid_style_file_is_compute_only(rng, tmp_path):
    x = _features(rng)
    path = tmp_path / "pfid.npz"
    # exactly how pytorch-fid's save_fid_stats writes statistics
    np.savez_compressed(path, mu=np.mean(x, axis=0), sigma=np.cov(x, rowvar=False))
    stats = FeatureStats.load(path)
    mu, sigma = stats.compute()
    np.testing.assert_array_equal(sigma, np.cov(x, rowvar=False))
    assert not stats.mergeable and stats.n is None
    with pytest.raises(GbenchError, match="only mu and sigma"):
        stats.update(x)
    with pytest.raises(GbenchError, match="only mu and sigma"):
        FeatureStats().update(x).merge(stats)


@pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning")  # inside pytorch-fid
def test_pytorch_fid_reads_our_files_and_we_read_theirs(rng, tmp_path):
    """Interop both ways through pytorch-fid's own loader and FID function."""
    from pytorch_fid.fid_score import calculate_frechet_distance, compute_statistics_of_path

    from gbench.metrics.frechet import frechet_distance

    x, y = _features(rng, n=400), _features(rng, n=500) * 1.1 + 0.2
    ours = tmp_path / "ours.npz"
    FeatureStats().update(x).save(ours)
    # pytorch-fid's loader on our file (model is unused for .npz paths)
    m1, s1 = compute_statistics_of_path(str(ours), None, 50, 12, "cpu")
    m2, s2 = np.mean(y, axis=0), np.cov(y, rowvar=False)
    theirs = tmp_path / "theirs.npz"
    np.savez_compressed(theirs, mu=m2, sigma=s2)
    reference = calculate_frechet_distance(m1, s1, m2, s2)
    ours_fd = frechet_distance(*FeatureStats.load(ours).compute(), *FeatureStats.load(theirs).compute(),
                               backend="scipy")
    # same matrices, same operations: equal up to the last bits
    assert ours_fd == pytest.approx(reference, rel=1e-12)


def test_load_errors_name_the_problem(tmp_path):
    with pytest.raises(GbenchError, match="does not exist"):
        FeatureStats.load(tmp_path / "missing.npz")
    (tmp_path / "junk.npz").write_text("not a zip")
    with pytest.raises(GbenchError, match="cannot read"):
        FeatureStats.load(tmp_path / "junk.npz")
    np.savez(tmp_path / "other.npz", a=np.zeros(3))
    with pytest.raises(GbenchError, match="need both 'mu' and 'sigma'"):
        FeatureStats.load(tmp_path / "other.npz")


def test_bad_statistics_files_and_api_arguments_are_gbench_errors(rng, tmp_path):
    """Issue 17, item 3: each is one GbenchError naming the problem, never another exception."""
    np.save(tmp_path / "array.npy", np.zeros((3, 3)))
    os.replace(tmp_path / "array.npy", tmp_path / "array.npz")
    np.savez(tmp_path / "strings.npz", mu=np.array(["a", "b"]), sigma=np.eye(2))
    np.savez(tmp_path / "complex.npz", mu=np.zeros(2, dtype=complex), sigma=np.eye(2))
    for name, needle in (("array.npz", "one .npy array"), ("strings.npz", "not real numbers"),
                         ("complex.npz", "not real numbers")):
        with pytest.raises(GbenchError, match=needle):
            FeatureStats.load(tmp_path / name)
    with pytest.raises(GbenchError, match="it is a folder"):
        FeatureStats().update(_features(rng)).save(tmp_path)
    x = _features(rng, n=50)
    for call in (lambda: gbench.kid(x, x, subset_size=10, seed=-1), lambda: gbench.inception_score(x, seed=-1)):
        with pytest.raises(GbenchError, match="seed must be an integer from 0 to"):
            call()
    images = torch.zeros(1, 3, 8, 8)
    for bad in ((1, 1), (1, 0), (0, float("inf")), ("a", 1)):
        with pytest.raises(GbenchError, match="value_range"):
            gbench.psnr(images, images, value_range=bad)
