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

Paper profile (``--data-root``; :mod:`gbench.data.paper_scenes`): `birds` (CUB-200
with Reed et al.'s captions; the first caption of each image, as ids of a word
vocabulary built from the train split, :mod:`gbench.data.vocabulary`) for the
text models and `ade20k` (label maps, 151 classes) for the layout models, both
at 64×64 on the CPU presets (the papers: 256), scored with the profile's
extractor (Inception). Their faithfulness metrics need networks trained on
those data sets (a CUB text–image matcher, an ADE20K segmenter) that gbench
does not ship: those records are 'unavailable' and say so. Cityscapes (2:1
frames) is left out: the zoo's layout models take square maps.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace

import numpy as np
import torch

from gbench.claims import mean_value, section, verdict
from gbench.errors import GbenchError
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
PAPER_SIZE, MAX_WORDS, MAX_TOKENS = 64, 5000, 32  # paper data on CPU presets; CUB captions: ~16 words
PAPER_MISSING = {
    "r_precision": "R-precision on real captions needs a text–image matcher trained on them (AttnGAN's DAMSM "
                   "for CUB-200); gbench ships one for `scenes` only",
    "layout_miou": "layout mIoU on ADE20K/Cityscapes needs a segmenter trained on them (SPADE used UperNet / DRN); "
                   "gbench ships one for `scenes` only",
    "pixel_accuracy": "pixel accuracy needs the same dataset's segmenter as layout mIoU; gbench ships one for "
                      "`scenes` only",
}


@dataclass
class CondData:
    """A split with what it can condition on: images uint8 (N, 3, S, S), and where the data have them
    captions (N strings) with their token ids int64 (N, L), label maps uint8 (N, S, S)."""

    images: torch.Tensor
    captions: tuple[str, ...] | None = None
    tokens: torch.Tensor | None = None
    label_maps: torch.Tensor | None = None

    def rows(self, index) -> "CondData":
        return CondData(self.images[index], None if self.captions is None else tuple(self.captions[i] for i in index.tolist()),
                        None if self.tokens is None else self.tokens[index],
                        None if self.label_maps is None else self.label_maps[index])


@dataclass
class Conditional:
    """One dataset ready to run: splits, alphabet sizes (vocabulary, label classes; None: the data
    lack that condition), and whether the shipped scenes evaluators read its samples."""

    train: CondData
    test: CondData
    vocabulary: int | None
    label_classes: int | None
    scene_metrics: bool
    notes: str = ""


def load_scenes(split: str, n: int | None = None) -> CondData:
    """The first ``n`` rows of a `scenes` split (None = all), rendered at 64×64 with their conditions."""
    from gbench.data.scenes import load_split
    from gbench.features.scenes_matcher import tokenize

    scenes = load_split(split, 64, None if n is None else slice(0, n))
    return CondData(scenes.images, scenes.captions, tokenize(scenes.captions)[0], scenes.label_maps)


def _scenes(ctx, reference_size: int) -> Conditional:
    from gbench.data.scenes import LABEL_MAP_CLASSES
    from gbench.features.scenes_matcher import VOCAB

    smoke = ctx.preset == "smoke"
    return Conditional(load_scenes("train", SMOKE_TRAIN if smoke else None),
                       load_scenes("test", reference_size if smoke else None), len(VOCAB), len(LABEL_MAP_CLASSES), True)


def _paper(ctx, dataset: str) -> Conditional:
    """A paper data set at 64×64 (CPU presets; the papers' sizes are larger): CUB-200's first caption of
    each image as tokens of a vocabulary built from the train split, or ADE20K's label maps."""
    from gbench.data.paper_scenes import load_conditioned
    from gbench.data.vocabulary import Vocabulary

    if ctx.data_root is None:
        raise GbenchError(f"{dataset} needs --data-root (see the README's paper profile)")
    train, test = (load_conditioned(dataset, split, ctx.data_root, PAPER_SIZE) for split in ("train", "test"))
    if train.captions is not None:
        vocab = Vocabulary.from_captions(train.first_captions, MAX_WORDS)
        splits = [CondData(s.images[:], s.first_captions, vocab.encode(s.first_captions, MAX_TOKENS)) for s in (train, test)]
        sizes = (len(vocab), None)
    else:
        splits = [CondData(s.images[:], label_maps=s.label_maps[:]) for s in (train, test)]
        sizes = (None, len(train.label_classes))
    return Conditional(*splits, *sizes, False, notes=train.split_rule)


def run(ctx: RunContext) -> None:
    if ctx.none_selected(MODELS):
        return
    for dataset in DATASETS_BY_PROFILE[ctx.profile]:
        extractor = load_profile_extractor(ctx, dataset)
        if extractor is None:
            continue
        try:
            data = _scenes(ctx, max(SMOKE_REFERENCE, extractor.feature_dim + 1)) if dataset == "scenes" \
                else _paper(ctx, dataset)
        except GbenchError as e:
            ctx.emit([ctx.record("all", dataset, "all", None, reason=f"unavailable: {dataset} {e}")])
            continue
        _run_dataset(ctx, dataset, data, extractor)


def _run_dataset(ctx, dataset: str, data: Conditional, extractor):
    from zoo.models import MODELS as ZOO

    train, test = data.train, data.test
    ctx.say(f"{dataset}: {len(train.images)} training images, reference of {len(test.images)} test images")
    reference = Reference.from_images(extractor, test.images)
    conditions = {"tokens": (train.tokens, data.vocabulary), "layout": (train.label_maps, data.label_classes)}
    given = {"tokens": test.tokens, "layout": test.label_maps}
    split = ImageSet(train.images)

    t0 = time.perf_counter()
    floor = train.rows(torch.randperm(len(train.images), generator=torch.Generator().manual_seed(ctx.seed))
                       [:len(test.images)])
    records = _score(ctx, dataset, FLOOR, "", floor.images, floor, reference, extractor, t0, data.scene_metrics)

    samples = {}
    for name in ctx.selected(MODELS):
        spec = ZOO.get(name)
        cond, size = conditions[spec.condition]
        if cond is None:
            continue  # e.g. layouts on CUB-200: the data cannot condition this model
        for variant, overrides in [("", {})] + ([NO_CA] if name == "stackgan1" else []):
            t0 = time.perf_counter()
            ablated = {"variant": variant, "overrides": overrides} if overrides else {}
            model = fit(ctx, name, dataset, split, conditions=cond, num_conditions=size, **ablated).model
            fake = sample(model, len(test.images), ctx.seed, given[spec.condition], ctx.device)
            if not variant:
                samples[name] = (model, fake)
            records += _score(ctx, dataset, name, variant, fake, test, reference, extractor, t0, data.scene_metrics,
                              text=spec.condition == "tokens")
            ctx.say(f"{name}{f' ({variant})' if variant else ''}: scored in {time.perf_counter() - t0:.1f} s")
    # the figures need every model, so the records are emitted together, each row linking its figures
    links = _figures(ctx, dataset, test, samples)
    ctx.emit([replace(r, artifacts=links.get(r.model, {})) for r in records])


def _score(ctx, dataset, row, variant, images, conditions: CondData, reference, extractor, t0, scene_metrics: bool,
           text: bool | None = None):
    """Realism against the reference, and the conditioned metrics of the condition the row used
    (text rows: captions; layout rows: label maps; the floor: both). On data the shipped scenes
    evaluators cannot read, those metrics are 'unavailable' records saying what they would need."""
    from gbench.metrics.conditioned import ConditionedInputs

    scores = score_images(extractor, reference, images, SCORES, seed=ctx.seed)
    out = records_for(ctx, row, dataset, scores, variant=variant, n_real=reference.n, n_fake=len(images),
                      extractor=extractor, wall_seconds=time.perf_counter() - t0)
    captions = conditions.captions if text in (True, None) else None
    label_maps = conditions.label_maps if text in (False, None) else None
    if not scene_metrics:
        missing = [(m, PAPER_MISSING[m]) for m, given in (("r_precision", captions), ("layout_miou", label_maps),
                                                          ("pixel_accuracy", label_maps)) if given is not None]
        return out + [ctx.record(row, dataset, m, None, variant=variant, reason=f"unavailable: {why}")
                      for m, why in missing]
    inputs = ConditionedInputs(images, captions=captions, label_maps=label_maps, device=ctx.device, seed=ctx.seed)
    return out + [replace(r, variant=variant) for r in conditioned_records(ctx, row, dataset, inputs, t0)]


def _figures(ctx, dataset: str, test: CondData, samples: dict) -> dict[str, dict[str, str]]:
    """Captions → samples, GAN-INT-CLS text interpolation, layouts | baseline | SPADE | real.
    Returns {row: {label: path relative to leaderboards/}}."""
    links: dict[str, dict[str, str]] = {}
    text = [m for m in TEXT_MODELS if m in samples]
    if text:
        grid = torch.cat([test.images[:EXAMPLES]] + [samples[m][1][:EXAMPLES] for m in text])
        path, rel = ctx.figure_path(f"{dataset}_text_{ctx.preset}_samples.png")
        captions = "; ".join(f"{i + 1}: {c}" for i, c in enumerate(test.captions[:EXAMPLES]))
        save_grid(grid, path, nrow=EXAMPLES, title=f"rows: real, {', '.join(text)} — captions {captions}")
        for m in (FLOOR, *text):
            links.setdefault(m, {})["captions and samples"] = rel
    if "gan-int-cls" in samples:
        links["gan-int-cls"]["text interpolation"] = _interpolation_figure(ctx, dataset, samples["gan-int-cls"][0],
                                                                           test)
    layout = [m for m in LAYOUT_MODELS if m in samples]
    if layout:
        maps = torch.from_numpy(label_colours(int(test.label_maps.max()) + 1))[test.label_maps[:EXAMPLES].long()]
        maps = maps.permute(0, 3, 1, 2)
        grid = torch.cat([maps] + [samples[m][1][:EXAMPLES] for m in layout] + [test.images[:EXAMPLES]])
        path, rel = ctx.figure_path(f"{dataset}_layout_{ctx.preset}_samples.png")
        save_grid(grid, path, nrow=EXAMPLES, title=f"rows: input label map, {', '.join(layout)}, real")
        for m in (FLOOR, *layout):
            links.setdefault(m, {})["layouts and samples"] = rel
    return links


# label-map class colours for the figure (gbench.data.scenes.LABEL_MAP_CLASSES): sky, grass, sand, water,
# then circle, square, triangle, star, ring
MAP_COLOURS = np.array([(135, 190, 235), (70, 150, 60), (220, 200, 140), (40, 90, 170), (230, 60, 60),
                        (240, 170, 40), (230, 230, 60), (170, 80, 200), (250, 250, 250)], dtype=np.uint8)


def label_colours(n: int) -> np.ndarray:
    """uint8 (max(n, 9), 3): the scenes colours, then fixed pseudo-random ones (ADE20K's 151 classes)."""
    extra = np.random.default_rng(0).integers(0, 256, (max(0, n - len(MAP_COLOURS)), 3), dtype=np.uint8)
    return np.concatenate([MAP_COLOURS, extra])


def _interpolation_figure(ctx, dataset: str, model, test: CondData) -> str:
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
    path, rel = ctx.figure_path(f"{dataset}_gan-int-cls_{ctx.preset}_interpolation.png")
    pairs = "; ".join(f"{test.captions[i]} → {test.captions[rows + i]}" for i in range(rows))
    save_grid(images, path, nrow=steps, title=f"GAN-INT-CLS text interpolation (fixed z per row): {pairs}")
    return rel


def claims(group) -> list[str]:
    lines = []
    fid1, fid2 = mean_value(group, "stackgan1", "fid"), mean_value(group, "stackgan2", "fid")
    if fid1 is not None and fid2 is not None:
        lines.append(f"- Stage-II refines Stage-I (Zhang et al. 2017, Table 2): FID `stackgan2` {fid2:.2f} vs "
                     f"`stackgan1` {fid1:.2f} (Stage-I generates at half the resolution) — {verdict(fid2 < fid1)}.")
    r_ca, r_no = mean_value(group, "stackgan1", "recall"), mean_value(group, "stackgan1", "recall", "no-ca")
    f_no = mean_value(group, "stackgan1", "fid", "no-ca")
    if None not in (r_ca, r_no, fid1, f_no):
        lines.append(f"- Conditioning augmentation raises diversity (Zhang et al. 2017, Sec. 5.3): recall with CA "
                     f"{r_ca:.3f} vs without {r_no:.3f} (FID {fid1:.2f} vs {f_no:.2f}) — {verdict(r_ca > r_no)}.")
    for metric, better in (("layout_miou", max), ("fid", min)):
        s, b = mean_value(group, "spade", metric), mean_value(group, "spade-baseline", metric)
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
    # the headline pair: SPADE against the same generator fed the map at its input (the text models and the
    # no-CA ablation train for minutes more: `gbench run --suite conditional`)
    main_models=LAYOUT_MODELS,
    variant_label="ablation",
    sections=claims,
)
