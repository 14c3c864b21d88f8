"""`gbench run`: validate the request, run suites, write records and markdown."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import torch

from gbench.errors import GbenchError
from gbench.leaderboard import write_leaderboards
from gbench.records import Record
from gbench.suites import META_SUITES, PRESETS, PROFILES, RunContext, resolve


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; an unavailable CUDA is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise GbenchError("--device cuda was asked for but this torch sees no CUDA device: use --device cpu or --device auto")
    try:
        return torch.device(device)
    except RuntimeError:
        raise GbenchError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from None


@dataclass(frozen=True)
class RunRequest:
    suite: str
    device: str = "auto"
    profile: str = "embedded"
    preset: str = "quick"
    out: Path = Path("runs")
    results: Path = Path("leaderboards/results")
    seed: int = 0
    data_root: Path | None = None
    download: bool = False
    progress: bool = True
    allow_unverified: bool = False
    weights: Path | None = None
    models: tuple[str, ...] | None = None


def validate(req: RunRequest) -> None:
    if req.profile not in PROFILES:
        raise GbenchError(f"unknown profile {req.profile!r}: use one of {', '.join(PROFILES)}")
    if req.preset not in PRESETS:
        raise GbenchError(f"unknown preset {req.preset!r}: use one of {', '.join(PRESETS)}")
    if req.data_root is not None and not Path(req.data_root).is_dir():
        raise GbenchError(f"--data-root {req.data_root} is not a folder: pass the folder that holds the datasets")
    if req.weights is not None and not Path(req.weights).is_dir():
        raise GbenchError(f"--weights {req.weights} is not a folder: pass the folder that holds pretrained weight files")
    if req.seed < 0:
        raise GbenchError(f"--seed must be a non-negative integer, got {req.seed}")


def run(req: RunRequest) -> list[Record]:
    """Run the requested suite(s); return the records written."""
    validate(req)
    suites = resolve(req.suite)
    device = resolve_device(req.device)
    if not suites:
        raise GbenchError("no suites are registered yet")
    quick = req.suite == "quick"
    if req.models is not None:
        known = {m for s in suites for m in s.models}
        for m in req.models:
            if m not in known:
                raise GbenchError(f"--models: {m!r} is not a model of suite {req.suite!r}: "
                                  f"choose from {', '.join(sorted(known))}")
    records: list[Record] = []
    for suite in suites:
        models = suite.quick_models if quick and suite.quick_models is not None else None
        if req.models is not None:
            models = tuple(req.models)
        ctx = RunContext(
            suite=suite.name, profile=req.profile, preset=req.preset, seed=req.seed, device=device,
            out_dir=Path(req.out), results_dir=Path(req.results), figures_dir=Path(req.results).parent / "figures",
            data_root=req.data_root, download=req.download, progress=req.progress, models=models,
            allow_unverified=req.allow_unverified, weights=req.weights,
        )
        t0 = time.perf_counter()
        if req.preset not in suite.presets:
            ctx.emit([ctx.record("all", "-", "all", None, reason=f"preset {req.preset!r} not supported; use one of {', '.join(suite.presets)}")])
        else:
            suite.run(ctx)
        write_leaderboards(req.results, suites=[suite.name])
        if req.progress:
            print(f"[gbench] suite {suite.name}: {len(ctx.records)} records in {time.perf_counter() - t0:.1f} s")
        records.extend(ctx.records)
    return records


def summary_table(records: list[Record]) -> str:
    """A plain-text summary of a run, for the terminal."""
    from tabulate import tabulate

    rows = [[r.suite, r.model, r.dataset, r.metric,
             f"{r.value:.4g}" if r.value is not None else f"n/a ({r.reason})",
             "" if r.std is None else f"{r.std:.2g}"] for r in records]
    return tabulate(rows, headers=["suite", "model", "dataset", "metric", "value", "std"], disable_numparse=True)


__all__ = ["META_SUITES", "RunRequest", "resolve_device", "run", "summary_table"]
