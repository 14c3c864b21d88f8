"""`truncation`: the fidelity–variety trade-off of the truncation trick.

Brock et al. 2019 (BigGAN, Sec. 3.1, Fig. 2) and Karras et al. 2019
(StyleGAN, truncation in W, Sec. 4.1) trade variety for fidelity at sampling
time; Kynkäänniemi et al. 2019 (improved precision and recall, Sec. 5) show it
as the path from high recall to high precision. The claim measured here:
lowering ψ raises precision (and IS) and lowers recall (and variety).

For each dataset of the profile and each model:

1. the model comes from :func:`gbench.fit.fit` with the same key as in the
   `generation` suite (model, dataset, profile, preset, seed), so both suites
   share one trained model per directory;
2. at every value of its grid it samples as many images as the reference (the
   test split) holds, through :func:`gbench.suites.generation.sample` with the
   run's seed: the same generator state at every value. For StyleGAN that is
   the same z and the same noise inputs at every ψ (only w' = w̄ + ψ(w − w̄)
   changes); for BigGAN the same initial z, whose components outside ±t are
   redrawn (:func:`zoo.models.biggan.truncated_randn`), so the draws of later
   256-image batches differ across t. BigGAN is class-conditional and gets the
   reference's own labels, shuffled, as in `generation`;
3. FID, IS, precision/recall and density/coverage with the dataset's
   extractor. The untruncated value (ψ = 1, t = ∞) is the `generation` sampling
   path and reads against its table; the real-data floor lives there.

Grids: StyleGAN ψ ∈ {0.2, 0.4, 0.6, 0.8, 1.0} (variant ``"psi=0.6"``);
BigGAN threshold t ∈ {0.25, 0.5, 1, 1.5, 2, ∞} (variant ``"t=0.5"``,
``"t=inf"``); the value is also in each record's protocol.
Figures per (model, dataset): precision and recall against the truncation
value, FID and IS in a second panel, and a sample grid with one row per value.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from dataclasses import replace

import numpy as np
import torch

from gbench.claims import rank_correlation, section, verdict
from gbench.evaluate import records_for, score_images
from gbench.figures import save_figure, save_grid
from gbench.fit import fit
from gbench.leaderboard import display, format_number, header
from gbench.records import Record
from gbench.suites.base import RunContext, Suite
from gbench.suites.generation import reference_labels, references, sample

MODELS = ("stylegan", "biggan")
DATASETS_BY_PROFILE = {"embedded": ("digits", "scenes"), "paper": ("cifar10",)}
METRICS = ("fid", "is", "precision", "recall", "density", "coverage")  # KID adds little here and warns at smoke
# model → (variant key, what the value means, grid from most truncated to untruncated)
GRIDS = {
    "stylegan": ("psi", "w' = w̄ + ψ(w − w̄) (1 = untruncated)", (0.2, 0.4, 0.6, 0.8, 1.0)),
    "biggan": ("t", "z_i redrawn until |z_i| ≤ t (∞ = untruncated)", (0.25, 0.5, 1.0, 1.5, 2.0, math.inf)),
}
EXAMPLES_PER_VALUE = 8
# claim: metric → (expected sign of ρ(truncation value, metric), what lowering the value does)
EXPECTED = {"precision": (-1, "raises precision"), "recall": (1, "lowers recall"), "is": (-1, "raises IS")}


def variant_name(key: str, value: float) -> str:
    """``("psi", 0.6) → "psi=0.6"``, ``("t", inf) → "t=inf"``."""
    return f"{key}={'inf' if math.isinf(value) else f'{value:g}'}"


def value_label(value: float) -> str:
    """A truncation value as figures and claims show it: ``0.5 → "0.5"``, ``inf → "∞"``."""
    return "∞" if math.isinf(value) else f"{value:g}"


def variant_value(variant: str) -> float:
    """The truncation value of a variant name (``"t=inf" → inf``)."""
    return float(variant.split("=", 1)[1])


class Truncated:
    """A zoo model whose ``sample`` uses a fixed truncation value, so that
    :func:`gbench.suites.generation.sample` (which knows no ψ) samples it unchanged."""

    def __init__(self, model, psi: float):
        self.model, self.psi = model, psi

    def sample(self, n: int, generator=None, labels=None) -> torch.Tensor:
        return self.model.sample(n, generator=generator, labels=labels, psi=self.psi)


def run(ctx: RunContext) -> None:
    models = ctx.selected(MODELS)
    if ctx.none_selected(MODELS, "run `gbench run --suite truncation` (StyleGAN and BigGAN)"):
        return
    for dataset, train, test, extractor, reference in references(ctx, DATASETS_BY_PROFILE[ctx.profile]):
        for name in models:
            _run_model(ctx, dataset, name, train, test, reference, extractor)


def _run_model(ctx, dataset, name, train, test, reference, extractor):
    from zoo.models import MODELS as ZOO

    if ZOO.get(name).conditional and test.labels is None:
        ctx.emit([ctx.record(name, dataset, "all", None, reason=f"{dataset} has no labels for a conditional model")])
        return
    labels = reference_labels(ctx, test) if ZOO.get(name).conditional else None
    model = fit(ctx, name, dataset, train).model
    key, _, grid = GRIDS[name]
    rows, examples = [], []
    for value in grid:
        t0 = time.perf_counter()
        fake = sample(Truncated(model, value), len(test), ctx.seed, labels, ctx.device)
        scores = score_images(extractor, reference, fake, METRICS, seed=ctx.seed)
        protocol = {key: "inf" if math.isinf(value) else value}  # JSON has no ∞
        rows += [replace(r, protocol={**r.protocol, **protocol})
                 for r in records_for(ctx, name, dataset, scores, variant=variant_name(key, value),
                                      n_real=reference.n, n_fake=len(fake), extractor=extractor,
                                      wall_seconds=time.perf_counter() - t0)]
        examples.append(fake[:EXAMPLES_PER_VALUE])
        ctx.say(f"{name} on {dataset}, {variant_name(key, value)}: scored in {time.perf_counter() - t0:.1f} s")
    # the figures need every value, so the records are emitted together, each linking them
    artifacts = _figures(ctx, dataset, name, rows, examples)
    ctx.emit([replace(r, artifacts=artifacts) for r in rows])


def _figures(ctx, dataset, name, rows, examples) -> dict[str, str]:
    key, _, grid = GRIDS[name]
    stem = f"{dataset}_{name}_{ctx.preset}"
    title = f"{name} on {dataset} (preset {ctx.preset}, seed {ctx.seed})"
    plot, plot_rel = ctx.figure_path(f"{stem}_truncation.png")
    plot_curves(rows, key, plot, title)
    samples, samples_rel = ctx.figure_path(f"{stem}_truncation_samples.png")
    save_grid(torch.cat(examples), samples, nrow=EXAMPLES_PER_VALUE,
              title=f"{title}: one row per {key} = " + ", ".join(value_label(v) for v in grid))
    return {"metrics vs truncation": plot_rel, "samples (one row per value)": samples_rel}


def _series(records: list[Record], model: str, metric: str) -> list[tuple[float, float]]:
    """(truncation value, mean over seeds) of one model × metric, sorted by value."""
    values: dict[float, list[float]] = defaultdict(list)
    for r in records:
        if r.model == model and r.metric == metric and r.status == "ok" and r.variant:
            values[variant_value(r.variant)].append(r.value)
    return sorted((v, float(np.mean(xs))) for v, xs in values.items())


def plot_curves(records: list[Record], key: str, path, title: str) -> None:
    """Save a PNG: precision and recall against the truncation value (left), FID and IS (right, twin axes).

    The values sit at equal spacing with their names as ticks, so that t = ∞ has a place on the axis.
    """
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend

    model = records[0].model
    fig = Figure(figsize=(8.0, 3.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    ticks = [v for v, _ in _series(records, model, "fid")]
    where = {v: i for i, v in enumerate(ticks)}
    for ax in (left, right):
        ax.set_xticks(range(len(ticks)), [value_label(v) for v in ticks])
        ax.set_xlabel("ψ" if key == "psi" else "threshold t")
        ax.grid(alpha=0.3)
    for metric in ("precision", "recall"):
        points = _series(records, model, metric)
        left.plot([where[v] for v, _ in points], [y for _, y in points], marker="o", label=header(metric))
    left.set_ylim(-0.02, 1.02)
    left.legend()
    twin = right.twinx()
    for ax, metric, colour in ((right, "fid", "C2"), (twin, "is", "C3")):
        points = _series(records, model, metric)
        ax.plot([where[v] for v, _ in points], [display(metric, y) for _, y in points], marker="s", color=colour)
        ax.set_ylabel(header(metric), color=colour)
    fig.suptitle(title)
    save_figure(fig, path, dpi=100)


def _rho_text(rho: float) -> str:
    return "undefined (constant)" if math.isnan(rho) else format_number(rho, 2)


def claims(group: list[Record]) -> list[str]:
    """One line per model × claim: Spearman ρ of the metric with the truncation value over the grid
    (means over seeds), and whether its sign is the papers' (Suite.sections)."""
    lines = []
    for model in MODELS:
        key = GRIDS[model][0]
        for metric, (sign, finding) in EXPECTED.items():
            points = _series(group, model, metric)
            if len(points) < 2:
                continue
            rho = rank_correlation(*zip(*points))
            ok = not math.isnan(rho) and rho * sign > 0
            values = ", ".join(f"{value_label(v)}: {format_number(display(metric, y), 3)}"
                               for v, y in points)
            lines.append(f"- `{model}`: lowering {'ψ' if key == 'psi' else 't'} {finding} — "
                         f"Spearman ρ({key}, {metric}) = {_rho_text(rho)} ({values}) — {verdict(ok)}.")
    return section("Brock et al. 2019 Sec. 3.1, Karras et al. 2019 Sec. 4.1, Kynkäänniemi et al. 2019 Sec. 5; "
                   "holds = ρ has the expected sign", lines)


SUITE = Suite(
    name="truncation",
    title="Truncation: fidelity vs variety under the truncation trick (BigGAN, StyleGAN)",
    description=(
        "The trained StyleGAN (truncation in W, ψ ∈ {0.2, …, 1}) and BigGAN (z resampled to |z_i| ≤ t, "
        "t ∈ {0.25, …, 2, ∞}) of the `generation` suite — the same model directories — sample with the same "
        "seed at every truncation value; FID, IS, precision/recall and density/coverage are scored against the "
        "test split with the dataset's extractor, and Spearman rank correlations check that lowering ψ raises "
        "precision and IS and lowers recall. ψ = 1 and t = ∞ are the untruncated rows of `generation`. Not in "
        "the `main` job yet: quick training of these models is not part of the CPU main run."),
    leaderboard="truncation.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    metrics=METRICS,
    run=run,
    main_models=("stylegan",),
    main_datasets={"embedded": ("digits",)},
    variant_label="truncation",
    sections=claims,
)
