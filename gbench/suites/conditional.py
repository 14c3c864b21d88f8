"""`conditional`: text-to-image and layout-to-image GANs, scored on realism AND on the condition.

For each dataset of the profile (embedded: `scenes`, 3×64×64, whose captions
and label maps are exact ground truth):

1. the train split is rendered with its captions (as the grammar's token ids,
   :func:`gbench.features.scenes_matcher.tokenize`) and label maps; each model
   trains (or resumes) through :func:`gbench.fit.fit` on the images and its
   condition — captions for GAN-INT-CLS (Reed et al. 2016) and StackGAN Stage-I
   and Stage-II (Zhang et al. 2017; Stage-II starts from Stage-I's generator),
   label maps for SPADE (Park et al. 2019) and its baseline, the same generator
   with the label map concatenated at the input and plain batch norm;
2. every model makes one sample per test item, from that item's caption or
   label map, with the run's seed: as many samples as the reference holds;
3. realism: FID, KID, IS, precision/recall against the test split with
   `scenes-evaluator` features; faithfulness: caption consistency and
   R-precision for the text rows, layout mIoU and pixel accuracy (`scenes-segmenter`
   on the samples vs the input map) for the layout rows
   (:mod:`gbench.metrics.conditioned`).

Rows: ``real-data`` (as many train images as the test split holds, with their own
captions and maps: the floor, and what the evaluators reach), each model, and
``stackgan1`` without conditioning augmentation (variant ``no-ca``, the
issue's ablation: CA should raise diversity — recall — at equal FID).
Figures: test captions with each text model's samples, GAN-INT-CLS's text
interpolation (Reed et al. Fig. 5: fixed z, embeddings interpolated between two
captions), and test layouts | baseline | SPADE | real.

Paper profile (CUB-200 captions, ADE20K / Cityscapes layouts): not wired yet —
each dataset gets an 'unavailable' record naming what is missing (a caption
vocabulary and text–image matcher for birds, a segmenter for the layouts).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from gbench.claims import section, verdict
from gbench.data import ImageSet
from gbench.evaluate import Reference, conditioned_records, load_profile_extractor, records_for, score_images
from gbench.figures import save_grid
from gbench.fit import fit
from gbench.images import float_to_uint8
from gbench.suites.base import RunContext, Suite
from gbench.suites.generation import SMOKE_REFERENCE, sample

TEXT_MODELS = ("gan-int-cls", "stackgan1", "stackgan2")
LAYOUT_MODELS = ("spade-baseline", "spade")
MODELS = (*TEXT_MODELS, *LAYOUT_MODELS)
FLOOR = "real-data"
NO_CA = ("no-ca", {"conditioning_augmentation": False})
DATASETS_BY_PROFILE = {"embedded": ("scenes",), "paper": ("birds", "ade20k")}
SCORES = ("fid", "kid", "is", "precision", "recall")
SMOKE_TRAIN = 256  # tests: a few rendered training scenes keep the smoke run fast
EXAMPLES = 8


@dataclass
class SceneData:
    """A rendered split with its conditions: images uint8 (N, 3, 64, 64), captions (N strings),
    tokens int64 (N, L), label maps uint8 (N, 64, 64)."""

    images: torch.Tensor
    captions: tuple[str, ...]
    tokens: torch.Tensor
    label_maps: torch.Tensor

    def rows(self, index) -> "SceneData":
        return SceneData(self.images[index], tuple(self.captions[i] for i in index.tolist()), self.tokens[index],
                         self.label_maps[index])


def load_scenes(split: str, n: int | None = None) -> SceneData:
    """The first ``n`` rows of a `scenes` split (None = all), rendered at 64×64 with their conditions."""
    from gbench.data.scenes import load_split
    from gbench.features.scenes_matcher import tokenize

    scenes = load_split(split, 64, None if n is None else slice(0, n))
    return SceneData(scenes.images, scenes.captions, tokenize(scenes.captions)[0], scenes.label_maps)


def run(ctx: RunContext) -> None:
    if not ctx.selected(MODELS):  # the main job (main_models = ()): say why there are no numbers
        ctx.emit([ctx.record("all", "-", "all", None, reason="no model selected: the conditional GANs train for "
                             "~15 minutes; run `gbench run --suite conditional`")])
        return
    for dataset in DATASETS_BY_PROFILE[ctx.profile]:
        if dataset != "scenes":
            ctx.emit([ctx.record("all", dataset, "all", None, reason=(
                f"unavailable: the conditional suite does not run on {dataset} yet (it needs a caption vocabulary "
                "and text–image matcher for birds, a segmenter for ADE20K/Cityscapes); use the embedded profile"))])
            continue
        _run_scenes(ctx)


def _run_scenes(ctx):
    from gbench.data.scenes import LABEL_MAP_CLASSES
    from gbench.features.scenes_matcher import VOCAB

    smoke = ctx.preset == "smoke"
    train = load_scenes("train", SMOKE_TRAIN if smoke else None)
    extractor = load_profile_extractor(ctx, "scenes")
    if extractor is None:
        return
    test = load_scenes("test", max(SMOKE_REFERENCE, extractor.feature_dim + 1) if smoke else None)
    ctx.say(f"scenes: {len(train.images)} training scenes, reference of {len(test.images)} test scenes")
    reference = Reference.from_images(extractor, test.images)
    conditions = {"tokens": (train.tokens, len(VOCAB)), "layout": (train.label_maps, len(LABEL_MAP_CLASSES))}
    split = ImageSet(train.images)

    t0 = time.perf_counter()
    floor = train.rows(torch.randperm(len(train.images), generator=torch.Generator().manual_seed(ctx.seed))
                       [:len(test.images)])
    records = _score(ctx, FLOOR, "", floor.images, floor, reference, extractor, t0)

    samples = {}
    for name in ctx.selected(MODELS):
        from zoo.models import MODELS as ZOO

        spec = ZOO.get(name)
        cond, size = conditions[spec.condition]
        runs = [("", {})] + ([NO_CA] if name == "stackgan1" else [])
        for variant, overrides in runs:
            t0 = time.perf_counter()
            ablated = {"variant": variant, "overrides": overrides} if overrides else {}
            model = fit(ctx, name, "scenes", split, conditions=cond, num_conditions=size, **ablated).model
            given = test.tokens if spec.condition == "tokens" else test.label_maps
            fake = sample(model, len(test.images), ctx.seed, given, ctx.device)
            if not variant:
                samples[name] = (model, fake)
            records += _score(ctx, name, variant, fake, test, reference, extractor, t0,
                              text=spec.condition == "tokens")
            ctx.say(f"{name}{f' ({variant})' if variant else ''}: scored in {time.perf_counter() - t0:.1f} s")
    # the figures need every model, so the records are emitted together, each row linking its figures
    links = _figures(ctx, test, samples)
    ctx.emit([replace(r, artifacts=links.get(r.model, {})) for r in records])


def _score(ctx, row, variant, images, conditions: SceneData, reference, extractor, t0, text: bool | None = None):
    """Realism against the reference, and the conditioned metrics of the condition the row used
    (text rows: captions; layout rows: label maps; the floor: both)."""
    from gbench.metrics.conditioned import ConditionedInputs

    scores = score_images(extractor, reference, images, SCORES, seed=ctx.seed)
    out = records_for(ctx, row, "scenes", scores, variant=variant, n_real=reference.n, n_fake=len(images),
                      extractor=extractor, wall_seconds=time.perf_counter() - t0)
    inputs = ConditionedInputs(images, captions=conditions.captions if text in (True, None) else None,
                               label_maps=conditions.label_maps if text in (False, None) else None,
                               device=ctx.device, seed=ctx.seed)
    out += [replace(r, variant=variant) for r in conditioned_records(ctx, row, "scenes", inputs, t0)]
    return out


def _figures(ctx, test: SceneData, samples: dict) -> dict[str, dict[str, str]]:
    """Captions → samples, GAN-INT-CLS text interpolation, layouts | baseline | SPADE | real.
    Returns {row: {label: path relative to leaderboards/}}."""
    links: dict[str, dict[str, str]] = {}
    text = [m for m in TEXT_MODELS if m in samples]
    if text:
        grid = torch.cat([test.images[:EXAMPLES]] + [samples[m][1][:EXAMPLES] for m in text])
        path, rel = ctx.figure_path(f"scenes_text_{ctx.preset}_samples.png")
        captions = "; ".join(f"{i + 1}: {c}" for i, c in enumerate(test.captions[:EXAMPLES]))
        save_grid(grid, path, nrow=EXAMPLES, title=f"rows: real, {', '.join(text)} — captions {captions}")
        for m in (FLOOR, *text):
            links.setdefault(m, {})["captions and samples"] = rel
    if "gan-int-cls" in samples:
        links["gan-int-cls"]["text interpolation"] = _interpolation_figure(ctx, samples["gan-int-cls"][0], test)
    layout = [m for m in LAYOUT_MODELS if m in samples]
    if layout:
        maps = torch.from_numpy(MAP_COLOURS)[test.label_maps[:EXAMPLES].long()].permute(0, 3, 1, 2)
        grid = torch.cat([maps] + [samples[m][1][:EXAMPLES] for m in layout] + [test.images[:EXAMPLES]])
        path, rel = ctx.figure_path(f"scenes_layout_{ctx.preset}_samples.png")
        save_grid(grid, path, nrow=EXAMPLES, title=f"rows: input label map, {', '.join(layout)}, real")
        for m in (FLOOR, *layout):
            links.setdefault(m, {})["layouts and samples"] = rel
    return links


# label-map class colours for the figure (gbench.data.scenes.LABEL_MAP_CLASSES): sky, grass, sand, water,
# then circle, square, triangle, star, ring
MAP_COLOURS = np.array([(135, 190, 235), (70, 150, 60), (220, 200, 140), (40, 90, 170), (230, 60, 60),
                        (240, 170, 40), (230, 230, 60), (170, 80, 200), (250, 250, 250)], dtype=np.uint8)


def _interpolation_figure(ctx, model, test: SceneData) -> str:
    """Reed et al. 2016 Fig. 5: per row one z, text embeddings lerped from caption a to caption b."""
    g = torch.Generator().manual_seed(ctx.seed)
    rows, steps = 4, EXAMPLES
    beta = torch.linspace(0, 1, steps)
    with torch.no_grad():
        a = model.embed(test.tokens[:rows].to(ctx.device))
        b = model.embed(test.tokens[rows:2 * rows].to(ctx.device))
        emb = torch.lerp(a[:, None], b[:, None], beta[None, :, None].to(a)).flatten(0, 1)
        z = torch.randn((rows, model.latent_dim), generator=g).to(ctx.device).repeat_interleave(steps, 0)
        images = float_to_uint8(model.generate_from_embedding(z, emb)).cpu()
    path, rel = ctx.figure_path(f"scenes_gan-int-cls_{ctx.preset}_interpolation.png")
    pairs = "; ".join(f"{test.captions[i]} → {test.captions[rows + i]}" for i in range(rows))
    save_grid(images, path, nrow=steps, title=f"GAN-INT-CLS text interpolation (fixed z per row): {pairs}")
    return rel


def _value(group, model, metric, variant=""):
    values = [r.value for r in group if (r.model, r.metric, r.variant) == (model, metric, variant)
              and r.status == "ok"]
    return sum(values) / len(values) if values else None


def claims(group) -> list[str]:
    lines = []
    fid1, fid2 = _value(group, "stackgan1", "fid"), _value(group, "stackgan2", "fid")
    if fid1 is not None and fid2 is not None:
        lines.append(f"- Stage-II refines Stage-I (Zhang et al. 2017, Table 2): FID `stackgan2` {fid2:.2f} vs "
                     f"`stackgan1` {fid1:.2f} (Stage-I generates at half the resolution) — {verdict(fid2 < fid1)}.")
    r_ca, r_no = _value(group, "stackgan1", "recall"), _value(group, "stackgan1", "recall", "no-ca")
    f_no = _value(group, "stackgan1", "fid", "no-ca")
    if None not in (r_ca, r_no, fid1, f_no):
        lines.append(f"- Conditioning augmentation raises diversity (Zhang et al. 2017, Sec. 5.3): recall with CA "
                     f"{r_ca:.3f} vs without {r_no:.3f} (FID {fid1:.2f} vs {f_no:.2f}) — {verdict(r_ca > r_no)}.")
    for metric, better in (("layout_miou", max), ("fid", min)):
        s, b = _value(group, "spade", metric), _value(group, "spade-baseline", metric)
        if s is not None and b is not None:
            lines.append(f"- SPADE beats concatenating the layout at the input (Park et al. 2019, Table 1): "
                         f"{metric} `spade` {s:.3f} vs `spade-baseline` {b:.3f} — {verdict(better(s, b) == s != b)}.")
    return section("Reed et al. 2016, Zhang et al. 2017, Park et al. 2019; one seed at the preset", lines)


SUITE = Suite(
    name="conditional",
    title="Conditional synthesis: text-to-image and layout-to-image, realism and faithfulness",
    description=(
        "GAN-INT-CLS, StackGAN Stage-I/II (captions) and SPADE vs its concatenation baseline (label maps) trained "
        "on `scenes`; one sample per test caption or label map, scored for realism (FID, KID, IS, precision/recall "
        "with scenes-evaluator features) and for the condition (caption consistency and R-precision; layout mIoU "
        "and pixel accuracy of scenes-segmenter on the samples); the real floor with its own conditions; StackGAN "
        "Stage-I without conditioning augmentation as an ablation row."),
    leaderboard="conditional.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    rows=(FLOOR, *MODELS),
    metrics=(*SCORES, "caption_consistency", "r_precision", "layout_miou", "pixel_accuracy"),
    run=run,
    main_models=(),
    variant_label="ablation",
    sections=claims,
)
