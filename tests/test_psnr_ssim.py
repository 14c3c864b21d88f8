"""PSNR and SSIM of the SR protocol: parity with scikit-image, closed forms, blocking, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import gbench.metrics.sr as sr
from gbench.data.natural import full_images
from gbench.errors import GbenchError
from gbench.transforms.resize import imresize
from gbench.metrics.sr import psnr, rgb_to_y, ssim

# Parity tolerance with scikit-image: both compute in float64 with the same
# window, only the order of the sums differs (observed differences ~1e-15 for
# SSIM, ~1e-13 dB for PSNR); 1e-6 is the bar the task sets for "same number".
TOL = 1e-6


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def y_by_formula(img: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) uint8 → (N, H, W) float64: BT.601 Y as MATLAB rgb2ycbcr, on 0..255, unrounded."""
    r, g, b = (img[:, i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def sk_pair(a: np.ndarray, b: np.ndarray, crop: int, y_channel: bool) -> tuple[np.ndarray, np.ndarray]:
    """What scikit-image is given: per image (H, W, C) or (H, W), cropped, Y if asked."""
    if y_channel and a.shape[1] == 3:
        a, b = y_by_formula(a)[:, None], y_by_formula(b)[:, None]
    if crop:
        a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
    return a, b


def sk_psnr(a, b, crop=0, y_channel=False) -> np.ndarray:
    a, b = sk_pair(a, b, crop, y_channel)
    return np.array([peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b)])


def sk_ssim(a, b, crop=0, y_channel=False) -> np.ndarray:
    a, b = sk_pair(a, b, crop, y_channel)
    out = []
    for x, y in zip(a, b):
        kw = dict(gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
        if x.shape[0] == 1:
            out.append(structural_similarity(x[0], y[0], **kw))
        else:
            out.append(structural_similarity(x, y, channel_axis=0, **kw))
    return np.array(out)


def random_pair(shape, seed: int, noise: int = 25) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape, dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-noise, noise + 1, shape), 0, 255).astype(np.uint8)
    return a, b


def photo_pairs() -> tuple[np.ndarray, np.ndarray]:
    """Crops of the three `natural` test photos and their ×4 bicubic SR baseline (down ×1/4, up ×4)."""
    hr = torch.cat([im[..., 20:116, 40:152] for im in full_images("test")])  # 3 × 3×96×112
    sr_img = imresize(imresize(hr, 0.25, exact=True), 4, exact=True)
    return hr.numpy(), sr_img.numpy()


CASES = [(crop, y) for crop in (0, 4) for y in (False, True)]


@pytest.mark.parametrize("crop, y_channel", CASES)
@pytest.mark.parametrize("kind", ["random_rgb", "random_gray", "photo_rgb", "photo_gray"])
def test_parity_with_skimage(kind, crop, y_channel):
    if kind.startswith("random"):
        a, b = random_pair((3, 3 if kind.endswith("rgb") else 1, 40, 53), seed=len(kind) + crop)
    else:
        a, b = photo_pairs()
        if kind.endswith("gray"):  # a real grayscale image: the rounded luma
            a, b = np.round(y_by_formula(a)).astype(np.uint8)[:, None], np.round(y_by_formula(b)).astype(np.uint8)[:, None]
    got_psnr = psnr(a, b, crop_border=crop, y_channel=y_channel)
    got_ssim = ssim(a, b, crop_border=crop, y_channel=y_channel)
    assert got_psnr.dtype == torch.float64 and got_psnr.shape == (a.shape[0],)
    assert got_ssim.dtype == torch.float64 and got_ssim.shape == (a.shape[0],)
    np.testing.assert_allclose(got_psnr.numpy(), sk_psnr(a, b, crop, y_channel), rtol=0, atol=TOL)
    np.testing.assert_allclose(got_ssim.numpy(), sk_ssim(a, b, crop, y_channel), rtol=0, atol=TOL)


def test_parity_on_full_photographs_in_strips():
    # chelsea is 300×451: bigger than one CPU block, so SSIM is computed in strips of rows.
    hr = full_images("test")[0]
    assert 5 * 3 * hr.shape[2] * hr.shape[3] > sr._CPU_BLOCK
    sr_img = imresize(imresize(hr, 0.25), 4)[..., :hr.shape[2], :hr.shape[3]]
    a, b = hr.numpy(), sr_img.numpy()
    np.testing.assert_allclose(ssim(a, b, crop_border=4, y_channel=True).numpy(),
                               sk_ssim(a, b, 4, True), rtol=0, atol=TOL)
    np.testing.assert_allclose(ssim(a, b).numpy(), sk_ssim(a, b), rtol=0, atol=TOL)


def ssim_by_windows(x: np.ndarray, y: np.ndarray) -> float:
    """Wang et al. (2004) literally: SSIM at every position where the 11×11 window fits, then the mean."""
    k = np.exp(-((np.arange(11) - 5.0) ** 2) / (2 * 1.5 ** 2))
    w = np.outer(k, k) / np.outer(k, k).sum()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    vals = []
    for i in range(x.shape[0] - 10):
        for j in range(x.shape[1] - 10):
            px, py = x[i:i + 11, j:j + 11], y[i:i + 11, j:j + 11]
            mx, my = (w * px).sum(), (w * py).sum()
            vx, vy = (w * (px - mx) ** 2).sum(), (w * (py - my) ** 2).sum()
            cxy = (w * (px - mx) * (py - my)).sum()
            vals.append((2 * mx * my + c1) * (2 * cxy + c2) / ((mx ** 2 + my ** 2 + c1) * (vx + vy + c2)))
    return float(np.mean(vals))


def test_ssim_is_the_mean_over_valid_windows():
    # Independent of any filtering trick and of skimage's reflect padding + crop:
    # the valid-region mean computed window by window (population covariance).
    a, b = random_pair((2, 1, 16, 19), seed=7, noise=60)
    want = [ssim_by_windows(a[i, 0].astype(np.float64), b[i, 0].astype(np.float64)) for i in range(2)]
    np.testing.assert_allclose(ssim(a, b).numpy(), want, rtol=0, atol=1e-12)  # float64, 66 windows
    # and skimage, after dropping its 5-pixel border of the map, averages the same region
    np.testing.assert_allclose(sk_ssim(a, b), want, rtol=0, atol=TOL)


def test_rgb_to_y_matches_bt601_formula():
    a, _ = random_pair((2, 3, 5, 7), seed=3)
    np.testing.assert_allclose(rgb_to_y(a)[:, 0].numpy(), y_by_formula(a), rtol=0, atol=1e-12)
    corners = torch.tensor([0, 255], dtype=torch.uint8).view(2, 1, 1, 1).expand(2, 3, 1, 1)
    np.testing.assert_allclose(rgb_to_y(corners).flatten().numpy(), [16.0, 235.0], rtol=0, atol=1e-12)  # studio swing
    # not rounded to an integer (BasicSR's convention, documented): gray level 1 → 16 + 219/255
    assert rgb_to_y(np.ones((1, 3, 1, 1), np.uint8)).item() == pytest.approx(16 + 219 / 255, abs=1e-12)


# ---------------------------------------------------------------------------
# Closed forms and properties
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("k", [1, 3, 17])
@pytest.mark.parametrize("crop", [0, 2])
def test_psnr_of_a_constant_offset(k, crop):
    rng = np.random.default_rng(k)
    a = rng.integers(0, 256 - k, (2, 3, 20, 24), dtype=np.uint8)
    b = a + np.uint8(k)
    # MSE = k² exactly ⇒ PSNR = 20 log10(255 / k); float64 log10 of an exact ratio.
    np.testing.assert_allclose(psnr(a, b, crop_border=crop).numpy(), 20 * math.log10(255 / k), rtol=0, atol=1e-12)
    # On Y the offset becomes k (65.481 + 128.553 + 24.966) / 255 = 219 k / 255.
    np.testing.assert_allclose(psnr(a, b, crop_border=crop, y_channel=True).numpy(),
                               20 * math.log10(255 / (219 * k / 255)), rtol=0, atol=1e-9)  # Y is a float sum


def test_identical_images():
    a, _ = random_pair((3, 3, 16, 16), seed=0)
    assert torch.isinf(psnr(a, a)).all() and (psnr(a, a) > 0).all()  # documented: +inf, not clamped
    np.testing.assert_allclose(ssim(a, a).numpy(), 1.0, rtol=0, atol=1e-12)
    np.testing.assert_allclose(ssim(a, a, y_channel=True).numpy(), 1.0, rtol=0, atol=1e-12)


def test_ssim_symmetric_and_bounded():
    a, b = random_pair((4, 3, 24, 24), seed=5, noise=120)
    assert torch.equal(ssim(a, b), ssim(b, a))  # every product and sum is commutative: bit-identical
    inverted = 255 - a
    s = torch.cat([ssim(a, b), ssim(a, inverted), ssim(a, np.zeros_like(a))])
    assert ((s >= -1) & (s <= 1)).all()
    assert (ssim(a, inverted) < -0.9).all()  # anti-correlated ⇒ SSIM near −1


def test_blocking_does_not_change_the_result(monkeypatch):
    a, b = random_pair((5, 3, 37, 41), seed=9, noise=80)
    whole = ssim(a, b)
    monkeypatch.setattr(sr, "_CPU_BLOCK", 5 * 3 * 41 * 14)  # one image per block, strips of 4 rows
    strips = ssim(a, b)
    monkeypatch.setattr(sr, "_CPU_BLOCK", 5 * 3 * 41 * 37 * 2)  # two images per block, last block of one
    pairs = ssim(a, b)
    np.testing.assert_allclose(strips.numpy(), whole.numpy(), rtol=0, atol=1e-14)  # sums regrouped
    np.testing.assert_allclose(pairs.numpy(), whole.numpy(), rtol=0, atol=1e-14)
    one_by_one = torch.cat([ssim(a[i:i + 1], b[i:i + 1]) for i in range(5)])
    np.testing.assert_allclose(one_by_one.numpy(), whole.numpy(), rtol=0, atol=1e-14)


def test_numpy_and_torch_inputs_agree_and_float_needs_a_range():
    a, b = random_pair((2, 3, 16, 16), seed=4)
    assert torch.equal(psnr(a, b), psnr(torch.from_numpy(a), torch.from_numpy(b)))
    fa, fb = torch.from_numpy(a).double() / 255, torch.from_numpy(b).double() / 255
    # declared float input is quantized as PNG saving does: the uint8 numbers exactly
    assert torch.equal(psnr(fa, fb, value_range=(0, 1)), psnr(a, b))
    assert torch.equal(ssim(fa, fb, value_range=(0, 1)), ssim(a, b))
    with pytest.raises(GbenchError, match="value range"):
        psnr(fa, fb)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cuda_matches_cpu():
    a, b = random_pair((3, 3, 64, 64), seed=11)
    ca, cb = torch.from_numpy(a).cuda(), torch.from_numpy(b).cuda()
    for fn in (psnr, ssim):
        got = fn(ca, cb, crop_border=4, y_channel=True)
        assert got.device.type == "cuda" and got.dtype == torch.float64
        np.testing.assert_allclose(got.cpu().numpy(), fn(a, b, crop_border=4, y_channel=True).numpy(),
                                   rtol=0, atol=1e-10)  # float64 on both; different reduction order


# ---------------------------------------------------------------------------
# Errors: one line, the problem and the fix
# ---------------------------------------------------------------------------

def _one_line_error(fn, *args, match, **kwargs):
    with pytest.raises(GbenchError, match=match) as e:
        fn(*args, **kwargs)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("fn", [psnr, ssim])
def test_errors(fn):
    a = np.zeros((2, 3, 32, 32), np.uint8)
    _one_line_error(fn, a, np.zeros((2, 3, 32, 28), np.uint8), match=r"has shape .* but b has .*mod_crop")
    _one_line_error(fn, a.astype(np.float32), a.astype(np.float32), match="declare their value range")
    nan = np.zeros((2, 3, 32, 32), np.float32)
    nan[0, 0, 0, 0] = np.nan
    _one_line_error(fn, nan, nan, value_range=(0, 1), match="NaN")
    _one_line_error(fn, a, a, crop_border=16, match="crop_border=16 leaves 0×0 .* smaller crop_border")
    _one_line_error(fn, a, a, crop_border=-1, match="non-negative int")
    _one_line_error(fn, a, a, crop_border=2.0, match="non-negative int")
    _one_line_error(fn, np.zeros((2, 2, 32, 32), np.uint8), np.zeros((2, 2, 32, 32), np.uint8), match="1 or 3 channels")
    _one_line_error(fn, a[0], a[0], match=r"\(N, C, H, W\)")


def test_ssim_needs_the_window_inside_the_cropped_image():
    a = np.zeros((1, 1, 24, 24), np.uint8)
    assert ssim(a, a, crop_border=6).item() == 1.0  # 12×12 left: fits
    _one_line_error(ssim, a, a, crop_border=7, match=r"leaves 10×10 .* at least 11×11")
    assert torch.isinf(psnr(a, a, crop_border=11))  # PSNR only needs one pixel


def test_rgb_to_y_needs_rgb():
    _one_line_error(rgb_to_y, np.zeros((1, 1, 4, 4), np.uint8), match="RGB")
