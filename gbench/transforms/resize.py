"""MATLAB-compatible bicubic resizing, and the mod-crop of SR evaluation.

The low-resolution inputs of the classic SR benchmarks (Set5, Set14, BSD100,
Urban100, DIV2K "bicubic" tracks) were made with MATLAB's
``imresize(img, 1/scale, 'bicubic')``, and their bicubic baselines with
``imresize(lr, scale, 'bicubic')``. :func:`imresize` reproduces that function;
the maths follows MATLAB's ``imresize.m`` (its ``contributions`` and
``resizeAlongDim``), re-derived here:

* kernel: Keys' cubic convolution with a = −0.5 (Keys 1981, Eq. 15), width 4;
* downscaling (scale < 1) antialiases: the kernel is stretched by 1/scale,
  h(x) = scale · cubic(scale · x), so it covers 4/scale input pixels;
* output pixel x (1-based) samples the input at u = x/scale + 0.5 · (1 − 1/scale),
  i.e. pixel centres are aligned (not corners);
* each row of weights is normalized to sum to 1;
* outside the image the input is mirrored with the edge pixel repeated
  (MATLAB's ``aux = [1:n, n:-1:1]`` index map, "symmetric" padding);
* the output size is ceil(scale · size) per dimension;
* the two dimensions are resized one after the other, the one with the smaller
  scale first (for a single scale: height first);
* uint8 input: MATLAB's resize works in double but returns the class of its
  input after **each** dimension, so the intermediate image is rounded to uint8
  too (MATLAB's uint8 conversion: clip to 0..255, round half away from zero).
  :func:`imresize_float` is MATLAB's double path (no rounding anywhere).

Differences from PIL's ``Image.resize(..., Image.BICUBIC)`` (verified by
emulating PIL in float64: the emulation matches PIL's output to within 1 gray
level on ~1e-5 of the pixels, the remainder being PIL's 22-bit fixed-point
weights). PIL uses the same kernel (a = −0.5), the same centre alignment, the
same kernel stretched by 1/scale when downscaling, and also rounds (half up)
and clips its uint8 image between the two passes. What differs:

1. pass order: PIL resizes the width first, MATLAB the height. Because of the
   intermediate rounding and clipping (ringing at saturated edges is clipped
   to 0 or 255 before the second pass) this changes ~10-20 % of the pixels,
   mostly by 1 level, and it accounts for almost all of the mean difference;
2. borders: PIL drops the kernel taps that fall outside the image and
   renormalizes the rest, MATLAB mirrors the image. This gives the largest
   differences, on the outermost 2 (×1/4) or 8 (×4) output rows and columns;
   elsewhere both agree;
3. output size: PIL takes the size the caller gives; MATLAB uses ceil(scale · size).

Measured on scikit-image's ``astronaut`` (512×512 RGB): ×1/4 → max |Δ| 12,
mean |Δ| 0.161 gray levels; that 128×128 result ×4 → max |Δ| 13, mean |Δ| 0.190.
(``tests/test_imresize.py`` re-measures these and bounds them.)
"""

from __future__ import annotations

import math
import numbers

import torch

from gbench.errors import GbenchError
from gbench.images import as_tensor, check_images

KERNEL_WIDTH = 4.0  # support of Keys' cubic kernel, in input pixels


def cubic(x: torch.Tensor) -> torch.Tensor:
    """Keys' cubic convolution kernel with a = −0.5 (Keys 1981, Eq. 15), float64.

    W(x) = 1.5|x|³ − 2.5|x|² + 1            for |x| ≤ 1,
           −0.5|x|³ + 2.5|x|² − 4|x| + 2    for 1 < |x| ≤ 2,
           0                                 otherwise.
    """
    ax = x.abs()
    ax2 = ax * ax
    ax3 = ax2 * ax
    inner = (1.5 * ax3 - 2.5 * ax2 + 1) * (ax <= 1)
    outer = (-0.5 * ax3 + 2.5 * ax2 - 4 * ax + 2) * ((ax > 1) & (ax <= 2))
    return inner + outer


def contributions(in_length: int, out_length: int, scale: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Weights and source indices of a 1-D resize, as MATLAB's ``contributions``.

    Args:
        in_length, out_length: number of input and output pixels.
        scale: output / input scale (MATLAB's ``scale``; may differ slightly
            from out_length / in_length because of the ceil of the output size).

    Returns:
        (weights, indices), both (out_length, P) with P = ceil(width) + 2:
        float64 weights (rows sum to 1) and int64 0-based input indices, already
        mirrored into 0..in_length−1. Output pixel i is Σ_p weights[i, p] · in[indices[i, p]].
    """
    width = KERNEL_WIDTH / scale if scale < 1 else KERNEL_WIDTH
    x = torch.arange(1, out_length + 1, dtype=torch.float64)  # MATLAB's 1-based output positions
    u = x / scale + 0.5 * (1 - 1 / scale)
    left = torch.floor(u - width / 2)
    p = math.ceil(width) + 2
    idx = left[:, None] + torch.arange(p, dtype=torch.float64)  # 1-based input positions
    if scale < 1:  # antialiasing: the kernel stretched by 1/scale (and scaled to keep its area)
        weights = scale * cubic(scale * (u[:, None] - idx))
    else:
        weights = cubic(u[:, None] - idx)
    weights = weights / weights.sum(dim=1, keepdim=True)
    # Mirror outside positions with the edge repeated: ..., 1, 0 | 0, 1, ..., n-1 | n-1, n-2, ...
    m = (idx.to(torch.int64) - 1) % (2 * in_length)
    indices = torch.where(m < in_length, m, 2 * in_length - 1 - m)
    return weights, indices


def resize_matrix(in_length: int, out_length: int, scale: float, device=None) -> torch.Tensor:
    """The 1-D resize as a dense float64 matrix R (out_length, in_length): out = R @ in."""
    weights, indices = contributions(in_length, out_length, scale)
    rows = torch.arange(out_length)[:, None].expand_as(indices)
    r = torch.zeros(out_length, in_length, dtype=torch.float64)
    # accumulate: near the border a mirrored pixel can appear twice in one row
    r.index_put_((rows.reshape(-1), indices.reshape(-1)), weights.reshape(-1), accumulate=True)
    return r.to(device)


def _scales(scale) -> tuple[float, float]:
    """scale (a number or an (s_h, s_w) pair) → (s_h, s_w), validated."""
    pair = tuple(scale) if isinstance(scale, (tuple, list)) else (scale, scale)
    if len(pair) != 2:
        raise GbenchError(f"imresize: scale must be a number or an (s_h, s_w) pair, got {scale!r}")
    out = []
    for s in pair:
        if isinstance(s, bool) or not isinstance(s, numbers.Real) or not math.isfinite(s) or s <= 0:
            raise GbenchError(f"imresize: scale must be a positive finite number (e.g. 1/4 or 4), got {scale!r}")
        out.append(float(s))
    return out[0], out[1]


def output_length(length: int, scale: float) -> int:
    """MATLAB's output size ceil(scale · length).

    The product is first rounded to 9 decimals so that floating-point noise
    (30 × 0.1 = 3.0000000000000004) does not add a pixel.
    """
    return math.ceil(round(length * scale, 9))


# Refused up front, before any allocation: a scale of 1e7 on a tiny image is a mistake, not a request.
MAX_OUTPUT_SIDE = 32_768  # pixels per output side
MAX_OUTPUT_VALUES = 2 ** 28  # N·C·H'·W' per call: 2 GiB as float64, the dtype both passes compute in


def _plan(shape, scale, exact: bool) -> list[tuple[int, float, int]]:
    """The 1-D passes for an (…, H, W) shape: [(dim, scale, output length)] in MATLAB's order."""
    s_h, s_w = _scales(scale)
    h, w = shape[-2], shape[-1]
    out_h, out_w = output_length(h, s_h), output_length(w, s_w)
    if exact and (abs(h * s_h - round(h * s_h)) > 1e-9 or abs(w * s_w - round(w * s_w)) > 1e-9):
        raise GbenchError(f"imresize: {h}×{w} × scale {scale} gives {h * s_h:g}×{w * s_w:g}, not whole pixels: "
                          "mod-crop the image to a multiple of the scale (gbench.transforms.resize.mod_crop) first")
    if min(out_h, out_w) < 1:
        raise GbenchError(f"imresize: {h}×{w} × scale {scale} leaves no pixel: use a larger scale")
    values = math.prod(shape[:-2]) * out_h * out_w
    if max(out_h, out_w) > MAX_OUTPUT_SIDE or values > MAX_OUTPUT_VALUES:
        raise GbenchError(f"imresize: {h}×{w} × scale {scale} would make {out_h}×{out_w} images ({values:,} values); "
                          f"the limit is {MAX_OUTPUT_SIDE:,} pixels a side and {MAX_OUTPUT_VALUES:,} values a call "
                          "(2 GiB of float64): check the scale, or resize in smaller batches")
    passes = [(-2, s_h, out_h), (-1, s_w, out_w)]
    # MATLAB resizes along the dimension with the smaller scale first (a stable
    # sort, so height first when the scales are equal).
    return sorted(passes, key=lambda p: p[1])


def _resize_along(x: torch.Tensor, dim: int, scale: float, out_length: int) -> torch.Tensor:
    """Resize float64 x (…, H, W) along dim −2 (height) or −1 (width)."""
    r = resize_matrix(x.shape[dim], out_length, scale, device=x.device)
    return torch.matmul(r, x) if dim == -2 else torch.matmul(x, r.T)


def round_like_matlab_uint8(x: torch.Tensor) -> torch.Tensor:
    """float → uint8 as MATLAB's ``uint8()``: clip to 0..255, round half away from zero."""
    x = x.clamp(0, 255)
    f = torch.floor(x)
    return (f + (x - f >= 0.5)).to(torch.uint8)  # x − floor(x) is exact in floating point


def imresize_float(x, scale, exact: bool = False) -> torch.Tensor:
    """MATLAB's ``imresize(x, scale, 'bicubic')`` on a double image: no rounding, no clipping.

    Args:
        x: (N, C, H, W) numpy array or torch tensor, any real dtype (values
            are used as they are, e.g. 0..255).
        scale, exact: as in :func:`imresize`.

    Returns:
        float64 (N, C, ceil(H·s_h), ceil(W·s_w)) on the device of ``x``.
    """
    t = as_tensor(x)
    if t.ndim != 4:
        raise GbenchError(f"imresize_float expects (N, C, H, W), got shape {tuple(t.shape)}")
    y = t.to(torch.float64)
    for dim, s, length in _plan(t.shape, scale, exact):
        y = _resize_along(y, dim, s, length)
    return y


def imresize(img, scale, exact: bool = False, value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """MATLAB-compatible ``imresize(img, scale, 'bicubic')`` of a uint8 batch (see the module docstring).

    Args:
        img: uint8 (N, C, H, W), C in {1, 3}, numpy or torch. A float batch is
            accepted only with ``value_range`` and is first quantized to uint8
            (:func:`gbench.images.float_to_uint8`).
        scale: a positive number (e.g. 1/4 to make ×4 LR images, 4 to upscale)
            or an (s_h, s_w) pair.
        exact: if True, H·s_h and W·s_w must be whole numbers (an SR pipeline
            wants that: mod-crop the HR image first); otherwise the size is
            MATLAB's ceil.

    Returns:
        uint8 (N, C, ceil(H·s_h), ceil(W·s_w)) on the device of ``img``.
        Computed in float64; like MATLAB on uint8, each of the two 1-D passes
        ends with a clip to 0..255 and rounding half away from zero.

    Raises:
        GbenchError: a bad image batch, a non-positive scale, a scale that
            leaves no pixel, or (``exact``) a non-integer output size.
    """
    t = check_images(img, name="imresize input", value_range=value_range)
    y = t
    for dim, s, length in _plan(t.shape, scale, exact):
        y = round_like_matlab_uint8(_resize_along(y.to(torch.float64), dim, s, length))
    return y


def _check_scale_int(fn: str, scale) -> int:
    if isinstance(scale, bool) or not isinstance(scale, numbers.Integral) or scale < 1:
        raise GbenchError(f"{fn}: scale must be a positive int (the SR factor, e.g. 4), got {scale!r}")
    return int(scale)


def mod_crop(img, scale: int) -> torch.Tensor:
    """Crop H and W down to multiples of ``scale`` (keeping the top-left), as SR evaluation does.

    Args:
        img: (…, H, W) numpy array or torch tensor, e.g. uint8 (N, C, H, W).
        scale: the integer SR factor.

    Returns:
        a torch view (…, H − H mod scale, W − W mod scale).
    """
    scale = _check_scale_int("mod_crop", scale)
    t = as_tensor(img)
    h, w = t.shape[-2], t.shape[-1]
    if h < scale or w < scale:
        raise GbenchError(f"mod_crop: image {h}×{w} is smaller than scale {scale}: use larger images")
    return t[..., :h - h % scale, :w - w % scale]


def check_divisible(img, scale: int) -> None:
    """Raise GbenchError unless H and W of ``img`` (…, H, W) are multiples of ``scale``."""
    scale = _check_scale_int("check_divisible", scale)
    t = as_tensor(img)
    h, w = t.shape[-2], t.shape[-1]
    if h % scale or w % scale:
        dims = "×".join(str(d) for d in t.shape[-3:])
        raise GbenchError(f"image {dims} is not divisible by scale {scale}: "
                          "mod-crop it (gbench.transforms.resize.mod_crop) first")


__all__ = ["imresize", "imresize_float", "mod_crop", "check_divisible", "cubic", "contributions",
           "resize_matrix", "output_length", "round_like_matlab_uint8"]
