"""What a suite is, and the context one run of it gets.

A suite is a registered object: name, the datasets it uses per profile, the
models it runs and the metrics it reports, the presets it supports, a ``run``
function that turns a :class:`RunContext` into records, and (optionally) a
hook that adds sections to its leaderboard. ``main_models`` is its CPU-sized
selection, used by the ``main`` meta-suite (the README's main job).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import torch

from gbench.provenance import git_commit, package_versions, utc_now
from gbench.records import Record, write_records
from zoo.models.base import PRESET_NAMES

PROFILES = ("embedded", "paper")
PRESETS = PRESET_NAMES  # smoke (tests), quick (CPU minutes), full (GPU); defined once, in the zoo


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
    runs_dir: Path                # checkpoints and other run outputs (git-ignored)
    results_dir: Path             # JSON-lines records
    figures_dir: Path             # PNGs linked from the leaderboard
    data_root: Path | None = None
    download: bool = False
    progress: bool = True
    models: tuple[str, ...] | None = None   # a selection of the suite's models (None: all)
    datasets: tuple[str, ...] | None = None  # a selection of the profile's datasets (None: all; the main job's)
    variants: tuple[str, ...] | None = None  # a selection of the suite's variants (None: all; the main job's)
    allow_unverified: bool = False
    weights: Path | None = None
    extractor: str | None = None  # overrides the profile's extractor (`gbench run --extractor`)
    records: list[Record] = field(default_factory=list)
    fitted: dict = field(default_factory=dict)  # gbench.fit's in-process cache of trained models

    @property
    def world_size(self) -> int:
        """Processes in this run: torch.distributed's world size under torchrun, else 1."""
        from gbench.metrics.distributed import world_size

        return world_size()

    def work_dir(self, dataset: str) -> Path:
        """A folder for this suite's own run outputs on ``dataset`` (not models: see gbench.fit)."""
        return self.runs_dir / "suites" / self.suite / dataset / self.profile / self.preset / f"seed{self.seed}"

    @property
    def leaderboards_dir(self) -> Path:
        return self.results_dir.parent

    def figure_path(self, name: str) -> tuple[Path, str]:
        """(absolute path to write, path relative to the leaderboards folder).

        A seed other than 0 is added to the name (``x.png`` → ``x_seed1.png``), so runs of
        several seeds never overwrite the figure another seed's records link to; seed 0 keeps
        the plain name the committed leaderboards link."""
        if self.seed:
            stem, dot, suffix = name.rpartition(".")
            name = f"{stem}_seed{self.seed}{dot}{suffix}" if dot else f"{name}_seed{self.seed}"
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
               artifacts: dict[str, str] | None = None, variant: str = "",
               protocol: dict[str, Any] | None = None) -> Record:
        """Build a record with this run's provenance filled in.

        ``extractor`` is a loaded extractor (with ``name``, ``weights_sha256``
        and ``verified``) or None; ``variant`` the condition of the number
        ("" for none); ``protocol`` the metric's protocol parameters as used.
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
            extra=dict(extra or {}), artifacts=dict(artifacts or {}), variant=str(variant),
            protocol=dict(protocol or {}),
        )

    def emit(self, records: list[Record]) -> None:
        write_records(self.results_dir, records)
        self.records.extend(records)

    def splits(self, names):
        """Yield (name, train, test) for each dataset that loads in this run; for one
        that does not (no --data-root, missing or unreadable files), emit an
        'unavailable' record saying why and go on with the next."""
        from gbench.data import DATASETS
        from gbench.errors import GbenchError

        for name in self.selected_datasets(names):  # the others are not missing, just not in this run: no record
            spec = DATASETS.get(name)
            ok, why = spec.availability(self.data_root)
            if ok:
                try:
                    train, test = (spec(s, self.data_root, self.download) for s in ("train", "test"))
                except GbenchError as e:
                    ok, why = False, str(e)
            if not ok:
                self.emit([self.record("all", name, "all", None, reason=f"unavailable: {name} {why}")])
                continue
            yield name, train, test

    def selected(self, models: tuple[str, ...]) -> tuple[str, ...]:
        return models if self.models is None else tuple(m for m in models if m in self.models)

    def none_selected(self, models: tuple[str, ...], hint: str = "") -> bool:
        """True when this run selects none of ``models`` (a --models list for other suites), after one
        'unavailable' record saying so: a suite with nothing to run says why rather than write nothing."""
        if self.selected(models):
            return False
        self.emit([self.record("all", "-", "all", None, reason="no model selected" + (f": {hint}" if hint else ""))])
        return True

    def selected_datasets(self, names: tuple[str, ...]) -> tuple[str, ...]:
        """``names`` (a suite's datasets, in its order) that this run selects (a suite's main_datasets)."""
        return tuple(names) if self.datasets is None else tuple(n for n in names if n in self.datasets)

    def selected_variants(self, variants: tuple[str, ...]) -> tuple[str, ...]:
        """``variants`` (a suite's own, in its order) that this run selects (a suite's main_variants)."""
        return variants if self.variants is None else tuple(v for v in variants if v in self.variants)

    def say(self, message: str) -> None:
        """One progress line (when progress is on)."""
        if self.progress:
            print(f"[{self.suite}] {message}", flush=True)


@dataclass(frozen=True)
class Suite:
    """A registered benchmark.

    Attributes:
        name: registry name (also the records file stem).
        title: heading of its leaderboard.
        description: what it measures (README, `gbench list`, leaderboard).
        leaderboard: markdown file name under leaderboards/.
        datasets: profile → dataset names it uses in that profile.
        models: what ``--models`` selects: zoo models it trains and the
            baselines it runs, in table order.
        metrics: the columns of its main table, in order.
        run: ``run(ctx) -> None``; emits records through ``ctx.emit``.
        main_models: the CPU-sized selection the ``main`` meta-suite runs.
        main_datasets: profile → the datasets the ``main`` meta-suite runs
            (a profile not listed, or None: all of ``datasets``).
        main_variants: the variants the ``main`` meta-suite runs, for a suite
            whose variants are separate trainings (None: all).
        presets: presets it supports.
        rows: table row order when it differs from ``models`` (extra rows
            such as the real-data floor and ``<model>@init``).
        row_label: header of the row column ("model", "disturbance", …).
        variant_label: header of the variant column ("level α", "ψ", …),
            shown when some record has a variant.
        side_metrics: metrics left out of the main table because
            ``sections`` renders them.
        sections: optional ``sections(records of one table group) -> markdown
            lines`` added after the main table (paper checks, extra tables).
    """

    name: str
    title: str
    description: str
    leaderboard: str
    datasets: dict[str, tuple[str, ...]]
    models: tuple[str, ...]
    metrics: tuple[str, ...]
    run: Callable[[RunContext], None]
    main_models: tuple[str, ...] | None = None
    main_datasets: dict[str, tuple[str, ...]] | None = None
    main_variants: tuple[str, ...] | None = None
    presets: tuple[str, ...] = PRESETS
    rows: tuple[str, ...] = ()
    row_label: str = "model"
    variant_label: str = "variant"
    side_metrics: tuple[str, ...] = ()
    sections: Callable[[list[Record]], list[str]] | None = None

    @property
    def row_order(self) -> tuple[str, ...]:
        return self.rows or self.models
