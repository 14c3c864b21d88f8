"""Does a conditional sample show what it was asked for? Caption consistency, layout mIoU, R-precision.

Metrics of the ``conditioned`` kind read samples together with the condition each
was generated from (:class:`ConditionedInputs`) and a shipped `scenes` evaluator
that reads the samples. On the real test split with its own captions and label
maps they measure the evaluators themselves: that is the floor row of every table.

* ``caption_consistency`` (↑, 0..1) — the fraction of the caption's attributes that
  ``scenes-evaluator`` finds in the sample (:func:`caption_scores`): each mentioned
  object's colour, shape and size word, each spatial relation between mentioned
  objects, each named background region. Mean over images ± their std.
* ``layout_miou`` (↑, 0..1) — mean intersection-over-union between the conditioning
  label map and ``scenes-segmenter``'s label map of the sample: one confusion matrix
  summed over all pixels of all images, IoU per class, mean over the classes that
  occur (the dataset-level convention of SPADE's Cityscapes/ADE20K tables, Park et
  al. 2019, which run a pretrained segmenter on the samples the same way).
* ``pixel_accuracy`` (↑, 0..1) — from the same confusion matrix: the fraction of all
  pixels the segmenter labels with the conditioning class (SPADE's "accu" column).
* ``r_precision`` (↑, 0..1) — Xu et al. 2018 (AttnGAN) R-precision with R = 1: each
  sample's caption is ranked against 99 mismatched captions of other samples by
  ``scenes-matcher``'s cosine similarity (:func:`gbench.metrics.r_precision.r_precision`);
  mean ± std over 10 folds of the samples.

Images are uint8 (N, 3, 64, 64) — the resolution the evaluators were trained at.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, Score, register_metric

EVALUATOR_OF = {"caption_consistency": "scenes-evaluator", "layout_miou": "scenes-segmenter",
                "pixel_accuracy": "scenes-segmenter", "r_precision": "scenes-matcher"}
R_MISMATCHED, R_FOLDS = 99, 10  # AttnGAN: 1 true + 99 random mismatched captions; mean ± std over folds
IMAGE_SIZE = 64


class MissingCondition(GbenchError):
    """The inputs lack the condition (captions, label maps) a metric reads."""


@dataclass
class ConditionedInputs:
    """What ``conditioned`` metrics read.

    Attributes:
        images: uint8 (N, 3, 64, 64) samples (or real images).
        captions: the caption each image was generated from (N strings), or None.
        label_maps: uint8 (N, 64, 64) the label map each image was generated from
            (classes of ``gbench.data.scenes.LABEL_MAP_CLASSES``), or None.
        load: ``load(name) -> LoadedEvaluator`` for a shipped evaluator
            (default: the package's, on ``device``); loaded once per name.
        device: where the evaluators run.
        seed: for R-precision's mismatched captions.
        batch_size: images per forward pass.
    """

    images: torch.Tensor
    captions: Sequence[str] | None = None
    label_maps: torch.Tensor | None = None
    load: Callable[[str], Any] | None = None
    device: str | torch.device = "cpu"
    seed: int = 0
    batch_size: int = 256
    memo: dict = field(default_factory=dict)

    def __post_init__(self):
        from gbench.images import check_images

        self.images = check_images(self.images)
        if tuple(self.images.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
            raise GbenchError(f"scene metrics take uint8 (N, 3, {IMAGE_SIZE}, {IMAGE_SIZE}) images, got "
                              f"{tuple(self.images.shape)}: resize the samples to {IMAGE_SIZE}×{IMAGE_SIZE}")
        n = len(self.images)
        if self.captions is not None and len(self.captions) != n:
            raise GbenchError(f"{len(self.captions)} captions for {n} images: pass one caption per image")
        if self.label_maps is not None and tuple(self.label_maps.shape) != (n, IMAGE_SIZE, IMAGE_SIZE):
            raise GbenchError(f"label maps of shape {tuple(self.label_maps.shape)} for {n} images: pass "
                              f"({n}, {IMAGE_SIZE}, {IMAGE_SIZE})")

    def evaluator(self, name: str):
        """The loaded shipped evaluator ``name`` (cached)."""
        if name not in self.memo:
            if self.load is not None:
                self.memo[name] = self.load(name)
            else:
                from gbench.features import EVALUATORS

                self.memo[name] = EVALUATORS.get(name).load(device=self.device)
        return self.memo[name]

    def require(self, what: str, metric: str):
        value = getattr(self, what)
        if value is None:
            raise MissingCondition(f"{metric} needs the {what.replace('_', ' ')} the samples were generated from")
        return value


# --------------------------------------------------------------------------- caption consistency


def _regions(layout: int, ground: int) -> set[str]:
    """Background classes below the horizon that a readout's layout and ground name."""
    from gbench.data.scenes_factors import BACKGROUNDS, LAND, SEA, WATER

    out = set()
    if layout != SEA:
        out.add(BACKGROUNDS[ground])
    if layout != LAND:
        out.add(BACKGROUNDS[WATER])
    return out


def caption_scores(parsed: Sequence[dict], readout) -> tuple[np.ndarray, np.ndarray]:
    """(found, total) attribute counts per image, int64 (N,) each.

    Args:
        parsed: per image, :func:`gbench.data.scenes.parse_caption`'s dict
            (objects with colour, shape and optional size; relations (rel, i, j);
            background names or None).
        readout: what ``scenes-evaluator`` read from the images (``read_scenes``):
            present, shape, colour, size, x, y (N, 3); layout, ground (N,).

    Mentions are matched to detected objects by the injective assignment (a mention
    may stay unmatched) that finds the most attributes — so a sample is credited
    with the best reading of its caption, and two mentions never share one object.
    An attribute counts once: colour, shape, the size word (small < 0.135 ≤ large
    circumradius) if the caption has one, a relation if both its objects are matched
    and their detected centres stand in it, and each named background region.
    """
    from gbench.data.scenes_factors import COLOURS, SHAPES, SIZE_SPLIT, relation_of

    n = len(parsed)
    found, total = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
    for i, cap in enumerate(parsed):
        objects, relations = cap["objects"], cap["relations"]
        slots = [k for k in range(readout.present.shape[1]) if readout.present[i, k]]
        det = [(SHAPES[readout.shape[i, k]], COLOURS[readout.colour[i, k]],
                "large" if readout.size[i, k] >= SIZE_SPLIT else "small", readout.x[i, k], readout.y[i, k])
               for k in slots]
        # attribute matches of mention m with detection d
        hits = [[(o["shape"] == d[0]) + (o["colour"] == d[1]) + (o["size"] is not None and o["size"] == d[2])
                 for d in det] for o in objects]
        best = 0
        choices = list(range(len(det))) + [None] * len(objects)
        for assign in set(itertools.permutations(choices, len(objects))):
            score = sum(hits[m][d] for m, d in enumerate(assign) if d is not None)
            for rel, a, b in relations:
                da, db = assign[a], assign[b]
                if da is not None and db is not None and \
                        str(relation_of(det[da][3], det[da][4], det[db][3], det[db][4])) == rel:
                    score += 1
            best = max(best, score)
        named = cap["background"] or ()
        regions = _regions(int(readout.layout[i]), int(readout.ground[i]))
        found[i] = best + sum(r in regions for r in named)
        total[i] = sum(2 + (o["size"] is not None) for o in objects) + len(relations) + len(named)
    return found, total


def caption_consistency(inputs: ConditionedInputs) -> Score:
    from gbench.data.scenes import parse_caption
    from gbench.features.scenes_evaluator import read_scenes

    captions = inputs.require("captions", "caption_consistency")
    readout = read_scenes(inputs.evaluator(EVALUATOR_OF["caption_consistency"]), inputs.images,
                          batch_size=inputs.batch_size)
    found, total = caption_scores([parse_caption(c) for c in captions], readout)
    frac = found / total
    return Score(float(frac.mean()), float(frac.std(ddof=1)) if len(frac) > 1 else None, {})


# --------------------------------------------------------------------------- layout mIoU


def _layout_confusion(inputs: ConditionedInputs, metric: str) -> np.ndarray:
    """The dataset-level confusion of conditioning label maps vs scenes-segmenter's maps of the
    samples, computed once per inputs (layout mIoU and pixel accuracy both read it)."""
    from gbench.data.scenes import LABEL_MAP_CLASSES
    from gbench.features.scenes_segmenter import segment
    from gbench.metrics.segmentation import confusion_matrix

    true = inputs.require("label_maps", metric)
    if "layout_confusion" not in inputs.memo:
        pred = segment(inputs.evaluator(EVALUATOR_OF[metric]), inputs.images, batch_size=inputs.batch_size)
        inputs.memo["layout_confusion"] = confusion_matrix(pred, true, len(LABEL_MAP_CLASSES))
    return inputs.memo["layout_confusion"]


def layout_miou(inputs: ConditionedInputs) -> Score:
    from gbench.metrics.segmentation import mean_iou

    return Score(float(mean_iou(_layout_confusion(inputs, "layout_miou"))), None, {})


def layout_pixel_accuracy(inputs: ConditionedInputs) -> Score:
    from gbench.metrics.segmentation import pixel_accuracy

    return Score(float(pixel_accuracy(_layout_confusion(inputs, "pixel_accuracy"))), None, {})


# --------------------------------------------------------------------------- R-precision


def r_precision_score(inputs: ConditionedInputs) -> Score:
    from gbench.features.scenes_matcher import image_embeddings, text_embeddings
    from gbench.metrics.r_precision import r_precision

    captions = inputs.require("captions", "r_precision")
    if len(captions) < R_MISMATCHED + 1:
        raise GbenchError(f"r_precision ranks each caption among {R_MISMATCHED} mismatched ones: it needs at least "
                          f"{R_MISMATCHED + 1} samples, got {len(captions)}")
    matcher = inputs.evaluator(EVALUATOR_OF["r_precision"])
    image_emb = image_embeddings(matcher, inputs.images, batch_size=inputs.batch_size)
    text_emb = text_embeddings(matcher, list(captions), batch_size=inputs.batch_size)
    mean, std = r_precision(image_emb, text_emb, mismatched=R_MISMATCHED, seed=inputs.seed, folds=R_FOLDS)
    return Score(float(mean), float(std), {"r_mismatched": R_MISMATCHED, "r_folds": R_FOLDS})


register_metric(
    MetricSpec("caption_consistency", "Caption consist.", True,
               "fraction of the caption's attributes (colour, shape, size, relations, background) that "
               "scenes-evaluator finds in the sample", decimals=3, consumes="conditioned",
               compute=caption_consistency, spread="std over images"),
    MetricSpec("layout_miou", "Layout mIoU", True,
               "mIoU between the conditioning label map and scenes-segmenter's map of the sample "
               "(dataset-level confusion)", decimals=3, consumes="conditioned", compute=layout_miou),
    MetricSpec("pixel_accuracy", "Pixel acc.", True,
               "fraction of pixels where scenes-segmenter's map of the sample has the conditioning label "
               "map's class (SPADE's second segmentation score)", decimals=3, consumes="conditioned",
               compute=layout_pixel_accuracy),
    MetricSpec("r_precision", "R-precision", True,
               "AttnGAN R-precision (R = 1): the true caption ranks first among 99 mismatched by "
               "scenes-matcher's cosine similarity", decimals=3, consumes="conditioned",
               compute=r_precision_score, protocol={"r_mismatched": R_MISMATCHED, "r_folds": R_FOLDS},
               spread="std over 10 folds"),
)
