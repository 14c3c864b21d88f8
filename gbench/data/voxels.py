"""`voxels`: procedural solids on an S³ occupancy grid — 10 classes, seeded, with their parameters.

Dataset card
============

What. Occupancy grids uint8 (1, S, S, S), S = 32 (registered ``voxels``) or 64
(``voxels-64``, the same shapes at twice the resolution), values 0 (empty) and 255
(occupied) so that the trainer's ``x / 127.5 − 1`` gives ±1. One solid per grid, of
one of 10 classes (:data:`CLASSES`):

  ==========  ==================================================================
  class       parameters (grid units: the grid spans [−1, 1] on every axis)
  ==========  ==================================================================
  cube        half side h ∈ U[0.25, 0.55]
  box         half extents (a, b, c): smallest m ∈ U[0.12, 0.3], largest
              min(m · U[1.6, 3.5], 0.6), middle ∈ U[m, largest], axes shuffled
              (largest / smallest ≥ 1.6, so a box is never a cube)
  sphere      radius r ∈ U[0.25, 0.7]
  ellipsoid   semi-axes (a, b, c): smallest m ∈ U[0.15, 0.35], largest
              min(m · U[1.6, 3], 0.75), middle ∈ U[m, largest], shuffled
  cylinder    radius r ∈ U[0.2, 0.6], half height h ∈ U[0.15, 0.75], axis vertical
  cone        base radius r ∈ U[0.3, 0.7], height H ∈ U[0.5, 1.5], apex up
  torus       major radius R ∈ U[0.4, 0.65], tube radius r ∈ U[0.12, min(0.25, 0.45 R)],
              lying flat (axis vertical)
  table       top: half extents a ∈ U[0.4, 0.7], b ∈ U[0.35, 0.6] (scaled so that
              √(a² + b²) ≤ 0.85), half thickness t ∈ U[0.05, 0.1]; four square legs
              of half width l ∈ U[0.05, 0.09] inset i ∈ U[0, 0.06] from the corners;
              total height H ∈ U[0.6, 1.2]
  chair       seat: half extents a, b ∈ U[0.3, 0.5], half thickness t ∈ U[0.05, 0.09],
              at height L ∈ U[0.4, 0.7] above the floor on four legs (half width
              l ∈ U[0.05, 0.08], at the corners); back: a slab of half thickness
              k ∈ U[0.05, 0.09] along the seat's −v edge, full seat width, rising
              B ∈ U[0.5, 0.9] above the seat
  lamp        base: disc of radius U[0.25, 0.45], half thickness U[0.04, 0.08]; pole:
              radius U[0.05, 0.08], height U[0.5, 0.9]; shade: a solid truncated cone,
              bottom radius r0 ∈ U[0.3, 0.55], top radius r0 · U[0.4, 0.8], height
              U[0.3, 0.5]
  ==========  ==================================================================

Every solid is then turned by θ ∈ U[0, 2π) about the vertical axis and moved by an
offset of at most 0.15 per axis (less where the solid would otherwise leave the grid:
its horizontal circumradius and half height stay inside [−0.94, 0.94]). Thin parts
(legs, poles) have a half width ≥ 0.05 > √2 / 32, so at 32³ every horizontal slice of
them holds at least one voxel centre: no part vanishes or breaks.

Axes. ``vox[n, 0, i, j, k]`` is the cell at (x, y, z) = ((i, j, k) + ½) · 2 / S − 1:
index order (x, y, z), **z vertical** (up = increasing k), like binvox_rw's (x, y, z)
order of ModelNet's z-up models. A voxel is occupied iff its centre lies inside the
solid (no antialiasing): the grid is exact, and the same parameters give the same
solid at every S.

Parameters (:class:`VoxelParams`): per row the label, the centre (x, y, z) of the
solid's bounding box, the angle θ and the class's dimensions (``dims``, columns named
by :data:`PARAM_NAMES`); ``render_voxels`` returns them as one dict per shape.

Classes are balanced: the labels of n shapes are ``i mod 10`` for i < n, permuted.

Splits (fixed): ``train`` = 10,000 rows of ``sample_params(10000,
numpy.random.default_rng([SPLIT_SEED, 0]))``, ``test`` = 2,000 rows of
``sample_params(2000, numpy.random.default_rng([SPLIT_SEED, 1]))`` (disjoint seed
streams; continuous parameters make a shared shape a probability-zero event).
:func:`render_voxels` (n, size, seed) uses ``numpy.random.default_rng(seed)``, another
stream again.

Memory and speed. A 32³ grid is 32 KB, 64³ 256 KB: the train split would be 328 MB /
2.6 GB, so the registered dataset's ``images`` are a :class:`RenderedVoxels`, a lazy
uint8 (N, 1, S, S, S) source that renders the rows it is indexed with (parameters
only are cached). Rendering is vectorised numpy on one thread: every solid turns
only about the vertical axis, so each membership test is a horizontal (S × S) term
combined with a vertical (S) term, and costs one or two passes over the S³ grid per
part (speed: benchmarks/bench_voxels.py; the target is ≥ 1,000 shapes/s at 32³ on
one core).

Paper profile: ModelNet10/40 and ShapeNet voxel folders, :mod:`gbench.data.paper_voxels`.
The sampler and renderer live in :mod:`gbench.data.voxels_render`; their names are
re-exported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

import numpy as np
import torch

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.data.lazy import positions
from gbench.data.voxels_render import (  # noqa: F401  (re-exported: the dataset's public names)
    BOX, CHAIR, CLASSES, COMPOSITES, CONE, CUBE, CYLINDER, DEFAULT_SIZE, ELLIPSOID, LAMP, PARAM_NAMES, SIZES, SPHERE,
    TABLE, TORUS, VoxelParams, check_size, render, render_voxels, sample_params,
)
from gbench.errors import GbenchError

SPLIT_SIZES = {"train": 10_000, "test": 2_000}
SPLIT_SEED = 3

__all__ = ["CLASSES", "COMPOSITES", "PARAM_NAMES", "SPEC", "SPECS", "RenderedVoxels", "VoxelParams", "Voxels",
           "load", "load_split", "render", "render_voxels", "sample_params", "split_params"]


# ---------------------------------------------------------------------------- splits


def _split_number(split: str) -> int:
    if split not in SPLITS:
        raise GbenchError(f"unknown split {split!r} for dataset 'voxels': use one of {', '.join(SPLITS)}")
    return SPLITS.index(split)


@lru_cache(maxsize=len(SPLITS))
def split_params(split: str) -> VoxelParams:
    """The fixed parameter table of a split (10,000 / 2,000 rows; arrays read-only)."""
    number = _split_number(split)
    p = sample_params(SPLIT_SIZES[split], np.random.default_rng([SPLIT_SEED, number]))
    for a in vars(p).values():
        a.setflags(write=False)
    return p


class RenderedVoxels:
    """uint8 (N, 1, S, S, S) grids rendered from a parameter table when indexed (a lazy source).

    ``grids[i]`` → (1, S, S, S); ``grids[a:b]``, ``grids[int or bool array / tensor]`` →
    (n, 1, S, S, S) in index order; :meth:`subset` narrows without rendering;
    :meth:`materialize` renders all. Picklable (DataLoader workers).
    """

    dtype = torch.uint8
    ndim = 5

    def __init__(self, params: VoxelParams, size: int = DEFAULT_SIZE):
        self.params, self.size = params, check_size(size)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.params), 1, self.size, self.size, self.size))

    def __len__(self) -> int:
        return len(self.params)

    def __repr__(self) -> str:
        return f"RenderedVoxels({len(self)} shapes × 1×{self.size}³ uint8)"

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, (torch.Tensor, np.ndarray)) and index.ndim == 0:
            index = index.item()
        if isinstance(index, (int, np.integer)):
            if not -len(self) <= index < len(self):
                raise IndexError(f"index {index} out of range for {len(self)} shapes")
            return render(self.params[int(index) % len(self)], self.size)[0]
        return render(self.params[positions(index, len(self))], self.size)

    def subset(self, index) -> "RenderedVoxels":
        if isinstance(index, (int, np.integer)):
            index = [index]
        return RenderedVoxels(self.params[positions(index, len(self))], self.size)

    def materialize(self) -> torch.Tensor:
        return self[:]


@dataclass(frozen=True, eq=False)
class Voxels:
    """Rendered rows of a split: ``occupancy`` uint8 (N, 1, S, S, S), ``labels`` int64 (N,),
    ``params`` (:class:`VoxelParams`), ``indices`` int64 (N,) row of each shape in its split."""

    occupancy: torch.Tensor
    labels: torch.Tensor
    params: VoxelParams
    indices: np.ndarray

    def __len__(self) -> int:
        return len(self.indices)


def load_split(split: str, size: int = DEFAULT_SIZE, index=None) -> Voxels:
    """Render rows ``index`` (None = all; int / slice / int or bool array) of a split at side ``size``."""
    p = split_params(split)
    rows = np.arange(len(p), dtype=np.int64) if index is None else positions(
        [index] if isinstance(index, (int, np.integer)) else index, len(p))
    part = p[rows]
    return Voxels(render(part, size), torch.from_numpy(part.labels.copy()), part, rows)


def load(split: str, root=None, download: bool = False, size: int = DEFAULT_SIZE) -> ImageSet:
    """The registered dataset: lazily rendered (1, S, S, S) grids and their 10 class labels."""
    p = split_params(split)
    return ImageSet(RenderedVoxels(p, size), torch.from_numpy(p.labels.copy()), CLASSES)


def _load64(split: str, root=None, download: bool = False) -> ImageSet:
    return load(split, root, download, size=64)


SPEC = DatasetSpec(
    name="voxels",
    description="procedural solids (cube … torus, table, chair, lamp) with parameters; seeded 10k train / 2k test, "
                "10 classes, 1×32³ occupancy",
    profile="embedded",
    load=load,
    shape=(1, 32, 32, 32),
    num_classes=len(CLASSES),
)
SPEC_64 = DatasetSpec(
    name="voxels-64",
    description="the `voxels` shapes at 1×64³ (same parameters and splits; for GPU runs)",
    profile="embedded",
    load=_load64,
    shape=(1, 64, 64, 64),
    num_classes=len(CLASSES),
)
SPECS = (SPEC, SPEC_64)
