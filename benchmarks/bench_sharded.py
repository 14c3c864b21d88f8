"""Sharded evaluation throughput: two gloo processes against one process, digits evaluator.

Run:  pytest benchmarks/bench_sharded.py --benchmark-only

Workload: all 1,797 scikit-learn digits (train + test, uint8 1×32×32), the shipped
``digits-evaluator``'s 64-d features in batches of 128, and their FID statistics
(:class:`FeatureStats`, float64 sums):

* reference: one process, one torch thread, extracting all images and summing them;
* gbench: two processes (``torch.multiprocessing.spawn``, gloo on localhost, one thread each),
  each extracting a contiguous half of whole batches and summing it, then
  :func:`gbench.metrics.distributed.all_reduce_stats` combining the sums. A round is timed on
  each rank from a barrier to the end of the all-reduce (process start-up, imports and loading
  the weights are outside the timing: a launcher pays them once per run, not per evaluation);
  the slower rank's time counts.

Each side takes the fastest of three rounds; the ratio (speed-up) is one-process time /
two-process time, 2 at best on two free cores. The combined mean and covariance must equal the
one-process ones to 1e-10 relative (Frobenius norm). Wall time is never asserted. With
``--bench-records DIR`` the result becomes a ``performance`` record.
"""


import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from gbench.data import digits
from gbench.features import EXTRACTORS
from gbench.launch import free_port
from gbench.metrics.distributed import all_reduce_stats
from gbench.metrics.stats import FeatureStats

WORLD_SIZE, BATCH, ROUNDS = 2, 128, 3
RTOL = 1e-10  # float64 sums of the same float32 features, added in another order
_seconds: dict[str, float] = {}
_stats: dict[str, tuple[np.ndarray, np.ndarray]] = {}


def _images():
    return torch.cat([digits.load("train").images, digits.load("test").images])


def _statistics(extractor, images):
    """(mu, sigma) state of ``images``' features: FeatureStats summed batch by batch."""
    stats = FeatureStats()
    for start in range(0, len(images), BATCH):
        stats.update(extractor.features(images[start:start + BATCH], batch_size=BATCH))
    return stats


def _halves(n, rank):
    """Rank ``rank``'s contiguous share of whole batches (the one-process batches, so every forward
    pass sees the batch shape it has in one process)."""
    batches = (n + BATCH - 1) // BATCH
    lo, hi = rank * batches // WORLD_SIZE, (rank + 1) * batches // WORLD_SIZE
    return slice(lo * BATCH, min(n, hi * BATCH))


def _worker(rank, port, out_dir):
    import time

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=WORLD_SIZE)
    try:
        extractor = EXTRACTORS.get("digits-evaluator").load()
        images = _images()
        mine = images[_halves(len(images), rank)]
        times = []
        for _ in range(ROUNDS):
            dist.barrier()
            start = time.perf_counter()
            stats = all_reduce_stats(_statistics(extractor, mine))
            times.append(time.perf_counter() - start)
        mu, sigma = stats.compute()
        np.savez(f"{out_dir}/rank{rank}.npz", times=np.array(times), mu=mu, sigma=sigma)
    finally:
        dist.destroy_process_group()



def _two_processes(out_dir):
    mp.spawn(_worker, args=(free_port(), str(out_dir)), nprocs=WORLD_SIZE, join=True)
    results = [np.load(out_dir / f"rank{rank}.npz") for rank in range(WORLD_SIZE)]
    per_round = np.max([r["times"] for r in results], axis=0)  # a round ends when the slower rank does
    return float(per_round.min()), results


def _relative(a, b):
    return float(np.linalg.norm(a - b) / np.linalg.norm(b))


@pytest.mark.skipif(not dist.is_available(), reason="torch.distributed is not built in")
@pytest.mark.parametrize("processes", [1, 2])
def test_sharded_extraction(benchmark, processes, tmp_path, one_thread, report_ratio, bench_record):
    benchmark.group = "digits-evaluator features + FID statistics, 1,797 images"
    images = _images()
    if processes == 1:
        extractor = EXTRACTORS.get("digits-evaluator").load()
        stats = benchmark.pedantic(_statistics, args=(extractor, images), rounds=ROUNDS, iterations=1)
        _seconds["1"], _stats["1"] = benchmark.stats.stats.min, stats.compute()
    else:  # the benchmark table shows the whole spawn; the ratio uses the in-process timing
        seconds, results = benchmark.pedantic(_two_processes, args=(tmp_path,), rounds=1, iterations=1)
        _seconds["2"] = seconds
        for result in results:  # every rank ends with the combined statistics
            assert _relative(result["mu"], results[0]["mu"]) == 0.0
        _stats["2"] = results[0]["mu"], results[0]["sigma"]
    if len(_seconds) < 2:
        return
    (mu1, sigma1), (mu2, sigma2) = _stats["1"], _stats["2"]
    assert _relative(mu2, mu1) < RTOL and _relative(sigma2, sigma1) < RTOL
    one, two = len(images) / _seconds["1"], len(images) / _seconds["2"]
    bench_record("sharded evaluation, 2 processes (gloo, all_reduce_stats)",
                 f"digits-evaluator features + FID statistics, {len(images):,} digits, 1 thread per process",
                 "images_per_s", two, reference="1 process, 1 thread", reference_value=one, threads=1)
    report_ratio(f"sharded evaluation, {len(images):,} digits: 1 process {one:,.0f} images/s, 2 processes "
                 f"{two:,.0f} images/s = {two / one:.2f}x speed-up (mu, sigma equal to {RTOL:g} relative)")
