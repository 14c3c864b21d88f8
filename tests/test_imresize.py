"""MATLAB-compatible bicubic imresize: closed forms, a loop reference of MATLAB's algorithm, PIL, sizes, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gbench.data.natural import full_images
from gbench.errors import GbenchError
from gbench.transforms.resize import (check_divisible, cubic, imresize, imresize_float, mod_crop,
                                   round_like_matlab_uint8)


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# ---------------------------------------------------------------------------
# An independent, slow reference: MATLAB's imresize.m written with scalar loops.
# ---------------------------------------------------------------------------

def ref_kernel(x: float) -> float:
    """Keys (1981) cubic, a = -0.5."""
    a = -0.5
    t = abs(x)
    if t <= 1:
        return (a + 2) * t ** 3 - (a + 3) * t ** 2 + 1
    if t <= 2:
        return a * t ** 3 - 5 * a * t ** 2 + 8 * a * t - 4 * a
    return 0.0


def ref_resize_line(line: list[float], out_len: int, scale: float) -> list[float]:
    """One 1-D MATLAB resize of a Python list, one output pixel at a time."""
    n = len(line)
    width = 4.0 / scale if scale < 1 else 4.0
    aux = list(range(n)) + list(range(n - 1, -1, -1))  # MATLAB's symmetric index map, 0-based
    out = []
    for x in range(1, out_len + 1):
        u = x / scale + 0.5 * (1 - 1 / scale)
        left = math.floor(u - width / 2)
        taps = [left + p for p in range(math.ceil(width) + 2)]
        if scale < 1:
            ws = [scale * ref_kernel(scale * (u - j)) for j in taps]
        else:
            ws = [ref_kernel(u - j) for j in taps]
        total = sum(ws)
        out.append(sum(w / total * line[aux[(j - 1) % (2 * n)]] for j, w in zip(taps, ws)))
    return out


def ref_matlab_uint8(v: float) -> float:
    return float(math.floor(min(max(v, 0.0), 255.0) + 0.5))


def ref_imresize(img: np.ndarray, s_h: float, s_w: float, order: str = "auto", to_uint8: bool = False) -> np.ndarray:
    """img (C, H, W) float → (C, H', W') float64; MATLAB order = the smaller scale first, height on ties."""
    c, h, w = img.shape
    out_h, out_w = math.ceil(h * s_h), math.ceil(w * s_w)
    if order == "auto":
        order = "hw" if s_h <= s_w else "wh"
    x = [[[float(v) for v in row] for row in ch] for ch in img]
    for d in order:
        if d == "h":
            cols = [[ref_resize_line([ch[i][j] for i in range(len(ch))], out_h, s_h) for j in range(len(ch[0]))]
                    for ch in x]
            x = [[[col[i] for col in ch_cols] for i in range(out_h)] for ch_cols in cols]
        else:
            x = [[ref_resize_line(row, out_w, s_w) for row in ch] for ch in x]
        if to_uint8:
            x = [[[ref_matlab_uint8(v) for v in row] for row in ch] for ch in x]
    return np.array(x, dtype=np.float64)


def _rng_image(shape, seed, low=0, high=256) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    return torch.randint(low, high, shape, generator=g, dtype=torch.uint8)


# ---------------------------------------------------------------------------
# Against the loop reference
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [0.25, 4, 0.3, (0.5, 3), (3, 0.5)])
def test_float_path_matches_loop_reference(scale):
    img = _rng_image((3, 19, 22), seed=1).numpy().astype(np.float64)
    s_h, s_w = scale if isinstance(scale, tuple) else (scale, scale)
    got = imresize_float(torch.from_numpy(img)[None], scale)[0].numpy()
    want = ref_imresize(img, s_h, s_w)
    assert got.shape == want.shape
    # Same sums in another order: float64 rounding, values ≤ 255 → ~1e-13.
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-10)


@pytest.mark.parametrize("scale", [0.25, 4, (0.5, 3), (3, 0.5)])
def test_uint8_path_rounds_after_each_pass_in_matlab_order(scale):
    # Saturated random pixels: the cubic kernel rings past 0 and 255, so the
    # clipping between passes makes the pass order matter.
    img = (_rng_image((3, 18, 21), seed=2, high=2) * 255).numpy()
    s_h, s_w = scale if isinstance(scale, tuple) else (scale, scale)
    got = imresize(torch.from_numpy(img)[None], scale)[0].numpy()
    want = ref_imresize(img, s_h, s_w, to_uint8=True)
    np.testing.assert_array_equal(got, want)  # integers after rounding: exact
    wrong_order = ref_imresize(img, s_h, s_w, order="wh" if s_h <= s_w else "hw", to_uint8=True)
    assert (wrong_order != want).any()  # the test can tell the orders apart


# ---------------------------------------------------------------------------
# Closed forms
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("scale", [0.25, 4, 0.3, 1.5])
@pytest.mark.parametrize("value", [0, 37, 255])
def test_constant_image_stays_constant(scale, value):
    img = torch.full((1, 3, 20, 17), value, dtype=torch.uint8)
    out = imresize(img, scale)
    assert out.shape == (1, 3, math.ceil(20 * scale), math.ceil(17 * scale))
    assert (out == value).all()


def _sample_positions(n_out: int, scale: float) -> np.ndarray:
    """0-based input coordinate that output pixel i samples: (i + 0.5) / scale − 0.5."""
    return (np.arange(n_out) + 0.5) / scale - 0.5


@pytest.mark.parametrize("scale, margin", [
    (4, 12),     # upscaling: taps reach 2 input px = 8 output px from the sample point; 12 is safe
    (0.25, 2),   # ×1/4: the stretched kernel reaches 8 input px = 2 output px
    (1 / 3, 2),  # ×1/3: 6 input px = 2 output px
])
def test_linear_ramp_reproduced_in_interior(scale, margin):
    # Cubic convolution reproduces linear functions (weights sum to 1, first
    # moment 0 — upscaling by Keys' construction, integer downscaling because
    # the taps are symmetric about the sample point). Away from the border the
    # mirror is not used, so the output is the ramp at the sample positions.
    h = w = 48
    a, b, c = 3.0, 1.25, -0.5
    yy, xx = np.meshgrid(np.arange(h, dtype=np.float64), np.arange(w, dtype=np.float64), indexing="ij")
    ramp = torch.from_numpy(a + b * xx + c * yy)[None, None]
    out = imresize_float(ramp, scale)[0, 0].numpy()
    pos_y = _sample_positions(out.shape[0], scale)
    pos_x = _sample_positions(out.shape[1], scale)
    want = a + b * pos_x[None, :] + c * pos_y[:, None]
    m = margin
    np.testing.assert_allclose(out[m:-m, m:-m], want[m:-m, m:-m], rtol=0, atol=1e-10)  # float64 sums of ~50


def test_quadratic_reproduced_when_upscaling():
    # Keys' kernel with a = -0.5 is the one cubic convolution that is exact for
    # quadratics (Keys 1981, Sec. III); a = -0.75 (OpenCV) would fail this.
    n = 40
    f = (np.arange(n, dtype=np.float64) - 17.0) ** 2 / 9
    img = torch.from_numpy(np.tile(f, (3, 1)))[None, None]  # (1, 1, 3, n): varies along width
    out = imresize_float(img, (1, 4))[0, 0, 1].numpy()
    pos = _sample_positions(out.shape[0], 4)
    want = (pos - 17.0) ** 2 / 9
    np.testing.assert_allclose(out[12:-12], want[12:-12], rtol=0, atol=1e-10)


def test_kernel_values():
    x = torch.tensor([0.0, 0.5, 1.0, 1.5, 2.0, 2.5, -0.5, -1.5], dtype=torch.float64)
    want = [1.0, 0.5625, 0.0, -0.0625, 0.0, 0.0, 0.5625, -0.0625]  # Keys (1981) Eq. 15, a = -0.5, by hand
    np.testing.assert_allclose(cubic(x).numpy(), want, rtol=0, atol=1e-15)


def test_round_half_away_from_zero_like_matlab():
    x = torch.tensor([0.5, 1.5, 2.5, 2.4999, 254.5, 255.6, -0.4, -3.0, 300.0], dtype=torch.float64)
    want = [1, 2, 3, 2, 255, 255, 0, 0, 255]  # torch.round would give 0, 2, 2 for the first three
    assert round_like_matlab_uint8(x).tolist() == want


# ---------------------------------------------------------------------------
# Sizes, inputs, errors
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("size, scale, want", [
    ((255, 255), 0.25, (64, 64)),   # MATLAB: ceil(63.75) = 64 (round would give 64 too; next case differs)
    ((10, 13), 0.25, (3, 4)),       # ceil(2.5) = 3, ceil(3.25) = 4 — round() would give 2 (or 3), 3
    ((30, 30), 0.1, (3, 3)),        # 30 × 0.1 = 3.0000000000000004 in floating point: no extra pixel
    ((17, 9), 4, (68, 36)),
    ((20, 20), (0.5, 2), (10, 40)),
])
def test_output_size_is_matlab_ceil(size, scale, want):
    out = imresize(torch.zeros((1, 1) + size, dtype=torch.uint8), scale)
    assert tuple(out.shape[-2:]) == want


def test_exact_requires_whole_output_size():
    img = torch.zeros((1, 3, 255, 255), dtype=torch.uint8)
    with pytest.raises(GbenchError, match="not whole pixels.*mod_crop"):
        imresize(img, 0.25, exact=True)
    assert imresize(mod_crop(img, 4), 0.25, exact=True).shape == (1, 3, 63, 63)


def test_numpy_grayscale_and_batch_independence():
    img = _rng_image((3, 1, 24, 20), seed=3)
    whole = imresize(img.numpy(), 0.5)
    assert whole.dtype == torch.uint8 and whole.shape == (3, 1, 12, 10)
    for i in range(3):
        assert torch.equal(imresize(img[i:i + 1], 0.5), whole[i:i + 1])


def test_float_input_needs_declared_range():
    x = torch.rand(1, 3, 8, 8)
    with pytest.raises(GbenchError, match="value range"):
        imresize(x, 2)
    q = torch.round(x * 255).to(torch.uint8)
    assert torch.equal(imresize(x, 2, value_range=(0, 1)), imresize(q, 2))


@pytest.mark.parametrize("scale", [0, -2, float("nan"), float("inf"), "4", (1, 2, 3), True])
def test_bad_scale(scale):
    with pytest.raises(GbenchError, match="scale"):
        imresize(torch.zeros((1, 3, 8, 8), dtype=torch.uint8), scale)


def test_scale_leaving_no_pixel():
    with pytest.raises(GbenchError, match="leaves no pixel"):
        imresize(torch.zeros((1, 3, 8, 8), dtype=torch.uint8), 1e-12)


@pytest.mark.parametrize("images, scale", [((1, 1, 4, 4), 1e7), ((1, 3, 8, 8), (1, 5000)), ((64, 3, 256, 256), 8)])
def test_huge_outputs_are_refused_before_allocating(images, scale):
    """A side over 32,768 px or over 2^28 output values is refused up front (issue 17, item 5):
    imresize of a 4×4 image by 1e7 used to allocate gigabytes before failing."""
    with pytest.raises(GbenchError, match="the limit is 32,768 pixels a side"):
        imresize(torch.zeros(images, dtype=torch.uint8), scale)
    assert imresize(torch.zeros((1, 1, 4, 4), dtype=torch.uint8), 1000).shape == (1, 1, 4000, 4000)  # allowed


def test_mod_crop_and_check_divisible():
    img = torch.zeros((2, 3, 255, 257), dtype=torch.uint8)
    with pytest.raises(GbenchError) as e:
        check_divisible(img, 4)
    assert str(e.value) == ("image 3×255×257 is not divisible by scale 4: "
                            "mod-crop it (gbench.transforms.resize.mod_crop) first")
    cropped = mod_crop(img.numpy(), 4)
    assert isinstance(cropped, torch.Tensor) and cropped.shape == (2, 3, 252, 256)
    check_divisible(cropped, 4)  # no error
    ramp = torch.arange(10 * 11).reshape(1, 1, 10, 11)
    assert torch.equal(mod_crop(ramp, 3), ramp[..., :9, :9])  # keeps the top-left
    for bad in (0, 2.0, True):
        with pytest.raises(GbenchError, match="positive int"):
            mod_crop(img, bad)
    with pytest.raises(GbenchError, match="smaller than scale"):
        mod_crop(torch.zeros((1, 1, 3, 8)), 4)


# ---------------------------------------------------------------------------
# Against PIL: what differs, and by how much, on a real photograph
# ---------------------------------------------------------------------------

def _pil_bicubic(img: torch.Tensor, out_h: int, out_w: int) -> np.ndarray:
    pil = Image.fromarray(img[0].permute(1, 2, 0).numpy())
    return np.asarray(pil.resize((out_w, out_h), Image.BICUBIC)).transpose(2, 0, 1).astype(np.int64)


def _pil_like_matrix(n_in: int, n_out: int) -> torch.Tensor:
    """PIL's float weights (its precompute_coeffs): kernel truncated at the border and renormalized."""
    scale = n_in / n_out
    stretch = max(scale, 1.0)
    r = torch.zeros(n_out, n_in, dtype=torch.float64)
    for i in range(n_out):
        centre = (i + 0.5) * scale
        lo = max(int(centre - 2 * stretch + 0.5), 0)
        hi = min(int(centre + 2 * stretch + 0.5), n_in)
        js = torch.arange(lo, hi, dtype=torch.float64)
        w = cubic((js - centre + 0.5) / stretch)
        r[i, lo:hi] = w / w.sum()
    return r


def _pil_like(img: torch.Tensor, out_h: int, out_w: int) -> np.ndarray:
    """PIL's algorithm in float64: width first, truncated borders, round half up and clip after each pass."""
    x = img[0].to(torch.float64)
    x = (x @ _pil_like_matrix(x.shape[2], out_w).T + 0.5).floor().clamp(0, 255)
    x = (_pil_like_matrix(x.shape[1], out_h) @ x + 0.5).floor().clamp(0, 255)
    return x.numpy().astype(np.int64)


def test_pil_bicubic_differs_only_by_pass_order_borders_and_fixed_point():
    hr = full_images("train")[0]  # astronaut, 512×512
    lr = imresize(hr, 0.25)
    for src, scale, max_bound, mean_bound in [
        (hr, 0.25, 16, 0.25),  # measured: max 12, mean 0.161 (see gbench.transforms.resize)
        (lr, 4, 16, 0.25),     # measured: max 13, mean 0.190
    ]:
        ours = imresize(src, scale)[0].numpy().astype(np.int64)
        pil = _pil_bicubic(src, *ours.shape[1:])
        diff = np.abs(ours - pil)
        print(f"×{scale}: PIL vs MATLAB bicubic max |Δ| {diff.max()}, mean |Δ| {diff.mean():.3f}")
        assert 0 < diff.mean() <= mean_bound and diff.max() <= max_bound
        # PIL's differences are exactly the documented ones: its algorithm
        # re-implemented in float64 matches it except PIL's 22-bit fixed-point
        # weights, which move ≤ 1 level on a handful of pixels.
        emulated = _pil_like(src, *ours.shape[1:])
        off = np.abs(emulated - pil)
        assert off.max() <= 1 and off.mean() < 1e-3
