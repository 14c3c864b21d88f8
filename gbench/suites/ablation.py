"""`ablation`: each named trick of the Zoo II GANs switched off, one at a time.

"Why is this useful?" answered by measurement: for ProGAN, StyleGAN, SAGAN and
BigGAN, the full model (every trick on, the `generation` suite's very model
directory) and one variant per trick — the same preset config with that one
switch off (:func:`zoo.models.with_overrides`), trained with the same seed on
the same data in its own directory (``seed<k>-<variant>``) — sample as many
images as the reference (the test split) holds, with the run's seed, and are
scored with the dataset's extractor:

* FID, KID, precision and recall, for every row;
* perceptual path length (Karras et al. 2019, :mod:`gbench.metrics.ppl`) for the
  unconditional progressive/style-based generators: in Z (ProGAN, StyleGAN) and
  in W (StyleGAN), full and end-point, ε = 1e-4, with LPIPS-VGG when its
  weights resolve, else the domain evaluator's features (the records say which);
  PPL_PATHS paths per value (the paper: 100,000; the issue's full preset: 10,000);
* for BigGAN, FID of samples truncated at t = 0.5 (z resampled to |z_i| ≤ 0.5,
  :mod:`zoo.models.biggan`): orthogonal regularization is there to make G
  amenable to truncation (Brock et al. 2019, Sec. 3.1).

The variant column names the switch (``no-mbstd`` …; ``full`` is the model
with every trick); each record's protocol holds the overrides. One figure
per model: 8 samples (same seed) per variant row. Datasets: digits (32×32)
in the embedded profile, CIFAR-10 in the paper profile. ``no-ema`` is not
trained: it is the full run's live generator, the weights its EMA was
averaging (:data:`LIVE`), so the suite trains 14 variants, not 17. The CPU
main job runs StyleGAN's ``full`` and ``no-ema`` rows, whose one training
``truncation`` does too.
"""

from __future__ import annotations

import time
from dataclasses import replace

import torch

from gbench.claims import mean_value, section, verdict
from gbench.evaluate import records_for, score_images
from gbench.figures import save_grid
from gbench.fit import fit
from gbench.metrics.ppl import make_distance, metric_name, perceptual_path_length
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.suites.base import RunContext, Suite
from gbench.suites.generation import reference_labels, references, sample
from gbench.suites.truncation import Truncated

FULL = "full"
# The EMA reads G's training weights and never feeds back into them, so a run with it off trains exactly
# the full run's live weights (bit-identical for ProGAN, StyleGAN and BigGAN: tests/test_ablation_suite.py).
# This variant is therefore read from the full run's final checkpoint, not trained again.
LIVE = "no-ema"
# model → ((variant, overrides, the paper's claim for it), ...); the claim's metric and direction are in EXPECTED
ABLATIONS = {
    "progan": (
        ("no-growing", {"progressive": False}, "progressive growing (Karras et al. 2018, Sec. 2)"),
        ("no-mbstd", {"minibatch_stddev": False}, "minibatch standard deviation (Sec. 3)"),
        ("no-eqlr", {"equalized_lr": False}, "equalized learning rate (Sec. 4.1)"),
        ("no-pixelnorm", {"pixel_norm": False}, "pixelwise feature normalization (Sec. 4.2)"),
        ("no-ema", {"train.ema_decay": 0.0}, "EMA of G's weights (App. A.1)"),
    ),
    "stylegan": (
        ("no-mixing", {"style_mixing": False}, "style mixing regularization (Karras et al. 2019, Sec. 3.1)"),
        ("no-noise", {"noise_inputs": False}, "per-layer noise inputs (Sec. 3.2)"),
        ("no-r1", {"r1_gamma": 0.0}, "R1 regularization (App. C)"),
        ("no-ema", {"train.ema_decay": 0.0}, "EMA of G's weights (App. C)"),
    ),
    "sagan": (
        ("no-attention", {"self_attention": False}, "self-attention in G and D (Zhang et al. 2019, Table 1)"),
        ("no-sn-g", {"spectral_norm_g": False}, "spectral normalization in G (Sec. 4)"),
        ("no-ttur", {"ttur": False}, "two time-scale update rule (Sec. 4)"),
    ),
    "biggan": (
        ("no-shared", {"shared_embedding": False}, "shared class embedding (Brock et al. 2019, Table 1)"),
        ("no-skip-z", {"hierarchical_z": False}, "hierarchical latent, skip-z (Table 1)"),
        ("no-projection", {"projection_d": False}, "projection discriminator"),
        ("no-ortho", {"ortho_reg": False}, "orthogonal regularization (Sec. 3.1)"),
        ("no-ema", {"ema": False}, "EMA of G's weights (App. B)"),
    ),
}
MODELS = tuple(ABLATIONS)
DATASETS_BY_PROFILE = {"embedded": ("digits",), "paper": ("cifar10",)}
SCORES = ("fid", "kid", "precision", "recall")
PPL_SPACES = {"progan": ("z",), "stylegan": ("z", "w")}
PPL_PATHS = {"smoke": 16, "quick": 1000, "full": 10_000}
TRUNCATION = 0.5  # BigGAN's threshold for the amenability column
EXAMPLES = 8
# (model, variant) → (metric, +1: switching the trick off should raise it, −1: lower it, why)
EXPECTED = {
    ("progan", "no-mbstd"): ("recall", -1, "minibatch stddev raises variation: recall drops without it"),
    ("stylegan", "no-noise"): ("ppl_w_full", 1, "noise inputs shorten paths in W (Table 3): PPL rises "
                                                "without them"),
    ("stylegan", "no-mixing"): ("ppl_w_full", -1, "mixing regularization lengthens paths in W slightly "
                                                  "(Table 3): PPL drops without it"),
    ("biggan", "no-ortho"): ("fid_truncated", 1, "orthogonal regularization makes G amenable to truncation: "
                                                 f"FID at t = {TRUNCATION:g} rises without it"),
}

register_metric(MetricSpec(
    "fid_truncated", f"FID t={TRUNCATION:g}", False,
    f"BigGAN: FID of samples whose z components are resampled to |z_i| ≤ {TRUNCATION:g} (truncation amenability, "
    "Brock et al. 2019, Sec. 3.1)", decimals=2, protocol={"truncation": TRUNCATION},
))


def run(ctx: RunContext) -> None:
    models = ctx.selected(MODELS)
    for dataset, train, test, extractor, reference in references(ctx, DATASETS_BY_PROFILE[ctx.profile]):
        distance = _ppl_distance(ctx, extractor) if any(m in PPL_SPACES for m in models) else None
        for name in models:
            _run_model(ctx, dataset, name, train, test, reference, extractor, distance)


def _ppl_distance(ctx, extractor):
    """(distance, extra facts for the records): LPIPS-VGG when it resolves, else the extractor's features."""
    from gbench.features.lpips_net import try_load_lpips

    lpips, why = try_load_lpips("vgg", ctx.device, weights_path=ctx.weights, allow_download=ctx.download,
                                allow_unverified=ctx.allow_unverified)
    fn, used = make_distance(lpips, extractor, ctx.device)
    if lpips is None:
        ctx.say(f"PPL: LPIPS unavailable ({why}); using {used}")
    return fn, {"ppl_distance": used, **({"lpips_missing": why} if why else {})}


def _run_model(ctx, dataset, name, train, test, reference, extractor, distance):
    from zoo.models import MODELS as ZOO

    if ZOO.get(name).conditional and test.labels is None:
        ctx.emit([ctx.record(name, dataset, "all", None, reason=f"{dataset} has no labels for a conditional model")])
        return
    labels = reference_labels(ctx, test) if ZOO.get(name).conditional else None
    variants = ctx.selected_variants((FULL, *(v for v, _, _ in ABLATIONS[name])))
    rows, examples = [], []
    for variant, overrides, _ in ((FULL, {}, ""), *ABLATIONS[name]):
        if variant not in variants:
            continue
        t0 = time.perf_counter()
        if variant == LIVE:  # the full run's live weights: what a no-EMA run trains (gbench.fit, averaged=False)
            model = fit(ctx, name, dataset, train, averaged=False).model
        else:  # full: generation's model; a variant: its own training
            ablated = {"variant": variant, "overrides": overrides} if overrides else {}
            model = fit(ctx, name, dataset, train, **ablated).model
        fake = sample(model, len(test), ctx.seed, labels, ctx.device)
        common = dict(variant=variant, n_real=reference.n, n_fake=len(fake), extractor=extractor)
        new = records_for(ctx, name, dataset, score_images(extractor, reference, fake, SCORES, seed=ctx.seed),
                          wall_seconds=time.perf_counter() - t0, **common)
        if name == "biggan":
            truncated = sample(Truncated(model, TRUNCATION), len(test), ctx.seed, labels, ctx.device)
            fid = score_images(extractor, reference, truncated, ("fid",), seed=ctx.seed)["fid"]
            new.append(ctx.record(name, dataset, "fid_truncated", fid.value, protocol={**fid.protocol,
                                  "truncation": TRUNCATION}, wall_seconds=time.perf_counter() - t0, **common))
        new += _ppl_records(ctx, dataset, name, variant, model, distance, t0)
        rows += [replace(r, protocol={**r.protocol, "ablation": dict(overrides)}) for r in new]
        examples.append(fake[:EXAMPLES])
        ctx.say(f"{name} ({variant}) on {dataset}: scored in {time.perf_counter() - t0:.1f} s")
    path, rel = ctx.figure_path(f"{dataset}_{name}_{ctx.preset}_ablation.png")
    save_grid(torch.cat(examples), path, nrow=EXAMPLES,
              title=f"{name} on {dataset} (preset {ctx.preset}, seed {ctx.seed}), one row per variant: "
                    + ", ".join(variants))
    ctx.emit([replace(r, artifacts={"samples per variant": rel}) for r in rows])


def _ppl_records(ctx, dataset, name, variant, model, distance, t0):
    if name not in PPL_SPACES:
        return []
    fn, facts = distance
    out = []
    for space in PPL_SPACES[name]:
        for sampling in ("full", "end"):
            mean, std, details = perceptual_path_length(model, fn, PPL_PATHS[ctx.preset], space=space,
                                                        sampling=sampling, seed=ctx.seed)
            protocol = {k: details[k] for k in ("ppl_eps", "ppl_space", "ppl_sampling", "ppl_percentiles")}
            out.append(ctx.record(name, dataset, metric_name(space, sampling), mean, std=std, variant=variant,
                                  protocol={**protocol, "ppl_paths": details["n_paths"]}, extra=dict(facts),
                                  wall_seconds=time.perf_counter() - t0))
    return out


def claims(group) -> list[str]:
    """Per ablation: FID of the variant against the full model (the papers: every trick helps), and for
    the tricks the curriculum singles out, the metric it names (EXPECTED)."""
    from gbench.leaderboard import display, format_number, header

    lines = []
    for model, ablations in ABLATIONS.items():
        full_fid = mean_value(group, model, "fid", FULL)
        for variant, _, trick in ablations:
            fid = mean_value(group, model, "fid", variant)
            if full_fid is not None and fid is not None:
                lines.append(f"- `{model}`: {trick} lowers FID — {variant} {fid:.2f} vs {FULL} {full_fid:.2f} — "
                             f"{verdict(full_fid < fid)}.")
            metric, sign, why = EXPECTED.get((model, variant), (None, 0, ""))
            full, off = mean_value(group, model, metric, FULL), mean_value(group, model, metric, variant)
            if metric and full is not None and off is not None:
                lines.append(f"- `{model}`: {why} — {header(metric)} {variant} {format_number(display(metric, off), 3)}"
                             f" vs {FULL} {format_number(display(metric, full), 3)} — {verdict((off - full) * sign > 0)}.")
    return section("Karras et al. 2018 Table 1, Karras et al. 2019 Tables 1 and 3, Zhang et al. 2019, Brock et al. "
                   "2019 Table 1; one seed at the preset, so small differences are noise", lines)


SUITE = Suite(
    name="ablation",
    title="Ablations: each trick of ProGAN, StyleGAN, SAGAN and BigGAN switched off",
    description=(
        "Each Zoo II model with every trick on (`full`, the `generation` suite's model) and with one named trick "
        "off at a time, trained at the preset with the same seed on the same data, then scored against the test "
        "split: FID, KID, precision/recall; perceptual path length in Z and W, full and end-point (ProGAN, "
        "StyleGAN; LPIPS-VGG when its weights resolve, else the domain evaluator's features — recorded); FID of "
        f"BigGAN samples truncated at t = {TRUNCATION:g}. `no-ema` is the full run's live generator (no training "
        "of its own: the average never feeds back into training)."),
    leaderboard="ablation.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    metrics=(*SCORES, "fid_truncated", *(metric_name(s, m) for s in ("z", "w") for m in ("full", "end"))),
    run=run,
    main_models=("stylegan",),  # its full run is truncation's StyleGAN: the main job's two rows train nothing more
    main_variants=(FULL, LIVE),
    variant_label="ablation",
    sections=claims,
)
