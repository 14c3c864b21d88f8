"""`corruption`: how FID, KID and IS react to disturbed real images (Heusel et al. 2017, appendix).

Heusel et al. 2017 ("GANs Trained by a Two Time-Scale Update Rule Converge
to a Local Nash Equilibrium", appendix, Fig. A) disturb real images with six
disturbances at four levels each and show that FID rises monotonically with
the level while IS does not always fall. This suite repeats the study:

* reference: the train split's features (the clean distribution);
* disturbed set: the test split, disturbed by every function of
  :data:`gbench.transforms.corruptions.DISTURBANCES` at each of its levels (seed = the
  run's seed). Level 0 is the identity for every disturbance, so its row is
  the real-data floor (held-out real images against the reference), scored
  once and shared;
* metrics: FID, KID and IS of each disturbed set, and the Spearman rank
  correlation (:func:`scipy.stats.spearmanr`) of each metric with the level
  over a disturbance's four levels — +1 for FID and KID and −1 for IS when
  the metric follows the disturbance monotonically.

Records: ``model`` = disturbance name, ``variant`` = the level (``"0.25"``),
``metric`` = ``fid`` / ``kid`` / ``is``; the Spearman correlations are
records with metric ``spearman_<m>`` and no variant, computed from the level
records (:func:`spearman_by_disturbance`).
Figures: per disturbance a line plot (one panel per metric against the
level) and a grid of disturbed examples (one row per level).

Profiles: ``embedded`` — `digits` scored with the `digits-evaluator`;
contamination uses `natural` photograph patches (train split), converted by
:func:`gbench.transforms.corruptions.contaminate` to 1×32×32 (BT.601 luma, center crop,
antialiased resize). ``paper`` — CIFAR-10 with `inception-v3-fid` (the paper
used CelebA; CIFAR-10 is the paper-profile dataset the other suites share),
contaminated by the same `natural` patches at 3×32×32; at ``quick`` a seeded
5,000-image reference and 1,000 disturbed images (Inception on a CPU),
``full`` the whole splits. Missing weights or data give "unavailable" records.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict

import numpy as np
import torch

from gbench.claims import rank_correlation
from gbench.data import DATASETS
from gbench.evaluate import Reference, load_profile_extractor, records_for, score_images
from gbench.figures import save_figure, save_grid
from gbench.leaderboard import display, format_number, header, render_table
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.records import Record
from gbench.suites.base import RunContext, Suite
from gbench.transforms.corruptions import DISTURBANCES

BASE_METRICS = ("fid", "kid", "is")
DATASETS_BY_PROFILE = {"embedded": ("digits",), "paper": ("cifar10",)}
FOREIGN = ("natural", "train")  # contamination source: dataset, split
# (reference images, disturbed images) per preset; None = the whole split.
SIZES = {"smoke": (512, 128), "quick": (5_000, 1_000), "full": (None, None)}
EXAMPLES_PER_LEVEL = 8

register_metric(
    MetricSpec("spearman_fid", "Spearman ρ(FID, level)", None,
               "rank correlation of FID with the disturbance level; +1 = monotone", decimals=2),
    MetricSpec("spearman_kid", "Spearman ρ(KID, level)", None,
               "rank correlation of KID with the disturbance level; +1 = monotone", decimals=2),
    MetricSpec("spearman_is", "Spearman ρ(IS, level)", None,
               "rank correlation of IS with the disturbance level; −1 = monotone", decimals=2),
)
SPEARMAN = tuple(f"spearman_{m}" for m in BASE_METRICS)


def level_variant(level: float) -> str:
    """The record variant of a disturbance level: ``0.25 → "0.25"``."""
    return f"{level:g}"


def spearman_by_disturbance(records: list[Record]) -> dict[tuple[str, str], float]:
    """Spearman ρ of each metric with the level, per disturbance, from level records.

    Args:
        records: level records (variant = level, metric in BASE_METRICS;
            others are ignored); one per (disturbance, metric, level).

    Returns:
        {(disturbance, m): ρ in [−1, 1]}, over every level present (NaN when the
        metric is constant over the levels, where a rank correlation is undefined).
    """
    series: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    for r in records:
        if r.variant and r.metric in BASE_METRICS and r.status == "ok":
            series[(r.model, r.metric)].append((float(r.variant), r.value))
    out = {}
    for key, points in series.items():
        levels, values = zip(*sorted(points))
        out[key] = rank_correlation(levels, values)
    return out


def plot_levels(records: list[Record], disturbance: str, path, title: str) -> None:
    """Save a PNG: one panel per metric of ``BASE_METRICS``, value against level (±std where defined)."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend

    fig = Figure(figsize=(3.2 * len(BASE_METRICS), 2.8), layout="constrained")
    axes = fig.subplots(1, len(BASE_METRICS))
    for ax, metric in zip(axes, BASE_METRICS):
        points = [(float(r.variant), display(metric, r.value), display(metric, r.std or 0.0)) for r in records
                  if r.model == disturbance and r.status == "ok" and r.variant and r.metric == metric]
        if not points:
            continue
        levels, values, stds = (np.array(v, dtype=float) for v in zip(*sorted(points)))
        ax.errorbar(levels, values, yerr=stds, marker="o", capsize=3)
        ax.set_xlabel("level α")
        ax.set_title(header(metric))
        ax.grid(alpha=0.3)
    fig.suptitle(title)
    save_figure(fig, path, dpi=100)


def _sized(images: torch.Tensor, n: int | None, seed: int) -> torch.Tensor:
    if n is None or images.shape[0] <= n:
        return images
    keep = torch.from_numpy(np.sort(np.random.default_rng(seed).permutation(images.shape[0])[:n]))
    return images[keep]


def run(ctx: RunContext) -> None:
    extractor = load_profile_extractor(ctx)
    if extractor is None:
        return
    n_reference, n_disturbed = SIZES[ctx.preset]
    for dataset, train, test in ctx.splits(DATASETS_BY_PROFILE[ctx.profile]):
        t0 = time.perf_counter()
        reference_images = _sized(train.images, n_reference, ctx.seed)
        clean = _sized(test.images, n_disturbed, ctx.seed)
        reference = Reference.from_images(extractor, reference_images)
        floor = score_images(extractor, reference, clean, BASE_METRICS, seed=ctx.seed)
        floor_seconds = time.perf_counter() - t0
        foreign = DATASETS.get(FOREIGN[0])(FOREIGN[1]).images
        for name in ctx.selected(tuple(DISTURBANCES)):
            _run_disturbance(ctx, dataset, name, clean, reference, extractor, floor, floor_seconds, foreign)


def _run_disturbance(ctx, dataset, name, clean, reference, extractor, floor, floor_seconds, foreign):
    disturbance = DISTURBANCES[name]
    ctx.say(f"{name} on {dataset}: levels {', '.join(f'{x:g}' for x in disturbance.levels)}")
    kwargs = {"foreign": foreign} if name == "contaminate" else {}
    examples = []
    rows = []
    for level in disturbance.levels:
        t0 = time.perf_counter()
        if level == 0:  # every disturbance is the identity at α = 0: the floor, scored once
            images, values, wall = clean, floor, floor_seconds
        else:
            images = disturbance.function(clean, level, seed=ctx.seed, **kwargs)
            values = score_images(extractor, reference, images, BASE_METRICS, seed=ctx.seed)
            wall = time.perf_counter() - t0
        examples.append(images[:EXAMPLES_PER_LEVEL])
        extra = {"disturbance": disturbance.description}
        if name == "contaminate":
            extra["foreign"] = f"{FOREIGN[0]} {FOREIGN[1]} patches"
        level_rows = records_for(ctx, name, dataset, values, variant=level_variant(level), n_real=reference.n,
                                 n_fake=images.shape[0], extractor=extractor, wall_seconds=wall, extra=extra)
        ctx.emit(level_rows)
        rows += level_rows

    stem = f"{dataset}_{name}_{ctx.preset}"
    plot, plot_rel = ctx.figure_path(f"{stem}.png")
    plot_levels(rows, name, plot, f"{name} on {dataset} (preset {ctx.preset})")
    grid, grid_rel = ctx.figure_path(f"{stem}_examples.png")
    save_grid(torch.cat(examples), grid, nrow=EXAMPLES_PER_LEVEL,
              title=f"{name} on {dataset}: one row per level α = {', '.join(f'{x:g}' for x in disturbance.levels)}")
    artifacts = {"metrics vs level": plot_rel, "examples (one row per level)": grid_rel}
    rho = spearman_by_disturbance(rows)
    levels = list(disturbance.levels)
    ctx.emit([ctx.record(name, dataset, f"spearman_{metric}", rho[(name, metric)], n_real=reference.n,
                         n_fake=clean.shape[0], extractor=extractor, extra={"levels": levels}, artifacts=artifacts)
              for metric in BASE_METRICS if (name, metric) in rho])


def _fmt(value: float) -> str:
    return "undefined (constant)" if math.isnan(value) else format_number(value, 2)


def sections(group: list[Record]) -> list[str]:
    """The Spearman table and the lines saying where a metric is not monotone (Suite.sections)."""
    spearman = [r for r in group if r.metric in SPEARMAN]
    if not spearman:
        return []
    table = render_table(spearman, tuple(DISTURBANCES), SPEARMAN, row_label="disturbance")
    return ["Spearman rank correlation with the level (FID, KID: +1 = rises monotonically; "
            "IS: −1 = falls monotonically; undefined = the metric is constant over the levels):", "", table, "",
            *_monotonicity_lines(spearman), ""]


def _monotonicity_lines(spearman: list[Record]) -> list[str]:
    """Where each metric does not follow the level monotonically, from the Spearman records.

    A disturbance is listed when the ρ of any seed differs from the monotone value (+1 for FID
    and KID, −1 for IS); every seed's ρ is shown.
    """
    expected = {"fid": (1.0, "rises"), "kid": (1.0, "rises"), "is": (-1.0, "falls")}
    order = {name: i for i, name in enumerate(DISTURBANCES)}
    lines = []
    for metric, (target, verb) in expected.items():
        by_model: dict[str, list[float]] = defaultdict(list)
        for r in sorted(spearman, key=lambda r: r.seed):
            if r.metric == f"spearman_{metric}" and r.status == "ok":
                by_model[r.model].append(r.value)
        if not by_model:
            continue
        label = header(metric).rstrip(" ↑↓")
        off = [m for m, vs in by_model.items() if any(not (v == v and abs(v - target) < 1e-9) for v in vs)]
        off.sort(key=lambda m: (order.get(m, len(order)), m))
        if not off:
            lines.append(f"- {label} {verb} monotonically with the level for every disturbance "
                         f"(ρ = {_fmt(target)} for all {len(by_model)}).")
        else:
            lines.append(f"- {label} does not {verb[:-1]} monotonically (ρ ≠ {_fmt(target)}) for: "
                         + ", ".join(f"`{m}` (ρ = {', '.join(_fmt(v) for v in by_model[m])})" for m in off) + ".")
    return lines


SUITE = Suite(
    name="corruption",
    title="Corruption: FID, KID and IS under disturbed real images (Heusel et al. 2017, appendix)",
    description=(
        "Real test images are disturbed by each of the six disturbances of Heusel et al. 2017 (Gaussian noise, "
        "Gaussian blur, black rectangles, swirl, salt and pepper, contamination by foreign images) at the paper's "
        "four levels, and scored against the clean train split: FID, KID and IS, and each metric's Spearman rank "
        "correlation with the level. Level 0 is the held-out real data (the floor), the same for every "
        "disturbance. Embedded profile: `digits` with the `digits-evaluator`; contamination by patches of the "
        "`natural` photographs (converted to gray 32×32). Paper profile: CIFAR-10 with `inception-v3-fid`."),
    leaderboard="corruption.md",
    datasets=DATASETS_BY_PROFILE,
    models=tuple(DISTURBANCES),
    metrics=BASE_METRICS,
    run=run,
    main_models=tuple(DISTURBANCES),  # every disturbance: the study is their ranking
    rows=tuple(DISTURBANCES),
    row_label="disturbance",
    variant_label="level α",
    side_metrics=SPEARMAN,
    sections=sections,
)
