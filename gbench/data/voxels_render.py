"""Procedural voxel solids: the parameter sampler and the vectorised renderer behind `voxels`.

The classes, their parameters, axes and the rendering rule are described in
:mod:`gbench.data.voxels` (the dataset card); this module draws parameter
tables (:func:`sample_params`) and turns them into uint8 occupancy grids
(:func:`render`, :func:`render_voxels`).
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

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
MAX_OFFSET = 0.15   # largest centre offset per axis
REACH = 0.94        # a solid stays inside [−REACH, REACH]³ (one 32³ voxel from the border)
# Shapes per vectorised step: (chunk, S, S, S) float32 temporaries of 2 MB at 32³ stay in cache.
_CHUNK_VOXELS = 1 << 19

__all__ = ["CLASSES", "COMPOSITES", "DEFAULT_SIZE", "PARAM_NAMES", "SIZES", "VoxelParams", "check_size",
           "render", "render_voxels", "sample_params"]


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
