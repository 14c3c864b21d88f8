"""Defining properties of the Heusel et al. 2017 disturbances (gbench.transforms.corruptions)."""

import math

import numpy as np
import pytest
import torch

from gbench.transforms import corruptions as C
from gbench.data import digits, natural
from gbench.errors import GbenchError


@pytest.fixture(scope="module")
def rgb():
    return natural.random_patches("train", 16, 32, seed=0)  # uint8 (16, 3, 32, 32), real photos


@pytest.fixture(scope="module")
def gray():
    return digits.load("train").images[:16]  # uint8 (16, 1, 32, 32), real digits


@pytest.fixture(scope="module")
def foreign():
    # Different channels and size from `gray`: exercises the conversion path.
    return natural.random_patches("test", 16, 48, seed=1)


def _apply(name, images, alpha, seed=0, foreign=None):
    fn = C.DISTURBANCES[name].function
    if name == "contaminate":
        return fn(images, alpha, seed, foreign=foreign)
    return fn(images, alpha, seed)


ALL = sorted(C.DISTURBANCES)
RANDOM = ["gaussian_noise", "black_rectangles", "salt_and_pepper", "contaminate"]


def test_table_has_the_papers_levels():
    levels = {name: row.levels for name, row in C.DISTURBANCES.items()}
    assert levels == {
        "gaussian_noise": (0, .25, .5, .75), "black_rectangles": (0, .25, .5, .75), "contaminate": (0, .25, .5, .75),
        "gaussian_blur": (0, 1, 2, 4), "swirl": (0, 1, 2, 4), "salt_and_pepper": (0, .1, .2, .3),
    }
    for name, (function, _, description) in C.DISTURBANCES.items():
        assert function.__name__ == name and description


@pytest.mark.parametrize("name", ALL)
@pytest.mark.parametrize("which", ["gray", "rgb"])
def test_alpha_zero_is_identity_and_every_level_keeps_format(name, which, gray, rgb, foreign):
    x = gray if which == "gray" else rgb
    before = x.clone()
    assert torch.equal(_apply(name, x, 0.0, seed=3, foreign=foreign), x)
    for level in C.DISTURBANCES[name].levels[1:]:
        y = _apply(name, x, level, seed=3, foreign=foreign)
        assert y.dtype == torch.uint8 and y.shape == x.shape
        assert not torch.equal(y, x), f"{name} at level {level} changed nothing"
    assert torch.equal(x, before), "the input was modified in place"


@pytest.mark.parametrize("name", ALL)
def test_deterministic_given_seed(name, rgb, foreign):
    level = C.DISTURBANCES[name].levels[2]
    assert torch.equal(_apply(name, rgb, level, 5, foreign), _apply(name, rgb, level, 5, foreign))


@pytest.mark.parametrize("name", RANDOM)
def test_other_seed_other_result(name, rgb, foreign):
    level = C.DISTURBANCES[name].levels[2]
    assert not torch.equal(_apply(name, rgb, level, 0, foreign), _apply(name, rgb, level, 1, foreign))


def test_numpy_input_gives_the_same_result(rgb):
    assert torch.equal(C.gaussian_noise(rgb.numpy(), 0.5, seed=2), C.gaussian_noise(rgb, 0.5, seed=2))


@pytest.mark.parametrize("name", ALL)
def test_float_images_are_refused(name, rgb, foreign):
    with pytest.raises(GbenchError, match="uint8"):
        _apply(name, rgb.float(), C.DISTURBANCES[name].levels[1], foreign=foreign)


@pytest.mark.parametrize("name,bad", [(n, -0.1) for n in ALL] + [(n, math.nan) for n in ALL]
                         + [(n, 1.5) for n in ["gaussian_noise", "black_rectangles", "salt_and_pepper", "contaminate"]])
def test_alpha_outside_range_is_refused(name, bad, rgb, foreign):
    with pytest.raises(GbenchError, match="alpha"):
        _apply(name, rgb, bad, foreign=foreign)


# --- Gaussian noise ---------------------------------------------------------

def test_noise_at_alpha_one_has_the_documented_distribution():
    x = torch.zeros(64, 3, 32, 32, dtype=torch.uint8)  # 196,608 noise values
    y = C.gaussian_noise(x, 1.0, seed=0).double()
    # Mean: clipping at ±3σ is symmetric around 127.5, so only sampling error
    # remains: SE = 42.5 / sqrt(196608) ≈ 0.1; tolerance 0.5 = 5 SE.
    assert abs(y.mean().item() - C.NOISE_MEAN) < 0.5
    # Std: clipping the 0.27 % tails lowers it by ≈ 0.3 %, rounding adds
    # variance 1/12 (negligible), sampling SE ≈ 0.07: tolerance 1 % of 42.5.
    assert abs(y.std().item() - C.NOISE_STD) < 0.01 * C.NOISE_STD
    assert y.min() >= 0 and y.max() <= 255


def test_noise_is_a_linear_mix(rgb):
    # With one seed every level uses the same noise image n; at α = 1 the output
    # is round(n), so the α = .5 output must be .5·x + .5·round(n) up to
    # rounding: |round(n) − n| ≤ .5 contributes ≤ .25, the final rounding ≤ .5.
    noise = C.gaussian_noise(rgb, 1.0, seed=4).double()
    half = C.gaussian_noise(rgb, 0.5, seed=4).double()
    assert (half - (0.5 * rgb.double() + 0.5 * noise)).abs().max() <= 0.75


# --- salt and pepper ----------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.1, 0.3])
def test_salt_and_pepper_fraction_and_values(alpha):
    x = torch.full((32, 3, 32, 32), 100, dtype=torch.uint8)  # 32,768 pixel locations
    y = C.salt_and_pepper(x, alpha, seed=0)
    changed = (y != 100)
    # Corruption is per location: all channels change together, to one value.
    assert torch.equal(changed.all(1), changed.any(1))
    assert torch.equal(y.amin(1), y.amax(1))
    hit = changed[:, 0]
    assert set(torch.unique(y[:, 0][hit]).tolist()) == {0, 255}
    n = hit.numel()
    # Count ~ Binomial(n, α): 5 standard deviations.
    assert abs(hit.sum().item() - alpha * n) < 5 * math.sqrt(n * alpha * (1 - alpha))
    # Half white, half black: Binomial(hits, ½), 5 standard deviations.
    k = hit.sum().item()
    assert abs((y[:, 0][hit] == 255).sum().item() - k / 2) < 5 * math.sqrt(k / 4)


# --- black rectangles ---------------------------------------------------------

@pytest.mark.parametrize("alpha", [0.25, 0.5, 0.75])
def test_rectangles_blacken_the_union_of_five_squares(alpha):
    n, h, w = 20, 32, 40
    white = torch.full((n, 3, h, w), 255, dtype=torch.uint8)
    y = C.black_rectangles(white, alpha, seed=7)
    side, corners = C.rectangle_corners(n, h, w, alpha, seed=7)
    assert side == round(alpha * 32)
    union = np.zeros((n, h, w), dtype=bool)
    for i in range(n):
        for r, c in corners[i]:
            assert 0 <= r <= h - side and 0 <= c <= w - side  # inside: nothing clipped
            union[i, r:r + side, c:c + side] = True
    black = (y == 0).numpy()
    assert (black == union[:, None]).all()  # all channels, exactly the union
    assert (y[~torch.from_numpy(black)] == 255).all()
    area = black[:, 0].sum(axis=(1, 2))
    assert (area >= side ** 2).all() and (area <= C.NUM_RECTANGLES * side ** 2).all()


# --- blur ----------------------------------------------------------------------

def test_blur_keeps_a_constant_image():
    x = torch.full((2, 3, 32, 32), 77, dtype=torch.uint8)
    assert torch.equal(C.gaussian_blur(x, 4.0), x)


def test_blur_keeps_the_mean_of_a_cosine_image_and_shrinks_its_variance():
    # cos(π m (i + ½) / H) is an eigen-image of blur with half-sample symmetric
    # borders: its mean (127.5 + 0) is kept, its amplitude shrinks with σ.
    i = torch.arange(32, dtype=torch.float64)
    wave = torch.cos(math.pi * 3 * (i + 0.5) / 32)
    img = (127.5 + 100 * wave[:, None] * wave[None, :]).round().to(torch.uint8)[None, None]
    variances = []
    for sigma in C.DISTURBANCES["gaussian_blur"].levels:
        y = C.gaussian_blur(img, sigma).double()
        # Rounding the input and the output each moves the mean by < .5 per pixel, and on average far less.
        assert abs(y.mean().item() - img.double().mean().item()) < 0.2
        variances.append(y.var().item())
    assert all(a > b for a, b in zip(variances, variances[1:])), variances


def test_blur_reduces_variance_of_real_photos_monotonically(rgb):
    # Under half-sample symmetric borders the blur is diagonal in the DCT basis
    # with gains in (0, 1] that shrink as σ grows, so every image's variance
    # drops; rounding to uint8 can reverse that on a near-flat patch (sky:
    # variance ~0.01), so the test uses the batch mean of the variances.
    v = [C.gaussian_blur(rgb, s).double().var(dim=(2, 3)).mean().item() for s in C.DISTURBANCES["gaussian_blur"].levels]
    assert all(a > b for a, b in zip(v, v[1:])), v


# --- swirl ---------------------------------------------------------------------

def test_swirl_keeps_a_constant_image():
    x = torch.full((2, 3, 32, 32), 201, dtype=torch.uint8)
    assert torch.equal(C.swirl(x, 4.0), x)


def test_swirl_moves_the_center_and_leaves_the_far_corners():
    # The angle added decays as exp(−5 r / (ρ ln 2)): large at the center,
    # negligible far beyond ρ, where the image must stay (almost) as it was.
    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (1, 1, 64, 64), dtype=np.uint8))
    y = C.swirl(x, 2.0)
    corner = (y[..., :4, :4].int() - x[..., :4, :4].int()).abs()
    assert corner.max() <= 2  # exp(−5·r/(ρ ln 2)) at r ≈ 44, ρ = 25: ~3e-6 rad
    assert not torch.equal(y[..., 24:40, 24:40], x[..., 24:40, 24:40])


# --- contamination ------------------------------------------------------------

@pytest.mark.parametrize("alpha,n", [(0.25, 16), (0.5, 7), (0.75, 10)])
def test_contamination_replaces_exactly_round_alpha_n_images(alpha, n, foreign):
    # Constant images cannot coincide with a resized natural patch.
    x = torch.full((n, 1, 32, 32), 3, dtype=torch.uint8)
    y = C.contaminate(x, alpha, seed=0, foreign=foreign)
    replaced = (y != x).flatten(1).any(1)
    assert replaced.sum().item() == math.floor(alpha * n + 0.5)
    assert y.shape == x.shape


def test_contamination_converts_rgb_to_gray_and_resizes():
    # A foreign image of one color at another size becomes that color's luma.
    foreign = torch.empty(4, 3, 48, 64, dtype=torch.uint8)
    foreign[:, 0], foreign[:, 1], foreign[:, 2] = 200, 100, 50
    x = torch.zeros(4, 1, 32, 32, dtype=torch.uint8)
    y = C.contaminate(x, 1.0, foreign=foreign)
    assert (y == round(0.299 * 200 + 0.587 * 100 + 0.114 * 50)).all()


def test_contamination_needs_enough_foreign_images(gray, foreign):
    with pytest.raises(GbenchError, match="foreign"):
        C.contaminate(gray, 0.75, foreign=foreign[:3])


def test_contamination_repeats_gray_foreign_images_into_rgb(rgb, gray):
    y = C.contaminate(rgb, 1.0, seed=0, foreign=gray)
    # Every image replaced, each by a distinct digit in all three channels.
    assert torch.equal(y[:, 0], y[:, 1]) and torch.equal(y[:, 0], y[:, 2])
    used = {bytes(img.numpy()) for img in y[:, :1]}
    assert used == {bytes(img.numpy()) for img in gray}
