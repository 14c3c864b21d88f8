"""Benchmarks: pytest-benchmark files named ``bench_*.py``, run with

    pytest benchmarks/ --benchmark-only

Timings are reported as ratios against a reference measured in the same
session (printed at the end of the run); no benchmark asserts wall time.

Records: with ``--bench-records DIR`` (or ``GBENCH_BENCH_RESULTS=DIR``) the benchmarks that
publish a number write it as a record of suite ``performance`` to ``DIR/performance.jsonl``
(locked, atomic), from which ``gbench leaderboard`` renders ``performance.md``. Without it they
write nothing, so running the benchmarks never edits the repository by accident.
"""

import os

import pytest
import torch

from gbench.performance import performance_record
from gbench.records import write_records

_RATIO_LINES: list[str] = []


def pytest_addoption(parser):
    parser.addoption("--bench-records", metavar="DIR", default=os.environ.get("GBENCH_BENCH_RESULTS") or None,
                     help="write each published timing as a gbench record under DIR (suite 'performance'); "
                          "default $GBENCH_BENCH_RESULTS, else no records")


def pytest_collect_file(file_path, parent):
    # pyproject's pytest settings collect test_*.py only; benchmarks are bench_*.py.
    # A file named on the command line is collected by pytest itself already.
    if (file_path.suffix == ".py" and file_path.name.startswith("bench_")
            and not parent.session.isinitpath(file_path)):
        return pytest.Module.from_parent(parent, path=file_path)
    return None


@pytest.fixture
def one_thread():
    """One intra-op torch thread for a benchmark (per-core costs; the previous count is restored)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="session")
def report_ratio():
    """Call with one line of text; the lines are printed in the terminal summary."""
    return _RATIO_LINES.append


@pytest.fixture(scope="session")
def bench_record(pytestconfig):
    """``bench_record(subject, workload, metric, value, reference=..., reference_value=..., ...)``
    (the arguments of :func:`gbench.performance.performance_record`): writes one record when
    ``--bench-records`` is given, nothing otherwise."""
    results = pytestconfig.getoption("--bench-records")

    def record(*args, **kwargs):
        if results:
            write_records(results, [performance_record(*args, **kwargs)])

    return record


def pytest_terminal_summary(terminalreporter):
    if _RATIO_LINES:
        terminalreporter.section("speed ratios (reference time / gbench time, same session)")
        for line in _RATIO_LINES:
            terminalreporter.write_line(line)
