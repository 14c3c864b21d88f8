"""Datasets: shapes, dtypes, fixed splits, user folders and their bad inputs."""

import os

import numpy as np
import pytest
import torch

from gbench.data import DATASETS
from gbench.data import digits, natural
from gbench.data.folder import load_image_folder, load_images, load_labelled_folder, load_npz, save_image_folder
from gbench.errors import GbenchError


def test_digits_shapes_split_and_labels():
    train, test = DATASETS.get("digits")("train"), DATASETS.get("digits")("test")
    assert train.images.dtype == torch.uint8 and train.images.shape[1:] == (1, 32, 32)
    assert len(train) + len(test) == 1797  # every real digit is used exactly once
    assert (len(train), len(test)) == (1438, 359)
    assert set(test.labels.tolist()) == set(range(10))
    # stratified: every class is ~20% test
    for c in range(10):
        n_test, n_all = int((test.labels == c).sum()), int((test.labels == c).sum() + (train.labels == c).sum())
        assert abs(n_test - 0.2 * n_all) <= 0.5
    # real strokes: dark background, bright ink, full range used
    assert train.images.min() == 0 and train.images.max() == 255
    assert train.images.float().mean() < 100


def test_digits_split_is_fixed_and_disjoint():
    labels = digits._all_digits()[1].numpy()
    a, b = digits.split_indices(labels), digits.split_indices(labels)
    assert np.array_equal(a["test"], b["test"])
    assert not set(a["train"]) & set(a["test"])


def test_digits_upscale_preserves_gray_levels():
    from sklearn.datasets import load_digits

    raw = load_digits().images[0] * 255 / 16
    up = digits._all_digits()[0][0, 0].float().numpy()
    # 4×4 block means of a bicubic ×4 upscale follow the source pixels (edges
    # blur across blocks, so compare shape by correlation) and keep the ink
    blocks = up.reshape(8, 4, 8, 4).mean(axis=(1, 3))
    assert np.corrcoef(blocks.ravel(), raw.ravel())[0, 1] > 0.97
    assert abs(blocks.mean() - raw.mean()) < 0.05 * raw.mean()


def test_natural_split_by_image_and_patches():
    assert not set(natural.SPLIT_IMAGES["train"]) & set(natural.SPLIT_IMAGES["test"])
    full = natural.full_images("test")
    assert all(im.dtype == torch.uint8 and im.shape[:2] == (1, 3) for im in full)
    p1 = natural.random_patches("train", 16, 48, seed=3)
    p2 = natural.random_patches("train", 16, 48, seed=3)
    assert p1.shape == (16, 3, 48, 48) and torch.equal(p1, p2)
    assert not torch.equal(p1, natural.random_patches("train", 16, 48, seed=4))
    ds = DATASETS.get("natural")("test")
    assert ds.images.shape == (natural.PATCHES_PER_SPLIT, 3, 64, 64)
    # a patch is a real crop of one of the test photographs
    patch = natural.random_patches("test", 1, 32, seed=0)[0]
    assert any(_contains(im[0], patch) for im in full)


def _contains(image, patch):
    s = patch.shape[-1]
    windows = image.unfold(1, s, 1).unfold(2, s, 1)  # (3, H', W', s, s)
    return bool((windows == patch[:, None, None]).all(-1).all(-1).all(0).any())


def test_paper_datasets_need_a_root():
    with pytest.raises(GbenchError, match="--data-root"):
        DATASETS.get("cifar10")("train")
    ok, why = DATASETS.get("mnist").availability(None)
    assert not ok and "data-root" in why


def test_unknown_dataset_suggests_closest():
    from gbench.registry import UnknownNameError

    with pytest.raises(UnknownNameError, match="did you mean 'digits'"):
        DATASETS.get("digitz")


def test_cifar10_binary_and_png_tree(tmp_path):
    rng = np.random.default_rng(0)
    bin_dir = tmp_path / "cifar-10-batches-bin"
    bin_dir.mkdir()
    rows = []
    for f in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        raw = rng.integers(0, 256, size=(3, 3073), dtype=np.uint8)
        raw[:, 0] = [1, 2, 9]
        raw.tofile(bin_dir / f"{f}.bin")
        rows.append(raw)
    train = DATASETS.get("cifar10")("train", root=tmp_path)
    assert train.images.shape == (15, 3, 32, 32) and train.labels.tolist()[:3] == [1, 2, 9]
    assert np.array_equal(train.images[0].numpy().ravel(), rows[0][0, 1:])
    tree = tmp_path / "png" / "cifar10" / "test"
    for cls in ("cat", "dog"):
        save_image_folder(torch.full((2, 3, 32, 32), 7, dtype=torch.uint8), tree / cls)
    test = DATASETS.get("cifar10")("test", root=tmp_path / "png")
    assert test.classes == ("cat", "dog") and test.labels.tolist() == [0, 0, 1, 1]


def test_cifar10_python_batches_refuse_foreign_pickles(tmp_path):
    import pickle

    d = tmp_path / "cifar-10-batches-py"
    d.mkdir()
    good = {"data": np.zeros((2, 3072), dtype=np.uint8), "labels": [3, 4]}
    for f in [f"data_batch_{i}" for i in range(1, 6)]:
        (d / f).write_bytes(pickle.dumps(good))
    assert DATASETS.get("cifar10")("train", root=tmp_path).labels.tolist() == [3, 4] * 5
    (d / "test_batch").write_bytes(pickle.dumps({"data": np.zeros((1, 3072), np.uint8), "labels": [0], "x": GbenchError("x")}))
    with pytest.raises(GbenchError, match="test_batch refused: refusing to load"):  # one line, not a traceback
        DATASETS.get("cifar10")("test", root=tmp_path)
    (d / "test_batch").write_bytes(pickle.dumps(good)[:20])  # truncated
    with pytest.raises(GbenchError, match="truncated"):
        DATASETS.get("cifar10")("test", root=tmp_path)


def test_mnist_idx(tmp_path):
    import gzip

    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    imgs = np.arange(2 * 28 * 28, dtype=np.uint32).reshape(2, 28, 28).astype(np.uint8)
    header = np.array([0x00000803, 2, 28, 28], dtype=">i4").tobytes()
    (raw / "t10k-images-idx3-ubyte.gz").write_bytes(gzip.compress(header + imgs.tobytes()))
    (raw / "t10k-labels-idx1-ubyte").write_bytes(np.array([0x00000801, 2], dtype=">i4").tobytes() + bytes([5, 7]))
    test = DATASETS.get("mnist")("test", root=tmp_path)
    assert test.images.shape == (2, 1, 32, 32) and test.labels.tolist() == [5, 7]
    assert np.array_equal(test.images[:, 0, 2:30, 2:30].numpy(), imgs)
    with pytest.raises(GbenchError, match="MNIST"):
        DATASETS.get("mnist")("train", root=tmp_path)


def test_folder_round_trip(tmp_path):
    x = torch.randint(0, 256, (5, 3, 16, 16), dtype=torch.uint8)
    save_image_folder(x, tmp_path / "imgs")
    assert torch.equal(load_image_folder(tmp_path / "imgs"), x)
    g = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    save_image_folder(g, tmp_path / "gray")
    assert torch.equal(load_images(tmp_path / "gray"), g)


def test_sixteen_bit_gray_pngs_read_as_their_eight_bit_levels(tmp_path):
    """A 16-bit copy of 8-bit images (level k stored as 257·k, the PNG standard's scaling) reads back
    exactly; clipping at 255 used to turn it white (issue 17, item 4). Float and 32-bit images are refused."""
    from PIL import Image

    g = torch.randint(0, 256, (3, 1, 8, 8), dtype=torch.uint8)
    (tmp_path / "deep").mkdir()
    for i, img in enumerate(g):
        Image.fromarray(img[0].numpy().astype(np.uint16) * 257).save(tmp_path / "deep" / f"{i}.png")
    assert Image.open(tmp_path / "deep" / "0.png").mode.startswith("I")
    assert torch.equal(load_images(tmp_path / "deep"), g)
    (tmp_path / "float").mkdir()
    Image.fromarray(np.full((8, 8), 0.5, dtype=np.float32)).save(tmp_path / "float" / "a.tif")
    with pytest.raises(GbenchError, match="floating-point pixels"):
        load_images(tmp_path / "float")
    (tmp_path / "wide").mkdir()
    Image.fromarray(np.full((8, 8), 70000, dtype=np.int32)).save(tmp_path / "wide" / "a.tif")
    with pytest.raises(GbenchError, match="outside 16 bits"):
        load_images(tmp_path / "wide")


def test_an_image_over_the_decompression_bomb_limit_is_one_error(tmp_path, monkeypatch):
    from PIL import Image

    Image.new("L", (32, 32)).save(tmp_path / "big.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 100)  # 1,024 pixels > 2 × 100: PIL refuses to decode
    with pytest.raises(GbenchError, match="decompression-bomb limit"):
        load_images(tmp_path)


def test_odd_paths_say_what_they_are(tmp_path):
    """Issue 17, item 5: a FIFO or a symlink loop is not reported as missing."""
    os.mkfifo(tmp_path / "fifo.npz")
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    (tmp_path / "dangling").symlink_to(tmp_path / "nowhere")
    for name, needle in (("fifo.npz", "not a regular file or folder"), ("loop", "symlink loop"),
                         ("dangling", "broken symlink"), ("absent", "does not exist")):
        with pytest.raises(GbenchError, match=needle):
            load_images(tmp_path / name)


def test_npz_layouts(tmp_path):
    x = np.random.default_rng(0).integers(0, 256, (4, 8, 8, 3), dtype=np.uint8)
    np.savez(tmp_path / "nhwc.npz", images=x)
    np.savez(tmp_path / "nchw.npz", x.transpose(0, 3, 1, 2))
    a, b = load_npz(tmp_path / "nhwc.npz"), load_npz(tmp_path / "nchw.npz")
    assert a.shape == (4, 3, 8, 8) and torch.equal(a, b)


def test_labelled_folder(tmp_path):
    for k, cls in enumerate(("b", "a")):
        save_image_folder(torch.full((k + 1, 1, 4, 4), k, dtype=torch.uint8), tmp_path / cls)
    s = load_labelled_folder(tmp_path)
    assert s.classes == ("a", "b") and s.labels.tolist() == [0, 0, 1]


@pytest.mark.parametrize("case", ["missing", "empty", "unreadable", "mixed", "corrupt_npz", "float_npz"])
def test_bad_user_images(tmp_path, case):
    from PIL import Image

    path = tmp_path / "x"
    if case == "empty":
        path.mkdir()
    elif case == "unreadable":
        path.mkdir()
        (path / "a.png").write_bytes(b"not a png")
    elif case == "mixed":
        path.mkdir()
        Image.new("RGB", (8, 8)).save(path / "a.png")
        Image.new("RGB", (9, 8)).save(path / "b.png")
    elif case == "corrupt_npz":
        path = tmp_path / "x.npz"
        path.write_bytes(b"PK\x03\x04garbage")
    elif case == "float_npz":
        path = tmp_path / "x.npz"
        np.savez(path, images=np.zeros((2, 3, 4, 4), np.float32))
    with pytest.raises(GbenchError) as e:
        load_images(path)
    assert "\n" not in str(e.value)
