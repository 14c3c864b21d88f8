"""PSNR and SSIM as super-resolution papers compute them.

The protocol of SR tables (EDSR, RCAN, ESRGAN, SwinIR; the BasicSR evaluation
code and the MATLAB scripts before it):

* images are uint8 0..255 — a network's float output is quantized first, exactly
  as if it had been saved to PNG (a float input is accepted only with its
  ``value_range`` declared, and is then quantized with
  :func:`gbench.images.float_to_uint8`);
* optionally only the luma Y of ITU-R BT.601 is compared (:func:`rgb_to_y`).
  By default Y follows MATLAB, whose scripts produced the published tables:
  ``rgb2ycbcr`` on a uint8 image returns uint8, so Y is rounded to an integer
  level 16..235 before PSNR/SSIM (``y_convention="matlab"``). BasicSR's
  ``to_y_channel`` keeps Y as float (``y_convention="float"``); the two differ
  by a few thousandths of a dB (see :func:`rgb_to_y`). A grayscale image is
  already luma and is scored as it is;
* ``crop_border`` pixels are removed from every side (the scale factor, by
  convention: the border of an upscaled image is unreliable);
* the peak value is 255 for RGB and for Y alike (even though Y lies in 16..235).

Both metrics return one float64 value per image, on the device of the input.
They are registered (``psnr``, ``ssim``; they consume ``pairs``) with the ×4
protocol of SR tables, :data:`SR_PROTOCOL`: 4 border pixels cropped, MATLAB's
rounded Y. Their ``compute`` takes (restored, reference) pairs and returns
the mean over images ± the sample std (:func:`score_pairs`).
"""

from __future__ import annotations

import numbers
import statistics
from typing import Callable, Iterable

import torch

from gbench.errors import GbenchError
from gbench.images import as_tensor, check_images
from gbench.metrics.spec import MetricSpec, Score, register_metric

PEAK = 255.0

# Wang et al. 2004, Sec. III-C: an 11×11 circular-symmetric Gaussian window with
# σ = 1.5, K1 = 0.01, K2 = 0.03, L = 255.
SSIM_WINDOW = 11
SSIM_SIGMA = 1.5
SSIM_K1 = 0.01
SSIM_K2 = 0.03

# MATLAB rgb2ycbcr (ITU-R BT.601, studio swing), on the 0..255 output scale:
# Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in [0, 1], so for 0..255
# inputs the weights are divided by 255. The weights sum to 219 = 235 − 16.
_Y_OFFSET = 16.0
_Y_WEIGHTS = (65.481, 128.553, 24.966)
# The same weights in thousandths, for exact integer arithmetic:
# 255000 · Y = 16 · 255000 + 65481 R + 128553 G + 24966 B.
_Y_WEIGHTS_INT = (65481, 128553, 24966)
_Y_DENOM = 255 * 1000

Y_CONVENTIONS = ("matlab", "float")


def _check_convention(fn: str, y_convention) -> str:
    if y_convention not in Y_CONVENTIONS:
        raise GbenchError(f"{fn}: unknown y_convention {y_convention!r}: choose 'matlab' (Y rounded to integer "
                          "levels as MATLAB rgb2ycbcr on uint8, the published SR tables) or 'float' (BasicSR's "
                          "unrounded Y)")
    return y_convention


def rgb_to_y(img, y_convention: str = "float") -> torch.Tensor:
    """Luma Y of ITU-R BT.601 as MATLAB's ``rgb2ycbcr`` defines it, unrounded or rounded.

    Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255 for R, G, B in 0..255,
    i.e. MATLAB's formula for R, G, B in [0, 1] expressed on the 0..255 scale;
    Y lies in [16, 235].

    ``y_convention`` says what happens to that value:

    * ``"float"`` (the default of this function, kept for its existing
      callers): Y as float64, **not** rounded — BasicSR / ESRGAN
      ``to_y_channel``.
    * ``"matlab"``: Y rounded to an integer level, as MATLAB's ``rgb2ycbcr``
      on a uint8 image returns uint8 (its ``imlincomb`` rounds and
      saturates): round half away from zero, then clamp to 0..255 (the clamp
      never acts: Y stays in 16..235). The rounding is exact (255000 · Y is
      an integer, handled without rounding error), so ties are resolved
      exactly — upwards. Ties exist: 194 of the 2²⁴ colours have an exact Y
      of k + ½ (e.g. R, G, B = 0, 204, 68 → 125.5 → 126); MATLAB evaluates the sum in
      double precision, where such a tie may land just below ½ and round
      down. That is one level on ~1e-5 of the pixels of a photo (0-4 pixels
      of each of scikit-image's astronaut, chelsea, coffee); rounding all of
      astronaut's ties down instead would move its ×4 bicubic PSNR-Y by
      2.5e-5 dB and SSIM-Y by 3e-7, so per-image agreement with MATLAB
      to 1e-6 holds only for images without tie pixels.
      SR tables computed with MATLAB evaluation scripts use this Y;
      :func:`psnr` and :func:`ssim` default to it.

    Rounding moves Y by up to ±0.5 per pixel, which adds noise of variance
    ~1/12 to each image and ~1/6 to their difference: on ×4 bicubic
    reconstructions it lowers PSNR-Y by 0.003-0.015 dB (reported for Set5:
    28.4302 → 28.4177 dB) and SSIM-Y by ~0.001 (0.8111 → 0.8101), and more for better
    (high-PSNR) reconstructions, where that noise is a larger share of the
    MSE.

    Args:
        img: (N, 3, H, W) RGB, numpy or torch: uint8, or float on the 0..255
            scale (``"matlab"`` needs integer levels 0..255: uint8 or a float
            holding whole numbers).
        y_convention: ``"float"`` or ``"matlab"``, as above.

    Returns:
        float64 (N, 1, H, W) on the device of ``img``: in [16, 235]
        (``"float"``), or whole numbers 16..235 (``"matlab"``).

    Raises:
        GbenchError: not (N, 3, H, W), an unknown ``y_convention``, or
            non-integer / out-of-range levels with ``"matlab"``.
    """
    _check_convention("rgb_to_y", y_convention)
    x = as_tensor(img)
    if x.ndim != 4 or x.shape[1] != 3:
        raise GbenchError(f"rgb_to_y needs RGB images (N, 3, H, W), got shape {tuple(x.shape)}: "
                          "pass a 3-channel batch (grayscale images are already luma)")
    if y_convention == "matlab":
        return _y_matlab(x)
    x = x.to(torch.float64)
    w = torch.tensor(_Y_WEIGHTS, dtype=torch.float64, device=x.device).view(1, 3, 1, 1) / 255.0
    return _Y_OFFSET + (x * w).sum(dim=1, keepdim=True)


def _y_matlab(x: torch.Tensor) -> torch.Tensor:
    """MATLAB's uint8 Y of RGB levels x (N, 3, H, W) → float64 (N, 1, H, W) holding integers 16..235."""
    if x.dtype != torch.uint8:
        if x.dtype == torch.bool or x.is_complex() or \
                not bool(((x == torch.round(x)) & (x >= 0) & (x <= 255)).all()):
            raise GbenchError("rgb_to_y: y_convention='matlab' needs integer levels 0..255 (MATLAB rgb2ycbcr on "
                              "uint8): pass uint8 images, or use y_convention='float'")
    # Exact integer arithmetic carried out in float64: every value below is a whole number < 2^53, so the
    # products and sums are exact; num / D is then correctly rounded, and since a non-integer num / D is at
    # least 1/D = 3.9e-6 from the next integer, floor() gives exactly floor(num / D). num ≥ 0, so
    # floor((255000 · Y + D/2) / D) is Y rounded half away from zero. (Faster than int64 division.)
    v = x.to(torch.float64)
    num = v[:, 0:1] * _Y_WEIGHTS_INT[0]
    num.add_(v[:, 1:2], alpha=_Y_WEIGHTS_INT[1]).add_(v[:, 2:3], alpha=_Y_WEIGHTS_INT[2])
    num.add_(int(_Y_OFFSET) * _Y_DENOM + _Y_DENOM // 2)
    return num.div_(_Y_DENOM).floor_().clamp_(0, 255)


def _prepare(fn: str, a, b, crop_border: int, y_channel: bool, y_convention: str,
             value_range: tuple[float, float] | None, min_size: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate a pair of batches and return them as float64 (N, C', H', W'), cropped (and Y if asked)."""
    _check_convention(fn, y_convention)
    ta = check_images(a, name=f"{fn} input a", value_range=value_range)
    tb = check_images(b, name=f"{fn} input b", value_range=value_range)
    if ta.shape != tb.shape:
        raise GbenchError(f"{fn}: a has shape {tuple(ta.shape)} but b has {tuple(tb.shape)}: compare each "
                          "restored image with a reference of the same size (mod-crop the HR image to a "
                          "multiple of the scale with gbench.transforms.resize.mod_crop)")
    if ta.device != tb.device:
        raise GbenchError(f"{fn}: a is on {ta.device} but b is on {tb.device}: move both to one device")
    if isinstance(crop_border, bool) or not isinstance(crop_border, numbers.Integral) or crop_border < 0:
        raise GbenchError(f"{fn}: crop_border must be a non-negative int (the SR scale factor), got {crop_border!r}")
    h, w = ta.shape[2], ta.shape[3]
    hc, wc = h - 2 * crop_border, w - 2 * crop_border
    if hc < min_size or wc < min_size:
        need = f"at least {min_size}×{min_size} (the SSIM window)" if min_size > 1 else "non-empty"
        raise GbenchError(f"{fn}: crop_border={crop_border} leaves {max(hc, 0)}×{max(wc, 0)} of the {h}×{w} "
                          f"images, need {need}: use a smaller crop_border or larger images")
    c = int(crop_border)
    ta = ta[:, :, c:h - c, c:w - c]
    tb = tb[:, :, c:h - c, c:w - c]
    if y_channel and ta.shape[1] == 3:  # grayscale is already luma: scored as it is
        return rgb_to_y(ta, y_convention), rgb_to_y(tb, y_convention)
    return ta.to(torch.float64), tb.to(torch.float64)


def psnr(a, b, crop_border: int = 0, y_channel: bool = False, y_convention: str = "matlab",
         value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Peak signal-to-noise ratio per image, as SR tables report it.

    PSNR = 10 · log10(255² / MSE), MSE the mean squared difference over all
    channels and pixels of one image (after cropping, on Y if ``y_channel``),
    computed in float64 — MATLAB's formula, peak 255 on Y too. Identical images have MSE 0 and PSNR ``+inf``
    (returned as is, not clamped, so that a perfect match is visible; average
    with care).

    Args:
        a, b: uint8 (N, C, H, W), C in {1, 3}, numpy or torch; same shape and
            device. The metric is symmetric in ``a`` and ``b``.
        crop_border: pixels removed from each of the four sides before
            comparing (by convention the SR scale factor).
        y_channel: compare only the BT.601 luma Y (:func:`rgb_to_y`) of RGB
            images. A grayscale image (C = 1) is taken to be luma already and
            is scored as it is, without any conversion (Set14's grayscale
            image is scored on its own levels, as in MATLAB's scripts).
        y_convention: how Y is computed with ``y_channel``: ``"matlab"`` (the
            default, the SR tables' convention) rounds Y to integer levels as
            MATLAB's ``rgb2ycbcr`` on uint8 does (round half away from zero,
            clamped to 0..255); ``"float"`` keeps BasicSR's unrounded Y.
            Without ``y_channel`` it has no effect (but must be valid).
        value_range: the (low, high) range of float inputs; float inputs are
            quantized to uint8 as PNG saving does before comparing. Float input
            without it is an error (a range is never guessed).

    Returns:
        float64 tensor (N,) in dB, on the device of the input; ``inf`` where the
        two images are equal.

    Raises:
        GbenchError: shape, dtype, channel or device mismatch, undeclared float
            range, NaN/Inf, a crop_border that leaves no pixel, or an unknown
            ``y_convention``.
    """
    x, y = _prepare("psnr", a, b, crop_border, y_channel, y_convention, value_range, min_size=1)
    mse = (x - y).square().mean(dim=(1, 2, 3))
    return 10.0 * torch.log10(PEAK ** 2 / mse)


def gaussian_window(size: int = SSIM_WINDOW, sigma: float = SSIM_SIGMA, device=None) -> torch.Tensor:
    """The 1-D normalized Gaussian g (size,), float64; the SSIM window is outer(g, g).

    Same taps as MATLAB's ``fspecial('gaussian', 11, 1.5)`` (whose 2-D window is
    this outer product) and as ``scipy.ndimage.gaussian_filter(sigma=1.5,
    truncate=3.5)`` that scikit-image uses.
    """
    r = (size - 1) / 2
    k = torch.arange(size, dtype=torch.float64, device=device) - r
    g = torch.exp(-(k ** 2) / (2 * sigma ** 2))
    return g / g.sum()


def _filter_valid(x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Separable 'valid' correlation of every map of x (N, K, H, W) with outer(g, g) → (N, K, H−k+1, W−k+1).

    Written as k weighted shifted slices per direction rather than a grouped
    ``conv2d``: the result is the same (to rounding, ~1e-16), but PyTorch's
    float64 depthwise convolution on CPU measured 3-5× slower single-threaded
    and 10-20× slower with 2 OpenMP threads on busy cores.
    """
    k = g.shape[0]
    taps = g.tolist()
    w = x.shape[-1] - k + 1
    rows = x[..., 0:w] * taps[0]
    for i in range(1, k):
        rows.add_(x[..., i:i + w], alpha=taps[i])
    h = x.shape[-2] - k + 1
    out = rows[..., 0:h, :] * taps[0]
    for i in range(1, k):
        out.add_(rows[..., i:i + h, :], alpha=taps[i])
    return out


def ssim_map(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor | None = None) -> torch.Tensor:
    """The SSIM map of x, y float64 (N, C, H, W) on the 0..255 scale → (N, C, H − 10, W − 10).

    Entry (n, c, i, j) is SSIM (Wang et al. 2004, Eq. 13) of the 11×11 Gaussian windows centred on
    pixel (i + 5, j + 5): 'valid' positions only, as :func:`ssim` averages them. ``g`` is the 1-D
    window (:func:`gaussian_window`; made when None). Masked averages (the inpainting metrics) weight
    this map; :func:`ssim` sums it.
    """
    g = gaussian_window(device=x.device) if g is None else g
    c1 = (SSIM_K1 * PEAK) ** 2
    c2 = (SSIM_K2 * PEAK) ** 2
    c = x.shape[1]
    # One call filters the five moment maps of every channel at once.
    stats = _filter_valid(torch.cat([x, y, x * x, y * y, x * y], dim=1), g)
    mu_x, mu_y, xx, yy, xy = stats.split(c, dim=1)
    var_x = xx - mu_x * mu_x  # population (biased) moments, as in the paper
    var_y = yy - mu_y * mu_y
    cov = xy - mu_x * mu_y
    num = (2 * mu_x * mu_y + c1) * (2 * cov + c2)
    den = (mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2)
    return num / den


def _ssim_map_sum(x: torch.Tensor, y: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
    """Sum over channels and valid positions of the SSIM map of x, y float64 (N, C, H, W) → (N,)."""
    return ssim_map(x, y, g).sum(dim=(1, 2, 3))


# Float64 values per block of moment maps. On CPU filtering slows down ~3×
# once a block leaves the cache (measured: ~18 ns/pixel for one 256×256 RGB
# image's maps, ~55 ns/pixel for sixteen at once), so large images are filtered
# in horizontal strips and small ones in groups of images. A GPU takes much
# larger blocks.
_CPU_BLOCK = 2 ** 20
_GPU_BLOCK = 2 ** 27


def ssim(a, b, crop_border: int = 0, y_channel: bool = False, y_convention: str = "matlab",
         value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """Structural similarity per image (Wang, Bovik, Sheikh, Simoncelli 2004, Eq. 13).

    SSIM(x, y) = ((2 μx μy + C1)(2 σxy + C2)) / ((μx² + μy² + C1)(σx² + σy² + C2)),
    C1 = (0.01 · 255)², C2 = (0.03 · 255)², with μ, σ², σxy local statistics
    under an 11×11 Gaussian window (σ = 1.5) and the population (biased)
    covariance, as in the paper. The SSIM map is averaged over the valid region
    only — the positions where the whole window lies inside the (cropped) image,
    i.e. no padding, as MATLAB's reference ``ssim_index`` does with
    ``filter2(..., 'valid')``. (scikit-image pads by reflection and then drops
    (11 − 1) // 2 = 5 pixels of every side of the map, which is the same
    region.) Computed in float64 with the separable Gaussian filter.

    RGB images are compared per channel and the channel values averaged;
    with ``y_channel`` only the BT.601 luma is compared — by default rounded
    to integer levels as MATLAB's ``rgb2ycbcr`` on uint8 returns it
    (``y_convention="matlab"``), or unrounded (``"float"``, BasicSR).
    Grayscale (C = 1) is already luma and is compared as it is, with or
    without ``y_channel``.

    Args:
        a, b, crop_border, y_channel, y_convention, value_range: as in
            :func:`psnr`. After cropping the images must be at least 11×11.

    Returns:
        float64 tensor (N,) in [-1, 1], on the device of the input; 1 for
        identical images.

    Raises:
        GbenchError: as :func:`psnr`, and images smaller than the window.
    """
    x, y = _prepare("ssim", a, b, crop_border, y_channel, y_convention, value_range, min_size=SSIM_WINDOW)
    g = gaussian_window(device=x.device)
    n, c, h, w = x.shape
    out_h = h - SSIM_WINDOW + 1
    budget = _CPU_BLOCK if x.device.type == "cpu" else _GPU_BLOCK
    per_row = 5 * c * w
    if per_row * h <= budget:  # whole images fit in a block: take several at once
        images_per_block, rows_per_block = max(1, budget // (per_row * h)), out_h
    else:  # one image at a time, in strips of output rows (+ the window's 10-row halo)
        images_per_block, rows_per_block = 1, max(1, budget // per_row - (SSIM_WINDOW - 1))
    sums = []
    for i in range(0, n, images_per_block):
        s = torch.zeros(min(images_per_block, n - i), dtype=torch.float64, device=x.device)
        for r in range(0, out_h, rows_per_block):
            rows = slice(r, r + rows_per_block + SSIM_WINDOW - 1)
            s = s + _ssim_map_sum(x[i:i + images_per_block, :, rows], y[i:i + images_per_block, :, rows], g)
        sums.append(s)
    return torch.cat(sums) / (c * out_h * (w - SSIM_WINDOW + 1))


Pairs = Iterable[tuple[torch.Tensor, torch.Tensor]]  # (restored, reference) batches, uint8 (N, C, H, W) each

# The ×4 SR protocol of the registered psnr/ssim: crop the scale, compare MATLAB's rounded luma.
SR_PROTOCOL = {"crop_border": 4, "y_channel": True, "y_convention": "matlab"}


def score_pairs(per_image: Callable[[torch.Tensor, torch.Tensor], torch.Tensor], pairs: Pairs,
                protocol: dict) -> Score:
    """A per-image metric over (restored, reference) pairs: mean over images ± sample std (ddof 1).

    Args:
        per_image: ``per_image(a, b) -> (N,)`` for one pair of batches.
        pairs: (restored, reference) batches, each uint8 (N, C, H, W); sizes
            may differ between pairs (a test set of differently sized images
            is a list of one-image pairs).
        protocol: the parameters ``per_image`` uses, recorded with the score.

    Returns:
        Score(mean, std over the images or None for one image, protocol).
    """
    values = [v for a, b in pairs for v in per_image(a, b).tolist()]
    if not values:
        raise GbenchError("no image pairs to score: pass at least one (restored, reference) pair")
    std = statistics.stdev(values) if len(values) > 1 else None
    return Score(statistics.fmean(values), std, dict(protocol))


def psnr_score(pairs: Pairs) -> Score:
    """Registered ``psnr``: :func:`psnr` under :data:`SR_PROTOCOL`, mean ± std over images."""
    return score_pairs(lambda a, b: psnr(a, b, **SR_PROTOCOL), pairs, SR_PROTOCOL)


def ssim_score(pairs: Pairs) -> Score:
    """Registered ``ssim``: :func:`ssim` under :data:`SR_PROTOCOL`, mean ± std over images."""
    return score_pairs(lambda a, b: ssim(a, b, **SR_PROTOCOL), pairs, SR_PROTOCOL)


register_metric(
    MetricSpec("psnr", "PSNR-Y (dB)", True, "PSNR on BT.601 luma, 4-pixel border cropped, mean over images",
               decimals=2, consumes="pairs", compute=psnr_score, protocol=SR_PROTOCOL,
               spread="std over the test images"),
    MetricSpec("ssim", "SSIM-Y", True, "SSIM (Wang et al. 2004) on BT.601 luma, 4-pixel border cropped",
               decimals=4, consumes="pairs", compute=ssim_score, protocol=SR_PROTOCOL,
               spread="std over the test images"),
)


__all__ = ["psnr", "ssim", "ssim_map", "rgb_to_y", "gaussian_window", "score_pairs", "psnr_score", "ssim_score", "PEAK",
           "SR_PROTOCOL", "Y_CONVENTIONS"]
