"""`shapes3d`: 3D-GAN on occupancy grids, scored with Achlioptas et al.'s protocol on voxels.

Wu et al. 2016 (3D-GAN) generate 64³ occupancy grids from a 200-d latent;
Achlioptas et al. 2018 ("Learning Representations and Generative Models for
3D Point Clouds", Sec. 3) score a generator by how its samples match a
held-out reference set: MMD (fidelity) and coverage (variety) under a shape
distance, and Yang et al. 2019 (PointFlow) add the 1-NN two-sample accuracy.

For each dataset of the profile (embedded: `voxels`, procedural solids of 10
classes on a 32³ grid — at the full preset `voxels-64`, the same solids at the
paper's 64³, a GPU job; paper: `modelnet10` from ``--data-root``, 32³):

1. 3D-GAN trains (or resumes) on the train split through :func:`gbench.fit.fit`
   (one model directory per model, dataset, profile, preset and seed);
2. the reference is the first ``n_ref`` grids of the test split (per preset,
   :data:`PROTOCOLS`); every row brings exactly ``n_ref`` grids, drawn with the
   run's seed;
3. per row: MMD and COV with the 1 − IoU distance and with the Chamfer
   distance of 1,024 surface points per shape (:mod:`gbench.metrics.voxels`),
   1-NNA with both, the Fréchet distance of `voxels-evaluator` features
   (``fid``, the shipped 3-D classifier) and the total variation between the
   class histograms it predicts for the row and for the reference (``class_tv``).

Rows:

* ``real-data`` — ``n_ref`` shapes of the train split (a seeded draw): what
  real shapes reach against the test split, the floor of every metric
  (MMD > 0 because no test shape is in the train split; 1-NNA ≈ 0.5);
* ``3d-gan`` — its samples, thresholded where the occupancy probability
  exceeds ½ (the model outputs 2p − 1: occupied where > 0);
* ``bernoulli`` — the voxel-wise independent Bernoulli fit: p = the mean
  occupancy of every voxel over the training split (the maximum-likelihood
  model with no dependence between voxels), samples ~ Bernoulli(p) from a
  seeded generator (:func:`bernoulli_fit`, :func:`bernoulli_sample`). It has the
  data's occupancy per voxel and no shapes: what a generator must beat.

A 3D VAE baseline is not included.

The figure renders eight shapes per row (3D-GAN | Bernoulli | real test
shapes) as shaded isometric views (:func:`zoo.models.gan3d.isometric_view`,
z up); the records link it.

Cost at the quick preset (measured on one core of a busy 2-core machine): 3D-GAN's 1,500 iterations
≈ 580 core-seconds (0.38–0.40 s each), scoring the three rows ≈ 35 core-seconds (300 grids each; the
Chamfer matrices dominate), the Bernoulli fit over the 10,000 train grids ≈ 4 — about 6 minutes on
two cores. Measured there: MMD-IoU 0.550 / COV-IoU 0.420 / 1-NNA-IoU 0.848 for 3D-GAN against 0.828 /
0.017 / 0.500 for the Bernoulli fit and 0.449 / 0.587 / 0.493 for real train shapes.

Reading 1-NNA: 0.5 is the ideal, but a sample set can also land near 0.5 by
being nearer to the reference than to itself — Bernoulli speckle is: each
speckle grid's nearest neighbour under 1 − IoU is a real shape (speckle
overlaps nothing well, other speckle least), each real shape's is another
real shape, so half the points are classified right. Read it with MMD and
COV, which expose such a set; the claims compare |1-NNA − 0.5| as stated.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from gbench.claims import mean_value, section, verdict
from gbench.errors import GbenchError
from gbench.figures import save_grid
from gbench.fit import fit
from gbench.leaderboard import format_number
from gbench.metrics.spec import metric_spec
from gbench.metrics.voxels import iou_distance_matrix, mmd_coverage, one_nn_accuracy, voxel_chamfer_matrix
from gbench.suites.base import RunContext, Suite

MODEL = "3d-gan"
BERNOULLI = "bernoulli"
FLOOR = "real-data"
MODELS = (MODEL, BERNOULLI)
DATASETS_BY_PROFILE = {"embedded": ("voxels", "voxels-64"), "paper": ("modelnet10",)}
FULL_SIZE_DATASET = "voxels-64"  # the paper's 64³ grids: the full preset's embedded data (a GPU job)
SET_METRICS = ("mmd_iou", "cov_iou", "1nna_iou", "mmd_cd", "cov_cd", "1nna_cd")
EVALUATOR_METRICS = ("fid", "class_tv")
METRICS = (*SET_METRICS, *EVALUATOR_METRICS)
EVALUATOR = "voxels-evaluator"  # reads the 10 `voxels` classes
CD_POINTS = 1024
# Per preset: n_ref test grids are the reference and every row brings as many; the Bernoulli fit reads the
# first n_fit train grids (None: the whole split). Smoke: 129 = voxels-evaluator's 128 features + 1, the fewest
# grids whose feature covariance can be full rank (the Fréchet distance warns below that).
PROTOCOLS = {
    "smoke": {"n_ref": 129, "n_fit": 256},
    "quick": {"n_ref": 300, "n_fit": None},
    "full": {"n_ref": 1000, "n_fit": None},
}
EXAMPLES = 8
SAMPLE_BATCH = 100
FIT_CHUNK = 1000


# --- the baseline ---------------------------------------------------------------------------------


def bernoulli_fit(grids, n: int | None = None, chunk: int = FIT_CHUNK) -> torch.Tensor:
    """The voxel-wise independent Bernoulli model of occupancy grids: p = the mean occupancy of every voxel.

    Args:
        grids: uint8 (N, 1, S, S, S) in {0, 255} (occupied > 127), a tensor or a lazy source (read
            ``chunk`` grids at a time).
        n: fit on the first ``n`` grids (None: all).

    Returns:
        float64 (1, S, S, S) in [0, 1], p(voxel occupied).
    """
    total = len(grids) if n is None else min(int(n), len(grids))
    if total < 1:
        raise GbenchError("the Bernoulli fit needs at least one training grid")
    counts = None
    for i in range(0, total, chunk):
        part = (grids[i:min(i + chunk, total)] > 127).sum(0, dtype=torch.float64)
        counts = part if counts is None else counts + part
    return counts / total


def bernoulli_sample(p: torch.Tensor, n: int, seed: int) -> torch.Tensor:
    """n grids from the voxel-wise Bernoulli model ``p`` (float (1, S, S, S)): every voxel occupied
    independently with its probability, uniforms from a CPU generator seeded with ``seed``.

    Returns:
        uint8 (n, 1, S, S, S) in {0, 255}.
    """
    g = torch.Generator().manual_seed(seed)
    return (torch.rand((n, *p.shape), generator=g, dtype=torch.float64) < p).to(torch.uint8) * 255


def sample_grids(model, n: int, seed: int) -> torch.Tensor:
    """n occupancy grids of a zoo voxel model: its samples (2p − 1 in [-1, 1]) thresholded at 0 (p > ½),
    as uint8 (n, 1, S, S, S) in {0, 255}, z from a CPU generator seeded with ``seed``."""
    g = torch.Generator().manual_seed(seed)
    out = []
    with torch.no_grad():
        for i in range(0, n, SAMPLE_BATCH):
            x = model.sample(min(SAMPLE_BATCH, n - i), generator=g)
            out.append((x > 0).to(torch.uint8).cpu() * 255)
    return torch.cat(out)


# --- scoring --------------------------------------------------------------------------------------


class VoxelReference:
    """The reference grids with what every row is scored against: their within-set distances
    (IoU and Chamfer), and their evaluator features and predicted classes (None without one)."""

    def __init__(self, grids: torch.Tensor, evaluator, num_classes: int | None):
        """``num_classes``: the evaluator's classes when they are the data's (class TV is then
        defined), else None."""
        self.grids, self.evaluator, self.num_classes = grids, evaluator, num_classes
        self.n = len(grids)
        self.iou = iou_distance_matrix(grids, grids)
        self.cd = voxel_chamfer_matrix(grids, grids, n_points=CD_POINTS)
        self.features = self.frechet = self.classes = None
        if evaluator is not None:
            from gbench.evaluate import Reference

            out = evaluator.extract(grids, want=("features", "logits"))
            self.frechet = Reference.from_features(out["features"])
            self.classes = out["logits"].argmax(1).cpu()


def score(reference: VoxelReference, grids: torch.Tensor, seed: int) -> dict[str, float]:
    """{metric: value} of ``grids`` (uint8 (n, 1, S, S, S)) against ``reference``: MMD, COV and
    1-NNA under 1 − IoU and Chamfer; with an evaluator also its Fréchet distance and class TV."""
    from gbench.metrics.voxels import class_distribution_tv

    out = {}
    for kind, matrix in (("iou", iou_distance_matrix),
                         ("cd", lambda a, b: voxel_chamfer_matrix(a, b, n_points=CD_POINTS))):
        d_gr, d_gg = matrix(grids, reference.grids), matrix(grids, grids)
        out[f"mmd_{kind}"], out[f"cov_{kind}"] = mmd_coverage(d_gr)
        out[f"1nna_{kind}"] = one_nn_accuracy(d_gg, getattr(reference, kind), d_gr)
    if reference.evaluator is not None:
        from gbench.evaluate import score as score_features

        extracted = reference.evaluator.extract(grids, want=("features", "logits"))
        out["fid"] = score_features(reference.frechet, extracted["features"], None, ("fid",), seed)["fid"].value
        if reference.num_classes is not None:
            out["class_tv"] = class_distribution_tv(extracted["logits"].argmax(1).cpu(), reference.classes,
                                                    reference.num_classes)
    return out


def _optimizer(config) -> str:
    """The 3D-GAN run's Adam rates and latent, and whether they are the paper's (Wu et al. 2016, Sec. 4)."""
    text = f"Adam G {config.lr_g:g}, D {config.lr_d:g}, β1 0.5, z ~ {config.latent}"
    if (config.lr_g, config.lr_d, config.latent) != (0.0025, 1e-5, "uniform"):
        text += (" — not the paper's G 0.0025, D 1e-5, z ~ U[0, 1], which at this preset's budget left D behind "
                 "and collapsed the samples (measured; zoo/models/gan3d.py PRESETS)")
    return text


def _records(ctx, row, dataset, values, reference, t0, extra=None, protocol=None):
    """One record per metric, with the metric's registered protocol and this run's reference size."""
    out = []
    for metric, value in values.items():
        spec = metric_spec(metric)
        used = {**(dict(spec.protocol) if spec is not None else {}), "n_ref": reference.n, **(protocol or {})}
        evaluator = reference.evaluator if metric in ("fid", "class_tv") else None
        out.append(ctx.record(row, dataset, metric, value, n_real=reference.n, n_fake=reference.n,
                              extractor=evaluator, wall_seconds=time.perf_counter() - t0, protocol=used,
                              extra=extra))
    return out


# --- the run --------------------------------------------------------------------------------------


def run(ctx: RunContext) -> None:
    if ctx.none_selected(MODELS):
        return
    for dataset, train, test in ctx.splits(datasets(ctx.profile, ctx.preset)):
        _run_dataset(ctx, dataset, train, test)


def datasets(profile: str, preset: str) -> tuple[str, ...]:
    """The data a run uses: `voxels` at 32³ on the CPU presets, `voxels-64` (the paper's 64³) at full."""
    if profile == "embedded":
        return (FULL_SIZE_DATASET,) if preset == "full" else ("voxels",)
    return DATASETS_BY_PROFILE[profile]


def _evaluator(ctx, dataset):
    """The shipped voxel classifier (or ``--extractor``), loaded; or None after records saying why its two
    metrics are missing."""
    from gbench.features import EXTRACTORS

    name = ctx.extractor or EVALUATOR
    try:
        return EXTRACTORS.get(name).load(device=ctx.device, allow_download=ctx.download,
                                         allow_unverified=ctx.allow_unverified)
    except GbenchError as e:
        ctx.emit([ctx.record("all", dataset, m, None, reason=f"unavailable: extractor {name}: {e}")
                  for m in EVALUATOR_METRICS])
        return None


def _evaluator_classes(evaluator) -> tuple[str, ...]:
    """The class names the evaluator's logits stand for (the `voxels` classes for the shipped one)."""
    if evaluator.name == EVALUATOR:  # the same classes at 32³ and 64³
        from gbench.data.voxels import CLASSES

        return CLASSES
    return ()


def _run_dataset(ctx, dataset, train, test):
    protocol = PROTOCOLS[ctx.preset]
    n_ref = min(protocol["n_ref"], len(test))
    t0 = time.perf_counter()
    evaluator = _evaluator(ctx, dataset)
    ref_grids = test.images[:n_ref]
    ctx.say(f"{dataset}: reference of {n_ref} test grids (distances within it, evaluator features)")
    records, examples = [], {}
    same_classes = evaluator is not None and tuple(test.classes or ()) == tuple(_evaluator_classes(evaluator))
    if evaluator is not None and not same_classes:
        records.append(ctx.record("all", dataset, "class_tv", None, reason=f"unavailable: {evaluator.name} reads "
                                  f"the classes of `voxels` ({', '.join(_evaluator_classes(evaluator))}), not "
                                  f"{dataset}'s"))
    reference = VoxelReference(ref_grids, evaluator, len(test.classes) if same_classes else None)

    rows = torch.randperm(len(train), generator=torch.Generator().manual_seed(ctx.seed))[:n_ref]
    floor = train.images[rows.sort().values]
    records += _records(ctx, FLOOR, dataset, score(reference, floor, ctx.seed), reference, t0)
    ctx.say(f"{FLOOR}: scored in {time.perf_counter() - t0:.1f} s")

    if MODEL in ctx.selected(MODELS):
        t0 = time.perf_counter()
        fitted = fit(ctx, MODEL, dataset, train)
        grids = sample_grids(fitted.model, n_ref, ctx.seed)
        values = score(reference, grids, ctx.seed)
        occupancy = [g.float().mean().item() / 255 for g in (grids, ref_grids)]
        facts = {"occupancy": f"{occupancy[0]:.4f} (test {occupancy[1]:.4f})", "optimizer": _optimizer(fitted.config)}
        records += _records(ctx, MODEL, dataset, values, reference, t0, extra=facts)
        examples[MODEL] = grids[:EXAMPLES]
        ctx.say(f"{MODEL}: trained and scored in {time.perf_counter() - t0:.1f} s")

    if BERNOULLI in ctx.selected(MODELS):
        t0 = time.perf_counter()
        p = bernoulli_fit(train.images, protocol["n_fit"])
        grids = bernoulli_sample(p, n_ref, ctx.seed)
        n_fit = len(train) if protocol["n_fit"] is None else min(protocol["n_fit"], len(train))
        records += _records(ctx, BERNOULLI, dataset, score(reference, grids, ctx.seed), reference, t0,
                            extra={"p fitted on": f"{n_fit} train grids"})
        examples[BERNOULLI] = grids[:EXAMPLES]
        ctx.say(f"{BERNOULLI}: fitted on {n_fit} train grids and scored in {time.perf_counter() - t0:.1f} s")

    examples["real (test)"] = ref_grids[:EXAMPLES]
    link = _figure(ctx, dataset, examples)
    ctx.emit([replace(r, artifacts={"samples (isometric)": link}) for r in records])


def _figure(ctx, dataset: str, examples: dict[str, torch.Tensor]) -> str:
    """One row of shaded isometric views per set (3D-GAN, Bernoulli, real test shapes); returns the
    path relative to the leaderboards folder."""
    from zoo.models.gan3d import isometric_view

    views = [(isometric_view(g, 64) * 255).round().to(torch.uint8) for g in examples.values()]
    per_row = max(len(v) for v in views)
    grid = torch.cat([torch.cat([v, torch.full((per_row - len(v), 1, 64, 64), 255, dtype=torch.uint8)]) for v in views])
    path, rel = ctx.figure_path(f"{dataset}_{ctx.preset}_samples.png")
    save_grid(grid, path, nrow=per_row, title=f"rows: {', '.join(examples)} — isometric views, z up "
                                              f"(preset {ctx.preset}, seed {ctx.seed})")
    return rel


# --- claims ---------------------------------------------------------------------------------------


def claims(group) -> list[str]:
    """3D-GAN against the voxel-wise Bernoulli baseline, one line per metric (Suite.sections)."""
    lines = []
    better = {"mmd": ("lower", lambda g, b: g < b), "cov": ("higher", lambda g, b: g > b),
              "1nna": ("closer to 0.5", lambda g, b: abs(g - 0.5) < abs(b - 0.5))}
    for metric in SET_METRICS:
        g, b = mean_value(group, MODEL, metric), mean_value(group, BERNOULLI, metric)
        if g is None or b is None:
            continue
        word, wins = better[metric.split("_")[0]]
        spec = metric_spec(metric)
        scale, decimals = (spec.scale, spec.decimals) if spec else (1.0, 3)
        floor = mean_value(group, FLOOR, metric)
        real = f"; real data {format_number(floor * scale, decimals)}" if floor is not None else ""
        label = spec.label.replace(" (→ 0.5)", "") if spec else metric
        lines.append(f"- 3D-GAN beats the voxel-wise Bernoulli baseline on {label} ({word} is better): "
                     f"`{MODEL}` {format_number(g * scale, decimals)} vs `{BERNOULLI}` "
                     f"{format_number(b * scale, decimals)}{real} — {verdict(wins(g, b))}"
                     + _one_nna_caveat(group, metric, wins(g, b)) + ".")
    return section("Wu et al. 2016 scored with Achlioptas et al. 2018's MMD/COV and PointFlow's 1-NNA; one seed "
                   "at the preset", lines)


def _one_nna_caveat(group, metric: str, won: bool) -> str:
    """Why a 1-NNA loss to the baseline can be no loss: the baseline nearer to 0.5 while its MMD, under the
    same distance, is worse than 3D-GAN's (a set nearer to the real shapes than to itself, module docstring)."""
    if won or not metric.startswith("1nna_"):
        return ""
    mmd = "mmd_" + metric.split("_", 1)[1]
    g, b = mean_value(group, MODEL, mmd), mean_value(group, BERNOULLI, mmd)
    if g is None or b is None or b <= g:
        return ""
    return (f" (but `{BERNOULLI}`'s {metric_spec(mmd).label} is worse: a set also lands near 0.5 when each of its "
            "samples is nearer to a real shape than to another of its samples, as independent-voxel speckle is; "
            "1-NNA alone does not rank these two rows)")


SUITE = Suite(
    name="shapes3d",
    title="3-D shapes: 3D-GAN on occupancy grids (MMD, COV, 1-NNA, Fréchet distance, class TV)",
    description=(
        "3D-GAN (Wu et al. 2016) trained on procedural 32³ solids (`voxels`, 10 classes), its samples thresholded "
        "at occupancy ½ and scored against the test split as Achlioptas et al. 2018 score point clouds: MMD and "
        "coverage under the 1 − IoU and the Chamfer (1,024 surface points) distance, 1-NN two-sample accuracy "
        "(→ 0.5), the Fréchet distance of voxels-evaluator features and the total variation between the class "
        "histograms it predicts. `real-data` (train shapes) is the floor; `bernoulli`, every voxel independent "
        "with its training-set occupancy, is the baseline a generator must beat. 1-NNA ≈ 0.5 can also mean a set "
        "nearer to the reference than to itself (Bernoulli speckle under IoU): read it with MMD and COV."),
    leaderboard="shapes3d.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    rows=(FLOOR, *MODELS),
    metrics=METRICS,
    run=run,
    main_models=MODELS,  # 3D-GAN against the Bernoulli baseline it must beat
    sections=claims,
)
