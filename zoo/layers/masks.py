"""Hole masks for image inpainting: centred squares and free-form brush strokes.

A mask is ``torch.bool`` of shape (N, 1, S, S) with True on the missing pixels
(the hole); its *hole ratio* is the fraction of True pixels. Masks live in the
zoo because the inpainting model draws them while it trains (the zoo never
imports gbench); gbench's ``inpainting`` suite draws its test holes with the
same functions, so a record's ``variant`` (the hole ratio) means the same thing
in training and in evaluation.

* :func:`center_mask` — the square hole of Context Encoders (Pathak et al.
  2016) and of PGGAN's evaluation (Demir & Ünal 2018), sized so its area is the
  closest a square can get to ``ratio · S²``.
* :func:`free_form_mask` — random brush strokes after Yu et al. 2019,
  "Free-Form Image Inpainting with Gated Convolution", Algorithm 1: a stroke
  starts at a random point and moves through a random number of vertices, each
  segment with a random angle, length and brush width; the segment is drawn as
  a thick line with round ends (the algorithm's line plus a circle at each
  vertex). Strokes are added until the mask's hole ratio reaches ``ratio``;
  the segment that would pass the target is drawn only up to the pixel that
  reaches it (its pixels taken in order along the segment), so each mask has
  exactly ``round(ratio · S²)`` hole pixels: the ratio is met to within
  ``0.5 / S²`` (:data:`FREE_FORM_TOLERANCE` states it in pixels).

Deviations from Yu et al.: their fixed pixel sizes (for 256×256 images) are
replaced by fractions of the image size so that 32×32 and 64×64 masks look
alike; a vertex turns the stroke by a random angle relative to its current
direction rather than taking an absolute angle; and their stroke count is
random, whereas here strokes are drawn until the requested ratio is reached
(the evaluation needs holes of a known size).
"""

from __future__ import annotations

import math

import torch

MASK_KINDS = ("center", "free")
FREE_FORM_TOLERANCE = 0.5  # pixels: |hole pixels − ratio · S²| ≤ this, i.e. the ratio within 0.5 / S²

# Stroke shape, as fractions of the image side S (Yu et al.'s 256-pixel settings, rescaled):
_MAX_VERTICES = 6          # segments per stroke: uniform in 1..6
_MAX_TURN = math.pi / 2    # each vertex turns the stroke by an angle uniform in ±90°
_LENGTH = (0.10, 0.35)     # segment length, uniform in [0.10·S, 0.35·S]
_WIDTH = (0.06, 0.16)      # brush width (diameter), uniform in [0.06·S, 0.16·S], at least 1.5 px
_MAX_ROUNDS = 100_000      # a safety bound; reaching it is a bug, not a slow mask


def _check(n: int, size: int, ratio: float) -> None:
    if n < 0 or size < 1:
        raise ValueError(f"masks need n ≥ 0 and size ≥ 1, got n={n}, size={size}")
    if not (isinstance(ratio, (int, float)) and 0.0 < ratio < 1.0):
        raise ValueError(f"hole ratio must be a number in (0, 1), got {ratio!r}")


def center_mask(n: int, size: int, ratio: float) -> torch.Tensor:
    """Centred square holes: bool (n, 1, size, size), True inside the square.

    The side s ∈ {1, …, size} minimizes |s² − ratio · size²| (ties: the smaller
    square); the square starts at row and column ⌊(size − s) / 2⌋. Every mask
    of the batch is the same.
    """
    _check(n, size, ratio)
    target = ratio * size * size
    side = min(range(1, size + 1), key=lambda s: (abs(s * s - target), s))
    top = (size - side) // 2
    mask = torch.zeros(n, 1, size, size, dtype=torch.bool)
    mask[:, :, top:top + side, top:top + side] = True
    return mask


def free_form_mask(n: int, size: int, ratio: float, generator: torch.Generator) -> torch.Tensor:
    """Free-form brush-stroke holes: bool (n, 1, size, size), each with exactly round(ratio · size²) hole pixels
    (at least one).

    Every round, each mask that has not reached its target draws one segment
    (continuing its stroke, or starting a new one at a uniform random point);
    the pixels within half the brush width of the segment become hole pixels.
    All masks of a round are drawn at once (vectorized over masks and pixels).
    Random numbers come from ``generator`` (a CPU ``torch.Generator``; None =
    torch's global RNG) in a fixed order, so the masks are a function of its
    state. The result is on the CPU.
    """
    _check(n, size, ratio)
    target = max(1, int(round(ratio * size * size)))  # at least one hole pixel
    # A segment and its brush fit in a box of this side, so only box pixels are tested (4× fewer at any size).
    box = min(size, math.ceil((_LENGTH[1] + _WIDTH[1]) * size) + 2)
    offsets = torch.arange(box)
    flat = torch.zeros(n * size * size, dtype=torch.bool)  # the n masks, row-major
    count = torch.zeros(n, dtype=torch.long)
    point = torch.zeros(n, 2)            # the stroke's current (x, y)
    heading = torch.zeros(n)             # its direction (radians)
    vertices_left = torch.zeros(n, dtype=torch.long)  # 0: start a new stroke

    def uniform(m: int, lo: float, hi: float) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(m, generator=generator)

    for _ in range(_MAX_ROUNDS):
        active = (count < target).nonzero().squeeze(1)
        m = len(active)
        if m == 0:
            return flat.reshape(n, 1, size, size)
        new_stroke = vertices_left[active] == 0
        start = torch.rand(m, 2, generator=generator) * size
        first_heading = uniform(m, 0.0, 2 * math.pi)
        strokes_vertices = torch.randint(1, _MAX_VERTICES + 1, (m,), generator=generator)
        turn = uniform(m, -_MAX_TURN, _MAX_TURN)
        length = uniform(m, *_LENGTH) * size
        radius = (uniform(m, *_WIDTH) * size).clamp(min=1.5) / 2

        a = torch.where(new_stroke[:, None], start, point[active])
        angle = torch.where(new_stroke, first_heading, heading[active] + turn)
        b = a + length[:, None] * torch.stack([torch.cos(angle), torch.sin(angle)], 1)
        b = b.clamp(0.0, float(size))  # a stroke that leaves the image stops at its edge
        point[active], heading[active] = b, angle
        vertices_left[active] = torch.where(new_stroke, strokes_vertices, vertices_left[active]) - 1

        # The box's pixel columns and rows, (m, box) each: around the segment, inside the image.
        corner = ((torch.minimum(a, b) - radius[:, None]).floor()).clamp(0, size - box).long()
        cols, rows = corner[:, :1] + offsets, corner[:, 1:] + offsets
        # Squared distance from each pixel centre p to the segment a→b, with d = p − a, v = b − a and
        # s = d·v / |v|² the position along it: |d − t·v|² = |d|² + |v|²·t·(t − 2s) with t = clamp(s, 0, 1).
        # d is separable in (row, column), so s and |d|² are sums of a row term and a column term.
        v = b - a
        v2 = (v * v).sum(1).clamp(min=1e-12)
        dx, dy = cols + 0.5 - a[:, :1], rows + 0.5 - a[:, 1:]
        along = (dx * (v[:, :1] / v2[:, None]))[:, None, :] + (dy * (v[:, 1:] / v2[:, None]))[:, :, None]
        t = along.clamp(0.0, 1.0)
        dist2 = (dx * dx)[:, None, :] + (dy * dy)[:, :, None] + v2[:, None, None] * t * (t - 2 * along)
        inside = (dist2 <= (radius * radius)[:, None, None]).reshape(m, -1)
        index = ((active[:, None, None] * size + rows[:, :, None]) * size + cols[:, None, :]).reshape(m, -1)
        new = inside & ~flat[index]
        gained = new.sum(1)
        left = target - count[active]
        over = gained > left
        if over.any():  # the segment passes the target: keep its first `left` new pixels along a→b
            late = over.nonzero().squeeze(1)
            key = torch.where(new[late], along.reshape(m, -1)[late], math.inf)
            order = key.argsort(dim=1, stable=True)
            keep = torch.arange(box * box)[None, :] < left[late][:, None]
            new[late] = torch.zeros_like(new[late]).scatter_(1, order, keep)
            gained[late] = left[late]
        flat[index[new]] = True
        count[active] += gained
    raise RuntimeError(f"free-form masks did not reach ratio {ratio} in {_MAX_ROUNDS} strokes")


def make_masks(kind: str, n: int, size: int, ratio: float,
               generator: torch.Generator | None = None) -> torch.Tensor:
    """Holes of ``kind`` ("center" or "free"): bool (n, 1, size, size), True = missing pixel.

    ``generator`` drives the free-form strokes (None: torch's global RNG); the
    centre square uses no randomness.

    Raises:
        ValueError: an unknown kind, or a ratio outside (0, 1).
    """
    if kind not in MASK_KINDS:
        raise ValueError(f"unknown mask kind {kind!r}: choose one of {', '.join(MASK_KINDS)}")
    if kind == "center":
        return center_mask(n, size, ratio)
    return free_form_mask(n, size, ratio, generator)
