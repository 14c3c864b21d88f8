"""Voxel-shape metrics: IoU / Chamfer distances, MMD and coverage, 1-NNA, class TV — on known sets."""

import numpy as np
import pytest
import torch

import gbench.metrics.voxels as M
from gbench.data.voxels import render_voxels
from gbench.errors import GbenchError
from gbench.metrics.spec import METRICS


@pytest.fixture(scope="module")
def shapes():
    """60 distinct solids (6 per class) at 32³, uint8 (N, 1, S, S, S) in {0, 255}."""
    return render_voxels(60, 32, seed=1)[0]


def _grid(*boxes, size=4):
    g = np.zeros((size, size, size), dtype=bool)
    for b in boxes:
        g[b] = True
    return g


# ---------------------------------------------------------------------------- property tests


def test_identical_sets_give_mmd_0_and_coverage_1(shapes):
    d = M.iou_distance_matrix(shapes, shapes)
    assert d.dtype == np.float64 and d.shape == (60, 60)
    assert np.all(np.diag(d) == 0) and np.all(d[~np.eye(60, dtype=bool)] > 0)  # distinct shapes
    assert M.mmd_coverage(d) == (0.0, 1.0)
    cd = M.voxel_chamfer_matrix(shapes, shapes, n_points=256, seed=3)
    assert np.all(np.diag(cd) == 0) and M.mmd_coverage(cd) == (0.0, 1.0)
    pts = M.surface_points(shapes[:12], n_points=256, seed=3)  # the generic point-set path agrees
    cd = M.chamfer_distance_matrix(pts, M.surface_points(shapes[:12], n_points=256, seed=3))
    assert np.all(np.diag(cd) == 0) and M.mmd_coverage(cd) == (0.0, 1.0)


def test_iou_distance_by_hand_and_empty_grids():
    a = _grid(np.s_[0:2, 0:2, 0:2])          # 8 voxels
    b = _grid(np.s_[1:3, 0:2, 0:2])          # 8 voxels, 4 shared: IoU 4 / 12
    c = _grid(np.s_[3:4, 3:4, 3:4])          # 1 voxel, disjoint from both
    empty = _grid()
    d = M.iou_distance_matrix(np.stack([a, b, empty]), np.stack([a, b, c, empty]))
    want = np.array([[0, 2 / 3, 1, 1],
                     [2 / 3, 0, 1, 1],
                     [1, 1, 1, 0]])          # two empty grids are equal shapes: distance 0
    np.testing.assert_allclose(d, want, rtol=0, atol=1e-15)
    # disjoint known sets: G = {a, c} against R = {b, empty}: nearest samples b ← a (2/3), empty ← c (1)
    g, r = np.stack([a, c]), np.stack([b, empty])
    mmd, cov = M.mmd_coverage(M.iou_distance_matrix(g, r))
    assert mmd == pytest.approx((2 / 3 + 1) / 2, abs=1e-15)
    # a's nearest reference is b (2/3 < 1); c is at distance 1 from both: the first (b) — coverage ½
    assert cov == 0.5


def test_uint8_threshold_and_layouts_agree_with_bool(shapes):
    as_bool = shapes[:, 0] > 127
    d_uint8 = M.iou_distance_matrix(shapes[:10], shapes[10:20])
    d_bool = M.iou_distance_matrix(as_bool[:10].numpy(), as_bool[10:20])
    np.testing.assert_array_equal(d_uint8, d_bool)
    half = shapes[:2].clone()
    half[half == 255] = 128  # still occupied (> 127); 127 is not
    assert M.iou_distance_matrix(half, shapes[:2])[0, 0] == 0
    half[half == 128] = 127
    assert M.iou_distance_matrix(half, shapes[:2])[0, 0] == 1


def test_blocks_do_not_change_the_numbers(shapes, monkeypatch):
    d = M.iou_distance_matrix(shapes[:25], shapes[25:])
    pts_a, pts_b = M.surface_points(shapes[:7], 64), M.surface_points(shapes[7:12], 64)
    cd = M.chamfer_distance_matrix(pts_a, pts_b)
    vcd = M.voxel_chamfer_matrix(shapes[:25], shapes[25:], n_points=64)
    monkeypatch.setattr(M, "_BLOCK_VOXELS", 10 * 32**3)  # IoU: 10 grids per block, voxel Chamfer 2: uneven edges
    monkeypatch.setattr(M, "_BLOCK_PAIRS", 2 * 64 * 64)  # 2 pairs per block
    np.testing.assert_array_equal(M.iou_distance_matrix(shapes[:25], shapes[25:]), d)
    np.testing.assert_allclose(M.chamfer_distance_matrix(pts_a, pts_b), cd, rtol=1e-12)
    np.testing.assert_allclose(M.voxel_chamfer_matrix(shapes[:25], shapes[25:], n_points=64), vcd, rtol=1e-12)


def test_surface_points_lie_on_occupied_surface_voxels(shapes):
    vox = (shapes[:, 0] > 127).numpy()
    pts = M.surface_points(shapes, n_points=500, seed=0)
    assert pts.dtype == np.float32 and pts.shape == (60, 500, 3)
    assert pts.min() > 0 and pts.max() < 1
    idx = np.floor(pts * 32).astype(int)
    np.testing.assert_allclose(pts, (idx + 0.5) / 32, atol=1e-7)  # voxel centres in the unit cube
    padded = np.pad(vox, ((0, 0), (1, 1), (1, 1), (1, 1)))
    n = np.arange(60)[:, None]
    i, j, k = idx[..., 0] + 1, idx[..., 1] + 1, idx[..., 2] + 1
    assert padded[n, i, j, k].all()  # occupied
    neighbours = [padded[n, i + di, j + dj, k + dk] for di, dj, dk in
                  ((1, 0, 0), (-1, 0, 0), (0, 1, 0), (0, -1, 0), (0, 0, 1), (0, 0, -1))]
    assert (~np.stack(neighbours).all(0)).all()  # with an empty 6-neighbour: on the surface


def test_surface_of_a_solid_cube_sampling_and_empty_grid():
    cube = np.zeros((2, 16, 16, 16), dtype=bool)
    cube[0, 4:12, 4:12, 4:12] = True
    surf = M.surface_voxels(cube)
    assert int(surf[0].sum()) == 8**3 - 6**3 and int(surf[1].sum()) == 0
    full = np.ones((1, 4, 4, 4), dtype=bool)  # the border counts as empty: every voxel of a full 4³ is surface
    assert int(M.surface_voxels(full).sum()) == 64 - 8
    few = M.surface_points(cube, n_points=1000)  # 296 surface voxels < 1000: drawn with replacement
    assert 250 < len(np.unique(few[0], axis=0)) <= 296
    many = M.surface_points(cube, n_points=200)  # without replacement
    assert len(np.unique(many[0], axis=0)) == 200
    assert np.all(few[1] == 8.5 / 16)  # an empty grid: copies of the middle voxel's centre
    # the points are a function of the shape and the seed, not of the shape's place in the set
    moved = M.surface_points(np.stack([cube[1], cube[0]]), n_points=200)
    np.testing.assert_array_equal(moved[1], many[0])
    assert not np.array_equal(M.surface_points(cube, 200, seed=1)[0], many[0])


# ---------------------------------------------------------------------------- parity with brute force


def _chamfer_reference(p, q):
    d2 = ((p[:, None, :].astype(np.float64) - q[None, :, :]) ** 2).sum(-1)
    return d2.min(1).mean() + d2.min(0).mean()


def test_chamfer_matches_a_brute_force_numpy_reference():
    rng = np.random.default_rng(0)
    pa, pb = rng.random((4, 50, 3)).astype(np.float32), rng.random((3, 70, 3)).astype(np.float32)
    want = np.array([[_chamfer_reference(p, q) for q in pb] for p in pa])
    got = M.chamfer_distance_matrix(pa, torch.from_numpy(pb))
    assert got.dtype == np.float64 and got.shape == (4, 3)
    np.testing.assert_allclose(got, want, rtol=2e-6)  # float32 coordinates and distances
    # squared and averaged: one point against one point is their squared distance, twice
    one = M.chamfer_distance_matrix(np.zeros((1, 1, 3), np.float32), np.full((1, 1, 3), 0.5, np.float32))
    assert one[0, 0] == pytest.approx(2 * 0.75)


def _one_nn_reference(d_gg, d_rr, d_gr):
    """Brute force over the union: label every shape by its nearest other shape (no ties)."""
    full = np.block([[d_gg, d_gr], [d_gr.T, d_rr]]).astype(float)
    np.fill_diagonal(full, np.inf)
    labels = np.r_[np.zeros(len(d_gg)), np.ones(len(d_rr))]
    return float((labels[full.argmin(1)] == labels).mean())


def test_one_nn_accuracy_matches_a_brute_force_reference():
    rng = np.random.default_rng(1)
    g, r = rng.normal(size=(30, 4)), rng.normal(0.4, 1.0, size=(25, 4))
    dist = lambda x, y: np.sqrt(((x[:, None] - y[None]) ** 2).sum(-1))  # noqa: E731
    args = dist(g, g), dist(r, r), dist(g, r)
    assert M.one_nn_accuracy(*args) == pytest.approx(_one_nn_reference(*args), abs=1e-15)


def test_one_nn_accuracy_ties_count_half():
    # two copies of one point in each set: every shape has distance 0 to both sets → all ties → 0.5
    z2 = np.zeros((2, 2))
    assert M.one_nn_accuracy(z2, z2, z2) == 0.5


def test_voxel_chamfer_equals_chamfer_of_the_surface_points(shapes):
    a, b = shapes[:9], shapes[9:20].clone()
    b[3] = 0  # an empty grid: its points are the middle voxel's centre
    want = M.chamfer_distance_matrix(M.surface_points(a, 300, seed=2), M.surface_points(b, 300, seed=2))
    got = M.voxel_chamfer_matrix(a, b, n_points=300, seed=2)
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=0)  # float32 cdist vs exact transforms
    cube = np.zeros((2, 16, 16, 16), dtype=bool)
    cube[0, 4:12, 4:12, 4:12] = cube[1, 2:9, 3:13, 5:15] = True  # 296 and 332 surface voxels
    few = M.voxel_chamfer_matrix(cube, cube[::-1], n_points=700)  # with replacement: multiplicities count
    want = M.chamfer_distance_matrix(M.surface_points(cube, 700), M.surface_points(cube[::-1], 700))
    np.testing.assert_allclose(few, want, rtol=1e-6)


# ---------------------------------------------------------------------------- what the numbers mean


def _one_nn(distance, g, r) -> float:
    """1-NNA of sets g and r from one distance matrix over their union."""
    d, n = distance(torch.cat([g, r]), torch.cat([g, r])), len(g)
    return M.one_nn_accuracy(d[:n, :n], d[n:, n:], d[:n, n:])


def test_one_nn_accuracy_copies_separable_and_same_distribution(shapes):
    cd = lambda x, y: M.voxel_chamfer_matrix(x, y, n_points=128)  # noqa: E731
    for distance in (M.iou_distance_matrix, cd):
        assert _one_nn(distance, shapes, shapes) == 0.0  # G copies R: each shape's nearest is its copy
        # separable: the same kind of solids, moved 10 voxels towards −x in G and +x in R (no overlap left)
        g, r = torch.roll(shapes[:30], -10, dims=2), torch.roll(shapes[30:], 10, dims=2)
        assert _one_nn(distance, g, r) >= 0.95
    # two draws from one distribution, 200 + 200 shapes: under the null the accuracy is ≈ 0.5 with a
    # standard deviation of about √(0.25 / 400) = 0.025; ±0.1 is 4σ
    a, b = render_voxels(200, 32, seed=10)[0], render_voxels(200, 32, seed=11)[0]
    assert abs(_one_nn(M.iou_distance_matrix, a, b) - 0.5) < 0.1
    # the same with Chamfer on 128 surface points, 100 + 100 shapes (σ ≈ 0.035; ±0.15 ≈ 4σ)
    assert abs(_one_nn(cd, a[:100], b[:100]) - 0.5) < 0.15


def test_mode_collapse_lowers_coverage_and_raises_mmd(shapes):
    collapsed = shapes[:1].expand(60, -1, -1, -1, -1)  # 60 copies of one shape
    mmd_c, cov_c = M.mmd_coverage(M.iou_distance_matrix(collapsed, shapes))
    assert cov_c == pytest.approx(1 / 60) and mmd_c > 0.3


def test_class_distribution_tv():
    assert M.class_distribution_tv([0, 0, 1, 1], np.array([0, 1, 1, 1]), 3) == pytest.approx(0.25)
    assert M.class_distribution_tv(torch.tensor([2, 2]), [0, 1], 3) == 1.0
    assert M.class_distribution_tv([1, 0], [0, 1], 2) == 0.0
    logits = torch.tensor([[0.1, 2.0], [3.0, 0.0]])  # argmax → [1, 0]
    assert M.class_distribution_tv(logits, [0, 1], 2) == 0.0
    with pytest.raises(GbenchError, match="outside"):
        M.class_distribution_tv([0, 5], [0, 1], 3)


def test_bad_inputs_are_named():
    with pytest.raises(GbenchError, match="bool or uint8"):
        M.iou_distance_matrix(np.zeros((2, 4, 4, 4), np.float32), np.zeros((2, 4, 4, 4), bool))
    with pytest.raises(GbenchError, match="same grid"):
        M.iou_distance_matrix(np.zeros((2, 4, 4, 4), bool), np.zeros((2, 8, 8, 8), bool))
    with pytest.raises(GbenchError, match=r"\(N, S, S, S\)"):
        M.surface_points(np.zeros((4, 4, 4), bool))
    with pytest.raises(GbenchError, match=r"\(N, P, 3\)"):
        M.chamfer_distance_matrix(np.zeros((2, 5, 2)), np.zeros((2, 5, 3)))
    with pytest.raises(GbenchError, match="≥ 2 shapes"):
        M.one_nn_accuracy(np.zeros((1, 1)), np.zeros((3, 3)), np.zeros((1, 3)))
    with pytest.raises(GbenchError, match="shape"):
        M.one_nn_accuracy(np.zeros((2, 2)), np.zeros((3, 3)), np.zeros((3, 2)))
    with pytest.raises(GbenchError, match="NaN"):
        M.mmd_coverage(np.array([[np.nan]]))


def test_registered_with_directions():
    want = {"mmd_iou": False, "cov_iou": True, "mmd_cd": False, "cov_cd": True, "1nna_iou": None,
            "1nna_cd": None, "class_tv": False}
    for name, higher in want.items():
        spec = METRICS.get(name)
        assert spec.higher_is_better is higher and spec.consumes == "run" and spec.compute is None
    assert "0.5" in METRICS.get("1nna_iou").label and METRICS.get("mmd_cd").scale == 1e3
