"""The factor table of the `scenes` dataset: vocabulary, :class:`SceneFactors`, sampling, relations.

Everything an image of `scenes` shows is a row of :class:`SceneFactors`; the
renderer (:mod:`gbench.data.scenes_render`) and the caption grammar
(:mod:`gbench.data.scenes_captions`) read nothing else. The distributions are
the dataset card in :mod:`gbench.data.scenes`.

Coordinates: ``x`` grows to the right and ``y`` downwards, both as fractions of
the image side (0..1), so a factor row describes the same scene at every
resolution. Angles are radians, counter-clockwise as displayed.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

import numpy as np
import torch

from gbench.errors import GbenchError

SHAPES = ("circle", "square", "triangle", "star", "ring")
COLOURS = ("red", "orange", "yellow", "green", "blue", "purple", "white", "black")
# Centre of each named colour's RGB box; an object's RGB is the centre + U{−20..20} per channel
# (clipped to 0..255). The boxes are disjoint: every pair differs by > 40 in some channel.
PALETTE = np.array([
    (210, 35, 35), (245, 140, 20), (245, 225, 40), (30, 185, 60),
    (35, 75, 225), (140, 55, 190), (245, 245, 245), (25, 25, 25),
], dtype=np.int64)
COLOUR_JITTER = 20

# Label-map classes: background regions first, then one per object shape.
BACKGROUNDS = ("sky", "grass", "sand", "water")
SKY, GRASS, SAND, WATER = range(4)
LABEL_MAP_CLASSES = BACKGROUNDS + SHAPES
SHAPE_CLASS_OFFSET = len(BACKGROUNDS)  # label-map class of shape s is 4 + s

# Region slots of the factor table: 0 = sky (always), 1 = land (grass or sand), 2 = water.
LAYOUTS = ("land", "water", "shore")
LAND, SEA, SHORE = range(3)
LAYOUT_PROBS = (0.4, 0.2, 0.4)
# Base colour box (lo, hi) per background class, RGB; a pixel is base + amplitude · t, t ∈ [−1, 1].
BG_BOX = {
    SKY: ((100, 160, 220), (160, 210, 250)),
    GRASS: ((45, 125, 25), (95, 175, 65)),
    SAND: ((205, 185, 115), (235, 210, 145)),
    WATER: ((20, 80, 150), (60, 130, 210)),
}
BG_AMPLITUDE = {SKY: (45, 35, 5), GRASS: (20, 30, 15), SAND: (15, 15, 15), WATER: (15, 20, 35)}

MAX_OBJECTS = 3
SIZE_RANGES = {"small": (0.08, 0.12), "large": (0.15, 0.21)}  # circumradius / image side
SIZE_SPLIT = 0.135  # size < SIZE_SPLIT is "small"
MAX_ANGLE = np.pi / 9  # ±20°
MIN_SEPARATION = 0.6  # centres at least 0.6 · (r_a + r_b) apart: overlaps happen, nothing is hidden
HORIZON_RANGE = (0.3, 0.55)
MAX_TILT = 0.12
MAX_HILL = 0.05
HILL_CYCLES = 1.3  # hills per image width


@dataclass(frozen=True, eq=False)
class SceneFactors:
    """Factors of N scenes (numpy arrays; row i is image i).

    Objects (3 slots, painted in slot order: a later slot covers an earlier one;
    an absent slot has ``present`` false and zeros elsewhere):

        present  bool (N, 3); the present slots of a row come first (1–3 of them)
        shape    int64 (N, 3) index into SHAPES
        colour   int64 (N, 3) index into COLOURS
        rgb      uint8 (N, 3, 3) the object's exact colour, inside its named colour's box
        size     float64 (N, 3) circumradius / image side (small 0.08–0.12, large 0.15–0.21)
        x, y     float64 (N, 3) centre / image side (inside [size, 1 − size])
        angle    float64 (N, 3) rotation, radians, in [−π/9, π/9]

    Background (region slots 0 = sky, 1 = land, 2 = water):

        layout       int64 (N,) index into LAYOUTS: land (sky + land), water (sky + water),
                     shore (sky + land + water)
        ground       int64 (N,) GRASS or SAND: the land class (also set, unused, for water)
        horizon      float64 (N,) horizon height at x = ½ (fraction of the side from the top)
        tilt         float64 (N,) horizon slope dy/dx
        hill         float64 (N,) amplitude of sinusoidal hills on the horizon (land layout only)
        hill_phase   float64 (N,) radians
        shore_x, shore_y, shore_angle  float64 (N,) shoreline (shore layout): the line through
                     (shore_x, shore_y) with normal (cos a, sin a); water where the normal
                     coordinate is negative
        bg_rgb       uint8 (N, 3, 3) base colour of each region slot (zeros for an absent one)
        texture      int64 (N,) seed of the texture's offsets, phases and frequencies
    """

    present: np.ndarray
    shape: np.ndarray
    colour: np.ndarray
    rgb: np.ndarray
    size: np.ndarray
    x: np.ndarray
    y: np.ndarray
    angle: np.ndarray
    layout: np.ndarray
    ground: np.ndarray
    horizon: np.ndarray
    tilt: np.ndarray
    hill: np.ndarray
    hill_phase: np.ndarray
    shore_x: np.ndarray
    shore_y: np.ndarray
    shore_angle: np.ndarray
    bg_rgb: np.ndarray
    texture: np.ndarray

    def __post_init__(self):
        n = len(self.layout)
        for f in fields(self):
            a = getattr(self, f.name)
            if not isinstance(a, np.ndarray):
                raise GbenchError(f"SceneFactors.{f.name} must be a numpy array, got {type(a).__name__}")
            want = _FIELD_SHAPES[f.name]
            if a.shape != (n, *want):
                raise GbenchError(f"SceneFactors.{f.name} must have shape {(n, *want)}, got {a.shape}: "
                                  f"every field has one row per image")

    def __len__(self) -> int:
        return len(self.layout)

    def __getitem__(self, index) -> "SceneFactors":
        """Rows ``index`` (int, slice, int array or bool mask) as a new SceneFactors (an int keeps a row axis)."""
        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        if isinstance(index, (int, np.integer)):
            index = slice(int(index), int(index) + 1) if index != -1 else slice(-1, None)
        return SceneFactors(**{f.name: getattr(self, f.name)[index] for f in fields(self)})

    @property
    def num_objects(self) -> np.ndarray:
        """int64 (N,): 1..3."""
        return self.present.sum(axis=1).astype(np.int64)

    @property
    def large(self) -> np.ndarray:
        """bool (N, 3): size class (absent slots false)."""
        return self.present & (self.size >= SIZE_SPLIT)

    @property
    def region_classes(self) -> np.ndarray:
        """int64 (N, 3): class of region slots sky / land / water (BACKGROUNDS index), −1 where absent."""
        out = np.full((len(self), 3), -1, dtype=np.int64)
        out[:, 0] = SKY
        out[:, 1] = np.where(self.layout != SEA, self.ground, -1)
        out[:, 2] = np.where(self.layout != LAND, WATER, -1)
        return out

    @property
    def largest(self) -> np.ndarray:
        """int64 (N,): slot of the object with the largest size (circumradius)."""
        return np.argmax(np.where(self.present, self.size, -1.0), axis=1)

    @property
    def labels(self) -> np.ndarray:
        """int64 (N,): class label = shape · 8 + colour of the largest object (0..39)."""
        rows = np.arange(len(self))
        k = self.largest
        return self.shape[rows, k] * len(COLOURS) + self.colour[rows, k]


_FIELD_SHAPES = {
    "present": (3,), "shape": (3,), "colour": (3,), "rgb": (3, 3), "size": (3,), "x": (3,), "y": (3,),
    "angle": (3,), "layout": (), "ground": (), "horizon": (), "tilt": (), "hill": (), "hill_phase": (),
    "shore_x": (), "shore_y": (), "shore_angle": (), "bg_rgb": (3, 3), "texture": (),
}
CLASSES = tuple(f"{c} {s}" for s in SHAPES for c in COLOURS)  # label = shape · 8 + colour


def relation(f: SceneFactors, a: np.ndarray | int, b: np.ndarray | int) -> np.ndarray:
    """Where object slot ``a`` is relative to slot ``b``: "left", "right", "above" or "below"
    (:func:`relation_of` their centres). Returns a str array (N,)."""
    rows = np.arange(len(f))
    return relation_of(f.x[rows, a], f.y[rows, a], f.x[rows, b], f.y[rows, b])


def relation_of(xa, ya, xb, yb) -> np.ndarray:
    """Where centre a is relative to centre b (arrays broadcast; x right, y down).

    The dominant axis of the displacement decides: with dx = x_b − x_a and
    dy = y_b − y_a, |dx| ≥ |dy| gives "left" (dx > 0) or "right", otherwise "above"
    (dy > 0, y grows downwards) or "below". Returns a str array.
    """
    dx = np.asarray(xb, dtype=np.float64) - np.asarray(xa, dtype=np.float64)
    dy = np.asarray(yb, dtype=np.float64) - np.asarray(ya, dtype=np.float64)
    return np.where(np.abs(dx) >= np.abs(dy), np.where(dx > 0, "left", "right"), np.where(dy > 0, "above", "below"))


def sample_factors(n: int, rng: np.random.Generator) -> SceneFactors:
    """``n`` scenes drawn from the distributions of the dataset card (vectorised; same rng state ⇒ same rows)."""
    if n < 0:
        raise GbenchError(f"n must be ≥ 0, got {n}")
    k = rng.integers(1, MAX_OBJECTS + 1, n)
    present = np.arange(MAX_OBJECTS)[None, :] < k[:, None]
    shape = rng.integers(0, len(SHAPES), (n, 3))
    colour = rng.integers(0, len(COLOURS), (n, 3))
    rgb = np.clip(PALETTE[colour] + rng.integers(-COLOUR_JITTER, COLOUR_JITTER + 1, (n, 3, 3)), 0, 255)
    large = rng.random((n, 3)) < 0.5
    (slo, shi), (llo, lhi) = SIZE_RANGES["small"], SIZE_RANGES["large"]
    size = np.where(large, llo + (lhi - llo) * rng.random((n, 3)), slo + (shi - slo) * rng.random((n, 3)))
    angle = rng.uniform(-MAX_ANGLE, MAX_ANGLE, (n, 3))
    x, y = _positions(present, size, rng)

    layout = rng.choice(len(LAYOUTS), n, p=LAYOUT_PROBS)
    ground = np.where(rng.random(n) < 0.5, GRASS, SAND)
    horizon = rng.uniform(*HORIZON_RANGE, n)
    tilt = rng.uniform(-MAX_TILT, MAX_TILT, n)
    hill = np.where(layout == LAND, rng.uniform(0.0, MAX_HILL, n), 0.0)
    hill_phase = rng.uniform(0.0, 2 * np.pi, n)
    # Shoreline: half the shores run across (a band of water behind the land), a quarter
    # each have the water on the left or on the right.
    kind = rng.choice(3, n, p=(0.5, 0.25, 0.25))
    centre = np.array([np.pi / 2, 0.0, np.pi])[kind]
    spread = np.array([0.25, 0.3, 0.3])[kind]
    shore_angle = centre + rng.uniform(-1.0, 1.0, n) * spread
    shore_x = rng.uniform(0.3, 0.7, n)
    shore_y = np.where(kind == 0, horizon + tilt * (shore_x - 0.5) + rng.uniform(0.12, 0.28, n),
                       horizon + tilt * (shore_x - 0.5))
    is_shore = layout == SHORE
    shore_x, shore_y, shore_angle = (np.where(is_shore, v, 0.0) for v in (shore_x, shore_y, shore_angle))
    bg_rgb = np.zeros((n, 3, 3), dtype=np.int64)
    draws = {c: rng.integers(np.array(BG_BOX[c][0]), np.array(BG_BOX[c][1]) + 1, (n, 3)) for c in BG_BOX}
    bg_rgb[:, 0] = draws[SKY]
    land_rgb = np.where((ground == GRASS)[:, None], draws[GRASS], draws[SAND])
    bg_rgb[:, 1] = np.where((layout != SEA)[:, None], land_rgb, 0)
    bg_rgb[:, 2] = np.where((layout != LAND)[:, None], draws[WATER], 0)
    texture = rng.integers(0, 2**31, n)

    zero = ~present
    return SceneFactors(
        present=present, shape=np.where(zero, 0, shape), colour=np.where(zero, 0, colour),
        rgb=np.where(zero[:, :, None], 0, rgb).astype(np.uint8), size=np.where(zero, 0.0, size),
        x=np.where(zero, 0.0, x), y=np.where(zero, 0.0, y), angle=np.where(zero, 0.0, angle),
        layout=layout.astype(np.int64), ground=ground.astype(np.int64), horizon=horizon, tilt=tilt, hill=hill,
        hill_phase=hill_phase, shore_x=shore_x, shore_y=shore_y, shore_angle=shore_angle,
        bg_rgb=bg_rgb.astype(np.uint8), texture=texture.astype(np.int64),
    )


def _positions(present: np.ndarray, size: np.ndarray, rng: np.random.Generator, rounds: int = 50):
    """Centres inside [size, 1 − size], redrawn (whole rows, up to ``rounds`` times) while two present
    objects are closer than MIN_SEPARATION · (r_a + r_b)."""
    n = len(size)

    def draw(m, s):
        return s + (1 - 2 * s) * rng.random((m, 3)), s + (1 - 2 * s) * rng.random((m, 3))

    x, y = draw(n, size)
    todo = np.arange(n)
    for _ in range(rounds):
        d = np.hypot(x[todo, :, None] - x[todo, None, :], y[todo, :, None] - y[todo, None, :])
        near = d < MIN_SEPARATION * (size[todo, :, None] + size[todo, None, :])
        both = present[todo, :, None] & present[todo, None, :] & ~np.eye(3, dtype=bool)
        todo = todo[(near & both).any(axis=(1, 2))]
        if not len(todo):
            break
        x[todo], y[todo] = draw(len(todo), size[todo])
    return x, y


def as_factors(factors) -> SceneFactors:
    """Check that ``factors`` is a SceneFactors with in-range values (one clear error otherwise)."""
    if not isinstance(factors, SceneFactors):
        raise GbenchError(f"scenes factors must be a SceneFactors (from scenes.sample_factors or a split), "
                          f"got {type(factors).__name__}")
    f = factors
    p = f.present
    lo, hi = f.size - 1e-9, 1 - f.size + 1e-9
    checks = [
        ("present slots must come first (slot k present ⇒ slot k−1 present)", (p[:, 1:] & ~p[:, :-1]).any()),
        ("every scene needs at least one object", len(f) and not p[:, 0].all()),
        (f"shape must be in 0..{len(SHAPES) - 1}", ((f.shape < 0) | (f.shape >= len(SHAPES)))[p].any()),
        (f"colour must be in 0..{len(COLOURS) - 1}", ((f.colour < 0) | (f.colour >= len(COLOURS)))[p].any()),
        ("size must be in (0, 0.5)", ((f.size <= 0) | (f.size >= 0.5))[p].any()),
        ("objects must lie inside the frame (size ≤ x, y ≤ 1 − size)",
         ((f.x < lo) | (f.x > hi) | (f.y < lo) | (f.y > hi))[p].any()),
        (f"layout must be in 0..{len(LAYOUTS) - 1}", ((f.layout < 0) | (f.layout >= len(LAYOUTS))).any()),
        ("ground must be GRASS (1) or SAND (2)", ((f.ground != GRASS) & (f.ground != SAND) & (f.layout != SEA)).any()),
    ]
    for message, bad in checks:
        if bad:
            raise GbenchError(f"invalid scenes factors: {message}")
    return f
