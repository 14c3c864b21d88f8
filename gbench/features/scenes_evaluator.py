"""`scenes-evaluator`: a small object detector that reads the factors of `scenes` images back.

Generated scenes are judged by what they show: which shapes in which colours,
how many, how large, where, and on which background. This network reads those
factors from any 64×64 RGB image (real or generated), its pooled features are
the `scenes` FID/KID/precision-recall space of the `embedded` profile, and its
40 class log-scores (shape × colour of the largest object) give the Inception
Score.

Why a detector and not a global classifier: a global head must decide which
object is "slot 0" (the largest) before it can name it, and learns slowly (an
earlier global CNN with per-slot heads reached shape 0.54 after 11 CPU minutes).
A fully convolutional, CenterNet-style detector (Zhou et al., "Objects as
Points", 2019) answers locally at each object's centre cell, and the slot order
is a sort of the decoded objects by predicted size.

Network (input uint8 (N, 3, 64, 64), scaled to [-1, 1]; every conv is
conv → BatchNorm → ReLU unless marked 1×1, which are plain linear maps):

    conv3×3 3→16, stride 2          → 16 × 32 × 32
    conv3×3 16→32                   → 32 × 32 × 32   (fine detail: a small ring's hole is ~5 px)
    conv3×3 32→48, stride 2; 48→48  → 48 × 16 × 16   = c4 (stride 4)
    conv3×3 48→64, stride 2; 64→64  → 64 × 8 × 8     = c8 (stride 8)
    conv3×3 64→72, stride 2; 72→72  → 72 × 4 × 4     = c16 (stride 16; sees a whole large object)
    tiny FPN: p8  = 1×1(c8)  + up2(1×1(c16))          → 48 × 8 × 8
              p4  = 1×1(c4)  + up2(p8)                → 48 × 16 × 16
    head trunk: conv3×3 48→64 on p4                   → 64 × 16 × 16 = h
    dense head: 1×1 64→17 on h: 1 centre heatmap logit, 5 shape, 8 colour logits,
                1 size (circumradius in 16×16 cells), 2 sub-cell offsets (x, y)
    features:   [mean of h over 16×16 (64), mean of c16 (72)] → 136  (post-ReLU)
    global head: linear 136→5: layout (land, water, shore) and ground (grass, sand) logits
    logits (40): at the largest decoded object (largest predicted size among
                 heatmap peaks ≥ SCORE_THRESHOLD; the strongest peak if none),
                 log p(shape) + log p(colour), index shape · 8 + colour

Stride 4 is fine enough: centres are ≥ 0.6 (r_a + r_b) ≥ 0.096 of the side
= 6.1 px apart, so two objects never share a 4-px cell. The stride-16 branch
gives the centre cell of a 27-px-wide large object a view of all of it.

Decoding (:func:`decode`, as CenterNet): sigmoid heatmap, 3×3 max-pool
non-maximum suppression, keep peaks with score ≥ SCORE_THRESHOLD, the 3
strongest, then sort them by predicted size (slot 0 = largest). Centre = (cell
+ offset) / 16, size = predicted cells / 16 (fractions of the side).

Training: :mod:`gbench.features.scenes_evaluator_train` (freshly sampled
scenes from a seed stream disjoint from the splits; never the test split).
The trained weights ship in ``gbench/features/weights/scenes-evaluator.safetensors``
with their sha256, per-factor test accuracies and recipe in ``manifest.json``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gbench.data.scenes_factors import COLOURS, GRASS, LAYOUTS, MAX_OBJECTS, SEA, SHAPES, SIZE_SPLIT, SceneFactors
from gbench.features.base import ExtractorSpec
from gbench.features.shipped import EvaluatorSpec
from gbench.images import uint8_to_float

NAME = "scenes-evaluator"
VERSION = "1"
FILENAME = "scenes-evaluator.safetensors"
IMAGE_SIZE = 64
GRID = 16                      # dense-head cells per side (stride 4)
FEATURE_DIM = 64 + 72
NUM_SHAPES, NUM_COLOURS, NUM_LAYOUTS = len(SHAPES), len(COLOURS), len(LAYOUTS)
NUM_CLASSES = NUM_SHAPES * NUM_COLOURS
# Dense-head channels: heatmap | shape | colour | size | offset x, y.
HEAT, SHAPE, COLOUR = slice(0, 1), slice(1, 1 + NUM_SHAPES), slice(6, 6 + NUM_COLOURS)
SIZE, OFFSET = slice(14, 15), slice(15, 17)
DENSE_CHANNELS = 17
SCORE_THRESHOLD = 0.3          # heatmap peak probability that counts as an object


def _conv(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
    # BN makes training fast and insensitive to the learning rate; in eval mode
    # it is a fixed affine map, so outputs stay per-image.
    return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]


@dataclass(frozen=True)
class SceneOutputs:
    """Everything one forward pass computes (float32 tensors).

    dense: (N, 17, 16, 16) raw dense-head maps (channel slices HEAT, SHAPE, COLOUR, SIZE, OFFSET);
    features: (N, 136); global_logits: (N, 5) layout (3) then ground (2) logits.
    """

    dense: torch.Tensor
    features: torch.Tensor
    global_logits: torch.Tensor


class SceneEvaluator(nn.Module):
    """The detector above. ``forward(uint8 (N, 3, 64, 64)) -> (features (N, 136), logits (N, 40))``."""

    def __init__(self):
        super().__init__()
        # The 64×64 input gets a strided conv at once: a stride-1 conv there cost as much as
        # the rest of the network together on one CPU thread; the 32×32 conv keeps the detail.
        self.stem = nn.Sequential(*_conv(3, 16, 2), *_conv(16, 32), *_conv(32, 48, 2), *_conv(48, 48))
        self.down8 = nn.Sequential(*_conv(48, 64, 2), *_conv(64, 64))
        self.down16 = nn.Sequential(*_conv(64, 72, 2), *_conv(72, 72))
        self.lat4, self.lat8, self.lat16 = nn.Conv2d(48, 48, 1), nn.Conv2d(64, 48, 1), nn.Conv2d(72, 48, 1)
        self.trunk = nn.Sequential(*_conv(48, 64))
        self.dense = nn.Conv2d(64, DENSE_CHANNELS, 1)
        self.globals = nn.Linear(FEATURE_DIM, NUM_LAYOUTS + 2)
        # CenterNet's prior: start the heatmap at p ≈ 0.01 so the focal loss is not
        # swamped by 250 background cells per image in the first steps.
        nn.init.constant_(self.dense.bias[HEAT], -4.6)

    def outputs(self, x: torch.Tensor) -> SceneOutputs:
        """float (N, 3, 64, 64) in [-1, 1] → :class:`SceneOutputs`."""
        c4 = self.stem(x)
        c8 = self.down8(c4)
        c16 = self.down16(c8)
        p8 = self.lat8(c8) + F.interpolate(self.lat16(c16), scale_factor=2, mode="nearest")
        p4 = self.lat4(c4) + F.interpolate(p8, scale_factor=2, mode="nearest")
        h = self.trunk(p4)
        feats = torch.cat([h.mean(dim=(2, 3)), c16.mean(dim=(2, 3))], 1)
        return SceneOutputs(self.dense(h), feats, self.globals(feats))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        out = self.outputs(uint8_to_float(x))
        return out.features, class_logits(out.dense)


# --------------------------------------------------------------------------- decoding


@dataclass(frozen=True)
class Detections:
    """Up to 3 decoded objects per image (torch), sorted by descending predicted size.

    present bool (N, 3); score (N, 3) heatmap probability; cell int64 (N, 3) flat
    index row · 16 + column; size, x, y (N, 3) fractions of the side (x right, y down);
    absent slots have present False and score, size 0.
    """

    present: torch.Tensor
    score: torch.Tensor
    cell: torch.Tensor
    size: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor


def decode(dense: torch.Tensor, threshold: float = SCORE_THRESHOLD) -> Detections:
    """Dense maps (N, 17, 16, 16) → :class:`Detections` (NMS by 3×3 max-pool, top-3 peaks ≥ threshold)."""
    heat = torch.sigmoid(dense[:, HEAT])
    peaks = heat * (F.max_pool2d(heat, 3, stride=1, padding=1) == heat)
    score, cell = peaks.flatten(1).topk(MAX_OBJECTS, dim=1)
    present = score >= threshold
    flat = dense.flatten(2)                                   # (N, 17, 256)
    at = flat.gather(2, cell[:, None, :].expand(-1, DENSE_CHANNELS, -1))  # (N, 17, 3)
    size = (at[:, SIZE.start].clamp(min=0) / GRID).where(present, torch.zeros(()))
    x = ((cell % GRID) + at[:, OFFSET.start]) / GRID
    y = ((cell // GRID) + at[:, OFFSET.start + 1]) / GRID
    # Present first, then by size; absent slots are sorted last by a −1 key.
    order = torch.where(present, size, torch.full_like(size, -1.0)).argsort(dim=1, descending=True, stable=True)
    pick = [t.gather(1, order) for t in (present, score.where(present, torch.zeros(())), cell, size, x, y)]
    return Detections(*pick)


def class_logits(dense: torch.Tensor) -> torch.Tensor:
    """(N, 40) log p(shape) + log p(colour) at the largest decoded object (index shape · 8 + colour).

    The largest object is slot 0 of :func:`decode`; with no peak above the
    threshold it is the strongest peak, so every image gets a class.
    """
    det = decode(dense, threshold=SCORE_THRESHOLD)
    # Slot 0 is the largest present peak; when none is present, decode's order puts
    # the absent peaks in topk order, so slot 0 is the strongest peak.
    cell = det.cell[:, 0]
    at = dense.flatten(2).gather(2, cell[:, None, None].expand(-1, DENSE_CHANNELS, 1))[:, :, 0]
    ls, lc = F.log_softmax(at[:, SHAPE], 1), F.log_softmax(at[:, COLOUR], 1)
    return (ls[:, :, None] + lc[:, None, :]).flatten(1)


# --------------------------------------------------------------------------- reading scenes


@dataclass(frozen=True)
class SceneReadout:
    """What the evaluator reads from N images (numpy), in the conventions of SceneFactors.

    Objects, up to 3 per image sorted by descending predicted size (slot 0 = largest;
    absent slots come last with present False, shape/colour 0 and size/x/y/score 0):

        present bool (N, 3); shape int64 (N, 3) into SHAPES; colour int64 (N, 3) into COLOURS
        size float (N, 3) circumradius / side; x, y float (N, 3) centre / side (x right, y down)
        score float (N, 3) heatmap peak probability (≥ SCORE_THRESHOLD where present)

    Image: layout int64 (N,) into LAYOUTS; ground int64 (N,) GRASS (1) or SAND (2), as
    SceneFactors (meaningless where the layout is water); label int64 (N,) argmax of the
    40 class logits (shape · 8 + colour of the largest object).
    """

    present: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    size: np.ndarray
    x: np.ndarray
    y: np.ndarray
    score: np.ndarray
    layout: np.ndarray
    ground: np.ndarray
    label: np.ndarray

    def __len__(self) -> int:
        return len(self.layout)


def read_scenes(net_or_loaded, images, batch_size: int = 256) -> SceneReadout:
    """Read the objects and background of uint8 images (N, 3, 64, 64): a :class:`SceneReadout`.

    ``net_or_loaded``: a :class:`SceneEvaluator`, or anything with one as ``.net``
    (``EVALUATOR.load()``'s LoadedEvaluator, ``SPEC.load()``'s Extractor). ``images``:
    a uint8 tensor or a lazy source indexable by slices (e.g. scenes' RenderedImages);
    works on any images — real scenes or a model's samples. Runs in eval mode without
    gradients on the network's device.
    """
    net = getattr(net_or_loaded, "net", net_or_loaded)
    if not isinstance(net, SceneEvaluator):
        raise TypeError(f"read_scenes needs a SceneEvaluator (or a loaded one), got {type(net).__name__}")
    was_training = net.training
    net.eval()
    device = next(net.parameters()).device
    parts: dict[str, list[np.ndarray]] = {}
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            x = torch.as_tensor(images[i:i + batch_size]).to(device)
            if x.dtype != torch.uint8 or tuple(x.shape[1:]) != (3, IMAGE_SIZE, IMAGE_SIZE):
                raise ValueError(f"read_scenes needs uint8 images (N, 3, {IMAGE_SIZE}, {IMAGE_SIZE}), "
                                 f"got {x.dtype} {tuple(x.shape)}")
            out = net.outputs(uint8_to_float(x))
            det = decode(out.dense)
            at = out.dense.flatten(2).gather(2, det.cell[:, None, :].expand(-1, DENSE_CHANNELS, -1))
            zero = torch.zeros((), dtype=torch.int64, device=device)
            glob = out.global_logits
            batch = {
                "present": det.present, "size": det.size, "x": det.x.where(det.present, zero),
                "y": det.y.where(det.present, zero), "score": det.score,
                "shape": at[:, SHAPE].argmax(1).where(det.present, zero),
                "colour": at[:, COLOUR].argmax(1).where(det.present, zero),
                "layout": glob[:, :NUM_LAYOUTS].argmax(1), "ground": GRASS + glob[:, NUM_LAYOUTS:].argmax(1),
                "label": class_logits(out.dense).argmax(1),
            }
            for k, v in batch.items():
                parts.setdefault(k, []).append(v.cpu().numpy())
    net.train(was_training)
    return SceneReadout(**{k: np.concatenate(v) for k, v in parts.items()})


def match(readout: SceneReadout, factors: SceneFactors) -> np.ndarray:
    """int64 (N, 3): for each ground-truth slot, the readout slot it is matched to (−1: none).

    Matching: ground-truth objects in descending size order each take the nearest
    still-unmatched detection whose centre lies within the object's circumradius
    (a detection inside the object's disc is a reading of that object). Centres
    are ≥ 0.6 (r_a + r_b) apart, so a detection is rarely within reach of two objects.
    """
    n = len(factors)
    d = np.hypot(factors.x[:, :, None] - readout.x[:, None, :], factors.y[:, :, None] - readout.y[:, None, :])
    ok = factors.present[:, :, None] & readout.present[:, None, :] & (d <= factors.size[:, :, None])
    d = np.where(ok, d, np.inf)
    out = np.full((n, MAX_OBJECTS), -1, dtype=np.int64)
    taken = np.zeros((n, MAX_OBJECTS), dtype=bool)
    rows = np.arange(n)
    for slot in np.argsort(-np.where(factors.present, factors.size, -1.0), axis=1, kind="stable").T:
        cand = np.where(taken, np.inf, d[rows, slot])         # (N, 3) distances to the detections
        best = cand.argmin(1)
        hit = np.isfinite(cand[rows, best])
        out[rows[hit], slot[hit]] = best[hit]
        taken[rows[hit], best[hit]] = True
    return out


def factor_accuracy(readout: SceneReadout, factors: SceneFactors) -> dict[str, float]:
    """Per-factor accuracies of a readout against the true factors of the same images.

    Object factors are scored over all ground-truth objects after :func:`match`; an
    unmatched object counts as wrong (so they are bounded by the recall):

        shape, colour  the matched detection's class equals the object's
        size           its size class (< SIZE_SPLIT = 0.135: small) equals the object's
        position_error mean |centre error| (fraction of the side) of matched objects

    Image factors: count (number of detections == number of objects), layout, ground
    (images with land only), class (readout.label == the 40-class label).
    Detection: recall = matched objects / objects, precision = matched detections / detections.
    """
    m = match(readout, factors)
    hit = m >= 0
    img = np.nonzero(hit)[0]
    det = m[hit]
    gt = factors.present
    objects = gt.sum()

    def object_acc(pred: np.ndarray, true: np.ndarray) -> float:
        return float((pred[img, det] == true[hit]).sum() / objects)

    land = factors.layout != SEA
    err = np.hypot(readout.x[img, det] - factors.x[hit], readout.y[img, det] - factors.y[hit])
    return {
        "shape": object_acc(readout.shape, factors.shape),
        "colour": object_acc(readout.colour, factors.colour),
        "size": object_acc(readout.size >= SIZE_SPLIT, factors.size >= SIZE_SPLIT),
        "count": float((readout.present.sum(1) == gt.sum(1)).mean()),
        "layout": float((readout.layout == factors.layout).mean()),
        "ground": float((readout.ground == factors.ground)[land].mean()),
        "class": float((readout.label == factors.labels).mean()),
        "recall": float(hit.sum() / objects),
        "precision": float(hit.sum() / max(1, readout.present.sum())),
        "position_error": float(err.mean()) if len(err) else float("nan"),
    }


# --------------------------------------------------------------------------- registration


def _train(out_dir, seed: int = 0, epochs: int | None = None, log=print) -> dict:
    from gbench.features.scenes_evaluator_train import train_scenes_evaluator

    return train_scenes_evaluator(out_dir, seed=seed, epochs=epochs, log=log)


def _quality(entry: dict) -> str:
    t = entry["test"]
    return ", ".join(f"{k} {t[k]:.3f}" for k in ("shape", "colour", "size", "count", "layout", "ground", "class"))


EVALUATOR = EvaluatorSpec(
    name=NAME,
    version=VERSION,
    group="scenes",
    description="scenes object detector (shape, colour, size, position of ≤ 3 objects; layout, ground); "
                "its 136-d pooled features are the scenes FID/KID/PR space",
    filename=FILENAME,
    build=SceneEvaluator,
    train=_train,
    quality=_quality,
)


SPEC = ExtractorSpec(
    name=NAME,
    version=VERSION,
    description="CenterNet-style detector trained on sampled scenes; 136-d pooled features, 40 class logits "
                "(shape × colour of the largest object)",
    profile="embedded",
    feature_dim=FEATURE_DIM,
    num_logits=NUM_CLASSES,
    input="uint8 (N, 3, 64, 64) RGB scenes",
    channels=3,
    image_size=(IMAGE_SIZE, IMAGE_SIZE),
    build=SceneEvaluator,
    weights=EVALUATOR.weights,
)
