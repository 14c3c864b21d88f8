"""Rendering of `scenes`: images and label maps as a pure, vectorised function of the factor table.

``render(factors, size)`` draws a batch with torch on the CPU. Geometry (all in
fractions of the image side; pixel (row i, column j) is sampled at its centre
((j + ½)/S, (i + ½)/S); no antialiasing, so every pixel belongs to exactly one
region or object and the label map is exact):

* sky iff y < hz(x) = horizon + tilt·(x − ½) + hill·sin(2π·1.3·x + hill_phase);
* below the horizon, water iff the layout is ``water``, or it is ``shore`` and
  (x − shore_x)·cos a + (y − shore_y)·sin a < 0; land (grass or sand) otherwise;
* objects in their unit frame (u right, v up; display offset (dx, −dy) =
  R(angle)·(u, v), one unit = ``size`` · S pixels):
  circle u² + v² ≤ 0.9²; ring 0.5² ≤ u² + v² ≤ 0.95²; square max(|u|, |v|) ≤ 0.7;
  triangle (apex up) v ≥ −½ and √3·|u| + v ≤ 1; star (5 points, one up) the
  decagon with outer radius 1 and inner radius 0.5 (:data:`STAR_OUTLINE`);
  every shape lies inside the unit disc. Objects are painted in slot order
  (a later slot covers an earlier one).

Colour: an object pixel is exactly the object's ``rgb``. A background pixel of
region class c is ⌊base + amplitude_c · t_q + ½⌋ clipped to 0..255, where base is
the region's ``bg_rgb``, amplitude_c is ``BG_AMPLITUDE[c]`` and t_q is the class's
procedural texture t ∈ [−1, 1] quantised to 256 levels (level q = ⌊127.5·t + 128⌋,
t_q = (q − 127.5) / 127.5):

* sky: 1.4·y / hz(x) − 0.7 + 0.3·clouds (darker at the top, lighter at the horizon);
* water: 0.6·sin(2π f y + φ + w sin(2π f' x + φ')) + 0.4·grain (wavy horizontal stripes);
* grass: 0.6·grain + 0.4·clouds (patchy grain);
* sand: 0.5·sin(2π f (x cos β + y sin β) + φ) + 0.5·grain (ripples).

``grain`` is one of 64 fixed tiles of integer-hash noise in [−1, 1] on a 64 × 64
cell grid; ``clouds`` = ½ (a₁(y) b₁(x) + a₂(y) b₂(x)), with a, b smooth 1-D value
noise (5 hashed nodes at 0, ¼, …, 1, smoothstep between them). The tile, the
nodes and f, φ, w, β come from the texture seed through an integer hash
(:func:`texture_params`), so one factor row is the same scene at every size
(32, 64, 128, …): only the sampling changes.

Speed: every (N, S, S) field is built from per-row and per-column terms (rank-one
products, no per-pixel sine), objects are tested only in a window around them and
against their own shape, and the colour and label of each pixel come from one
lookup in a per-image table indexed by (layer, texture level); see
benchmarks/bench_scenes.py.
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch

from gbench.data.scenes_factors import (
    BG_AMPLITUDE, GRASS, HILL_CYCLES, LAND, SEA, SHAPE_CLASS_OFFSET, SHAPES, SIZE_RANGES, SceneFactors, as_factors,
)
from gbench.errors import GbenchError

CIRCLE_R, RING_OUTER, RING_INNER, SQUARE_HALF, STAR_INNER = 0.9, 0.95, 0.5, 0.7, 0.5
_S36, _C36 = math.sin(math.pi / 5), math.cos(math.pi / 5)
STAR_OUTLINE = np.array([  # (u, v) vertices, counter-clockwise from the top point
    (r * math.cos(math.pi / 2 + k * math.pi / 5), r * math.sin(math.pi / 2 + k * math.pi / 5))
    for k, r in zip(range(10), [1.0, STAR_INNER] * 5)
])
GRAIN_CELLS = 64  # grain cells per image side
GRAIN_TILES = 64
CLOUD_NODES = 5
LEVELS = 256  # texture levels per region
# Pixels per vectorised step (256 images at 64×64): 4 MB per float32 field; at 64×64, steps of
# 128 to 256 images measured fastest on one core (64: −15 %, 512: −10 %).
RENDER_PIXELS = 1 << 20


def _hash32(x: np.ndarray) -> np.ndarray:
    """lowbias32 integer hash (C. Wellons), uint32 → uint32, elementwise."""
    x = x.astype(np.uint32)
    x ^= x >> np.uint32(16)
    x *= np.uint32(0x7FEB352D)
    x ^= x >> np.uint32(15)
    x *= np.uint32(0x846CA68B)
    x ^= x >> np.uint32(16)
    return x


def _uniform(seed: np.ndarray, k) -> np.ndarray:
    """float64 in [0, 1): hash of (seed, k), elementwise over broadcast shapes."""
    mixed = (np.asarray(seed, dtype=np.uint64) * np.uint64(0x9E3779B1) + np.asarray(k, dtype=np.uint64)
             * np.uint64(0x85EBCA77)) & np.uint64(0xFFFFFFFF)
    return _hash32(mixed).astype(np.float64) / 2.0**32


@lru_cache(maxsize=8)
def grain_tiles(size: int) -> torch.Tensor:
    """float32 (GRAIN_TILES, size, size) in [−1, 1]: hashed noise on a 64 × 64 cell grid, read at pixel centres."""
    cell = np.floor((np.arange(size) + 0.5) / size * GRAIN_CELLS).astype(np.int64)
    key = (np.arange(GRAIN_TILES)[:, None, None] * GRAIN_CELLS + cell[:, None]) * GRAIN_CELLS + cell[None, :]
    return torch.from_numpy((2.0 * _uniform(key, 7919) - 1.0).astype(np.float32))


def _value_noise(nodes: np.ndarray, size: int) -> np.ndarray:
    """Smooth 1-D noise at the pixel centres: float64 (N, size) from node values (N, CLOUD_NODES)
    at 0, ¼, …, 1, smoothstep-interpolated."""
    pos = (np.arange(size) + 0.5) / size * (CLOUD_NODES - 1)
    lo = np.minimum(np.floor(pos).astype(np.int64), CLOUD_NODES - 2)
    h = pos - lo
    h = h * h * (3.0 - 2.0 * h)
    return nodes[:, lo] * (1.0 - h) + nodes[:, lo + 1] * h


def texture_params(texture: np.ndarray) -> dict[str, np.ndarray]:
    """Texture constants of each seed (N,): ``tile`` int64 in 0..63, ``cloud_nodes`` float64
    (N, 4, 5) in [−1, 1] (a₁, b₁, a₂, b₂), the rest float64 (N,)."""
    u = [_uniform(texture, k) for k in range(10)]
    nodes = 2.0 * _uniform(texture[:, None], 100 + np.arange(4 * CLOUD_NODES)[None, :]) - 1.0
    return {
        "tile": np.floor(u[0] * GRAIN_TILES).astype(np.int64), "cloud_nodes": nodes.reshape(-1, 4, CLOUD_NODES),
        "wave_freq": 9.0 + 5.0 * u[1], "wave_phase": 2 * np.pi * u[2], "wobble": 0.6 + 0.8 * u[3],
        "wobble_freq": 1.0 + 1.5 * u[4], "wobble_phase": 2 * np.pi * u[5],
        "ripple_freq": 7.0 + 4.0 * u[6], "ripple_angle": np.pi / 2 + 1.2 * (u[7] - 0.5),
        "ripple_phase": 2 * np.pi * u[8],
    }


def render(factors: SceneFactors, size: int = 64, layers: bool = False):
    """Images and label maps of scenes.

    Args:
        factors: N rows (:class:`SceneFactors`).
        size: image side S in pixels (≥ 16; the dataset uses 64, and 32 / 128 are tested).
        layers: also return the layer map.

    Returns:
        images: torch.uint8 (N, 3, S, S) RGB;
        label_maps: torch.uint8 (N, S, S) in 0..8 (``LABEL_MAP_CLASSES``: sky, grass, sand,
            water, then circle, square, triangle, star, ring);
        layer_maps (if ``layers``): torch.uint8 (N, S, S): 0..2 = region slot (sky, land,
            water), 3..5 = object slot 0..2 (the topmost object covering the pixel).
    Deterministic: a pure function of (factors, size); row i does not depend on the other rows.
    """
    f = as_factors(factors)
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or size < 16:
        raise GbenchError(f"scenes size must be an integer ≥ 16 (the dataset uses 64), got {size!r}")
    s, n = int(size), len(f)
    images = torch.empty((n, 3, s, s), dtype=torch.uint8)
    labels = torch.empty((n, s, s), dtype=torch.uint8)
    layer_maps = torch.empty((n, s, s), dtype=torch.uint8) if layers else None
    step = max(1, RENDER_PIXELS // (s * s))
    for start in range(0, n, step):
        part = slice(start, min(start + step, n))
        code = _codes(f[part], s)
        table = _lookup_table(f[part])  # (4, m, 6·256): R, G, B, label
        m = code.shape[0]
        for channel in range(3):
            torch.gather(table[channel], 1, code, out=images[part, channel].view(m, s * s))
        torch.gather(table[3], 1, code, out=labels[part].view(m, s * s))
        if layers:
            layer_maps[part] = code.div(LEVELS, rounding_mode="floor").view(m, s, s)
    return (images, labels, layer_maps) if layers else (images, labels)


def _t(a: np.ndarray, *shape) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a, dtype=np.float32)).reshape(*shape)


def _codes(f: SceneFactors, s: int) -> torch.Tensor:
    """int64 (n, s·s): each pixel's layer · 256 + texture level (layer 0..2 region slot, 3..5 object slot).

    Each region's level field 127.5·t + 128 (+ 256, the land layer) is linear in rank-one
    terms row(y) · column(x) and the grain; the fields are float32, the terms are computed in
    float64 on (n, s) arrays.
    """
    n = len(f)
    c = (np.arange(s) + 0.5) / s
    tp = texture_params(f.texture)
    rows = lambda a: _t(a, n, s, 1)  # noqa: E731
    cols = lambda a: _t(a, n, 1, s)  # noqa: E731
    hz = (f.horizon[:, None] + f.tilt[:, None] * (c - 0.5)
          + f.hill[:, None] * np.sin(2 * np.pi * HILL_CYCLES * c + f.hill_phase[:, None]))
    ys = _t(c, 1, s, 1)
    sky = torch.lt(ys, cols(hz), out=torch.empty(n, s, s))  # 1.0 / 0.0
    # Shoreline as a column term + a row term; the water and land layouts push it to ∓∞.
    cx = (c - f.shore_x[:, None]) * np.cos(f.shore_angle)[:, None]
    cx = np.where((f.layout == SEA)[:, None], -1e6, np.where((f.layout == LAND)[:, None], 1e6, cx))
    cy = (c - f.shore_y[:, None]) * np.sin(f.shore_angle)[:, None]
    water = torch.lt(cols(cx), rows(-cy), out=torch.empty(n, s, s))
    grain = grain_tiles(s).index_select(0, torch.from_numpy(tp["tile"]))
    a1, b1, a2, b2 = (_value_noise(tp["cloud_nodes"][:, r], s) for r in range(4))  # clouds = ½(a1 b1 + a2 b2)

    level_sky = torch.mul(ys, cols(1.4 * 127.5 / hz)).add_(128.0 + 256.0 - 0.7 * 127.5)
    level_sky.addcmul_(rows(0.15 * 127.5 * a1), cols(b1)).addcmul_(rows(0.15 * 127.5 * a2), cols(b2))
    wave = 2 * np.pi * tp["wave_freq"][:, None] * c + tp["wave_phase"][:, None]
    wobble = tp["wobble"][:, None] * np.sin(2 * np.pi * tp["wobble_freq"][:, None] * c + tp["wobble_phase"][:, None])
    level_water = torch.mul(grain, 0.4 * 127.5).add_(128.0 + 256.0)
    level_water.addcmul_(rows(0.6 * 127.5 * np.sin(wave)), cols(np.cos(wobble)))
    level_water.addcmul_(rows(0.6 * 127.5 * np.cos(wave)), cols(np.sin(wobble)))
    # Land: grass = 0.6 grain + 0.4 clouds, sand = 0.5 grain + 0.5 ripples; the two rank-one
    # terms are the clouds' for grass and sin(A + B) = sin A cos B + cos A sin B for sand.
    grass = (f.ground == GRASS)[:, None]
    ripple_y = 2 * np.pi * (tp["ripple_freq"] * np.sin(tp["ripple_angle"]))[:, None] * c + tp["ripple_phase"][:, None]
    ripple_x = 2 * np.pi * (tp["ripple_freq"] * np.cos(tp["ripple_angle"]))[:, None] * c
    land_grain = _t(np.where(grass, 0.6 * 127.5, 0.5 * 127.5), n, 1, 1)
    level_land = torch.mul(grain, land_grain).add_(128.0 + 256.0)
    level_land.addcmul_(rows(np.where(grass, 0.2 * 127.5 * a1, 0.5 * 127.5 * np.sin(ripple_y))),
                        cols(np.where(grass, b1, np.cos(ripple_x))))
    level_land.addcmul_(rows(np.where(grass, 0.2 * 127.5 * a2, 0.5 * 127.5 * np.cos(ripple_y))),
                        cols(np.where(grass, b2, np.sin(ripple_x))))

    below_water = water.addcmul_(water, sky, value=-1.0)  # water ∧ ¬sky
    d_sky, d_water = level_sky.sub_(level_land), level_water.sub_(level_land)
    level = level_land.addcmul_(sky, d_sky).addcmul_(below_water, d_water)
    code = level.add_(below_water, alpha=float(LEVELS)).add_(sky, alpha=-float(LEVELS)).to(torch.int64).view(-1)
    _paint_objects(code, f, s)
    return code.view(n, s * s)


def _lookup_table(f: SceneFactors) -> torch.Tensor:
    """uint8 (4, n, 6 · 256): R, G, B and label of each (layer, level) of each image.

    Region layers: ⌊base + amplitude · t + ½⌋ clipped to 0..255 with t = (q − 127.5) / 127.5
    (float64); object layers: the object's rgb at every level."""
    n = len(f)
    regions = f.region_classes
    amp = np.zeros((n, 3, 3))
    for cls, a in BG_AMPLITUDE.items():
        amp[regions == cls] = a
    t = torch.arange(LEVELS, dtype=torch.float64).sub_(127.5).div_(127.5).view(1, 1, 1, LEVELS)
    colour = torch.from_numpy(amp.transpose(2, 0, 1)).unsqueeze(3).mul(t)
    colour += torch.from_numpy(f.bg_rgb.transpose(2, 0, 1).astype(np.float64)).unsqueeze(3)
    table = torch.empty((4, n, 6, LEVELS), dtype=torch.uint8)
    table[:3, :, :3] = colour.add_(0.5).floor_().clamp_(0, 255)
    table[:3, :, 3:] = torch.from_numpy(f.rgb.transpose(2, 0, 1).copy()).unsqueeze(3)
    classes = np.concatenate([np.maximum(regions, 0), SHAPE_CLASS_OFFSET + f.shape], axis=1)
    table[3] = torch.from_numpy(classes.astype(np.uint8)).unsqueeze(2)
    return table.view(4, n, 6 * LEVELS)


def _paint_objects(code: torch.Tensor, f: SceneFactors, s: int) -> None:
    """Raise the flat int64 (n·s·s,) code map to (3 + slot) · 256 wherever an object covers a pixel.

    Object codes exceed every region code and grow with the slot, so a per-pixel maximum
    (``scatter_reduce`` "amax": deterministic) paints the slots in order. Only a window
    around each object is tested, each pixel against its own object's shape."""
    window = min(s, math.ceil(2 * SIZE_RANGES["large"][1] * s) + 2)
    offsets = np.arange(window)
    img, slot = np.nonzero(f.present)
    order = np.argsort(f.shape[img, slot], kind="stable")  # one contiguous run per shape
    img, slot = img[order], slot[order]
    if not len(img):
        return
    px, py, r, a = f.x[img, slot] * s, f.y[img, slot] * s, f.size[img, slot] * s, f.angle[img, slot]
    c0 = np.clip(np.floor(px - window / 2), 0, s - window).astype(np.int64)
    r0 = np.clip(np.floor(py - window / 2), 0, s - window).astype(np.int64)
    dx = (c0[:, None] + offsets + 0.5 - px[:, None]) / r[:, None]  # (m, window) unit-frame offsets, float64
    dy = (r0[:, None] + offsets + 0.5 - py[:, None]) / r[:, None]
    value = torch.empty((len(img), window, window), dtype=torch.int64)
    bounds = np.searchsorted(f.shape[img, slot], np.arange(len(SHAPES) + 1))
    for shape_id in range(len(SHAPES)):
        run = slice(bounds[shape_id], bounds[shape_id + 1])
        if run.start < run.stop:
            torch.mul(_inside(shape_id, dx[run], dy[run], a[run]),
                      torch.from_numpy((3 + slot[run]) * LEVELS).view(-1, 1, 1), out=value[run])
    flat = (torch.from_numpy(img * s * s + r0 * s + c0).view(-1, 1, 1)
            + torch.from_numpy(offsets * s).view(1, -1, 1) + torch.from_numpy(offsets).view(1, 1, -1))
    code.scatter_reduce_(0, flat.view(-1), value.view(-1), "amax")


def _inside(shape_id: int, dx: np.ndarray, dy: np.ndarray, angle: np.ndarray) -> torch.Tensor:
    """Membership (m, W, W) bool of window pixels; dx (m, W) columns, dy (m, W) rows, in object units."""
    m, w = dx.shape
    if SHAPES[shape_id] in ("circle", "ring"):  # rotation-invariant: r² = dx² + dy², separable
        r2 = _t(dx * dx, m, 1, w) + _t(dy * dy, m, w, 1)
        if SHAPES[shape_id] == "circle":
            return r2 <= CIRCLE_R**2
        return (r2 <= RING_OUTER**2) & (r2 >= RING_INNER**2)
    cos, sin = np.cos(angle)[:, None], np.sin(angle)[:, None]
    u = _t(cos * dx, m, 1, w) - _t(sin * dy, m, w, 1)
    v = _t(-sin * dx, m, 1, w) - _t(cos * dy, m, w, 1)
    if SHAPES[shape_id] == "square":
        return torch.maximum(u.abs(), v.abs()) <= SQUARE_HALF
    if SHAPES[shape_id] == "triangle":
        return (v >= -0.5) & (u.abs().mul_(math.sqrt(3.0)).add_(v) <= 1.0)
    # Star: fold the plane by the star's mirror lines into the wedge between the top point
    # and the next inner vertex, then test one edge (after I. Quilez's 2-D star distance).
    u = u.abs()
    d = (u * _C36 - v * _S36).clamp_(min=0)  # reflect across the line with normal (cos36, −sin36)
    u, v = u - 2 * _C36 * d, v + 2 * _S36 * d
    d = (-u * _C36 - v * _S36).clamp_(min=0)  # ... and with normal (−cos36, −sin36)
    u, v = (u + 2 * _C36 * d).abs_(), v + 2 * _S36 * d
    edge_x, edge_y = STAR_INNER * _S36, STAR_INNER * _C36 - 1.0  # tip (0, 1) → inner vertex
    return (v - 1.0) * edge_x - u * edge_y < 0
