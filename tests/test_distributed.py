"""Two gloo processes on localhost give the one-process FID and feature bank."""

import socket

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gbench.metrics.distributed import all_gather_bank, all_reduce_stats
from gbench.metrics.frechet import frechet_distance
from gbench.metrics.stats import FeatureBank, FeatureStats

WORLD_SIZE = 2
N, D = 700, 16


def _dataset():
    """The fixed dataset every process regenerates: features and reference statistics."""
    rng = np.random.default_rng(123)
    features = rng.standard_normal((N, D)) * np.linspace(0.5, 2.0, D) + 0.5
    reference = rng.standard_normal((900, D)) * 1.1
    return features, reference.mean(axis=0), np.cov(reference, rowvar=False)


def _shard(rank):
    # uneven contiguous shards (300 and 400 rows): merging in rank order is the original order
    bounds = [0, 300, N]
    return slice(bounds[rank], bounds[rank + 1])


def _worker(rank, port, out_dir):
    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        features, mu_ref, sigma_ref = _dataset()
        mine = features[_shard(rank)]
        stats = FeatureStats()
        for start in range(0, len(mine), 64):  # batches, as an evaluation loop would
            stats.update(torch.from_numpy(mine[start:start + 64]).float())
        all_reduce_stats(stats)
        bank = all_gather_bank(FeatureBank().update(torch.from_numpy(mine).float()))
        mu, sigma = stats.compute()
        fid = frechet_distance(mu, sigma, mu_ref, sigma_ref)
        # a rank that saw no data at all (dimension unknown there) still takes part
        lopsided, lopsided_bank = FeatureStats(), FeatureBank()
        if rank == 0:
            lopsided.update(torch.from_numpy(features).float())
            lopsided_bank.update(features)
        all_reduce_stats(lopsided)
        all_gather_bank(lopsided_bank)
        lopsided_fid = frechet_distance(*lopsided.compute(), mu_ref, sigma_ref)
        np.savez(f"{out_dir}/rank{rank}.npz", fid=fid, n=stats.n, bank=bank.compute().numpy(),
                 lopsided_fid=lopsided_fid, lopsided_bank=lopsided_bank.compute().numpy())
    finally:
        dist.destroy_process_group()


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
def test_two_process_all_reduce_matches_one_process(tmp_path):
    mp.spawn(_worker, args=(_free_port(), str(tmp_path)), nprocs=WORLD_SIZE, join=True)

    features, mu_ref, sigma_ref = _dataset()
    single = FeatureStats().update(torch.from_numpy(features).float())
    expected_fid = frechet_distance(*single.compute(), mu_ref, sigma_ref)
    for rank in range(WORLD_SIZE):
        with np.load(tmp_path / f"rank{rank}.npz") as result:
            assert int(result["n"]) == N
            # the sums differ only in float64 addition order
            assert float(result["fid"]) == pytest.approx(expected_fid, rel=1e-10)
            np.testing.assert_array_equal(result["bank"], features.astype(np.float32))
            assert float(result["lopsided_fid"]) == pytest.approx(expected_fid, rel=1e-10)
            np.testing.assert_array_equal(result["lopsided_bank"], features)  # float64 in, float64 out


def test_without_a_process_group_these_are_no_ops(rng):
    assert not dist.is_initialized()
    x = rng.standard_normal((10, 3))
    stats = FeatureStats().update(x)
    before = [t.clone() for t in stats.state_dict().values()]
    assert all_reduce_stats(stats) is stats
    assert all(torch.equal(a, b) for a, b in zip(before, stats.state_dict().values()))
    bank = FeatureBank().update(x)
    assert all_gather_bank(bank) is bank and bank.n == 10
