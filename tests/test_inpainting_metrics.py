"""Hole-aware completion metrics: what they mean (perfect completion, closed forms), which pixels
each region sees, parity with the whole-image PSNR/SSIM, and bad input."""

import math

import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics.inpainting import METRIC_NAMES, masked_l1, masked_psnr, masked_ssim, score_completions
from gbench.metrics.spec import METRICS
from gbench.metrics.sr import PEAK, SSIM_K1, psnr, ssim


def _photos(n=3, size=32, seed=0):
    from gbench.data.natural import random_patches

    return random_patches("test", n, size, seed=seed)


def _centre_mask(n, size, side):
    m = torch.zeros((n, 1, size, size), dtype=torch.bool)
    o = (size - side) // 2
    m[..., o:o + side, o:o + side] = True
    return m


def test_a_perfect_completion_has_l1_zero_psnr_inf_ssim_one():
    real = _photos()
    mask = _centre_mask(3, 32, 12)
    for region in ("hole", "valid"):
        assert torch.equal(masked_l1(real, real, mask, region), torch.zeros(3, dtype=torch.float64))
        assert torch.isinf(masked_psnr(real, real, mask, region)).all()
        assert torch.equal(masked_ssim(real, real, mask, region), torch.ones(3, dtype=torch.float64))
    scores = score_completions(real, real, mask)
    assert set(scores) == set(METRIC_NAMES) and all(name in METRICS for name in METRIC_NAMES)
    assert scores["psnr_hole"].value == math.inf and scores["psnr_hole"].std is None  # no spread of +inf values
    assert scores["l1_hole"].value == 0.0 and scores["l1_hole"].std == 0.0


def test_known_hole_errors_give_the_closed_form_l1_and_psnr():
    """Half of the hole off by 10 levels, half by 20 (every channel): L1 = 15/255, MSE = (10² + 20²)/2 = 250."""
    real = torch.full((2, 3, 16, 16), 100, dtype=torch.uint8)
    mask = _centre_mask(2, 16, 8)
    completed = real.clone()
    completed[:, :, 4:8, 4:12] += 10
    completed[:, :, 8:12, 4:12] += 20
    # exact: every quantity is a ratio of small integers computed in float64
    assert masked_l1(completed, real, mask).tolist() == pytest.approx([15 / 255] * 2, abs=1e-15)
    assert masked_psnr(completed, real, mask).tolist() == pytest.approx([10 * math.log10(255 ** 2 / 250)] * 2,
                                                                        abs=1e-12)
    assert masked_l1(completed, real, mask, "valid").tolist() == [0.0, 0.0]
    assert torch.isinf(masked_psnr(completed, real, mask, "valid")).all()


def test_ssim_of_two_flat_images_is_the_luminance_term():
    """Flat images 100 and 120: σ = 0 everywhere, so SSIM = (2 μx μy + C1) / (μx² + μy² + C1) in every window."""
    a = torch.full((1, 3, 24, 24), 100, dtype=torch.uint8)
    b = torch.full((1, 3, 24, 24), 120, dtype=torch.uint8)
    c1 = (SSIM_K1 * PEAK) ** 2
    expected = (2 * 100 * 120 + c1) / (100 ** 2 + 120 ** 2 + c1)
    mask = _centre_mask(1, 24, 10)
    for region in ("hole", "valid"):
        # float64 moments of a flat image: exact up to rounding in the Gaussian sums (~1e-13 relative)
        assert masked_ssim(a, b, mask, region).item() == pytest.approx(expected, rel=1e-12)


def test_each_region_ignores_changes_in_the_other():
    real = _photos(2, 48, seed=3)
    mask = _centre_mask(2, 48, 24)  # hole rows/cols 12..35
    completed = real.clone()
    completed[mask.expand_as(real)] = 128  # a flat fill of the hole
    g = torch.Generator().manual_seed(0)
    noise = torch.randint(0, 256, real.shape, generator=g, dtype=torch.uint8)

    inside = completed.clone()   # only hole pixels changed
    inside[mask.expand_as(real)] = noise[mask.expand_as(real)]
    outside = completed.clone()  # only valid pixels changed
    outside[~mask.expand_as(real)] = noise[~mask.expand_as(real)]
    for fn in (masked_l1, masked_psnr):
        assert torch.equal(fn(inside, real, mask, "valid"), fn(completed, real, mask, "valid"))
        assert torch.equal(fn(outside, real, mask, "hole"), fn(completed, real, mask, "hole"))
        assert not torch.equal(fn(inside, real, mask, "hole"), fn(completed, real, mask, "hole"))

    # SSIM windows reach 5 pixels across the region's edge: changes deeper than that are invisible
    deep = mask.clone()
    deep[..., 12:17, :] = deep[..., 31:36, :] = deep[..., :, 12:17] = deep[..., :, 31:36] = False
    deep_inside = completed.clone()
    deep_inside[deep.expand_as(real)] = noise[deep.expand_as(real)]
    assert torch.equal(masked_ssim(deep_inside, real, mask, "valid"), masked_ssim(completed, real, mask, "valid"))
    far = ~mask
    far[..., 7:41, 7:41] = False  # valid pixels more than 5 from the hole
    far_outside = completed.clone()
    far_outside[far.expand_as(real)] = noise[far.expand_as(real)]
    assert torch.equal(masked_ssim(far_outside, real, mask, "hole"), masked_ssim(completed, real, mask, "hole"))
    assert not torch.equal(masked_ssim(inside, real, mask, "hole"), masked_ssim(completed, real, mask, "hole"))
    assert not torch.equal(masked_ssim(inside, real, mask, "valid"), masked_ssim(completed, real, mask, "valid"))


def test_score_completions_is_the_mean_and_std_of_the_per_image_values():
    real, other = _photos(4, 32, seed=1), _photos(4, 32, seed=2)
    mask = _centre_mask(4, 32, 14)
    scores = score_completions(other, real, mask)
    for name, fn in (("l1", masked_l1), ("psnr", masked_psnr), ("ssim", masked_ssim)):
        for region in ("hole", "valid"):
            v = fn(other, real, mask, region)
            assert scores[f"{name}_{region}"].value == pytest.approx(v.mean().item(), rel=1e-12)
            assert scores[f"{name}_{region}"].std == pytest.approx(v.std().item(), rel=1e-9)  # both ddof 1


def test_an_all_valid_mask_gives_the_whole_image_psnr_and_ssim():
    real = _photos(3, 40, seed=1)
    other = _photos(3, 40, seed=2)
    none = torch.zeros((3, 1, 40, 40), dtype=torch.bool)
    # the same float64 sums in a different order: agreement to ~1e-15 relative
    assert torch.allclose(masked_psnr(other, real, none, "valid"), psnr(other, real), rtol=1e-12, atol=0)
    assert torch.allclose(masked_ssim(other, real, none, "valid"), ssim(other, real), rtol=1e-12, atol=1e-14)
    assert torch.allclose(masked_l1(other, real, none, "valid"),
                          (other.double() - real.double()).abs().mean(dim=(1, 2, 3)) / 255, rtol=1e-12, atol=0)


def test_bad_input_is_one_clear_error():
    real = _photos(2, 16)
    mask = _centre_mask(2, 16, 4)
    with pytest.raises(GbenchError, match="bool"):
        masked_l1(real, real, mask.to(torch.uint8))
    with pytest.raises(GbenchError, match="bool"):
        masked_psnr(real, real, mask[:1])
    with pytest.raises(GbenchError, match="region"):
        masked_ssim(real, real, mask, "inside")
    with pytest.raises(GbenchError, match="empty hole"):
        masked_l1(real, real, torch.zeros_like(mask))
    with pytest.raises(GbenchError, match="border"):  # a hole only in the 5-pixel border has no SSIM window
        border = torch.zeros_like(mask)
        border[..., 0:2, :] = True
        masked_ssim(real, real, border)
    with pytest.raises(GbenchError, match="value range"):
        masked_l1(real.float(), real.float(), mask)
