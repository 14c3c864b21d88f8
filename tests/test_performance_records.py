"""The performance leaderboard: benchmark records → performance.md, and records only when asked."""

import dataclasses
from pathlib import Path

import pytest

from gbench.leaderboard import write_leaderboards
from gbench.performance import performance_record, render
from gbench.records import read_records, write_records

pytest_plugins = ["pytester"]

BENCHMARKS = Path(__file__).resolve().parent.parent / "benchmarks"
MACHINE = {"cpu": "Toy CPU 9000", "cores": 4, "threads": 2, "load": 5.5, "torch": "9.9.9"}


def timing(subject, metric, value, reference_value=None, **machine):
    """A record as a benchmark writes it, with a fixed machine and date."""
    r = performance_record(subject, "toy workload", metric, value,
                           reference="plain loop" if reference_value else "", reference_value=reference_value)
    return dataclasses.replace(r, utc="2026-01-02T03:04:05Z", commit="abc", extra={**r.extra, **MACHINE, **machine})


def table_row(markdown, subject):
    rows = [line for line in markdown.splitlines() if line.startswith(f"| {subject} |")]
    assert len(rows) == 1, markdown
    return [cell.strip() for cell in rows[0].strip("|").split("|")]


def test_ratio_is_how_many_times_faster_gbench_is():
    # a time: reference / gbench; a rate: gbench / reference — above 1, gbench is faster either way
    assert performance_record("a", "w", "ms_per_step", 10.0, reference="r", reference_value=25.0).extra["ratio"] == 2.5
    assert performance_record("a", "w", "images_per_s", 100.0, reference="r", reference_value=400.0).extra["ratio"] \
        == 0.25
    assert "ratio" not in performance_record("a", "w", "s_per_call", 1.0).extra


def test_records_render_a_row_each_with_ratio_machine_threads_and_torch():
    md = render([timing("dcgan step", "ms_per_step", 10.0, 20.0),
                 timing("sampling", "images_per_s", 3000.0, 1000.0, threads=1, load=0.5),
                 timing("pixelcnn step", "ms_per_step", 522.0)])
    header = table_row(md, "benchmark")
    assert header == ["benchmark", "workload", "gbench result", "reference", "reference result", "ratio", "machine",
                      "threads", "torch", "date"]
    assert table_row(md, "dcgan step") == ["dcgan step", "toy workload", "10 ms/step", "plain loop", "20 ms/step",
                                           "**2.00×**", "Toy CPU 9000 (4 cores, load 5.5)", "2", "9.9.9",
                                           "2026-01-02"]
    sampling = table_row(md, "sampling")
    assert sampling[2:6] == ["3,000 images/s", "plain loop", "1,000 images/s", "**3.00×**"] and sampling[7] == "1"
    assert table_row(md, "pixelcnn step")[3:6] == ["— (no reference)", "—", "—"]
    assert "ratio = reference time / gbench time" in md and "No test asserts wall time" in md
    assert "--bench-records leaderboards/results && gbench leaderboard" in md
    # load 5.5 on 4 cores: the page says the machine was shared
    assert "a shared 4-core machine" in md and "load 0.5–5.5" in md


def test_gbench_leaderboard_writes_performance_md(tmp_path):
    write_records(tmp_path / "results", [timing("dcgan step", "ms_per_step", 10.0, 20.0)])
    written = write_leaderboards(tmp_path / "results", tmp_path)
    assert written == [tmp_path / "performance.md"]
    assert written[0].read_text() == render(read_records(tmp_path / "results" / "performance.jsonl"))


def test_a_performance_record_names_its_unit_and_reference():
    with pytest.raises(ValueError, match="must be one of"):
        performance_record("a", "w", "fps", 1.0)
    with pytest.raises(ValueError, match="reference"):
        performance_record("a", "w", "ms_per_step", 1.0, reference="plain loop")


BENCH = '''
def test_toy(bench_record):
    bench_record("toy", "workload", "ms_per_step", 1.0, reference="plain", reference_value=2.0)
'''


@pytest.fixture
def bench_dir(pytester, monkeypatch):
    """A pytester folder with benchmarks/conftest.py and one benchmark that publishes a timing."""
    monkeypatch.delenv("GBENCH_BENCH_RESULTS", raising=False)
    pytester.makeconftest((BENCHMARKS / "conftest.py").read_text(encoding="utf-8"))
    pytester.makepyfile(bench_toy=BENCH)
    return pytester


def run(pytester, *args):
    # in-process, without the plugins the toy benchmark does not need (each costs seconds to load)
    plugins = ("cacheprovider", "hypothesispytest", "xdist.plugin", "benchmark")
    result = pytester.runpytest_inprocess(*[a for p in plugins for a in ("-p", f"no:{p}")], *args)
    result.assert_outcomes(passed=1)


def test_benchmarks_write_no_record_unless_asked(bench_dir, monkeypatch):
    run(bench_dir)
    assert not list(bench_dir.path.rglob("*.jsonl"))  # no records file, in the run's folder or below

    run(bench_dir, "--bench-records", "out")
    monkeypatch.setenv("GBENCH_BENCH_RESULTS", str(bench_dir.path / "env"))
    run(bench_dir)
    for folder in ("out", "env"):
        (record,) = read_records(bench_dir.path / folder / "performance.jsonl")
        assert (record.suite, record.model, record.extra["ratio"]) == ("performance", "toy", 2.0)
