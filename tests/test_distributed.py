"""Two gloo processes on localhost give the one-process statistics, FID and feature rows."""


import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gbench.errors import GbenchError
from gbench.launch import free_port
from gbench.metrics.distributed import all_gather_rows, all_reduce_stats, world_size
from gbench.metrics.frechet import frechet_distance
from gbench.metrics.stats import FeatureStats

WORLD_SIZE = 2
N, D = 700, 16
# Features far from the origin (mean/std = 1e6): each rank's shift differs,
# so the all-reduce must re-centre for the sums to add up.
OFFSET = 1e6


def _dataset():
    """The fixed dataset every process regenerates: features and reference statistics."""
    rng = np.random.default_rng(123)
    features = rng.standard_normal((N, D)) * np.linspace(0.5, 2.0, D) + 0.5
    reference = rng.standard_normal((900, D)) * 1.1
    return features, reference.mean(axis=0), np.cov(reference, rowvar=False)


def _shard(rank):
    # uneven contiguous shards (300 and 400 rows): gathering in rank order is the original order
    bounds = [0, 300, N]
    return slice(bounds[rank], bounds[rank + 1])


def _worker(rank, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        features, mu_ref, sigma_ref = _dataset()
        mine = features[_shard(rank)]
        stats, far = FeatureStats(), FeatureStats()
        for start in range(0, len(mine), 64):  # batches, as an evaluation loop would
            stats.update(torch.from_numpy(mine[start:start + 64]).float())
            far.update(mine[start:start + 64] + OFFSET)
        all_reduce_stats(stats)
        all_reduce_stats(far)
        mu, sigma = stats.compute()
        fid = frechet_distance(mu, sigma, mu_ref, sigma_ref)
        rows = all_gather_rows(torch.from_numpy(mine).float())
        # float64 on one rank promotes the gathered rows to float64 on every rank
        mixed = all_gather_rows(torch.from_numpy(mine).to(torch.float64 if rank else torch.float32))
        # a rank that saw no data at all (dimension unknown there) still takes part
        lopsided = FeatureStats()
        if rank == 0:
            lopsided.update(torch.from_numpy(features).float())
        all_reduce_stats(lopsided)
        lopsided_rows = all_gather_rows(torch.from_numpy(features) if rank == 0 else torch.empty(0, 0))
        lopsided_fid = frechet_distance(*lopsided.compute(), mu_ref, sigma_ref)
        np.savez(f"{out_dir}/rank{rank}.npz", fid=fid, n=stats.n, rows=rows.numpy(), world_size=world_size(),
                 far_mu=far.compute()[0], far_sigma=far.compute()[1], far_shift=far.shift.numpy(),
                 mixed=mixed.numpy(), lopsided_fid=lopsided_fid, lopsided_rows=lopsided_rows.numpy())
    finally:
        dist.destroy_process_group()



@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_process_all_reduce_matches_one_process(tmp_path):
    mp.spawn(_worker, args=(free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)

    features, mu_ref, sigma_ref = _dataset()
    single = FeatureStats().update(torch.from_numpy(features).float())
    expected_fid = frechet_distance(*single.compute(), mu_ref, sigma_ref)
    far_mu, far_sigma = FeatureStats().update(features + OFFSET).compute()
    shifts = []
    for rank in range(WORLD_SIZE):
        with np.load(tmp_path / f"rank{rank}.npz") as result:
            assert int(result["world_size"]) == WORLD_SIZE
            assert int(result["n"]) == N
            # the sums differ only in float64 addition order and shift
            assert float(result["fid"]) == pytest.approx(expected_fid, rel=1e-10)
            np.testing.assert_allclose(result["far_mu"], far_mu, rtol=1e-15)
            # relative to the covariance's norm: ~1e-16 rounding of the sums (measured ~1e-15)
            assert np.linalg.norm(result["far_sigma"] - far_sigma) < 1e-12 * np.linalg.norm(far_sigma)
            shifts.append(result["far_shift"])
            np.testing.assert_array_equal(result["rows"], features.astype(np.float32))
            assert result["mixed"].dtype == np.float64
            np.testing.assert_array_equal(result["mixed"][300:], features[300:])  # rank 1's float64 rows intact
            assert float(result["lopsided_fid"]) == pytest.approx(expected_fid, rel=1e-10)
            np.testing.assert_array_equal(result["lopsided_rows"], features)  # float64 in, float64 out
    np.testing.assert_array_equal(shifts[0], shifts[1])  # every rank re-centred on rank 0's shift


def test_without_a_process_group_these_are_no_ops(rng):
    assert not dist.is_initialized()
    assert world_size() == 1
    x = rng.standard_normal((10, 3))
    stats = FeatureStats().update(x)
    before = [t.clone() for t in stats.state_dict().values()]
    assert all_reduce_stats(stats) is stats
    assert all(torch.equal(a, b) for a, b in zip(before, stats.state_dict().values()))
    rows = torch.from_numpy(x)
    assert torch.equal(all_gather_rows(rows), rows)


def test_all_gather_rows_checks_its_input():
    with pytest.raises(GbenchError, match=r"\(N, d\)"):
        all_gather_rows(torch.zeros(4))
    with pytest.raises(GbenchError, match="floating point"):
        all_gather_rows(torch.zeros(4, 3, dtype=torch.int64))
    with pytest.raises(GbenchError, match="NaN"):
        all_gather_rows(torch.tensor([[float("nan")]]))
