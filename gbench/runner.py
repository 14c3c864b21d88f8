"""`gbench run`: validate the request, run suites, write records and markdown."""

from __future__ import annotations

import difflib
import time
import warnings
from dataclasses import dataclass
from pathlib import Path

import torch

from gbench import launch, main_job
from gbench.errors import GbenchError
from gbench.leaderboard import write_leaderboards
from gbench.metrics._arrays import check_seed
from gbench.records import Record
from gbench.suites import META_SUITES, PRESETS, PROFILES, RunContext, resolve


def resolve_device(device: str) -> torch.device:
    """``auto`` → CUDA when available, else CPU; ``cpu``, ``cuda`` and ``cuda:N`` as named. Any other
    device type (mps, xpu, meta, …), an unavailable CUDA or a CUDA index this machine lacks is an error."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        where = torch.device(device)
    except RuntimeError:
        raise GbenchError(f"unknown device {device!r}: use cpu, cuda, cuda:N or auto") from None
    if where.type not in ("cpu", "cuda"):
        raise GbenchError(f"--device {device}: gbench runs on the CPU or CUDA only ({where.type} is not supported): "
                          "use --device cpu, cuda, cuda:N or auto")
    if where.type == "cuda":
        if not torch.cuda.is_available():
            raise GbenchError("--device cuda was asked for but this torch sees no CUDA device: use --device cpu or "
                              "--device auto")
        count = torch.cuda.device_count()
        if where.index is not None and where.index >= count:
            raise GbenchError(f"--device {device}: this machine has {count} CUDA device(s), cuda:0 … cuda:{count - 1}")
    return where


@dataclass(frozen=True)
class RunRequest:
    suite: str
    device: str = "auto"
    profile: str = "embedded"
    preset: str = "quick"
    runs: Path = Path("runs")
    results: Path = Path("leaderboards/results")
    seed: int = 0
    data_root: Path | None = None
    download: bool = False
    progress: bool = True
    allow_unverified: bool = False
    weights: Path | None = None
    models: tuple[str, ...] | None = None
    extractor: str | None = None


def check_output_folder(option: str, folder: Path) -> None:
    """An output folder gbench will create or write into: refused up front when something that is
    not a folder is in the way (a file, or a file above it), before any training starts."""
    for where in (folder, *folder.parents):
        if where.exists() or where.is_symlink():
            if not where.is_dir():
                raise GbenchError(f"{option} {folder}: {where} is a file, not a folder: pass a folder "
                                  "(it is created if missing)")
            return


def validate(req: RunRequest) -> None:
    if req.profile not in PROFILES:
        raise GbenchError(f"unknown profile {req.profile!r}: use one of {', '.join(PROFILES)}")
    if req.preset not in PRESETS:
        raise GbenchError(f"unknown preset {req.preset!r}: use one of {', '.join(PRESETS)}")
    if req.data_root is not None and not Path(req.data_root).is_dir():
        raise GbenchError(f"--data-root {req.data_root} is not a folder: pass the folder that holds the datasets")
    if req.weights is not None and not Path(req.weights).is_dir():
        raise GbenchError(f"--weights {req.weights} is not a folder: pass the folder that holds pretrained weight files")
    check_seed(req.seed, "--seed")
    results = Path(req.results)
    for option, folder in (("--runs", Path(req.runs)), ("--results", results), ("--results", results.parent),
                           ("--results", results.parent / "figures")):
        check_output_folder(option, folder)
    if req.extractor is not None:
        from gbench.features import EXTRACTORS

        EXTRACTORS.get(req.extractor)  # an unknown name is reported with the closest one
    if req.models is not None and not req.models:
        raise GbenchError("--models names no model: pass a comma-separated list, e.g. --models dcgan,vae")


def check_models(req: RunRequest, suites) -> None:
    """Every --models name must be something the suites run; ``X@init`` rows come with ``X``."""
    known = [m for s in suites for m in s.models]
    for m in req.models or ():
        if m in known:
            continue
        base = m.removesuffix("@init")
        if base != m and base in known:
            raise GbenchError(f"--models: {m!r} is the untrained row of {base!r}, reported whenever {base!r} runs: "
                              f"pass --models {base}; trainable models: {', '.join(known)}")
        close = difflib.get_close_matches(m, known, n=1, cutoff=0.5)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise GbenchError(f"--models: {m!r} is not a model of suite {req.suite!r}: {hint}"
                          f"choose from {', '.join(known)}")


def run(req: RunRequest) -> list[Record]:
    """Run the requested suite(s); return the records written."""
    validate(req)
    suites = resolve(req.suite)
    device = resolve_device(req.device)
    if not suites:
        raise GbenchError("no suites are registered yet")
    check_models(req, suites)
    device, joined = launch.join_process_group(device)  # under torchrun; see gbench.launch
    try:
        with warnings.catch_warnings():
            if launch.rank() != 0:  # every rank meets the same warnings: rank 0 reports them
                warnings.simplefilter("ignore")
            if main_job.parallel(req, device):
                return main_job.run_lanes(req, suites)
            return run_suites(req, suites, device)
    finally:
        if joined:
            launch.leave_process_group()


def run_suites(req: RunRequest, suites, device: torch.device) -> list[Record]:
    """Run ``suites`` one after another in this process (one lane of the main job: gbench.main_job)."""
    runs, results = launch.agreed_paths(req.runs, req.results)
    publish = launch.rank() == 0  # rank 0 writes the records, figures and markdown; see gbench.launch
    if not publish:
        results = launch.scratch_results(runs)
    progress = req.progress and publish
    is_main = req.suite == "main"
    records: list[Record] = []
    fitted: dict = {}  # trained models shared between the suites of one run (gbench.fit)
    for suite in suites:
        models = suite.main_models if is_main and suite.main_models is not None else None
        datasets = (suite.main_datasets or {}).get(req.profile) if is_main else None
        variants = suite.main_variants if is_main else None
        if req.models is not None:
            models = tuple(req.models)
        ctx = RunContext(
            suite=suite.name, profile=req.profile, preset=req.preset, seed=req.seed, device=device,
            runs_dir=runs, results_dir=results, figures_dir=results.parent / "figures",
            data_root=req.data_root, download=req.download, progress=progress, models=models, datasets=datasets,
            variants=variants,
            allow_unverified=req.allow_unverified, weights=req.weights, extractor=req.extractor, fitted=fitted,
        )
        t0 = time.perf_counter()
        if req.preset not in suite.presets:
            ctx.emit([ctx.record("all", "-", "all", None, reason=f"preset {req.preset!r} not supported; use one of {', '.join(suite.presets)}")])
        else:
            suite.run(ctx)
        written = write_leaderboards(results, suites=[suite.name]) if publish else []
        if progress:
            print(f"[gbench] suite {suite.name}: {len(ctx.records)} records in {time.perf_counter() - t0:.1f} s"
                  + (f"; leaderboard {written[0]}" if written else ""), flush=True)
        records.extend(ctx.records)
    return records


SUMMARY_COLUMNS = 5  # a terminal-wide table: the suite's first (headline) metrics


def summary(records: list[Record], results: Path | str) -> str:
    """What a run measured, for the terminal: per suite and dataset, the models against the
    suite's headline metrics, each reason for a missing number once as a footnote, and
    where the full leaderboard is."""
    from gbench.leaderboard import format_cell, header
    from gbench.suites import SUITES
    from tabulate import tabulate

    out, reasons = [], {}
    by_group: dict[tuple[str, str], list[Record]] = {}
    for r in records:
        if r.status != "ok":
            reasons.setdefault(r.reason, len(reasons) + 1)
        by_group.setdefault((r.suite, r.dataset), []).append(r)
    for (suite_name, dataset), group in by_group.items():
        suite = SUITES.get(suite_name) if suite_name in SUITES else None
        present = {r.metric for r in group}
        columns = [m for m in (suite.metrics if suite else sorted(present)) if m in present][:SUMMARY_COLUMNS]
        rows = {}
        for r in group:
            rows.setdefault((r.model, r.variant), {}).setdefault(r.metric, []).append(r)
        table = []
        for (model, variant), cells in rows.items():
            if not any(m in cells for m in columns) and not any(r.status != "ok" for rs in cells.values() for r in rs):
                continue  # a row of other metrics only (e.g. a rank correlation): in the full table
            notes = sorted({reasons[r.reason] for rs in cells.values() for r in rs if r.status != "ok"})
            label = model + (f" @ {variant}" if variant else "") + "".join(f" [{k}]" for k in notes)
            table.append([label] + [format_cell(cells.get(m, [])) if m in cells else "" for m in columns])
        path = Path(results).parent / suite.leaderboard if suite else Path(results) / f"{suite_name}.jsonl"
        out += [f"{suite_name} · {dataset} — full table: {path}",
                tabulate(table, headers=["model"] + [header(m) for m in columns], disable_numparse=True), ""]
    out += [f"[{k}] {reason}" for reason, k in reasons.items()]
    return "\n".join(out).rstrip("\n")


__all__ = ["META_SUITES", "RunRequest", "resolve_device", "run", "summary"]
