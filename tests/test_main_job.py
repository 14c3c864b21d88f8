"""The main job's lanes (gbench.main_job) and the training lock that lets lanes share models."""

from __future__ import annotations

import threading
import time

import pytest
import torch

from gbench import main_job
from gbench.runner import RunRequest
from gbench.suites import SUITES


def test_lanes_place_every_registered_suite_once():
    placed = [n for group in main_job.LANES for n in group]
    assert sorted(placed) == sorted(SUITES)  # a new suite is placed deliberately (balanced by its measured time)


def test_lanes_follow_the_groups_and_keep_their_order():
    names = list(SUITES)
    plan = main_job.lanes(names, cores=2)
    assert plan == [list(g) for g in main_job.LANES]
    assert main_job.lanes(names, cores=1) == [[n for g in main_job.LANES for n in g]]  # one lane, groups in turn
    assert main_job.lanes(names, cores=16) == plan  # no more lanes than groups


def test_lanes_of_a_subset_and_of_an_unlisted_suite():
    first, second = main_job.LANES[0][0], main_job.LANES[1][0]
    assert main_job.lanes([second, first], cores=2) == [[first], [second]]
    assert main_job.lanes([first], cores=2) == [[first]]  # one suite: one lane
    plan = main_job.lanes([first, main_job.LANES[0][1], second, "a-new-suite"], cores=2)
    assert plan == [[first, main_job.LANES[0][1]], [second, "a-new-suite"]]  # to the lane with fewer suites


@pytest.mark.parametrize("suite, device, world, cores, expected", [
    ("main", "cpu", None, 2, True),
    ("main", "cpu", None, 1, False),      # one core: nothing to run in parallel
    ("main", "cpu", "2", 2, False),       # torchrun: the ranks are the parallelism
    ("main", "cuda", None, 2, False),     # one device
    ("generation", "cpu", None, 2, False),
])
def test_lanes_only_for_the_main_job_on_several_cpu_cores(monkeypatch, suite, device, world, cores, expected):
    monkeypatch.setattr(main_job, "usable_cores", lambda: cores)
    if world is None:
        monkeypatch.delenv("WORLD_SIZE", raising=False)
    else:
        monkeypatch.setenv("WORLD_SIZE", world)
    assert main_job.parallel(RunRequest(suite=suite), torch.device(device)) is expected


def test_one_trainer_per_model_directory(tmp_path, monkeypatch):
    """Two contexts (as two lanes would) ask for the same model at once: the training lock lets one
    train while the other waits, then the other resumes the finished run instead of training again."""
    import zoo.train
    from gbench.data import DATASETS
    from gbench.fit import fit
    from gbench.suites.base import RunContext

    real_train = zoo.train.train
    active, overlap, calls = [0], [0], []
    guard = threading.Lock()

    def watched(*args, **kwargs):
        with guard:
            active[0] += 1
            overlap[0] = max(overlap[0], active[0])
        try:
            time.sleep(0.3)  # long enough for the other thread to reach the lock
            history = real_train(*args, **kwargs)
            calls.append(len(history))
            return history
        finally:
            with guard:
                active[0] -= 1

    monkeypatch.setattr(zoo.train, "train", watched)
    train = DATASETS.get("digits")("train")

    def ctx():
        return RunContext(suite="generation", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                          runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "fig",
                          progress=False)

    fitted = [None, None]

    def ask(i):
        fitted[i] = fit(ctx(), "dcgan", "digits", train)

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert overlap[0] == 1  # never two trainers in one directory
    log = (tmp_path / "runs" / "models" / "dcgan" / "digits" / "embedded" / "smoke" / "seed0" / "log.jsonl")
    steps = [line for line in log.read_text().splitlines() if line.strip()]
    assert len(steps) == len(set(steps))  # each logged step once: the second call resumed, it did not retrain
    a, b = (f.model.state_dict() for f in fitted)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_a_dataset_selection_skips_the_other_datasets(tmp_path):
    """A suite's main_datasets reach its context: splits() yields the selected datasets only, and writes
    no record about the others (they are not missing, just not part of this run)."""
    from gbench.suites.base import RunContext

    assert SUITES.get("generation").main_datasets == {"embedded": ("digits",)}
    ctx = RunContext(suite="generation", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                     runs_dir=tmp_path / "runs", results_dir=tmp_path / "results", figures_dir=tmp_path / "fig",
                     progress=False, datasets=("digits",))
    assert [name for name, _, _ in ctx.splits(("digits", "scenes"))] == ["digits"]
    assert ctx.records == []


def test_the_main_jobs_variant_selection_reaches_the_suite(tmp_path, one_thread):
    """Suite.main_variants: the main job's likelihood run scores the binary discretization only."""
    from gbench.runner import run_suites

    suite = SUITES.get("likelihood")
    assert suite.main_variants == ("binary",)
    req = RunRequest(suite="main", preset="smoke", device="cpu", runs=tmp_path / "runs",
                     results=tmp_path / "lb" / "results", progress=False)
    records = run_suites(req, [suite], torch.device("cpu"))
    assert {r.variant for r in records} == {"binary"}
    assert {r.model for r in records} == {"vae", "independent-pixels"}
