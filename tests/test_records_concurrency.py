"""Concurrent writers to one results folder lose no record (issue 17, item 1): the read–merge–replace
of `write_records` runs under a file lock."""

import multiprocessing

from gbench.records import Record, read_records, results_file, write_records

WRITES = 100


def _writer(results_dir: str, who: int) -> None:
    for k in range(WRITES):  # one write per record: as many read–merge–replace cycles as possible
        write_records(results_dir, [Record(suite="s", model=f"m{who}", dataset="d", metric=f"x{k}", value=float(k),
                                           status="ok")])


def test_two_processes_writing_one_file_keep_every_record(tmp_path):
    ctx = multiprocessing.get_context("fork")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), who)) for who in (0, 1)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    records = read_records(results_file(tmp_path, "s"))
    assert len(records) == 2 * WRITES == len({r.key() for r in records})
    assert not [p for p in tmp_path.iterdir() if p.suffix == ".tmp"]  # no temporary file left behind


def test_figure_names_carry_the_seed(tmp_path):
    """Two seeds' runs into one leaderboards folder never write the same figure file (issue 17, item 1);
    seed 0 keeps the plain name the committed leaderboards link."""
    import torch

    from gbench.suites import RunContext

    def path(seed):
        ctx = RunContext(suite="toy", profile="embedded", preset="smoke", seed=seed, device=torch.device("cpu"),
                         runs_dir=tmp_path / "runs", results_dir=tmp_path / "lb" / "results",
                         figures_dir=tmp_path / "lb" / "figures", progress=False)
        return ctx.figure_path("digits_dcgan_smoke_samples.png")

    (p0, rel0), (p1, rel1) = path(0), path(1)
    assert p0.name == "digits_dcgan_smoke_samples.png" and p1.name == "digits_dcgan_smoke_samples_seed1.png"
    assert rel1 == "figures/toy/digits_dcgan_smoke_samples_seed1.png" and rel0 != rel1


def test_two_concurrent_smoke_runs_lose_nothing(tmp_path):
    """Two `gbench run` processes (seeds 0 and 1) into one --results, --runs and feature cache
    (issue 17, item 1): both exit 0, each seed keeps every record a run writes, each its own
    figure, and no temporary file is left. GAN only, to stay within CI time; the write paths
    (records under the lock, figures, checkpoints, cached reference features, markdown) are
    those of every suite."""
    import json
    import os
    import subprocess
    import sys

    env = dict(os.environ, OMP_NUM_THREADS="1", GBENCH_CACHE=str(tmp_path / "cache"))
    results = tmp_path / "lb" / "results"

    def start(seed):
        return subprocess.Popen([sys.executable, "-m", "gbench", "run", "--suite", "generation", "--preset", "smoke",
                                 "--models", "gan", "--seed", str(seed), "--device", "cpu", "--no-progress",
                                 "--results", str(results), "--runs", str(tmp_path / "runs")],
                                env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    procs = [start(seed) for seed in (0, 1)]
    for p in procs:
        _, err = p.communicate(timeout=600)
        assert p.returncode == 0, err
    lines = (results / "generation.jsonl").read_text().splitlines()
    by_seed = {0: set(), 1: set()}
    for line in lines:
        r = json.loads(line)
        by_seed[r["seed"]].add((r["model"], r["dataset"], r["variant"], r["metric"]))
    assert len(lines) == len(by_seed[0]) + len(by_seed[1])  # one record per key, none duplicated
    assert by_seed[0] and by_seed[0] == by_seed[1]  # the same run twice: the same keys, none lost
    figures = {p.name for p in (tmp_path / "lb" / "figures" / "generation").iterdir()}
    assert {"digits_gan_smoke_samples.png", "digits_gan_smoke_samples_seed1.png"} <= figures
    leftovers = [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp") or ".tmp." in p.name]
    assert not leftovers
    assert "(n=2 seeds)" in (tmp_path / "lb" / "generation.md").read_text()  # the markdown saw both runs
