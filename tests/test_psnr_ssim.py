"""PSNR and SSIM of the SR protocol: parity with scikit-image, the MATLAB Y convention, closed forms, errors."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import pytest
import torch
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

import gbench.metrics.sr as sr
from gbench.data.natural import full_images
from gbench.errors import GbenchError
from gbench.transforms.resize import imresize
from gbench.metrics.sr import psnr, rgb_to_y, ssim

import _sr_reference as ref  # tests/ is on sys.path (pytest's default "prepend" import mode)

# Parity tolerance with scikit-image: both compute in float64 with the same
# window, only the order of the sums differs (observed differences ~1e-15 for
# SSIM, ~1e-13 dB for PSNR); 1e-6 is the bar the task sets for "same number".
TOL = 1e-6


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


def y_by_formula(img: np.ndarray) -> np.ndarray:
    """(N, 3, H, W) uint8 → (N, H, W) float64: BT.601 Y as MATLAB rgb2ycbcr, on 0..255, unrounded."""
    r, g, b = (img[:, i].astype(np.float64) for i in range(3))
    return 16.0 + (65.481 * r + 128.553 * g + 24.966 * b) / 255.0


def sk_pair(a: np.ndarray, b: np.ndarray, crop: int, y_channel: bool,
            y_convention: str = "matlab") -> tuple[np.ndarray, np.ndarray]:
    """What scikit-image is given: per image (H, W, C) or (H, W), cropped, Y if asked."""
    if y_channel and a.shape[1] == 3:
        to_y = ref.y_matlab if y_convention == "matlab" else y_by_formula
        a, b = to_y(a)[:, None], to_y(b)[:, None]
    if crop:
        a, b = a[..., crop:-crop, crop:-crop], b[..., crop:-crop, crop:-crop]
    return a, b


def sk_psnr(a, b, crop=0, y_channel=False, y_convention="matlab") -> np.ndarray:
    a, b = sk_pair(a, b, crop, y_channel, y_convention)
    return np.array([peak_signal_noise_ratio(x, y, data_range=255) for x, y in zip(a, b)])


def sk_ssim(a, b, crop=0, y_channel=False, y_convention="matlab") -> np.ndarray:
    a, b = sk_pair(a, b, crop, y_channel, y_convention)
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


CASES = [(crop, y, conv) for crop in (0, 4) for y, conv in ((False, "matlab"), (True, "matlab"), (True, "float"))]


@pytest.mark.parametrize("crop, y_channel, y_convention", CASES)
@pytest.mark.parametrize("kind", ["random_rgb", "random_gray", "photo_rgb", "photo_gray"])
def test_parity_with_skimage(kind, crop, y_channel, y_convention):
    if kind.startswith("random"):
        a, b = random_pair((3, 3 if kind.endswith("rgb") else 1, 40, 53), seed=len(kind) + crop)
    else:
        a, b = photo_pairs()
        if kind.endswith("gray"):  # a real grayscale image: the rounded luma
            a, b = np.round(y_by_formula(a)).astype(np.uint8)[:, None], np.round(y_by_formula(b)).astype(np.uint8)[:, None]
    got_psnr = psnr(a, b, crop_border=crop, y_channel=y_channel, y_convention=y_convention)
    got_ssim = ssim(a, b, crop_border=crop, y_channel=y_channel, y_convention=y_convention)
    assert got_psnr.dtype == torch.float64 and got_psnr.shape == (a.shape[0],)
    assert got_ssim.dtype == torch.float64 and got_ssim.shape == (a.shape[0],)
    np.testing.assert_allclose(got_psnr.numpy(), sk_psnr(a, b, crop, y_channel, y_convention), rtol=0, atol=TOL)
    np.testing.assert_allclose(got_ssim.numpy(), sk_ssim(a, b, crop, y_channel, y_convention), rtol=0, atol=TOL)


def test_parity_on_full_photographs_in_strips():
    # chelsea is 300×451: bigger than one CPU block, so SSIM is computed in strips of rows.
    hr = full_images("test")[0]
    assert 5 * 3 * hr.shape[2] * hr.shape[3] > sr._CPU_BLOCK
    sr_img = imresize(imresize(hr, 0.25), 4)[..., :hr.shape[2], :hr.shape[3]]
    a, b = hr.numpy(), sr_img.numpy()
    np.testing.assert_allclose(ssim(a, b, crop_border=4, y_channel=True).numpy(),
                               sk_ssim(a, b, 4, True), rtol=0, atol=TOL)
    np.testing.assert_allclose(ssim(a, b, crop_border=4, y_channel=True, y_convention="float").numpy(),
                               sk_ssim(a, b, 4, True, "float"), rtol=0, atol=TOL)
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
# The Y convention: MATLAB's uint8 Y (default) vs BasicSR's float Y
# ---------------------------------------------------------------------------

def rgb(*pixels) -> np.ndarray:
    """(1, 3, 1, P) uint8 from P (R, G, B) triples."""
    return np.array(pixels, np.uint8).T[None, :, None, :]


def test_y_matlab_hand_computed():
    # Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255, then round half away from zero:
    #   (0, 0, 0)       16                         → 16
    #   (255, 255, 255) 16 + 219                   → 235
    #   (1, 1, 1)       16 + 219/255 = 16.8588…    → 17
    #   (255, 0, 0)     16 + 65.481  = 81.481      → 81
    #   (0, 255, 0)     16 + 128.553 = 144.553     → 145
    #   (0, 0, 255)     16 + 24.966  = 40.966      → 41
    #   (10, 20, 30)    16 + (654.81 + 2571.06 + 748.98)/255 = 16 + 3974.85/255 = 31.5876… → 32
    #   (0, 204, 68)    16 + (26224.812 + 1697.688)/255 = 16 + 27922.5/255 = 125.5 exactly → 126 (a tie: up)
    #   (2, 44, 141)    16 + (130.962 + 5656.332 + 3520.206)/255 = 16 + 9307.5/255 = 52.5 → 53 (a tie)
    img = rgb((0, 0, 0), (255, 255, 255), (1, 1, 1), (255, 0, 0), (0, 255, 0), (0, 0, 255),
              (10, 20, 30), (0, 204, 68), (2, 44, 141))
    want = [16, 235, 17, 81, 145, 41, 32, 126, 53]
    got = rgb_to_y(img, y_convention="matlab")
    assert got.dtype == torch.float64 and got.shape == (1, 1, 1, 9)
    assert got.flatten().tolist() == want  # whole numbers, exactly
    assert ref.y_matlab(img).flatten().tolist() == want
    np.testing.assert_allclose(rgb_to_y(img, y_convention="float").flatten().numpy(),
                               [16, 235, 16 + 219 / 255, 81.481, 144.553, 40.966, 16 + 3974.85 / 255, 125.5, 52.5],
                               rtol=0, atol=1e-12)  # float64 sum of three products


def test_y_matlab_on_every_colour():
    # All 2^24 colours against the reference's divmod formulation; integer arithmetic on both sides: equal exactly.
    levels = np.arange(256, dtype=np.uint8)
    r, g = np.meshgrid(levels, levels, indexing="ij")
    for b0 in range(0, 256, 64):  # four blocks of 4M colours, to bound memory
        b = np.broadcast_to(np.arange(b0, b0 + 64, dtype=np.uint8)[:, None, None], (64, 256, 256))
        img = np.stack([np.broadcast_to(r, b.shape), np.broadcast_to(g, b.shape), b], axis=1)  # (64, 3, 256, 256)
        got = rgb_to_y(img, y_convention="matlab")[:, 0].numpy()
        np.testing.assert_array_equal(got, ref.y_matlab(img))
        unrounded = rgb_to_y(img)[:, 0].numpy()
        assert np.abs(got - unrounded).max() <= 0.5 + 1e-12 and got.min() >= 16 and got.max() <= 235


def test_y_matlab_accepts_integral_floats_only():
    a, _ = random_pair((2, 3, 5, 7), seed=3)
    assert torch.equal(rgb_to_y(a.astype(np.float64), "matlab"), rgb_to_y(a, "matlab"))
    _one_line_error(rgb_to_y, a.astype(np.float64) + 0.25, "matlab", match="integer levels 0..255")
    _one_line_error(rgb_to_y, a.astype(np.float64) + 256, "matlab", match="integer levels 0..255")


def test_rgb_to_y_default_is_unchanged():
    a, _ = random_pair((2, 3, 9, 11), seed=8)
    assert torch.equal(rgb_to_y(a), rgb_to_y(a, y_convention="float"))  # existing callers keep float Y


# Values of the code before y_convention existed (float Y was then the only Y),
# measured at commit fa8f6fa on the ×4 bicubic SR of the mod-cropped photos,
# crop_border = 4. Tolerance 1e-9: float64 sums of ~2.5e5 terms may be regrouped
# by another torch/numpy version or CPU (observed ~1e-14 between thread counts).
OLD_FLOAT_Y = {  # name: (PSNR-Y dB, SSIM-Y)
    "astronaut": (26.83818230581999, 0.8426858911926505),
    "chelsea": (31.47350172393651, 0.8062628422712337),
    "coffee": (27.29136398314435, 0.7648205432888959),
}
PIN_TOL = 1e-9


@pytest.mark.parametrize("name", ref.PHOTOS)
def test_float_convention_is_the_old_behaviour(name):
    hr, sr_img = ref.photo_sr_pair(name)
    p = psnr(sr_img, hr, crop_border=4, y_channel=True, y_convention="float").item()
    s = ssim(sr_img, hr, crop_border=4, y_channel=True, y_convention="float").item()
    np.testing.assert_allclose([p, s], OLD_FLOAT_Y[name], rtol=0, atol=PIN_TOL)
    np.testing.assert_allclose([p, s], ref.reference_scores(name, "float"), rtol=0, atol=1e-10)


# MATLAB-convention Y (the default): ×4 bicubic SR of scikit-image's shipped
# photos, mod-cropped to multiples of 4, LR = imresize(HR, 1/4), SR =
# imresize(LR, 4), crop_border = 4 — the protocol of the Set5/Set14/BSD100
# bicubic rows. Measured with gbench and with the independent reference in
# tests/_sr_reference.py (they agree to ~1e-14). PIN_TOL = 1e-9 is far below
# the effect of a single pixel's Y changing by one level (MSE changes by at
# least 1/N: ≥ 1e-7 dB on these sizes), so any change of convention, tie
# rounding or cropping is caught. Astronaut and coffee contain tie pixels
# (exact Y = k + 1/2; see rgb_to_y), rounded up here.
MATLAB_Y = {  # name: (PSNR-Y dB, SSIM-Y)
    "astronaut": (26.834699725309807, 0.8416576793948058),
    "chelsea": (31.459398845150496, 0.8052448726433687),
    "coffee": (27.284726777177283, 0.7634973845128522),
}
MATLAB_Y_MEAN = (28.526275115879198, 0.803466645517009)  # the per-set means, as SR tables report them


def test_matlab_convention_on_shipped_photos():
    ps, ss = [], []
    for name in ref.PHOTOS:
        hr, sr_img = ref.photo_sr_pair(name)
        p = psnr(sr_img, hr, crop_border=4, y_channel=True).item()  # the default: MATLAB
        s = ssim(sr_img, hr, crop_border=4, y_channel=True).item()
        assert (p, s) == (psnr(sr_img, hr, 4, True, "matlab").item(), ssim(sr_img, hr, 4, True, "matlab").item())
        # independent numpy + scikit-image computation of the documented convention: same float64 maths,
        # sums in another order (observed ≤ 7e-15)
        np.testing.assert_allclose([p, s], ref.reference_scores(name, "matlab"), rtol=0, atol=1e-10)
        np.testing.assert_allclose([p, s], MATLAB_Y[name], rtol=0, atol=PIN_TOL)
        # rounding Y adds noise of variance ~1/6 to the difference: lower scores, by a few thousandths
        # of a dB (~0.0125 dB on Set5) and ~0.001 of SSIM
        fp, fs = OLD_FLOAT_Y[name]
        assert 0.002 < fp - p < 0.02 and 0.0005 < fs - s < 0.002
        ps.append(p)
        ss.append(s)
    np.testing.assert_allclose([np.mean(ps), np.mean(ss)], MATLAB_Y_MEAN, rtol=0, atol=PIN_TOL)


# Published MATLAB means for Set5 ×4 bicubic (PSNR-Y, SSIM-Y), given to 1e-6.
SET5_X4_BICUBIC = (28.417660, 0.810081)


@pytest.mark.skipif(not os.environ.get("GBENCH_SET5"),
                    reason="set GBENCH_SET5 to a folder of the 5 Set5 HR images to check the published means")
def test_published_set5_means():
    from gbench.data.folder import image_files, read_image
    from gbench.transforms.resize import mod_crop

    files = image_files(Path(os.environ["GBENCH_SET5"]))
    assert len(files) == 5, f"Set5 has 5 images, found {len(files)}"
    ps, ss = [], []
    for f in files:
        hr = mod_crop(torch.from_numpy(read_image(f))[None], 4)
        sr_img = imresize(imresize(hr, 0.25, exact=True), 4, exact=True)  # MATLAB bicubic, as the LR images were made
        ps.append(psnr(sr_img, hr, crop_border=4, y_channel=True).item())
        ss.append(ssim(sr_img, hr, crop_border=4, y_channel=True).item())
    # the published values are rounded to 6 decimals: ≤ 5e-7 from the true mean, plus float64 noise
    np.testing.assert_allclose([np.mean(ps), np.mean(ss)], SET5_X4_BICUBIC, rtol=0, atol=1e-6)


# Grayscale camera (512×512), ×4 bicubic, crop 4: scored on its own levels.
CAMERA = (26.16659972096795, 0.7470111023165416)


@pytest.mark.parametrize("y_convention", ["matlab", "float"])
def test_grayscale_with_y_channel_is_scored_as_it_is(y_convention):
    hr, sr_img = ref.photo_sr_pair("camera")
    assert hr.shape == (1, 1, 512, 512)
    for fn in (psnr, ssim):
        on_y = fn(sr_img, hr, crop_border=4, y_channel=True, y_convention=y_convention)
        assert torch.equal(on_y, fn(sr_img, hr, crop_border=4))  # no conversion at all: bit-identical
    a, b = ref.crop(sr_img[0, 0].astype(np.float64), 4), ref.crop(hr[0, 0].astype(np.float64), 4)
    got = [psnr(sr_img, hr, 4, True, y_convention).item(), ssim(sr_img, hr, 4, True, y_convention).item()]
    np.testing.assert_allclose(got, [ref.psnr_matlab(a, b), ref.ssim_skimage(a, b)], rtol=0, atol=1e-10)
    np.testing.assert_allclose(got, CAMERA, rtol=0, atol=PIN_TOL)


@pytest.mark.parametrize("fn", [psnr, ssim])
@pytest.mark.parametrize("y_channel", [False, True])
def test_unknown_y_convention(fn, y_channel):
    a = np.zeros((1, 3, 16, 16), np.uint8)
    _one_line_error(fn, a, a, y_channel=y_channel, y_convention="basicsr", match=r"'basicsr'.*'matlab'.*'float'")
    _one_line_error(rgb_to_y, a, y_convention="MATLAB", match=r"'MATLAB'.*'matlab'.*'float'")


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
    # On unrounded Y the offset becomes k (65.481 + 128.553 + 24.966) / 255 = 219 k / 255.
    np.testing.assert_allclose(psnr(a, b, crop_border=crop, y_channel=True, y_convention="float").numpy(),
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
        for conv in ("matlab", "float"):
            got = fn(ca, cb, crop_border=4, y_channel=True, y_convention=conv)
            assert got.device.type == "cuda" and got.dtype == torch.float64
            np.testing.assert_allclose(got.cpu().numpy(),
                                       fn(a, b, crop_border=4, y_channel=True, y_convention=conv).numpy(),
                                       rtol=0, atol=1e-10)  # float64 on both; different reduction order
    assert torch.equal(rgb_to_y(ca, "matlab").cpu(), rgb_to_y(a, "matlab"))  # integer arithmetic: exact


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
