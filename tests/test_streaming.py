"""Streaming data: CelebA decoded on access (LazyImages) and the zoo trainer
reading uint8 minibatches from it, bit-identical to training on float tensors."""

import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from gbench.data import DATASETS, ImageSet
from gbench.data.lazy import LazyImages
from gbench.errors import GbenchError
from zoo.models import MODELS
from zoo.train import LOG, train

N_TRAIN, N_VAL, N_TEST = 300, 20, 40


@pytest.fixture(scope="module")
def celeba_root(tmp_path_factory):
    """A CelebA tree in torchvision's layout: 178×218 JPEG faces-to-be and the partition file."""
    from PIL import Image

    root = tmp_path_factory.mktemp("celeba_root")
    folder = root / "celeba" / "img_align_celeba"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(0)
    lines = []
    for i in range(N_TRAIN + N_VAL + N_TEST):
        name = f"{i + 1:06d}.jpg"
        coarse = rng.integers(0, 256, (218 // 8, 178 // 8, 3), dtype=np.uint8)  # smooth content, like photos
        Image.fromarray(coarse).resize((178, 218), Image.BICUBIC).save(folder / name, quality=90)
        lines.append(f"{name} {0 if i < N_TRAIN else 1 if i < N_TRAIN + N_VAL else 2}")
    (root / "celeba" / "list_eval_partition.txt").write_text("\n".join(lines) + "\n")
    return root


def _eager(path):
    """The preprocessing CelebA had when it was decoded whole (before LazyImages), kept here as the reference."""
    from PIL import Image

    with Image.open(path) as im:
        w, h = im.size
        left, top = (w - 140) // 2, (h - 140) // 2
        im = im.convert("RGB").crop((left, top, left + 140, top + 140))
        im = im.resize((64, 64), Image.BILINEAR, reducing_gap=None)
        return torch.from_numpy(np.asarray(im).transpose(2, 0, 1).copy())


@pytest.fixture
def opened(monkeypatch):
    """Paths PIL opens during the test."""
    from PIL import Image

    real, paths, lock = Image.open, [], threading.Lock()

    def spy(fp, *args, **kwargs):
        with lock:
            paths.append(fp)
        return real(fp, *args, **kwargs)

    monkeypatch.setattr(Image, "open", spy)
    return paths


def test_celeba_loads_lazily(celeba_root, opened):
    train_set, test_set = DATASETS.get("celeba")("train", celeba_root), DATASETS.get("celeba")("test", celeba_root)
    assert isinstance(train_set.images, LazyImages) and isinstance(test_set.images, LazyImages)
    assert opened == []  # nothing decoded until indexed
    assert len(train_set) == N_TRAIN and len(test_set) == N_TEST
    assert train_set.images.shape == (N_TRAIN, 3, 64, 64)
    assert train_set.images.dtype == torch.uint8 and train_set.images.ndim == 4
    assert Path(train_set.images.files[0]).name == "000001.jpg"
    assert Path(test_set.images.files[0]).name == f"{N_TRAIN + N_VAL + 1:06d}.jpg"
    sub = train_set.images.subset(torch.tensor([5, 1]))
    assert opened == [] and len(sub) == 2
    x = train_set.images[torch.tensor([3, 7, 7])]
    assert x.shape == (3, 3, 64, 64) and len(opened) == 3


def test_lazy_pixels_equal_an_eager_decode(celeba_root):
    images = DATASETS.get("celeba")("train", celeba_root).images
    files = images.files
    eager = torch.stack([_eager(f) for f in files[:12]])
    assert torch.equal(images[:12], eager)
    assert torch.equal(images[torch.tensor([11, 0, 4])], eager[[11, 0, 4]])
    assert torch.equal(images[[2, -N_TRAIN + 1]], eager[[2, 1]])
    assert torch.equal(images[np.int64(5)], eager[5]) and torch.equal(images[-1], _eager(files[-1]))
    assert torch.equal(images[torch.tensor(3)], eager[3])
    assert torch.equal(images[:12:5], eager[::5])
    mask = torch.zeros(N_TRAIN, dtype=torch.bool)
    mask[[1, 6]] = True
    assert torch.equal(images[mask], eager[[1, 6]])
    assert torch.equal(images.subset(torch.arange(4, 8))[1:3], eager[5:7])
    assert images[torch.empty(0, dtype=torch.int64)].shape == (0, 3, 64, 64)
    small = images.subset(slice(0, 12))
    assert torch.equal(small.materialize(), eager)
    with pytest.raises(IndexError):
        images[N_TRAIN]
    with pytest.raises(IndexError):
        images[torch.tensor([0, N_TRAIN])]


def test_image_set_takes_tensors_and_lazy_sources(celeba_root):
    lazy = DATASETS.get("celeba")("test", celeba_root).images
    s = ImageSet(lazy)
    assert len(s) == N_TEST and s.images.shape[1:] == (3, 64, 64)
    assert ImageSet(lazy[:4]).images.shape == (4, 3, 64, 64)  # a slice is a tensor
    ImageSet(lazy, torch.zeros(N_TEST, dtype=torch.int64))
    with pytest.raises(ValueError, match="labels"):
        ImageSet(lazy, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(ValueError, match="uint8"):
        ImageSet(torch.zeros(2, 3, 8, 8))
    with pytest.raises(ValueError, match="uint8"):
        ImageSet([1, 2, 3])


def test_unreadable_image_is_named(tmp_path):
    (tmp_path / "bad.jpg").write_bytes(b"not a jpeg")
    from gbench.data.paper import decode_celeba

    images = LazyImages([tmp_path / "bad.jpg"], decode_celeba, (3, 64, 64))
    with pytest.raises(GbenchError, match="bad.jpg"):
        images[0]
    wrong = LazyImages([tmp_path / "bad.jpg"], lambda p: np.zeros((3, 32, 32), np.uint8), (3, 64, 64))
    with pytest.raises(GbenchError, match="expected uint8"):
        wrong[:1]


def _dcgan():
    spec = MODELS.get("dcgan")
    config = spec.make_config("smoke", (3, 64, 64), None)
    return spec, config


def test_dcgan_trains_on_lazy_celeba_as_on_float(celeba_root, tmp_path, opened):
    spec, config = _dcgan()
    images = DATASETS.get("celeba")("train", celeba_root).images
    lazy_model = spec.build(config)
    history = train(lazy_model, config, images, None, tmp_path / "lazy", "cpu", seed=0, progress=False)
    assert [h["step"] for h in history] == list(range(1, config.train.steps + 1))
    # only minibatches (plus one prefetched), and a strided subset for the checkpoint fingerprint, were read
    tc = config.train
    fingerprint = len(range(0, N_TRAIN, N_TRAIN // 64))
    assert len(opened) <= tc.steps * 2 * tc.batch_size + tc.batch_size + fingerprint < N_TRAIN

    u8 = images.materialize()
    float_model = spec.build(config)
    assert train(float_model, config, u8.float() / 127.5 - 1, None, tmp_path / "float", "cpu", seed=0,
                 progress=False) == history
    for k, v in lazy_model.state_dict().items():
        assert torch.equal(v, float_model.state_dict()[k]), k


class Killed(Exception):
    pass


def test_lazy_run_killed_and_resumed_from_a_uint8_tensor(celeba_root, tmp_path):
    spec, config = _dcgan()
    images = DATASETS.get("celeba")("train", celeba_root).images
    straight = spec.build(config)
    train(straight, config, images, None, tmp_path / "a", "cpu", seed=1, progress=False)

    victim = spec.build(config)
    real, calls = victim.loss, [0]

    def loss(*args):
        calls[0] += 1
        if calls[0] == 7:  # iteration 4, after the checkpoint at 2
            raise Killed
        return real(*args)

    victim.loss = loss
    with pytest.raises(Killed):
        train(victim, config, images, None, tmp_path / "b", "cpu", seed=1, progress=False)
    resumed = spec.build(config)
    train(resumed, config, images.materialize(), None, tmp_path / "b", "cpu", seed=1, progress=False)
    assert (tmp_path / "a" / LOG).read_text() == (tmp_path / "b" / LOG).read_text()
    for k, v in straight.state_dict().items():
        assert torch.equal(v, resumed.state_dict()[k]), k
