"""How much high-frequency detail a restored image has, relative to its reference.

PSNR and SSIM reward the conditional mean, which is blurry; a GAN-trained SR
model trades PSNR for detail (Ledig et al. 2017, Sec. 3.4 and Fig. 2). Without
a learned perceptual metric (LPIPS needs ImageNet weights), detail is measured
in the power spectrum:

    E_hf(x) = Σ_{ρ(f) > f_c} |F[w · (x − mean x)](f)|²

— the energy of the windowed image x above the radial frequency f_c, with F
the 2-D DFT, w a separable Hann window (it stops the image's borders from
acting as edges of a periodic tiling, which would add the same spurious
high-frequency energy to every image) and ρ(f) = √(f_y² + f_x²) in cycles per
pixel (Nyquist 0.5). For ×s super-resolution the LR image holds no frequency
above its own Nyquist limit, 0.5 / s cycles per HR pixel, so every bit of
energy above f_c = 0.5 / s was synthesized by the model. The ratio

    HF(sr, hr) = E_hf(sr) / E_hf(hr)

is 1 for the reference itself, < 1 for a smoother image (bicubic
interpolation: ≪ 1), and > 1 for an image with more high-frequency content
than the reference (noise, ringing, over-sharpening). Closer to 1 means
detail in the right amount, not necessarily in the right place: read it next
to PSNR/SSIM, which measure the place.

Registered as ``hf_ratio`` (consumes ``pairs``) with the ×4 SR protocol
:data:`HF_PROTOCOL` (cutoff 0.5 / 4 = 0.125 cycles per pixel, 4 border pixels
cropped, unrounded BT.601 luma of RGB images).
"""

from __future__ import annotations

import torch

from gbench.errors import GbenchError
from gbench.images import check_images
from gbench.metrics.spec import MetricSpec, Score, register_metric
from gbench.metrics.sr import Pairs, rgb_to_y, score_pairs

# The ×4 SR protocol the registered ``hf_ratio`` is computed with (the `sr` suite's).
HF_PROTOCOL = {"scale": 4, "crop_border": 4, "y_channel": True}


def hann_window_2d(h: int, w: int, device=None) -> torch.Tensor:
    """Separable symmetric Hann window (h, w), float64: 1 in the middle, 0 on the borders."""
    def hann(n):
        if n < 2:
            return torch.ones(n, dtype=torch.float64, device=device)
        return torch.hann_window(n, periodic=False, dtype=torch.float64, device=device)

    return hann(h)[:, None] * hann(w)[None, :]


def high_frequency_energy(x: torch.Tensor, cutoff: float) -> torch.Tensor:
    """E_hf of float images x (N, C, H, W) (see the module docstring), float64 (N,).

    Args:
        x: float (N, C, H, W) on any scale (the energy scales with its square).
        cutoff: f_c in cycles per pixel, in [0, 0.5).

    Returns:
        float64 (N,): the windowed power above ``cutoff`` summed over channels.
    """
    if not 0.0 <= cutoff < 0.5:
        raise GbenchError(f"high-frequency cutoff must be in [0, 0.5) cycles per pixel, got {cutoff}")
    x = x.to(torch.float64)
    n, c, h, w = x.shape
    x = (x - x.mean(dim=(2, 3), keepdim=True)) * hann_window_2d(h, w, x.device)
    power = torch.fft.fft2(x).abs().square()
    fy = torch.fft.fftfreq(h, dtype=torch.float64, device=x.device)[:, None]
    fx = torch.fft.fftfreq(w, dtype=torch.float64, device=x.device)[None, :]
    high = (fy.square() + fx.square()).sqrt() > cutoff
    return (power * high).sum(dim=(1, 2, 3))


def high_frequency_ratio(sr, hr, scale: int, crop_border: int = 0, y_channel: bool = True,
                         value_range: tuple[float, float] | None = None) -> torch.Tensor:
    """HF(sr, hr) = E_hf(sr) / E_hf(hr) above the LR Nyquist frequency 0.5 / scale, per image.

    Args:
        sr, hr: uint8 (N, C, H, W), C in {1, 3}, same shape (float only with
            ``value_range``, then quantized as PNG saving does).
        scale: the SR factor s ≥ 2; the cutoff is 0.5 / s cycles per pixel.
        crop_border: pixels removed from each side first (the SR protocol
            crops ``scale``).
        y_channel: measure the BT.601 luma of RGB images (as PSNR/SSIM on Y).
        value_range: the declared range of float inputs.

    Returns:
        float64 (N,) ≥ 0: 1 when sr equals hr; ``inf`` where hr has no energy
        above the cutoff but sr has (nan if neither has).

    Raises:
        GbenchError: bad images, a shape mismatch, a bad scale or crop.
    """
    a = check_images(sr, name="high_frequency_ratio input sr", value_range=value_range)
    b = check_images(hr, name="high_frequency_ratio input hr", value_range=value_range)
    if a.shape != b.shape:
        raise GbenchError(f"high_frequency_ratio: sr has shape {tuple(a.shape)} but hr has {tuple(b.shape)}: "
                          "compare each SR image with its HR reference (mod-crop HR to a multiple of the scale)")
    if isinstance(scale, bool) or not isinstance(scale, int) or scale < 2:
        raise GbenchError(f"high_frequency_ratio: scale must be an int ≥ 2 (the SR factor), got {scale!r}")
    h, w = a.shape[2], a.shape[3]
    if isinstance(crop_border, bool) or not isinstance(crop_border, int) or crop_border < 0 \
            or min(h, w) - 2 * crop_border < 2:
        raise GbenchError(f"high_frequency_ratio: crop_border={crop_border!r} must be a non-negative int leaving "
                          f"at least 2×2 of the {h}×{w} images")
    c = crop_border
    a, b = a[:, :, c:h - c, c:w - c], b[:, :, c:h - c, c:w - c]
    if y_channel and a.shape[1] == 3:
        a, b = rgb_to_y(a), rgb_to_y(b)
    cutoff = 0.5 / scale
    return high_frequency_energy(a, cutoff) / high_frequency_energy(b, cutoff)


def hf_ratio_score(pairs: Pairs) -> Score:
    """``hf_ratio`` of (SR, HR) pairs under :data:`HF_PROTOCOL`: mean ± std over images."""
    return score_pairs(lambda sr, hr: high_frequency_ratio(sr, hr, **HF_PROTOCOL), pairs, HF_PROTOCOL)


register_metric(MetricSpec(
    "hf_ratio", "HF energy SR/HR (→1)", None,
    "power above the LR Nyquist frequency, SR / HR, on luma (1 = as much detail as HR)", decimals=3,
    consumes="pairs", compute=hf_ratio_score, protocol=HF_PROTOCOL, spread="std over the test images"))


__all__ = ["high_frequency_ratio", "high_frequency_energy", "hann_window_2d", "hf_ratio_score", "HF_PROTOCOL"]
