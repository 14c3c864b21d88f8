"""Independent reference for the SR protocol's MATLAB convention, in numpy + scikit-image.

Written from the convention's definition, not from gbench's code:

* Y = round(16 + (65.481 R + 128.553 G + 24.966 B) / 255) on uint8 R, G, B —
  MATLAB's ``rgb2ycbcr`` on uint8 returning uint8 (round half away from zero,
  saturate to 0..255). Evaluated exactly: with the weights in thousandths,
  255000 · (Y − 16) = 65481 R + 128553 G + 24966 B is an integer, and a
  remainder of at least half the divisor rounds up (Y > 0, so "half away from
  zero" is "half up");
* PSNR = 10 · log10(255² / MSE), MATLAB's formula, peak 255 on Y;
* SSIM by ``skimage.metrics.structural_similarity`` with the Wang et al.
  (2004) Gaussian window (σ = 1.5, population covariance, L = 255). With
  ``gaussian_weights=True`` scikit-image filters with radius
  int(3.5 · 1.5 + 0.5) = 5 (an 11×11 window), then drops (11 − 1) // 2 = 5
  pixels of every side of the SSIM map before averaging: exactly the
  positions where the whole window lies inside the image, the 'valid' region
  gbench averages over. No extra cropping is needed to match.

The SR pairs are scikit-image's shipped photographs, mod-cropped to a
multiple of the scale, LR = gbench.imresize(HR, 1/s), SR = gbench.imresize(LR, s):
the ×s bicubic baseline of the SR tables.
"""

from __future__ import annotations

import numpy as np
import torch
from skimage.metrics import structural_similarity

SCALE = 4
PHOTOS = ("astronaut", "chelsea", "coffee")


def y_matlab(img: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) RGB → float64 (N, H, W) holding MATLAB's uint8 Y levels 16..235."""
    assert img.dtype == np.uint8 and img.ndim == 4 and img.shape[1] == 3
    r, g, b = (img[:, i].astype(np.int64) for i in range(3))
    q, rem = np.divmod(65481 * r + 128553 * g + 24966 * b, 255000)
    y = 16 + q + (2 * rem >= 255000)
    return np.clip(y, 0, 255).astype(np.float64)


def y_float(img: np.ndarray) -> np.ndarray:
    """uint8 (N, 3, H, W) RGB → float64 (N, H, W): BasicSR's unrounded Y."""
    r, g, b = (img[:, i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def psnr_matlab(x: np.ndarray, y: np.ndarray) -> float:
    """10 · log10(255² / MSE) of two float64 arrays of the same shape."""
    mse = np.mean((x.astype(np.float64) - y.astype(np.float64)) ** 2)
    return float(10.0 * np.log10(255.0 ** 2 / mse))


def ssim_skimage(x: np.ndarray, y: np.ndarray) -> float:
    """SSIM of two 2-D float64 arrays on the 0..255 scale (Wang et al. 2004 window, valid region)."""
    return float(structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                       data_range=255))


def crop(x: np.ndarray, c: int) -> np.ndarray:
    """Remove c pixels from each side of the last two axes."""
    return x[..., c:x.shape[-2] - c, c:x.shape[-1] - c] if c else x


def photo_sr_pair(name: str, scale: int = SCALE) -> tuple[np.ndarray, np.ndarray]:
    """(HR, SR) uint8 (1, C, H, W) of a shipped scikit-image photo: mod-crop, ×1/s then ×s bicubic."""
    import skimage.data

    from gbench.transforms.resize import imresize

    im = getattr(skimage.data, name)()
    im = im[:, :, None] if im.ndim == 2 else im[..., :3]
    h, w = im.shape[0] - im.shape[0] % scale, im.shape[1] - im.shape[1] % scale
    hr = torch.from_numpy(np.ascontiguousarray(im[:h, :w].transpose(2, 0, 1)))[None]
    sr = imresize(imresize(hr, 1 / scale, exact=True), scale, exact=True)
    return hr.numpy(), sr.numpy()


def reference_scores(name: str, y_convention: str = "matlab", scale: int = SCALE) -> tuple[float, float]:
    """(PSNR-Y, SSIM-Y) of the ×scale bicubic SR of a photo, crop_border = scale, by the convention."""
    hr, sr = photo_sr_pair(name, scale)
    if hr.shape[1] == 1:  # grayscale: already luma
        yh, ys = hr[:, 0].astype(np.float64), sr[:, 0].astype(np.float64)
    else:
        to_y = y_matlab if y_convention == "matlab" else y_float
        yh, ys = to_y(hr), to_y(sr)
    yh, ys = crop(yh[0], scale), crop(ys[0], scale)
    return psnr_matlab(ys, yh), ssim_skimage(ys, yh)
