"""`voxels` (procedural solids) and the paper-profile voxel folders: shapes, seeds, splits, parts, files."""

import numpy as np
import pytest
import torch
from scipy import ndimage

from gbench.data import DATASETS, ImageSet
from gbench.data import voxels as V
from gbench.data.paper_voxels import GridDecoder, read_binvox, read_grid, resize_grid
from gbench.errors import GbenchError

EIGHT = np.ones((3, 3), dtype=bool)  # 8-connectivity in a horizontal slice


@pytest.fixture(scope="module")
def sample():
    """200 solids (20 per class) at 32³, parameters and grids as bool (N, S, S, S)."""
    p = V.sample_params(200, np.random.default_rng(11))
    return p, V.render(p, 32)[:, 0].numpy() > 0


def test_render_voxels_shapes_dtype_values_and_params():
    vox, labels, params = V.render_voxels(25, 32, seed=0)
    assert vox.shape == (25, 1, 32, 32, 32) and vox.dtype == torch.uint8
    assert set(torch.unique(vox).tolist()) <= {0, 255}
    assert labels.dtype == torch.int64 and labels.shape == (25,)
    assert np.bincount(labels.numpy(), minlength=10).tolist() == [3] * 5 + [2] * 5  # balanced: i mod 10
    assert len(params) == 25
    for row, label in zip(params, labels.tolist()):
        assert row["label"] == label and row["class"] == V.CLASSES[label]
        assert set(V.PARAM_NAMES[row["class"]]) <= set(row) and len(row["center"]) == 3
        assert 0 <= row["angle"] < 2 * np.pi


def test_same_seed_same_shapes_other_seed_other_shapes_rows_independent():
    a, la, pa = V.render_voxels(40, 32, seed=5)
    b, lb, pb = V.render_voxels(40, 32, seed=5)
    assert torch.equal(a, b) and torch.equal(la, lb) and pa == pb
    c, _, _ = V.render_voxels(40, 32, seed=6)
    assert not torch.equal(a, c)
    p = V.sample_params(40, np.random.default_rng(5))
    assert torch.equal(V.render(p[7:19], 32), a[7:19])  # a row does not depend on the rows rendered with it


def test_64_renders_the_same_solids(sample):
    p, vox32 = sample
    vox64 = V.render(p[:50], 64)[:, 0].numpy() > 0
    assert vox64.shape == (50, 64, 64, 64)
    # the same solid: volumes agree (a 32³ cell is 8 64³ cells) and 2×2×2 blocks mostly agree
    v32, v64 = vox32[:50].sum((1, 2, 3)) * 8, vox64.sum((1, 2, 3))
    assert np.all(np.abs(v32 - v64) <= 0.25 * v64)
    blocks = vox64.reshape(50, 32, 2, 32, 2, 32, 2).mean((2, 4, 6)) >= 0.5
    inter, union = (blocks & vox32[:50]).sum((1, 2, 3)), (blocks | vox32[:50]).sum((1, 2, 3))
    iou = inter / union  # thin parts (legs 1.6 cells wide at 32³) lose most to the half-occupied blocks
    assert iou.min() > 0.5 and iou.mean() > 0.85


def test_every_class_renders_non_empty_inside_the_grid(sample):
    p, vox = sample
    counts = vox.sum((1, 2, 3))
    for c, name in enumerate(V.CLASSES):
        assert (counts[p.labels == c] > 0).all(), name
        assert counts[p.labels == c].min() >= 100, name  # no degenerate sliver at 32³
    border = vox[:, [0, -1]].any() or vox[:, :, [0, -1]].any() or vox[:, :, :, [0, -1]].any()
    assert not border  # solids stay inside [−0.94, 0.94]³: the outer layer of cells is always empty
    full = V.load_split("test", 32).occupancy[:, 0] > 0
    assert full.reshape(len(full), -1).any(1).all()  # the whole test split: no empty grid


def test_splits_are_fixed_disjoint_and_registered():
    train, test = V.split_params("train"), V.split_params("test")
    assert len(train) == 10_000 and len(test) == 2_000
    assert V.split_params("test") is test and not test.center.flags.writeable
    # disjoint seed streams: no parameter row is shared
    key = lambda p: {tuple(np.round(np.r_[p.center[i], p.angle[i]], 12)) for i in range(len(p))}  # noqa: E731
    assert not key(train) & key(test)
    hashes = lambda g: {bytes(np.packbits(x.numpy())) for x in g}  # noqa: E731
    assert not hashes(V.load_split("train", 32, slice(0, 1000)).occupancy) & hashes(V.load_split("test").occupancy)
    ds = DATASETS.get("voxels")("train")
    assert isinstance(ds, ImageSet) and ds.classes == V.CLASSES and ds.num_classes == 10
    assert ds.images.shape == (10_000, 1, 32, 32, 32) and ds.images.ndim == 5
    assert torch.equal(ds.images[torch.tensor([3, 1])], V.load_split("train", 32, [3, 1]).occupancy)
    assert torch.equal(ds.images[2], V.load_split("train", 32, 2).occupancy[0])
    assert torch.equal(ds.labels, torch.from_numpy(train.labels.copy()))
    big = DATASETS.get("voxels-64")("test")
    assert big.images.shape == (2_000, 1, 64, 64, 64) and torch.equal(big.labels, DATASETS.get("voxels")("test").labels)
    assert DATASETS.get("voxels").shape == (1, 32, 32, 32)
    with pytest.raises(GbenchError, match="split"):
        V.load_split("val")
    with pytest.raises(GbenchError, match="32, 64"):
        V.render(test[:2], 48)


def _z_index(z: float, size: int = 32) -> int:
    return int(np.floor((z + 1) * size / 2))


def _components(slice2d: np.ndarray) -> list[int]:
    labelled, n = ndimage.label(slice2d, structure=EIGHT)
    return sorted(np.bincount(labelled.ravel())[1:].tolist())


def test_composites_have_their_parts(sample):
    p, vox = sample
    for i in np.flatnonzero(p.labels == V.TABLE):
        a, b, t, leg, inset, height = p.dims[i, :6]
        cz = p.center[i, 2]
        top = vox[i][:, :, _z_index(cz + height / 2 - t)]  # the middle of the top slab
        legs = vox[i][:, :, _z_index(cz - height / 2 + (height - 2 * t) / 2)]  # half way up the legs
        assert len(_components(top)) == 1 and len(_components(legs)) == 4
        assert top.sum() > 4 * max(_components(legs))
    for i in np.flatnonzero(p.labels == V.CHAIR):
        a, b, t, leg, seat_h, back_h, back_t = p.dims[i, :7]
        floor = p.center[i, 2] - (seat_h + 2 * t + back_h) / 2
        legs = vox[i][:, :, _z_index(floor + seat_h / 2)]
        seat = vox[i][:, :, _z_index(floor + seat_h + t)]
        back = vox[i][:, :, _z_index(floor + seat_h + 2 * t + back_h / 2)]
        assert len(_components(legs)) == 4 and len(_components(seat)) == 1 and len(_components(back)) == 1
        assert back.sum() < 0.6 * seat.sum()  # a thin slab along one edge, not the whole seat
    for i in np.flatnonzero(p.labels == V.LAMP):
        base_r, base_t, pole_r, pole_h, r0, r1, shade_h = p.dims[i, :7]
        bottom = p.center[i, 2] - (2 * base_t + pole_h + shade_h) / 2
        base = vox[i][:, :, _z_index(bottom + base_t)]
        pole = vox[i][:, :, _z_index(bottom + 2 * base_t + pole_h / 2)]
        shade = vox[i][:, :, _z_index(bottom + 2 * base_t + pole_h + shade_h / 2)]
        assert len(_components(pole)) == 1 and pole.sum() < 0.3 * min(base.sum(), shade.sum())
    for i in np.flatnonzero(p.labels == V.TORUS):  # the hole: the vertical axis through the centre is empty
        cx, cy = (_z_index(c) for c in p.center[i, :2])
        assert not vox[i][cx, cy].any()


def test_rendering_is_exact_against_a_per_voxel_reference(sample):
    """Spheres and cylinders: occupancy equals the float64 membership test of every voxel centre
    except for cells within float32 rounding of the surface."""
    p, vox = sample
    c = (np.arange(32) + 0.5) / 16 - 1
    X, Y, Z = np.meshgrid(c, c, c, indexing="ij")
    for i in np.flatnonzero(np.isin(p.labels, [V.SPHERE, V.CYLINDER]))[:10]:
        dx, dy, dz = X - p.center[i, 0], Y - p.center[i, 1], Z - p.center[i, 2]
        if p.labels[i] == V.SPHERE:
            margin = np.sqrt(dx**2 + dy**2 + dz**2) - p.dims[i, 0]
        else:
            margin = np.maximum(np.hypot(dx, dy) - p.dims[i, 0], np.abs(dz) - p.dims[i, 1])
        want = margin <= 0
        assert ((want != vox[i]) <= (np.abs(margin) < 1e-5)).all()


# ---------------------------------------------------------------------------- paper folders


def write_binvox(path, occ: np.ndarray) -> None:
    """A minimal binvox writer (x, y, z) → runs in (x, z, y) order, counts ≤ 255."""
    flat = occ.transpose(0, 2, 1).ravel().astype(np.uint8)
    runs, start = bytearray(), 0
    while start < len(flat):
        end = start
        while end < len(flat) and flat[end] == flat[start] and end - start < 255:
            end += 1
        runs += bytes([flat[start], end - start])
        start = end
    d = occ.shape
    header = f"#binvox 1\ndim {d[0]} {d[1]} {d[2]}\ntranslate 0 0 0\nscale 1\ndata\n".encode()
    path.write_bytes(header + bytes(runs))


def test_binvox_reader_round_trips_and_refuses_bad_files(tmp_path):
    occ = np.random.default_rng(0).random((5, 6, 7)) > 0.6
    write_binvox(tmp_path / "a.binvox", occ)
    assert np.array_equal(read_binvox(tmp_path / "a.binvox"), occ)
    good = (tmp_path / "a.binvox").read_bytes()
    for name, data in {"magic": b"#foo" + good[7:], "short": good[:-2], "nodata": b"#binvox 1\ndim 2 2 2\n",
                       "huge": good.replace(b"dim 5 6 7", b"dim 5000 6 7")}.items():
        (tmp_path / f"{name}.binvox").write_bytes(data)
        with pytest.raises(GbenchError, match="binvox"):
            read_binvox(tmp_path / f"{name}.binvox")


def test_grids_are_read_from_npy_npz_and_resized(tmp_path):
    occ = np.zeros((30, 30, 30), dtype=np.uint8)
    occ[10:20, 5:25, 0:30] = 255
    np.save(tmp_path / "a.npy", occ)
    np.savez(tmp_path / "b.npz", voxels=occ > 0, other=np.zeros(3))
    np.savez(tmp_path / "c.npz", x=np.zeros(3), y=np.zeros(3))
    assert np.array_equal(read_grid(tmp_path / "a.npy"), occ > 0)
    assert np.array_equal(read_grid(tmp_path / "b.npz"), occ > 0)
    with pytest.raises(GbenchError, match="voxels, occupancy"):
        read_grid(tmp_path / "c.npz")
    padded = resize_grid(occ > 0, 32)  # 30 → 32: one empty voxel per side
    assert padded.shape == (32, 32, 32) and np.array_equal(padded[1:31, 1:31, 1:31], occ > 0)
    up = resize_grid(np.ones((32, 32, 32), bool), 64)
    assert up.all() and up.shape == (64, 64, 64)
    big = np.zeros((128, 128, 128), dtype=bool)
    big[64, 64, :] = True  # a one-voxel line survives max pooling
    small = resize_grid(big, 32)
    assert small.shape == (32, 32, 32) and small[16, 16].all() and small.sum() == 32
    flat = resize_grid(np.ones((32, 32, 16), bool), 32)  # non-cubic: centre-padded first
    assert flat[:, :, 8:24].all() and not flat[:, :, :8].any()
    dec = GridDecoder(32)(tmp_path / "a.npy")
    assert dec.dtype == np.uint8 and dec.shape == (1, 32, 32, 32) and set(np.unique(dec)) == {0, 255}


def test_modelnet_and_shapenet_folders(tmp_path):
    cube = np.zeros((32, 32, 32), dtype=bool)
    cube[8:24, 8:24, 8:24] = True
    for k, cls in enumerate(("chair", "bed")):
        for split, n in (("train", 3), ("test", 2)):
            folder = tmp_path / "ModelNet10" / cls / split
            folder.mkdir(parents=True)
            for i in range(n):
                write_binvox(folder / f"{cls}_{i:04d}.binvox", np.roll(cube, i + k, axis=0))
    spec = DATASETS.get("modelnet10")
    assert spec.availability(tmp_path) == (True, "")
    test = spec("test", root=tmp_path)
    assert test.classes == ("bed", "chair") and test.labels.tolist() == [0, 0, 1, 1]
    assert test.images.shape == (4, 1, 32, 32, 32) and test.images.ndim == 5
    assert torch.equal(test.images[2], torch.from_numpy(np.roll(cube, 0, 0).astype(np.uint8) * 255)[None])
    assert test.images.subset([1]).shape == (1, 1, 32, 32, 32)
    ok, why = DATASETS.get("modelnet40").availability(tmp_path)
    assert not ok and str(tmp_path / "ModelNet40") in why
    with pytest.raises(GbenchError, match="ModelNet40"):
        DATASETS.get("modelnet40")("train", root=tmp_path)
    # ShapeNet-like: synset/model/models/*.binvox, no split folders → last fifth per class is test; y-up turned z-up
    y_up = np.zeros((32, 32, 32), dtype=bool)
    y_up[16, :20, 16] = True  # a pole along y
    for i in range(10):
        folder = tmp_path / "shapenet-voxels" / "03001627" / f"model{i}" / "models"
        folder.mkdir(parents=True)
        write_binvox(folder / "model_normalized.solid.binvox", y_up)
    train, test = (DATASETS.get("shapenet-voxels")(s, root=tmp_path) for s in ("train", "test"))
    assert (len(train), len(test)) == (8, 2) and test.classes == ("03001627",)
    pole = test.images[0][0].numpy() > 0
    assert pole[16, 16, :20].all() and pole.sum() == 20  # now along the last (z) axis
    (tmp_path / "ModelNet10" / "desk" / "train").mkdir(parents=True)
    with pytest.raises(GbenchError, match="desk/test is missing"):
        spec("train", root=tmp_path)
