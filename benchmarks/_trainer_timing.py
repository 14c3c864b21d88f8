"""Timing one iteration of ``zoo.train.train``, shared by the benchmark files.

A trainer run has fixed costs (re-initialization, data checks, the final checkpoint), so one
iteration's time is (T(2N steps) − T(N steps)) / N: iterations N..2N−1 of fresh runs, the fixed
costs cancelled. Each run starts in a new directory with no sample grids, and logs and
checkpoints only at its end.
"""

import tempfile
import time
from dataclasses import replace
from pathlib import Path

from zoo.train import train


def min_seconds(fn, rounds):
    """The fastest of ``rounds`` calls of ``fn()``: the one least disturbed by other processes."""
    times = []
    for _ in range(rounds):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def trainer_run(model, cfg, data, run_dir, steps):
    """A fresh ``zoo.train.train`` run of ``steps`` iterations on ``data = (images, labels)``;
    returns what it logged last ({"d/loss": ..., ...})."""
    tc = replace(cfg.train, steps=steps, log_every=steps, checkpoint_every=0, sample_every=0)
    history = train(model, replace(cfg, train=tc), *data, run_dir, "cpu", seed=0, progress=False)
    return {k: v for k, v in history[-1].items() if k != "step"}


def trainer_iteration_seconds(benchmark, model, cfg, data, tmp_path, n, rounds):
    """(seconds per trainer iteration, last losses): the N-step runs timed here, the 2N-step runs
    by ``benchmark`` (so its table shows T(2N)), the minimum of ``rounds`` of each."""
    def fresh(steps):  # (args, kwargs) of a run in a new directory
        return (model, cfg, data, Path(tempfile.mkdtemp(dir=tmp_path)), steps), {}

    short = min_seconds(lambda: trainer_run(*fresh(n)[0]), rounds)
    losses = benchmark.pedantic(trainer_run, setup=lambda: fresh(2 * n), rounds=rounds, iterations=1)
    return (benchmark.stats.stats.min - short) / n, list(losses.values())
