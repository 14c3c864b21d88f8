"""dSprites, rendered procedurally: the published factor specification and the rendering choices."""

import numpy as np
import pytest
import torch

from gbench.data import dsprites
from gbench.data.base import ImageSet
from gbench.errors import GbenchError

SHAPE, SCALE, ORIENT, POSX, POSY = range(5)


def grid(**fixed):
    """All combinations of the listed factor indices (each an int or a list)."""
    axes = [np.atleast_1d(fixed.get(name, 0)) for name in ("shape", "scale", "orientation", "posX", "posY")]
    mesh = np.meshgrid(*axes, indexing="ij")
    return np.stack([m.ravel() for m in mesh], axis=1).astype(np.int64)


def lit(images: torch.Tensor) -> np.ndarray:
    return (images[:, 0] > 0).numpy()


def test_published_factor_specification():
    assert dsprites.FACTOR_NAMES == ("shape", "scale", "orientation", "posX", "posY")
    assert dsprites.FACTOR_SIZES == (3, 6, 40, 32, 32)
    assert int(np.prod(dsprites.FACTOR_SIZES)) == dsprites.NUM_COMBINATIONS == 737_280
    assert dsprites.SHAPES == ("square", "ellipse", "heart")
    np.testing.assert_allclose(dsprites.SCALES, [0.5, 0.6, 0.7, 0.8, 0.9, 1.0], atol=1e-15)
    # Both ends of the orientation range are included, as published: 40 values, step 2π/39.
    assert dsprites.ORIENTATIONS[0] == 0.0 and dsprites.ORIENTATIONS[-1] == 2 * np.pi
    np.testing.assert_allclose(np.diff(dsprites.ORIENTATIONS), 2 * np.pi / 39, rtol=1e-12)
    assert dsprites.POSITIONS[0] == 0.0 and dsprites.POSITIONS[-1] == 1.0 and len(dsprites.POSITIONS) == 32
    values = dsprites.factor_values(np.array([[2, 5, 39, 31, 0]]))
    np.testing.assert_array_equal(values, [[2.0, 1.0, 2 * np.pi, 1.0, 0.0]])


def test_index_formula_and_round_trip_over_all_combinations():
    index = np.arange(dsprites.NUM_COMBINATIONS)
    factors = dsprites.index_to_factors(index)
    assert factors.shape == (737_280, 5) and factors.dtype == np.int64
    np.testing.assert_array_equal(dsprites.factors_to_index(factors), index)
    # The published bases, written out, and numpy's own row-major raveling agree.
    np.testing.assert_array_equal(factors @ np.array([245760, 40960, 1024, 32, 1]), index)
    np.testing.assert_array_equal(np.ravel_multi_index(tuple(factors.T), dsprites.FACTOR_SIZES), index)
    # index → factors → index is the identity on all 737,280 indices, so each combination appears once.
    assert dsprites.factors_to_index(np.array([[1, 2, 3, 4, 5]]))[0] == 245760 + 2 * 40960 + 3 * 1024 + 4 * 32 + 5


def test_render_shape_dtype_and_binary_values():
    factors = dsprites.sample_factors(200, np.random.default_rng(0))
    images = dsprites.render(factors)
    assert images.shape == (200, 1, 64, 64) and images.dtype == torch.uint8
    assert set(torch.unique(images).tolist()) <= {0, 255}
    assert (lit(images).sum(axis=(1, 2)) > 0).all()
    # torch input gives the same images as numpy input.
    assert torch.equal(dsprites.render(torch.from_numpy(factors)), images)


def reference_render(factors):
    """The documented geometry, written plainly: float64, every pixel of the 64×64 frame, no window."""
    values = dsprites.factor_values(factors)
    theta, size = values[:, ORIENT, None, None], 10.0 * values[:, SCALE, None, None]
    cx, cy = (16 + 32 * values[:, POSX])[:, None, None], (16 + 32 * values[:, POSY])[:, None, None]
    centres = np.arange(64) + 0.5
    dx, dy = (centres[None, None, :] - cx) / size, (centres[None, :, None] - cy) / size
    u = np.cos(theta) * dx - np.sin(theta) * dy  # rotate back by −θ; v points up, rows grow down
    v = -np.sin(theta) * dx - np.cos(theta) * dy
    x, y = 1.139 * u, 1.139 * v + 0.118
    inside = np.stack([
        np.maximum(np.abs(u), np.abs(v)) <= 1,
        u**2 + (v / 0.5) ** 2 <= 1,
        (x**2 + y**2 - 1) ** 3 - x**2 * y**3 <= 0,
    ])
    return inside[factors[:, SHAPE], np.arange(len(factors))]


def test_render_matches_a_plain_rasterisation_of_the_documented_geometry():
    factors = dsprites.sample_factors(1000, np.random.default_rng(5))
    differ = (lit(dsprites.render(factors)) != reference_render(factors)).sum()
    # The renderer tests membership in float32; over all 737,280 images 16 of 3·10⁹ pixels (centres
    # within float32 rounding of an edge) differ from float64. Expected here: 0.02 pixels; allow 2.
    assert differ <= 2


def test_sprites_stay_inside_the_frame_at_the_extremes():
    # Largest scale, every shape and orientation, the four corner positions.
    factors = grid(shape=[0, 1, 2], scale=5, orientation=list(range(40)), posX=[0, 31], posY=[0, 31])
    mask = lit(dsprites.render(factors))
    border = mask[:, 0, :].any(1) | mask[:, -1, :].any(1) | mask[:, :, 0].any(1) | mask[:, :, -1].any(1)
    assert not border.any()


def test_square_size_and_centre_follow_the_documented_mapping():
    # Square side = 20 px · scale. Edges at centre ± 10·scale never fall on a pixel centre here
    # (the centres are 16 + 32k/31 px), so the lit area is exactly the side squared.
    for scale_idx, side in [(0, 10), (5, 20)]:
        factors = grid(shape=0, scale=scale_idx, orientation=0, posX=list(range(32)), posY=[0, 17, 31])
        mask = lit(dsprites.render(factors))
        assert (mask.sum(axis=(1, 2)) == side * side).all()
        cols = np.arange(64) + 0.5
        centroid_x = (mask.sum(axis=1) * cols).sum(1) / mask.sum(axis=(1, 2))
        expected_x = 16 + 32 * dsprites.POSITIONS[factors[:, POSX]]
        # Rasterising a symmetric sprite moves its centroid by less than half a pixel.
        assert np.abs(centroid_x - expected_x).max() < 0.5


def test_both_ends_of_the_orientation_range_render_identically():
    base = grid(shape=[0, 1, 2], scale=list(range(6)), orientation=0, posX=[0, 13, 31], posY=[0, 22, 31])
    end = base.copy()
    end[:, ORIENT] = 39
    assert torch.equal(dsprites.render(base), dsprites.render(end))
    # ...while neighbouring orientations do differ, so the equality is not vacuous.
    step = base.copy()
    step[:, ORIENT] = 1
    assert (lit(dsprites.render(step)) != lit(dsprites.render(base))).any(axis=(1, 2)).all()


def test_heart_points_down_and_ellipse_lies_flat_at_orientation_zero():
    heart, ellipse = lit(dsprites.render(grid(shape=[2, 1], scale=5, orientation=0, posX=15, posY=15)))
    rows = np.arange(64)[:, None]
    # Lobes up: most of the heart's mass lies above its bounding-box centre.
    top, bottom = np.flatnonzero(heart.any(1))[[0, -1]]
    assert (rows * heart).sum() / heart.sum() < (top + bottom) / 2
    # Long axis horizontal: the ellipse is twice as wide as it is tall.
    width, height = ellipse.any(0).sum(), ellipse.any(1).sum()
    assert width == pytest.approx(2 * height, abs=2)  # ±2 px: each edge rasterises to ±1 px


def test_scale_increases_the_lit_area_monotonically():
    factors = grid(shape=[0, 1, 2], scale=list(range(6)), orientation=[0, 7, 20, 33], posX=[3, 16], posY=[9, 28])
    area = lit(dsprites.render(factors)).sum(axis=(1, 2)).reshape(3, 6, 4, 2, 2)
    assert (np.diff(area, axis=1) > 0).all()


def test_positions_move_the_centroid_monotonically():
    factors = grid(shape=[0, 1, 2], scale=[0, 5], orientation=[0, 11, 25], posX=list(range(32)), posY=list(range(32)))
    mask = lit(dsprites.render(factors))
    area = mask.sum(axis=(1, 2))
    centroid_x = (mask.sum(axis=1) * np.arange(64)).sum(1) / area
    centroid_y = (mask.sum(axis=2) * np.arange(64)).sum(1) / area
    centroid_x = centroid_x.reshape(3, 2, 3, 32, 32)
    centroid_y = centroid_y.reshape(3, 2, 3, 32, 32)
    assert (np.diff(centroid_x, axis=3) > 0).all()  # posX → right
    assert (np.diff(centroid_y, axis=4) > 0).all()  # posY → down


def test_rendering_is_deterministic_and_independent_of_batch_composition():
    rng = np.random.default_rng(3)
    factors = dsprites.sample_factors(300, rng)
    images = dsprites.render(factors)
    assert torch.equal(dsprites.render(factors), images)
    perm = rng.permutation(300)
    assert torch.equal(dsprites.render(factors[perm]), images[perm])
    assert torch.equal(dsprites.render(factors[7:8]), images[7:8])


def test_factor_samplers():
    f = dsprites.sample_factors(5000, np.random.default_rng(0))
    assert f.shape == (5000, 5) and f.dtype == np.int64
    np.testing.assert_array_equal(f.min(0), 0)
    np.testing.assert_array_equal(f.max(0), np.array(dsprites.FACTOR_SIZES) - 1)
    np.testing.assert_array_equal(f, dsprites.sample_factors(5000, np.random.default_rng(0)))
    for k in range(5):
        batch = dsprites.sample_fixed_factor(64, k, np.random.default_rng(k))
        assert batch.shape == (64, 5) and batch.dtype == np.int64
        assert len(np.unique(batch[:, k])) == 1
        free = [j for j in range(5) if j != k]
        assert all(len(np.unique(batch[:, j])) > 1 for j in free)


def test_registered_dataset_split_is_fixed_disjoint_and_matches_its_factors():
    split = dsprites.split_indices()
    assert split["train"].shape == (20_000,) and split["test"].shape == (5_000,)
    assert len(np.unique(split["train"])) == 20_000
    assert np.intersect1d(split["train"], split["test"]).size == 0
    expected_train = np.random.default_rng(0).choice(737_280, 20_000, replace=False)
    np.testing.assert_array_equal(split["train"], expected_train)

    spec = dsprites.SPEC
    assert (spec.name, spec.profile, spec.shape, spec.num_classes) == ("dsprites", "embedded", (1, 64, 64), 3)
    test_set = spec("test")
    assert isinstance(test_set, ImageSet) and len(test_set) == 5_000
    assert test_set.classes == ("square", "ellipse", "heart")
    images, factors = dsprites.load_with_factors("test")
    assert torch.equal(images, test_set.images)
    assert factors.dtype == torch.int64 and factors.shape == (5_000, 5)
    np.testing.assert_array_equal(dsprites.factors_to_index(factors), split["test"])
    assert torch.equal(test_set.labels, factors[:, SHAPE])
    assert torch.equal(dsprites.render(factors[:100]), images[:100])
    # Callers get copies: writing into one does not change the next load.
    images[0] = 7
    assert not torch.equal(dsprites.load_with_factors("test")[0][0], images[0])


def test_bad_factors_are_refused_with_a_clear_error():
    with pytest.raises(GbenchError, match="out of range"):
        dsprites.render(np.array([[3, 0, 0, 0, 0]]))
    with pytest.raises(GbenchError, match="shape"):
        dsprites.render(np.zeros((2, 4), dtype=np.int64))
    with pytest.raises(GbenchError, match="integer"):
        dsprites.render(np.zeros((2, 5)))
    with pytest.raises(GbenchError):
        dsprites.index_to_factors(np.array([737_280]))
    with pytest.raises(GbenchError):
        dsprites.sample_fixed_factor(4, 5, np.random.default_rng(0))
    with pytest.raises(GbenchError, match="split"):
        dsprites.load_with_factors("validation")
