"""`scenes`: procedural landscapes with objects — exact label maps, factor tables and captions.

Dataset card
============

What. 64×64 RGB images (uint8 3×S×S; S = 32 and 128 render the same scenes) of a
background made of 2–3 regions — sky above a horizon, and below it land (grass or
sand), water, or both split by a shoreline — each region class with its own colour
range and procedural texture (sky: vertical gradient + soft clouds; water: wavy
stripes; grass: grain + patches; sand: ripples), and 1–3 flat-coloured objects on
top, painted in slot order (a later object covers an earlier one). Made for
evaluating generative models with known ground truth: every image comes with its
integer label map, its factor table, a class label and a caption that parses back
to the factors. Everything is rendered on demand from the factors; nothing is
downloaded.

Factor distributions (:func:`sample_factors`; coordinates are fractions of the
image side, x to the right, y downwards; angles counter-clockwise as displayed):

  =============  ================================================================
  objects        1, 2 or 3 (⅓ each), in slots 0..k−1
  shape          uniform: circle, square, triangle, star, ring
  colour         uniform: red, orange, yellow, green, blue, purple, white, black;
                 rgb = the name's centre (``PALETTE``) + U{−20..20} per channel,
                 clipped (the eight boxes are disjoint)
  size           small / large (½ each); circumradius U[0.08, 0.12] / U[0.15, 0.21]
  x, y           uniform in [size, 1 − size] (inside the frame); a scene's
                 positions are redrawn (≤ 50 times) until every pair of centres is
                 ≥ 0.6 (r_a + r_b) apart: objects overlap, none is hidden
  angle          U[−20°, 20°] (a little rotation)
  layout         land 0.4 (sky + land), water 0.2 (sky + water),
                 shore 0.4 (sky + land + water)
  ground         grass / sand (½ each) for the land region
  horizon        height U[0.3, 0.55] at x = ½, tilt U[−0.12, 0.12];
                 hills (land layout) amplitude U[0, 0.05], 1.3 per width
  shoreline      across, water behind the land (½): 0.12–0.28 below the horizon,
                 normal angle π/2 ± 0.25; water on the left (¼) or right (¼): a
                 line through the horizon at x ∈ U[0.3, 0.7], normal 0 or π ± 0.3
  region colour  base RGB uniform per channel in the class box, pixels
                 base ± amplitude · texture:
                 sky (100–160, 160–210, 220–250) ± (45, 35, 5);
                 grass (45–95, 125–175, 25–65) ± (20, 30, 15);
                 sand (205–235, 185–210, 115–145) ± 15;
                 water (20–60, 80–130, 150–210) ± (15, 20, 35)
  texture        seed U{0..2³¹−1}: grain tile, cloud nodes, wave / ripple
                 frequencies and phases (:func:`scenes_render.texture_params`)
  =============  ================================================================

Label map classes (uint8, :data:`LABEL_MAP_CLASSES`): 0 sky, 1 grass, 2 sand,
3 water, then 4 + shape: 4 circle, 5 square, 6 triangle, 7 star, 8 ring. Pixels
are sampled at their centres without antialiasing, so the map is exact: an object
pixel has exactly its object's rgb, a region pixel lies in its class's range.

Class label (the ImageSet's labels, for class-conditional models): shape · 8 +
colour of the largest object (by size), 40 classes named "red circle", "orange
circle", …, "black ring" (:data:`CLASSES`); shape and colour are independent and
uniform, so the classes are balanced in expectation.

Captions: :mod:`gbench.data.scenes_captions` (grammar with synonyms and spatial
relations, e.g. "a large red circle to the left of a small blue square, above green
grass"; :func:`parse_caption` inverts it). The caption of image i of a split uses
``numpy.random.default_rng([SPLIT_SEED, split_number, 1, i])``.

Splits (fixed): ``train`` = 20,000 rows of ``sample_factors(20000,
numpy.random.default_rng([SPLIT_SEED, 0]))``, ``test`` = 5,000 rows of
``sample_factors(5000, numpy.random.default_rng([SPLIT_SEED, 1]))``; continuous
factors make a scene shared by both splits a probability-zero event.

Memory. At 64×64 the train split is 246 MB of images (+ 82 MB of label maps), so
no split is kept rendered: the registered dataset's ``images`` are a
:class:`RenderedImages` — a lazy uint8 source (``len``, ``shape``, ``dtype``,
``ndim``, indexing by int / slice / int or bool arrays) that renders the indexed
rows on access (6,000–7,000 images/s on one CPU core, benchmarks/bench_scenes.py);
only the factor tables (a few MB) are cached. :func:`load_split` renders everything
for the rows asked for: images, label maps, factors, labels, captions.

Rendering details (geometry of regions and shapes, texture formulas) are in
:mod:`gbench.data.scenes_render`; limitations: no antialiasing (edges are
aliased), the class label ignores occlusion, and relations compare centres.
Rendering uses torch's intra-op threads: on a machine whose cores are busy (another
process, or a training step running beside a prefetching thread) two OpenMP
threads stall each other and rendering slows many-fold; one thread does not.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.data.lazy import positions
from gbench.data.scenes_captions import caption, parse_caption
from gbench.data.scenes_factors import (
    BACKGROUNDS, CLASSES, COLOURS, LABEL_MAP_CLASSES, LAYOUTS, PALETTE, SHAPES, SceneFactors, relation,
    sample_factors,
)
from gbench.data.scenes_render import render
from gbench.errors import GbenchError

SPLIT_SIZES = {"train": 20_000, "test": 5_000}
SPLIT_SEED = 7
IMAGE_SIZE = 64

__all__ = [
    "BACKGROUNDS", "CLASSES", "COLOURS", "LABEL_MAP_CLASSES", "LAYOUTS", "PALETTE", "SHAPES", "SPEC",
    "RenderedImages", "SceneFactors", "Scenes", "caption", "load", "load_split", "parse_caption", "relation",
    "render", "sample_factors", "split_captions", "split_factors",
]


def _split_number(split: str) -> int:
    if split not in SPLITS:
        raise GbenchError(f"unknown split {split!r} for dataset 'scenes': use one of {', '.join(SPLITS)}")
    return SPLITS.index(split)


@lru_cache(maxsize=len(SPLITS))
def split_factors(split: str) -> SceneFactors:
    """The fixed factor table of a split (20,000 / 5,000 rows; arrays are read-only)."""
    number = _split_number(split)
    f = sample_factors(SPLIT_SIZES[split], np.random.default_rng([SPLIT_SEED, number]))
    for a in vars(f).values():
        a.setflags(write=False)
    return f


def split_captions(split: str, indices) -> tuple[str, ...]:
    """Captions of rows ``indices`` (int array) of a split: a pure function of (split, index)."""
    f, number = split_factors(split), _split_number(split)
    return tuple(caption(f[int(i)], np.random.default_rng([SPLIT_SEED, number, 1, int(i)])) for i in indices)


class RenderedImages:
    """uint8 (N, 3, S, S) images rendered from a factor table when indexed (a lazy image source).

    ``images[i]`` → (3, S, S); ``images[a:b]``, ``images[int or bool array / tensor]`` →
    (n, 3, S, S) in index order; :meth:`subset` narrows without rendering;
    :meth:`materialize` renders all. Picklable (DataLoader workers).
    """

    dtype = torch.uint8
    ndim = 4

    def __init__(self, factors: SceneFactors, size: int = IMAGE_SIZE):
        self.factors, self.size = factors, int(size)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.factors), 3, self.size, self.size))

    def __len__(self) -> int:
        return len(self.factors)

    def __repr__(self) -> str:
        return f"RenderedImages({len(self)} scenes × 3×{self.size}×{self.size} uint8)"

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, (torch.Tensor, np.ndarray)) and index.ndim == 0:
            index = index.item()
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} images")
            return render(self.factors[int(index)], self.size)[0][0]
        return render(self.factors[positions(index, len(self))], self.size)[0]

    def subset(self, index) -> "RenderedImages":
        if isinstance(index, (int, np.integer)):
            index = [index]
        return RenderedImages(self.factors[positions(index, len(self))], self.size)

    def materialize(self) -> torch.Tensor:
        return self[:]


@dataclass(frozen=True, eq=False)
class Scenes:
    """Rendered rows of a split with everything known about them.

    Attributes:
        images: uint8 (N, 3, S, S) RGB.
        label_maps: uint8 (N, S, S), classes LABEL_MAP_CLASSES (0..8).
        labels: int64 (N,) class label in 0..39 (CLASSES: shape · 8 + colour of the largest object).
        factors: the N factor rows.
        captions: N captions (grammar in scenes_captions).
        indices: int64 (N,) row of each image in its split.
    """

    images: torch.Tensor
    label_maps: torch.Tensor
    labels: torch.Tensor
    factors: SceneFactors
    captions: tuple[str, ...]
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def load_split(split: str, size: int = IMAGE_SIZE, index=None) -> Scenes:
    """Render rows ``index`` (None = all; int / slice / int or bool array) of a split at ``size``.

    A whole split is large (train at 64×64: 328 MB of images and label maps); pass a
    slice to render a part — row i is the same whichever rows are rendered with it.
    """
    f = split_factors(split)
    if index is None:
        rows = np.arange(len(f), dtype=np.int64)
    else:
        rows = positions([index] if isinstance(index, (int, np.integer)) else index, len(f))
    part = f[rows]
    images, label_maps = render(part, size)
    return Scenes(images, label_maps, torch.from_numpy(part.labels), part, split_captions(split, rows), rows)


def load(split: str, root=None, download: bool = False) -> ImageSet:
    """The registered dataset: lazily rendered 3×64×64 images and the 40-class labels."""
    f = split_factors(split)
    return ImageSet(RenderedImages(f, IMAGE_SIZE), torch.from_numpy(f.labels.copy()), CLASSES)


def save_sample_figure(path: Path | str, n: int = 16, split: str = "test", size: int = IMAGE_SIZE) -> Path:
    """A PNG of the first ``n`` images of a split, each above its caption (matplotlib, atomic write)."""
    import textwrap

    from matplotlib.figure import Figure

    from gbench.figures import save_figure

    scenes = load_split(split, size, slice(0, n))
    cols = 4
    rows = -(-n // cols)
    pitch, side, top = 2.9, 2.1, 0.35  # inches: row pitch, image side, title band
    height = top + rows * pitch
    fig = Figure(figsize=(cols * 2.4, height))
    for i in range(n):
        r, c = divmod(i, cols)
        bottom = 1 - (top + r * pitch + side) / height
        ax = fig.add_axes(((c + 0.06) / cols, bottom, side / (cols * 2.4), side / height))
        ax.imshow(scenes.images[i].permute(1, 2, 0).numpy(), interpolation="nearest")
        ax.set_axis_off()
        ax.text(0, -0.03, "\n".join(textwrap.wrap(scenes.captions[i], 32)), transform=ax.transAxes, fontsize=7,
                va="top", ha="left")
    fig.suptitle(f"scenes ({split}, {size}×{size}): the first {n} images and their captions", fontsize=9, y=0.995)
    return save_figure(fig, path, dpi=80)


SPEC = DatasetSpec(
    name="scenes",
    description="procedural landscapes with 1–3 objects, label maps, factors, captions; seeded 20k train / 5k test, "
                "40 classes, 3×64×64",
    profile="embedded",
    load=load,
    shape=(3, IMAGE_SIZE, IMAGE_SIZE),
    num_classes=len(CLASSES),
)
