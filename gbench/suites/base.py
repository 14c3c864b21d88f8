"""What a suite is, and the context one run of it gets.

A suite is a registered object: name, the datasets it uses per profile, the
models and metrics it reports, the presets it supports, a ``run`` function
that turns a :class:`RunContext` into records, and (optionally) a renderer for
its leaderboard. ``quick_models`` is its CPU-sized selection, used by the
``quick`` meta-suite.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gbench.provenance import git_commit, package_versions, utc_now
from gbench.records import Record, write_records

PROFILES = ("embedded", "paper")
PRESETS = ("smoke", "quick", "full")


@dataclass
class RunContext:
    """Everything one run of one suite needs; passed in, never global.

    ``emit`` writes records immediately (atomically), so a killed run loses no
    finished record; ``records`` keeps what this run emitted for the summary.
    """

    suite: str
    profile: str
    preset: str
    seed: int
    device: torch.device
    out_dir: Path                 # checkpoints, samples: git-ignored run outputs
    results_dir: Path             # JSON-lines records
    figures_dir: Path             # PNGs linked from the leaderboard
    data_root: Path | None = None
    download: bool = False
    progress: bool = True
    models: tuple[str, ...] | None = None   # a selection of the suite's models (None: all)
    allow_unverified: bool = False
    weights: Path | None = None
    world_size: int = 1
    records: list[Record] = field(default_factory=list)

    @property
    def run_dir(self) -> Path:
        return self.out_dir / self.suite / self.profile / self.preset / f"seed{self.seed}"

    @property
    def leaderboards_dir(self) -> Path:
        return self.results_dir.parent

    def figure_path(self, name: str) -> tuple[Path, str]:
        """(absolute path to write, path relative to the leaderboards folder)."""
        path = self.figures_dir / self.suite / name
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            rel = path.resolve().relative_to(self.leaderboards_dir.resolve()).as_posix()
        except ValueError:
            rel = path.resolve().as_posix()
        return path, rel

    def record(self, model: str, dataset: str, metric: str, value: float | None, *, std: float | None = None,
               reason: str = "", n_real: int | None = None, n_fake: int | None = None,
               extractor=None, wall_seconds: float = 0.0, extra: dict[str, Any] | None = None,
               artifacts: dict[str, str] | None = None) -> Record:
        """Build a record with this run's provenance filled in.

        ``extractor`` is a loaded extractor (with ``name``, ``weights_sha256``
        and ``verified``) or None.
        """
        return Record(
            suite=self.suite, model=model, dataset=dataset, metric=metric,
            value=None if value is None else float(value), std=None if std is None else float(std),
            status="ok" if value is not None else "unavailable", reason=reason,
            n_real=n_real, n_fake=n_fake,
            extractor=getattr(extractor, "name", None),
            extractor_sha256=getattr(extractor, "weights_sha256", None),
            extractor_verified=getattr(extractor, "verified", None),
            preset=self.preset, profile=self.profile, seed=self.seed, device=self.device.type,
            world_size=self.world_size, commit=git_commit(), versions=package_versions(),
            wall_seconds=round(float(wall_seconds), 3), utc=utc_now(),
            extra=dict(extra or {}), artifacts=dict(artifacts or {}),
        )

    def emit(self, records: list[Record]) -> None:
        write_records(self.results_dir, records)
        self.records.extend(records)

    def available_datasets(self, names):
        """Yield (name, spec) for each dataset that can load in this run; for
        one that cannot, emit an 'unavailable' record saying why instead."""
        from gbench.data import DATASETS

        for name in names:
            spec = DATASETS.get(name)
            ok, why = spec.availability(self.data_root)
            if ok:
                yield name, spec
            else:
                self.emit([self.record("all", name, "all", None, reason=f"unavailable: {name} {why}")])

    def selected(self, models: tuple[str, ...]) -> tuple[str, ...]:
        return models if self.models is None else tuple(m for m in models if m in self.models)


@dataclass(frozen=True)
class Suite:
    """A registered benchmark.

    Attributes:
        name: registry name (also the records file stem).
        title: heading of its leaderboard.
        description: what it measures (README, `gbench list`, leaderboard).
        leaderboard: markdown file name under leaderboards/.
        datasets: profile → dataset names it uses in that profile.
        models: the rows it reports, in table order.
        metrics: the columns it reports, in table order.
        run: ``run(ctx) -> None``; emits records through ``ctx.emit``.
        quick_models: the CPU-sized selection the ``quick`` meta-suite runs.
        presets: presets it supports.
        render: optional ``render(suite, records) -> markdown``; default tables otherwise.
    """

    name: str
    title: str
    description: str
    leaderboard: str
    datasets: dict[str, tuple[str, ...]]
    models: tuple[str, ...]
    metrics: tuple[str, ...]
    run: Callable[[RunContext], None]
    quick_models: tuple[str, ...] | None = None
    presets: tuple[str, ...] = PRESETS
    render: Callable[["Suite", list[Record]], str] | None = None


def timed(fn: Callable, *args, **kwargs) -> tuple[Any, float]:
    t0 = time.perf_counter()
    out = fn(*args, **kwargs)
    return out, time.perf_counter() - t0
