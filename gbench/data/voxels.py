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
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from functools import lru_cache

import numpy as np
import torch

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.data.lazy import positions
from gbench.errors import GbenchError

CLASSES = ("cube", "box", "sphere", "ellipsoid", "cylinder", "cone", "torus", "table", "chair", "lamp")
CUBE, BOX, SPHERE, ELLIPSOID, CYLINDER, CONE, TORUS, TABLE, CHAIR, LAMP = range(len(CLASSES))
COMPOSITES = ("table", "chair", "lamp")
PARAM_NAMES = {
    "cube": ("half_side",),
    "box": ("half_x", "half_y", "half_z"),
    "sphere": ("radius",),
    "ellipsoid": ("semi_x", "semi_y", "semi_z"),
    "cylinder": ("radius", "half_height"),
    "cone": ("radius", "height"),
    "torus": ("major_radius", "tube_radius"),
    "table": ("top_half_x", "top_half_y", "top_half_thickness", "leg_half_width", "leg_inset", "height"),
    "chair": ("seat_half_x", "seat_half_y", "seat_half_thickness", "leg_half_width", "seat_height",
              "back_height", "back_half_thickness"),
    "lamp": ("base_radius", "base_half_thickness", "pole_radius", "pole_height", "shade_bottom_radius",
             "shade_top_radius", "shade_height"),
}
MAX_DIMS = max(len(v) for v in PARAM_NAMES.values())
SIZES = (32, 64)
DEFAULT_SIZE = 32
SPLIT_SIZES = {"train": 10_000, "test": 2_000}
SPLIT_SEED = 3
MAX_OFFSET = 0.15   # largest centre offset per axis
REACH = 0.94        # a solid stays inside [−REACH, REACH]³ (one 32³ voxel from the border)
# Shapes per vectorised step: (chunk, S, S, S) float32 temporaries of 2 MB at 32³ stay in cache.
_CHUNK_VOXELS = 1 << 19

__all__ = ["CLASSES", "COMPOSITES", "PARAM_NAMES", "SPEC", "SPECS", "RenderedVoxels", "VoxelParams", "Voxels",
           "load", "load_split", "render", "render_voxels", "sample_params", "split_params"]


@dataclass(frozen=True, eq=False)
class VoxelParams:
    """Parameters of N solids (numpy arrays; row i is shape i).

    Attributes:
        labels: int64 (N,) class index into CLASSES.
        center: float64 (N, 3) centre (x, y, z) of the solid's bounding box, grid units.
        angle: float64 (N,) rotation about the vertical (z) axis, radians, counter-clockwise
            seen from above, in [0, 2π).
        dims: float64 (N, MAX_DIMS) the class's dimensions in PARAM_NAMES order, NaN after them.
    """

    labels: np.ndarray
    center: np.ndarray
    angle: np.ndarray
    dims: np.ndarray

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index) -> "VoxelParams":
        idx = [index] if isinstance(index, (int, np.integer)) else positions(index, len(self))
        return VoxelParams(*(getattr(self, f.name)[idx] for f in fields(self)))

    def to_dicts(self) -> list[dict]:
        """One dict per shape: ``class``, ``label``, ``center`` (x, y, z), ``angle`` and the named dims."""
        out = []
        for i in range(len(self)):
            name = CLASSES[int(self.labels[i])]
            row = {"class": name, "label": int(self.labels[i]), "center": tuple(float(c) for c in self.center[i]),
                   "angle": float(self.angle[i])}
            row.update({k: float(v) for k, v in zip(PARAM_NAMES[name], self.dims[i])})
            out.append(row)
        return out


# ---------------------------------------------------------------------------- sampling


def _uniform(rng, lo, hi, n):
    return lo + (np.asarray(hi) - lo) * rng.random(n)


def _shuffled_extents(rng, n, lo, hi, top, ratio_hi):
    """(n, 3) extents with largest / smallest ≥ 1.6: smallest, largest, middle, then axes shuffled."""
    small = _uniform(rng, lo, hi, n)
    large = np.minimum(small * _uniform(rng, 1.6, ratio_hi, n), top)
    middle = _uniform(rng, small, large, n)
    ext = np.stack([small, middle, large], axis=1)
    return np.take_along_axis(ext, rng.permuted(np.tile(np.arange(3), (n, 1)), axis=1), axis=1)


def _sample_dims(cls: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(dims (n, k), horizontal circumradius (n,), height (n,)) of n solids of class ``cls``."""
    u = lambda lo, hi: _uniform(rng, lo, hi, n)  # noqa: E731
    if cls == CUBE:
        h = u(0.25, 0.55)
        return h[:, None], h * np.sqrt(2), 2 * h
    if cls == BOX:
        e = _shuffled_extents(rng, n, 0.12, 0.3, 0.6, 3.5)
        return e, np.hypot(e[:, 0], e[:, 1]), 2 * e[:, 2]
    if cls == SPHERE:
        r = u(0.25, 0.7)
        return r[:, None], r, 2 * r
    if cls == ELLIPSOID:
        e = _shuffled_extents(rng, n, 0.15, 0.35, 0.75, 3.0)
        return e, e[:, :2].max(1), 2 * e[:, 2]
    if cls == CYLINDER:
        r, h = u(0.2, 0.6), u(0.15, 0.75)
        return np.stack([r, h], 1), r, 2 * h
    if cls == CONE:
        r, height = u(0.3, 0.7), u(0.5, 1.5)
        return np.stack([r, height], 1), r, height
    if cls == TORUS:
        big = u(0.4, 0.65)
        tube = u(0.12, np.minimum(0.25, 0.45 * big))
        return np.stack([big, tube], 1), big + tube, 2 * tube
    if cls == TABLE:
        a, b = u(0.4, 0.7), u(0.35, 0.6)
        shrink = np.minimum(1.0, 0.85 / np.hypot(a, b))
        a, b = a * shrink, b * shrink
        t, leg, inset, height = u(0.05, 0.1), u(0.05, 0.09), u(0.0, 0.06), u(0.6, 1.2)
        return np.stack([a, b, t, leg, inset, height], 1), np.hypot(a, b), height
    if cls == CHAIR:
        a, b, t, leg, seat_h, back_h, back_t = (u(0.3, 0.5), u(0.3, 0.5), u(0.05, 0.09), u(0.05, 0.08),
                                                u(0.4, 0.7), u(0.5, 0.9), u(0.05, 0.09))
        return np.stack([a, b, t, leg, seat_h, back_h, back_t], 1), np.hypot(a, b), seat_h + 2 * t + back_h
    if cls == LAMP:
        base_r, base_t, pole_r, pole_h = u(0.25, 0.45), u(0.04, 0.08), u(0.05, 0.08), u(0.5, 0.9)
        r0 = u(0.3, 0.55)
        r1, shade_h = r0 * u(0.4, 0.8), u(0.3, 0.5)
        dims = np.stack([base_r, base_t, pole_r, pole_h, r0, r1, shade_h], 1)
        return dims, np.maximum(base_r, r0), 2 * base_t + pole_h + shade_h
    raise AssertionError(cls)


def sample_params(n: int, rng: np.random.Generator) -> VoxelParams:
    """Parameters of ``n`` solids (the distributions of the module's dataset card).

    Args:
        n: number of shapes (≥ 0).
        rng: the only source of randomness; same state ⇒ same parameters.

    Returns:
        :class:`VoxelParams`; labels balanced (``i mod 10``, permuted).
    """
    if n < 0:
        raise GbenchError(f"number of shapes must be ≥ 0, got {n}")
    labels = rng.permutation(np.arange(n, dtype=np.int64) % len(CLASSES))
    dims = np.full((n, MAX_DIMS), np.nan)
    radius, height = np.zeros(n), np.zeros(n)
    for cls in range(len(CLASSES)):
        idx = np.flatnonzero(labels == cls)
        d, radius[idx], height[idx] = _sample_dims(cls, len(idx), rng)
        dims[idx, :d.shape[1]] = d
    angle = rng.random(n) * 2 * np.pi
    # Largest offset that keeps the solid inside [−REACH, REACH]: horizontally its circumradius
    # bounds its reach whatever θ, vertically its half height.
    room = np.stack([REACH - radius, REACH - radius, REACH - height / 2], 1)
    assert (room >= 0).all(), "a sampled solid does not fit the grid"
    limit = np.minimum(MAX_OFFSET, room)
    center = (rng.random((n, 3)) * 2 - 1) * limit
    return VoxelParams(labels, center, angle, dims)


# ---------------------------------------------------------------------------- rendering


def _cells(size: int) -> np.ndarray:
    return ((np.arange(size, dtype=np.float64) + 0.5) * (2.0 / size) - 1.0)


def _box2(u, v, hu, hv, cu=0.0, cv=0.0):
    """|u − cu| ≤ hu and |v − cv| ≤ hv: (n, S, S) bool; hu, hv, cu, cv broadcast as (n, 1, 1)."""
    return (np.abs(u - cu) <= hu) & (np.abs(v - cv) <= hv)


def _slab(w, lo, hi):
    """lo ≤ w ≤ hi: (n, S) bool."""
    return (w >= lo) & (w <= hi)


def _join(xy, z):
    """A horizontal mask (n, S, S) and a vertical one (n, S) → the solid (n, S, S, S) bool."""
    return xy[:, :, :, None] & z[:, None, None, :]


def _draw(cls: int, p: VoxelParams, size: int) -> np.ndarray:
    """Occupancy (n, S, S, S) bool of n solids of one class (float32 tests, offsets in float64)."""
    c = _cells(size)
    f32 = np.float32
    dx = (c[None, :] - p.center[:, 0:1]).astype(f32)[:, :, None]  # (n, S, 1): x index
    dy = (c[None, :] - p.center[:, 1:2]).astype(f32)[:, None, :]  # (n, 1, S): y index
    w = (c[None, :] - p.center[:, 2:3]).astype(f32)               # (n, S):    z index
    cos = np.cos(p.angle).astype(f32)[:, None, None]
    sin = np.sin(p.angle).astype(f32)[:, None, None]
    # The solid's own frame: R(−θ) takes a grid point back to it (u, v horizontal).
    u = cos * dx + sin * dy
    v = cos * dy - sin * dx
    d = [p.dims[:, k].astype(f32) for k in range(MAX_DIMS)]
    col = [x[:, None, None] for x in d]  # broadcast over the horizontal plane
    row = [x[:, None] for x in d]        # broadcast over the vertical axis
    if cls == CUBE:
        return _join(_box2(u, v, col[0], col[0]), np.abs(w) <= row[0])
    if cls == BOX:
        return _join(_box2(u, v, col[0], col[1]), np.abs(w) <= row[2])
    if cls in (SPHERE, ELLIPSOID):
        a, b, cz = (col[0], col[0], row[0]) if cls == SPHERE else (col[0], col[1], row[2])
        return ((u / a) ** 2 + (v / b) ** 2)[:, :, :, None] + ((w / cz) ** 2)[:, None, None, :] <= 1
    rho = np.sqrt(u * u + v * v)  # horizontal distance from the vertical axis
    if cls == CYLINDER:
        return _join(rho <= col[0], np.abs(w) <= row[1])
    if cls == CONE:
        # radius r at the base (w = −H/2) shrinking linearly to 0 at the apex (w = H/2); −1 outside
        allowed = np.where(np.abs(w) <= row[1] / 2, row[0] * (0.5 - w / row[1]), -1)
        return rho[:, :, :, None] <= allowed[:, None, None, :]
    if cls == TORUS:
        return ((rho - col[0]) ** 2)[:, :, :, None] + (w * w)[:, None, None, :] <= (col[1] ** 2)[:, :, :, None]
    if cls == TABLE:
        a, b, t, leg, inset, height = col[:6]
        top = _join(_box2(u, v, a, b), _slab(w, row[5] / 2 - 2 * row[2], row[5] / 2))
        lu, lv = a - leg - inset, b - leg - inset  # leg centres at (±lu, ±lv)
        legs = _box2(np.abs(u), np.abs(v), leg, leg, lu, lv)
        return top | _join(legs, _slab(w, -row[5] / 2, row[5] / 2 - 2 * row[2]))
    if cls == CHAIR:
        a, b, t, leg = col[:4]
        bottom = -(row[4] + 2 * row[2] + row[5]) / 2  # floor, in the frame centred on the bounding box
        seat_lo, seat_hi = bottom + row[4], bottom + row[4] + 2 * row[2]
        seat = _join(_box2(u, v, a, b), _slab(w, seat_lo, seat_hi))
        legs = _join(_box2(np.abs(u), np.abs(v), leg, leg, a - leg, b - leg), _slab(w, bottom, seat_lo))
        back = _join(_box2(u, v, a, col[6], 0.0, -b + col[6]), _slab(w, seat_hi, seat_hi + row[5]))
        return seat | legs | back
    if cls == LAMP:
        base_t, pole_h, r0, r1, shade_h = row[1], row[3], row[4], row[5], row[6]
        bottom = -(2 * base_t + pole_h + shade_h) / 2
        base = _join(rho <= col[0], _slab(w, bottom, bottom + 2 * base_t))
        pole_top = bottom + 2 * base_t + pole_h
        pole = _join(rho <= col[2], _slab(w, bottom + 2 * base_t, pole_top))
        frac = (w - pole_top) / shade_h
        allowed = np.where((frac >= 0) & (frac <= 1), r0 + (r1 - r0) * frac, -1)
        shade = rho[:, :, :, None] <= allowed[:, None, None, :]
        return base | pole | shade
    raise AssertionError(cls)


def check_size(size: int) -> int:
    if size not in SIZES:
        raise GbenchError(f"voxel grid side must be one of {', '.join(map(str, SIZES))}, got {size!r}")
    return int(size)


def render(params: VoxelParams, size: int = DEFAULT_SIZE) -> torch.Tensor:
    """Occupancy grids of parameter rows: torch.uint8 (N, 1, S, S, S) in {0, 255}.

    Deterministic; row i does not depend on the rows rendered with it. Axis order
    (x, y, z), z up (module docstring).
    """
    size = check_size(size)
    n = len(params)
    out = np.zeros((n, size, size, size), dtype=np.bool_)
    chunk = max(1, _CHUNK_VOXELS // size**3)
    for cls in range(len(CLASSES)):
        idx = np.flatnonzero(params.labels == cls)  # one class per vectorised step
        for start in range(0, len(idx), chunk):
            part = idx[start:start + chunk]
            out[part] = _draw(cls, params[part], size)
    return torch.from_numpy(out.view(np.uint8) * np.uint8(255))[:, None]


def render_voxels(n: int, size: int = DEFAULT_SIZE, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, list[dict]]:
    """``n`` seeded solids: the pure function behind the dataset.

    Args:
        n: number of shapes.
        size: grid side S, 32 or 64 (the same solids at either).
        seed: ``numpy.random.default_rng(seed)`` draws the parameters.

    Returns:
        occupancy: torch.uint8 (n, 1, S, S, S) in {0, 255} (255 = occupied), axes (x, y, z), z up;
        labels: torch.int64 (n,) class index into :data:`CLASSES` (balanced);
        params: one dict per shape (:meth:`VoxelParams.to_dicts`: class, label, center, angle, dims).
    """
    p = sample_params(int(n), np.random.default_rng(seed))
    return render(p, size), torch.from_numpy(p.labels.copy()), p.to_dicts()


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
