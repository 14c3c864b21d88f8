"""The performance leaderboard: benchmark timings as records, and their markdown page.

The pytest-benchmark files under ``benchmarks/`` time gbench (and the zoo) against a reference
implementation run in the same session (pytorch-fid, a hand-written PyTorch loop, one process).
Asked to (``pytest benchmarks --benchmark-only --bench-records DIR``, or
``GBENCH_BENCH_RESULTS=DIR``), each measurement becomes one :class:`~gbench.records.Record` of
suite ``performance`` — ``model`` the benchmark's subject, ``dataset`` its workload, ``metric``
its unit — with the reference, the ratio and the machine in ``extra``; ``gbench leaderboard``
renders ``performance.md`` from them with :func:`render`. It is not a runnable suite (no
``gbench run --suite performance``): only the benchmarks write these records.

The ratio is always "how many times faster gbench is": reference time / gbench time, which for
a throughput is gbench rate / reference rate.
"""

from __future__ import annotations

import os
import platform
from pathlib import Path

import torch

from gbench.provenance import git_commit, package_versions, utc_now
from gbench.records import Record

SUITE = "performance"
REGENERATE = "pytest benchmarks --benchmark-only --bench-records leaderboards/results && gbench leaderboard"

# metric → (unit as printed, True if larger is faster)
UNITS = {
    "ms_per_step": ("ms/step", False),
    "s_per_call": ("s/call", False),
    "images_per_s": ("images/s", True),
}


def cpu_model() -> str:
    """The CPU's model name (``/proc/cpuinfo`` on Linux, else ``platform.processor()``)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine() -> dict:
    """What a timing depends on besides the code: CPU, cores, threads, load, device."""
    return {
        "cpu": cpu_model(),
        "cores": os.cpu_count() or 0,
        "threads": torch.get_num_threads(),
        # other processes distort timings; the 1-minute load average says how busy the machine was
        "load": round(os.getloadavg()[0], 2) if hasattr(os, "getloadavg") else None,
        "torch": torch.__version__,
    }


def ratio(metric: str, value: float, reference_value: float) -> float:
    """How many times faster gbench is than the reference (> 1: gbench faster)."""
    faster_if_larger = UNITS[metric][1]
    return value / reference_value if faster_if_larger else reference_value / value


def performance_record(subject: str, workload: str, metric: str, value: float, *, reference: str = "",
                       reference_value: float | None = None, threads: int | None = None,
                       device: str = "cpu", preset: str = "", seconds: float = 0.0) -> Record:
    """One benchmark measurement as a record of suite ``performance``.

    Args:
        subject: what gbench (or the zoo) ran, e.g. "dcgan train iteration (zoo trainer)".
        workload: the data and sizes, e.g. "quick, 1×32×32, batch 64".
        metric: a key of :data:`UNITS`; ``value`` in that unit.
        reference: the reference implementation ("" when there is none); ``reference_value``
            its measurement in the same unit, same session.
        threads: torch intra-op threads the measurement ran with (default: the current count).
        seconds: wall seconds the measurement took (provenance only).
    """
    if metric not in UNITS:
        raise ValueError(f"performance metric must be one of {sorted(UNITS)}, got {metric!r}")
    if (reference_value is None) != (not reference):
        raise ValueError("a reference needs its measured value, and a value needs its reference's name")
    extra = machine()
    if threads is not None:
        extra["threads"] = threads
    if reference:
        extra.update(reference=reference, reference_value=float(reference_value),
                     ratio=round(ratio(metric, value, reference_value), 4))
    return Record(suite=SUITE, model=subject, dataset=workload, metric=metric, value=float(value), preset=preset,
                  device=device, commit=git_commit(), versions=package_versions(),
                  wall_seconds=round(float(seconds), 3), utc=utc_now(), extra=extra)


def _number(value: float) -> str:
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _row(r: Record) -> list[str]:
    unit = UNITS.get(r.metric, (r.metric, False))[0]
    e = r.extra
    has_ref = "reference_value" in e
    load = f", load {e['load']:g}" if e.get("load") is not None else ""
    return [
        r.model, r.dataset, f"{_number(r.value)} {unit}",
        e.get("reference", "—") if has_ref else "— (no reference)",
        f"{_number(e['reference_value'])} {unit}" if has_ref else "—",
        f"**{e['ratio']:.2f}×**" if has_ref else "—",
        f"{e.get('cpu', '?')} ({e.get('cores', '?')} cores{load})",
        str(e.get("threads", "?")), e.get("torch", r.versions.get("torch", "?")), r.utc[:10],
    ]


HEADER = (
    "Timings from the pytest-benchmark files under `benchmarks/`. Each row is one measurement; "
    "where a reference exists (pytorch-fid, a hand-written PyTorch loop of the same networks, one "
    "process) it was timed in the same session on the same machine, and **ratio = reference time "
    "/ gbench time** (for a throughput: gbench rate / reference rate): above 1, gbench is faster. "
    "Machines are noisy (the load in the machine column is the 1-minute load average as the "
    "measurement was recorded; at or above the core count, other processes competed for the CPU): "
    "a ratio is worth more than a time, and on a busy machine both scatter between runs by tens of "
    "percent. No test asserts wall time. Each benchmark's docstring says exactly what is timed on "
    "both sides.")


def machines_line(records: list[Record]) -> str:
    """Which machines the records come from, and whether other jobs shared them."""
    parts = []
    for cpu, cores in sorted({(r.extra.get("cpu", "?"), r.extra.get("cores", 0)) for r in records}):
        loads = [r.extra["load"] for r in records if r.extra.get("cpu", "?") == cpu
                 and r.extra.get("cores", 0) == cores and r.extra.get("load") is not None]
        text = f"{cpu}, {cores} cores"
        if loads:
            text += f", load {min(loads):g}–{max(loads):g}"
            if max(loads) >= cores:
                text += f" (a shared {cores}-core machine: other jobs ran alongside the benchmarks)"
        parts.append(text)
    return "Measured on: " + "; ".join(parts) + "."


def render(records: list[Record]) -> str:
    """The markdown of ``performance.md``: one table row per record, sorted by subject (ignoring case) and workload."""
    rows = sorted(records, key=lambda r: (r.model.lower(), r.dataset, r.metric))
    columns = ["benchmark", "workload", "gbench result", "reference", "reference result", "ratio", "machine",
               "threads", "torch", "date"]
    table = ["| " + " | ".join(columns) + " |",
             "|" + "|".join(":--" if i < 2 or i in (3, 6) else "--:" for i in range(len(columns))) + "|"]
    table += ["| " + " | ".join(cell.replace("|", "\\|") for cell in _row(r)) + " |" for r in rows if r.status == "ok"]
    commits = sorted({r.commit for r in records if r.commit})
    out = ["# Performance", "", HEADER, "", machines_line(records), "",
           f"_Generated by `gbench leaderboard` from `results/{SUITE}.jsonl`; do not edit by hand. "
           f"Regenerate: `{REGENERATE}`._", "", *table, "",
           f"Provenance: commit {', '.join(commits) or 'unknown'}; device "
           f"{', '.join(sorted({r.device for r in records if r.device})) or 'unknown'}."]
    return "\n".join(out) + "\n"
