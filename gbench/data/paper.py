"""Paper-profile datasets read from a local root in torchvision's on-disk format.

Nothing is downloaded unless ``download=True`` (``gbench run --download``).
Files are parsed directly — CIFAR-10's python batches through a restricted
unpickler that admits only plain containers and numpy arrays, MNIST's IDX
files and CIFAR-10's binary batches as raw bytes — so no untrusted pickle can
run code.

Layouts under ``--data-root DIR``:
  * cifar10: ``DIR/cifar-10-batches-py/{data_batch_1..5,test_batch}`` (torchvision),
    or ``DIR/cifar-10-batches-bin/{data_batch_1..5,test_batch}.bin``, or a
    labelled PNG tree ``DIR/cifar10/{train,test}/<class>/*.png`` (also accepted
    directly as ``DIR/{train,test}/<class>``). Official split: 50,000 / 10,000.
  * mnist: ``DIR/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]``
    (torchvision). Official split 60,000 / 10,000; 28×28 zero-padded to 32×32
    (2 pixels each side) so the same architectures serve MNIST and digits.
  * celeba: ``DIR/celeba/img_align_celeba/*.jpg`` + ``DIR/celeba/list_eval_partition.txt``
    (torchvision). Official partition: train = 0, test = 2 (validation unused).
    Each 178×218 image is centre-cropped to 140×140 and resized to 64×64
    (antialiased bilinear), the preprocessing of DCGAN-era CelebA work. The
    splits are :class:`~gbench.data.lazy.LazyImages`: each image is decoded
    when indexed, so the 162,770-image train split never sits in memory.
    CIFAR-10 and MNIST are small and load as uint8 tensors.
"""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import torch

from gbench.data.base import DatasetSpec, ImageSet
from gbench.data.folder import load_labelled_folder
from gbench.data.lazy import LazyImages
from gbench.errors import GbenchError

CIFAR10_CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


class _SafeUnpickler(pickle.Unpickler):
    """Admits only what CIFAR-10's batches hold: dicts, lists, bytes, numpy arrays."""

    _ALLOWED = {
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"),
        ("numpy.core.multiarray", "scalar"), ("numpy._core.multiarray", "scalar"),
        ("_codecs", "encode"),
    }

    def find_class(self, module, name):
        if (module, name) in self._ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a dataset file")


def _download(name: str, root: Path) -> None:
    import torchvision.datasets as tvd

    cls = {"cifar10": tvd.CIFAR10, "mnist": tvd.MNIST}.get(name)
    if cls is None:
        raise GbenchError(f"{name} cannot be downloaded by gbench: place it under {root} by hand (see `gbench list`)")
    try:
        cls(str(root), train=True, download=True)
    except Exception as e:  # URLError, HTTPError, a checksum RuntimeError, a full disk: one line whatever the cause
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise GbenchError(f"could not download {name} into {root} ({detail}): check the network, or fetch the "
                          "files by hand and place them there (see `gbench list`)") from None


def _cifar10(split: str, root: Path, download: bool) -> ImageSet:
    files = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
    py, binary = root / "cifar-10-batches-py", root / "cifar-10-batches-bin"
    for tree in (root / "cifar10" / split, root / split):
        if tree.is_dir():
            return load_labelled_folder(tree)
    if not py.is_dir() and not binary.is_dir() and download:
        _download("cifar10", root)
    if py.is_dir():
        xs, ys = [], []
        for f in files:
            try:
                with open(py / f, "rb") as fh:
                    d = _SafeUnpickler(fh, encoding="latin1").load()
                xs.append(np.asarray(d["data"], dtype=np.uint8).reshape(-1, 3, 32, 32))
                ys.append(np.asarray(d["labels"], dtype=np.int64))
            except pickle.UnpicklingError as e:  # our refusal, or a corrupt stream
                raise GbenchError(f"CIFAR-10 batch {py / f} refused: {e}; restore the original file from the "
                                  "CIFAR-10 archive") from None
            except (OSError, EOFError, KeyError, TypeError, ValueError) as e:
                raise GbenchError(f"CIFAR-10 batch {py / f} is missing, truncated or not a CIFAR-10 batch "
                                  f"({type(e).__name__}): restore the original file from the archive") from None
        return ImageSet(torch.from_numpy(np.concatenate(xs)), torch.from_numpy(np.concatenate(ys)), CIFAR10_CLASSES)
    if binary.is_dir():
        raw = np.concatenate([np.fromfile(binary / f"{f}.bin", dtype=np.uint8).reshape(-1, 3073) for f in files])
        return ImageSet(torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy()),
                        torch.from_numpy(raw[:, 0].astype(np.int64)), CIFAR10_CLASSES)
    raise GbenchError(f"CIFAR-10 not found under {root}: expected {py} (torchvision format) or {root}/cifar10/{split}/<class>/*.png; "
                      "pass --download to fetch it")


def _read_idx(path: Path) -> np.ndarray:
    for p in (path, path.with_name(path.name + ".gz")):
        if p.is_file():
            data = gzip.open(p, "rb").read() if p.suffix == ".gz" else p.read_bytes()
            ndim = data[3]
            dims = np.frombuffer(data, dtype=">i4", count=ndim, offset=4)
            return np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim).reshape(dims)
    raise FileNotFoundError(path)


def _mnist(split: str, root: Path, download: bool) -> ImageSet:
    raw = root / "MNIST" / "raw"
    prefix = "train" if split == "train" else "t10k"
    if not raw.is_dir() and download:
        _download("mnist", root)
    try:
        x = _read_idx(raw / f"{prefix}-images-idx3-ubyte")
        y = _read_idx(raw / f"{prefix}-labels-idx1-ubyte")
    except FileNotFoundError as e:
        raise GbenchError(f"MNIST file {e.args[0]} not found: put torchvision's MNIST under {root}/MNIST/raw "
                          "or pass --download") from None
    x = np.pad(x, ((0, 0), (2, 2), (2, 2)))[:, None]
    return ImageSet(torch.from_numpy(x.copy()), torch.from_numpy(y.astype(np.int64)), tuple(str(i) for i in range(10)))


CELEBA_CROP, CELEBA_SIZE = 140, 64


def decode_celeba(path: Path) -> np.ndarray:
    """One aligned CelebA JPEG → uint8 (3, 64, 64): centre crop 140×140, antialiased bilinear resize to 64×64."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            w, h = im.size
            left, top = (w - CELEBA_CROP) // 2, (h - CELEBA_CROP) // 2
            im = im.convert("RGB").crop((left, top, left + CELEBA_CROP, top + CELEBA_CROP))
            im = im.resize((CELEBA_SIZE, CELEBA_SIZE), Image.BILINEAR, reducing_gap=None)
            return np.ascontiguousarray(np.asarray(im).transpose(2, 0, 1))
    except OSError as e:  # missing, truncated or not an image
        raise GbenchError(f"cannot read CelebA image {path}: {e}; restore the file from the CelebA archive") from None


def _celeba(split: str, root: Path, download: bool) -> ImageSet:
    """The split as :class:`LazyImages`: nothing is decoded until indexed (the train split
    would take 2 GB as uint8); an image is decoded again each time it is read."""
    base = Path(root) / "celeba"
    part, folder = base / "list_eval_partition.txt", base / "img_align_celeba"
    if not part.is_file() or not folder.is_dir():
        raise GbenchError(f"CelebA not found: expected {part} and {folder} (torchvision layout); "
                          "download it by hand (its host requires a browser)")
    want = "0" if split == "train" else "2"
    names = [ln.split()[0] for ln in part.read_text().splitlines() if ln.strip() and ln.split()[1] == want]
    files = [os.path.join(folder, n) for n in names]  # str: 162,770 Path objects would take 60 MB more
    return ImageSet(LazyImages(files, decode_celeba, (3, CELEBA_SIZE, CELEBA_SIZE)))


SPECS = (
    DatasetSpec("cifar10", "CIFAR-10 from a local root (torchvision format or PNG tree), 3×32×32, 50k/10k",
                "paper", _cifar10, (3, 32, 32), 10, "DIR/cifar-10-batches-py or DIR/cifar10/{train,test}/<class>/*.png"),
    DatasetSpec("mnist", "MNIST from a local root (torchvision format), zero-padded to 1×32×32, 60k/10k",
                "paper", _mnist, (1, 32, 32), 10, "DIR/MNIST/raw/*-ubyte[.gz]"),
    DatasetSpec("celeba", "CelebA aligned faces from a local root (torchvision layout), centre-crop 140 → 3×64×64",
                "paper", _celeba, (3, 64, 64), None, "DIR/celeba/img_align_celeba + list_eval_partition.txt"),
)
