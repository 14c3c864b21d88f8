"""zoo inpainting: hole masks (centre squares, free-form strokes) and the
patch-based inpainting GAN (Demir & Ünal 2018): loss terms, the composite
``complete``, smoke training and resume."""

import math

import pytest
import torch

from zoo.layers import MASK_KINDS, center_mask, free_form_mask, make_masks
from zoo.layers.masks import FREE_FORM_TOLERANCE

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- masks

@pytest.mark.parametrize("size,ratio", [(64, 0.25), (32, 0.1), (64, 0.5), (33, 0.3)])
def test_center_mask_is_a_centred_square_of_the_closest_area(size, ratio):
    m = center_mask(3, size, ratio)
    assert m.dtype == torch.bool and m.shape == (3, 1, size, size)
    assert torch.equal(m[0], m[2])
    rows = m[0, 0].any(1).nonzero().squeeze(1)
    cols = m[0, 0].any(0).nonzero().squeeze(1)
    side = len(rows)
    assert len(cols) == side and int(m[0].sum()) == side * side  # a filled square
    assert rows[0] == cols[0] == (size - side) // 2  # centred (the extra pixel, if any, below/right)
    # Closest square area: one pixel row more or less would be further from the target.
    target = ratio * size * size
    assert abs(side ** 2 - target) <= min(abs((side + 1) ** 2 - target), abs((side - 1) ** 2 - target))
    assert abs(side ** 2 / size ** 2 - ratio) <= (2 * side + 1) / size ** 2  # within one pixel row and column


def test_center_mask_hand_made_case():
    m = center_mask(1, 4, 0.25)[0, 0]  # 2×2 hole in the middle of a 4×4 image
    expected = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(m, expected)


@pytest.mark.parametrize("size,ratio", [(64, 0.1), (64, 0.4), (32, 0.25), (48, 0.6)])
def test_free_form_masks_reach_the_ratio_within_the_stated_tolerance(size, ratio):
    m = free_form_mask(40, size, ratio, torch.Generator().manual_seed(0))
    assert m.dtype == torch.bool and m.shape == (40, 1, size, size)
    holes = m.sum((1, 2, 3)).float()
    assert (holes - ratio * size * size).abs().max() <= FREE_FORM_TOLERANCE
    assert len({x.numpy().tobytes() for x in m}) == 40  # all different


def test_free_form_masks_are_strokes_not_noise():
    # Brush strokes are thick: most hole pixels have a hole neighbour on both sides in some direction.
    m = free_form_mask(20, 64, 0.3, torch.Generator().manual_seed(1))[:, 0]
    inner = m[:, 1:-1, 1:-1]
    horizontal = m[:, 1:-1, :-2] & m[:, 1:-1, 2:]
    vertical = m[:, :-2, 1:-1] & m[:, 2:, 1:-1]
    assert (inner & (horizontal | vertical)).sum() / inner.sum() > 0.8
    isolated = inner & ~m[:, :-2, 1:-1] & ~m[:, 2:, 1:-1] & ~m[:, 1:-1, :-2] & ~m[:, 1:-1, 2:]
    assert isolated.sum() == 0


def test_free_form_masks_are_seeded():
    a = free_form_mask(8, 32, 0.3, torch.Generator().manual_seed(5))
    b = free_form_mask(8, 32, 0.3, torch.Generator().manual_seed(5))
    c = free_form_mask(8, 32, 0.3, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator().manual_seed(5)
    first, second = free_form_mask(8, 32, 0.3, g), free_form_mask(8, 32, 0.3, g)
    assert torch.equal(first, a) and not torch.equal(first, second)  # the generator advances


def test_make_masks_dispatches_and_rejects_bad_arguments():
    assert MASK_KINDS == ("center", "free")
    assert torch.equal(make_masks("center", 2, 16, 0.25), center_mask(2, 16, 0.25))
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(make_masks("free", 2, 16, 0.25, g1), free_form_mask(2, 16, 0.25, g2))
    with pytest.raises(ValueError, match="unknown mask kind 'square'"):
        make_masks("square", 2, 16, 0.25)
    for ratio in (0.0, 1.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"ratio must be a number in \(0, 1\)"):
            make_masks("free", 2, 16, ratio, torch.Generator())
