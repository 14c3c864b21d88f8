"""The classical hole fills (inpainting baselines): valid pixels untouched, what each fill is on
cases with a known answer, and OpenCV's absence said plainly."""

import sys

import pytest
import torch

from gbench.errors import GbenchError
from gbench.transforms.inpaint import OPENCV_MISSING, biharmonic_fill, mean_fill, opencv_fill, opencv_status


def _hole(n, size, top, side):
    m = torch.zeros((n, 1, size, size), dtype=torch.bool)
    m[..., top:top + side, top:top + side] = True
    return m


def _photos(n=2, size=32):
    from gbench.data.natural import random_patches

    return random_patches("test", n, size, seed=0)


@pytest.mark.parametrize("fill", [biharmonic_fill, mean_fill])
def test_fills_keep_every_valid_pixel_and_fill_the_hole(fill):
    x = _photos()
    mask = _hole(2, 32, 8, 14)
    out = fill(x, mask)
    assert out.dtype == torch.uint8 and out.shape == x.shape
    assert torch.equal(out[~mask.expand_as(x)], x[~mask.expand_as(x)])
    assert not torch.equal(out, x)
    gray = fill(x[:, :1], mask)  # one channel works too
    assert gray.shape == (2, 1, 32, 32) and torch.equal(gray[~mask], x[:, :1][~mask])


def test_biharmonic_continues_a_linear_ramp_exactly():
    """A plane satisfies Δ²u = 0, so the biharmonic fill of a hole in a ramp is the ramp (to uint8 rounding)."""
    ramp = (torch.arange(32, dtype=torch.float64)[None, :] * 3 + torch.arange(32)[:, None] * 2 + 20)
    x = ramp.round().to(torch.uint8).expand(1, 3, 32, 32).clone()
    mask = _hole(1, 32, 10, 12)
    out = biharmonic_fill(x, mask)
    assert (out.int() - x.int()).abs().max().item() <= 1  # one level: the solver's float error, rounded


def test_mean_fill_is_the_mean_of_the_valid_pixels():
    x = torch.zeros((1, 3, 8, 8), dtype=torch.uint8)
    x[:, 0] = 10
    x[:, 1, :4] = 100  # channel 1: the top half 100, the bottom half 0
    mask = torch.zeros((1, 1, 8, 8), dtype=torch.bool)
    mask[..., 2:6, 2:6] = True  # 8 of the hole's 16 pixels are in each half: the valid pixels average 50
    out = mean_fill(x, mask)
    assert out[0, :, 3, 3].tolist() == [10, 50, 0]
    with pytest.raises(GbenchError, match="no valid pixel"):
        mean_fill(x, torch.ones_like(mask))


def test_bad_masks_are_refused():
    x = _photos()
    with pytest.raises(GbenchError, match="bool"):
        biharmonic_fill(x, _hole(2, 32, 8, 8).float())
    with pytest.raises(GbenchError, match="bool"):
        mean_fill(x, _hole(1, 32, 8, 8))


def test_without_opencv_the_fill_says_how_to_add_it(monkeypatch):
    monkeypatch.setitem(sys.modules, "cv2", None)  # `import cv2` raises ImportError
    assert opencv_status() == (False, OPENCV_MISSING)
    with pytest.raises(GbenchError, match="pip install opencv-python-headless"):
        opencv_fill(_photos(), _hole(2, 32, 8, 8), "telea")
    with pytest.raises(GbenchError, match="unknown method"):
        opencv_fill(_photos(), _hole(2, 32, 8, 8), "patchmatch")


@pytest.mark.skipif(not opencv_status()[0], reason="OpenCV (cv2) is not installed")
@pytest.mark.parametrize("method", ["telea", "ns"])
def test_opencv_fills_keep_the_valid_pixels(method):
    x = _photos()
    mask = _hole(2, 32, 8, 14)
    out = opencv_fill(x, mask, method)
    assert torch.equal(out[~mask.expand_as(x)], x[~mask.expand_as(x)]) and not torch.equal(out, x)
