"""Paper-profile voxel data sets: ModelNet10 / ModelNet40 / ShapeNet occupancy grids from a local root.

3D-GAN (Wu et al. 2016) trains on ShapeNet voxelizations and evaluates its
features on ModelNet10/40; Achlioptas et al. (2018) score generated shapes
against held-out ShapeNet shapes. gbench reads the voxelized sets from
``--data-root DIR``; nothing is downloaded (the hosts need a registration or a
separate voxelization step) and nothing is unpickled.

Layouts (one folder per class, the class names are the folder names, sorted):

  ==================  ==========================================================
  modelnet10          ``DIR/ModelNet10/<class>/{train,test}/**/*.{binvox,npy,npz}``
  modelnet40          ``DIR/ModelNet40/<class>/{train,test}/**/*.{binvox,npy,npz}``
  shapenet-voxels     ``DIR/shapenet-voxels/<class or synset>/**/*.{binvox,npy,npz}``
                      (e.g. ShapeNetCore v2's ``<synset>/<model>/models/
                      model_normalized.solid.binvox``)
  ==================  ==========================================================

ModelNet's own layout (``<class>/{train,test}/``, as in the ``.off`` release, with
each model voxelized beside it) gives the official split. A class folder without
``train/`` and ``test/`` (ShapeNet has no official split in this form) is split by
file order: files sorted by path relative to the class folder, digit runs compared as
numbers; the last max(1, round(n / 5)) of each class are ``test`` (80 / 20, per class).
A class folder that has ``train/`` but no ``test/`` (or the reverse) is an error.

Files: ``.binvox`` (Min's binvox format, read by :func:`read_binvox`: a short
ASCII header and run-length pairs, nothing else is interpreted), ``.npy`` (one
3-D array) or ``.npz`` (one array, or the first of the keys ``voxels``,
``occupancy``, ``data``, ``arr_0``). Occupied iff the value is > 0.5 (bool, 0/1,
0/255 and occupancy probabilities all work).

Axes. binvox files are read into (x, y, z) order as binvox_rw does; ``.npy``/``.npz``
grids are taken as stored. The ModelNet meshes are z-up, so their grids already have
the `voxels` convention (last axis up). ShapeNet meshes are y-up: ``shapenet-voxels``
turns its grids by the cyclic axis permutation (x, y, z) → (z, x, y) (a rotation, not a
mirror), which puts the up axis last.

Resizing to S³ (S = 32, the `voxels` side): a non-cubic grid is first centre-padded
with empty voxels to a cube of its largest side d; then d = S is kept; d < S is
upsampled by nearest neighbour by ⌊S / d⌋ (an integer repeat) and centre-padded with
empty voxels (30³ → 32³ pads one voxel per side, as 3D ShapeNets did; 32 → 64 repeats
every voxel twice); d > S is reduced by adaptive max pooling — a cell is occupied iff
any voxel of its block is (128³ → 32³: blocks of 4³), which keeps thin parts such as
chair legs at the cost of a dilation by less than one output voxel.

Each split is a lazy uint8 (N, 1, S, S, S) source (:class:`VoxelFiles`) that reads and
resizes the files it is indexed with; a split never sits in memory.
"""

from __future__ import annotations

import functools
import os
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.data.lazy import LazyImages
from gbench.errors import GbenchError

SUFFIXES = (".binvox", ".npy", ".npz")
NPZ_KEYS = ("voxels", "occupancy", "data", "arr_0")
MAX_SIDE = 1024          # a binvox header asking for more is refused, not allocated
TEST_FRACTION = 0.2      # folders without train/ and test/: the last fifth of each class is test
DEFAULT_SIZE = 32


# ---------------------------------------------------------------------------- file formats


def read_binvox(path: Path | str) -> np.ndarray:
    """A ``.binvox`` file → bool (dx, dy, dz) occupancy in (x, y, z) order.

    Format (Patrick Min's binvox): ASCII lines ``#binvox 1``, ``dim dx dy dz``,
    optionally ``translate tx ty tz`` and ``scale s``, then ``data``; then bytes in
    (value, count) pairs, count 1..255, whose run lengths sum to dx·dy·dz. Voxels
    are stored with y fastest, then z, then x, i.e. an array of shape (dx, dz, dy),
    transposed here to (x, y, z). Anything else — a wrong magic line, missing
    dims, a side > 1,024, a count of 0, runs that do not add up — is a one-line
    :class:`GbenchError` naming the file.
    """
    path = Path(path)
    data = path.read_bytes()

    def bad(why: str) -> GbenchError:
        return GbenchError(f"{path} is not a valid binvox file ({why}): re-export it with binvox")

    pos, dims = 0, None
    for lineno in range(8):  # header: at most magic, dim, translate, scale, data (+ slack)
        end = data.find(b"\n", pos)
        if end < 0:
            raise bad("header ends before 'data'")
        line = data[pos:end].strip().decode("ascii", errors="replace")
        pos = end + 1
        if lineno == 0:
            if not line.startswith("#binvox"):
                raise bad(f"first line {line[:20]!r} is not '#binvox 1'")
            continue
        if line.startswith("dim"):
            try:
                dims = tuple(int(t) for t in line.split()[1:4])
            except ValueError:
                raise bad(f"bad dim line {line!r}") from None
        elif line == "data":
            break
    else:
        raise bad("no 'data' line in the header")
    if dims is None or len(dims) != 3 or not all(0 < d <= MAX_SIDE for d in dims):
        raise bad(f"dims {dims} must be three sides in 1..{MAX_SIDE}")
    runs = np.frombuffer(data, dtype=np.uint8, offset=pos)
    if len(runs) % 2:
        raise bad("odd number of run-length bytes")
    values, counts = runs[0::2], runs[1::2].astype(np.int64)
    total = int(np.prod(dims))
    if (counts == 0).any() or int(counts.sum()) != total:
        raise bad(f"run lengths add up to {int(counts.sum())}, not {total} voxels")
    flat = np.repeat(values > 0, counts)
    return flat.reshape(dims[0], dims[2], dims[1]).transpose(0, 2, 1)


def read_grid(path: Path | str) -> np.ndarray:
    """One voxel file (``.binvox``, ``.npy``, ``.npz``) → bool 3-D occupancy (value > 0.5)."""
    path = Path(path)
    suffix = path.suffix.lower()
    try:
        if suffix == ".binvox":
            return read_binvox(path)
        if suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif suffix == ".npz":
            with np.load(path, allow_pickle=False) as z:
                key = z.files[0] if len(z.files) == 1 else next((k for k in NPZ_KEYS if k in z.files), None)
                if key is None:
                    raise GbenchError(f"{path} holds arrays {z.files}: store one array, or name it one of "
                                      f"{', '.join(NPZ_KEYS)}")
                arr = z[key]
        else:
            raise GbenchError(f"{path}: voxel files must end in {', '.join(SUFFIXES)}")
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise GbenchError(f"cannot read voxel file {path}: {e}") from None
    arr = np.squeeze(arr)  # a raw (non-.npy) npz member is bytes: a 0-d array, refused below
    if arr.ndim != 3 or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == np.bool_):
        raise GbenchError(f"{path} holds a {arr.dtype} array of shape {arr.shape}: a voxel file must hold one "
                          "3-D occupancy grid (bool, 0/1, 0/255 or probabilities)")
    return arr > 0.5


def resize_grid(occ: np.ndarray, size: int) -> np.ndarray:
    """bool (dx, dy, dz) → bool (size, size, size) by the rule in the module docstring."""
    side = max(occ.shape)
    pad = [((side - d) // 2, side - d - (side - d) // 2) for d in occ.shape]
    occ = np.pad(occ, pad)
    if side == size:
        return occ
    if side < size:
        k = size // side
        occ = occ.repeat(k, 0).repeat(k, 1).repeat(k, 2) if k > 1 else occ
        rest = size - occ.shape[0]
        return np.pad(occ, [(rest // 2, rest - rest // 2)] * 3)
    t = torch.from_numpy(occ.astype(np.float32))[None, None]
    return F.adaptive_max_pool3d(t, size)[0, 0].numpy() > 0.5


@dataclass(frozen=True)
class GridDecoder:
    """A file → uint8 (1, S, S, S) in {0, 255}: read, turn (``rotate_up``: y-up → z-up), resize.
    A module-level class, so a split's lazy source pickles and the feature cache can name it."""

    size: int = DEFAULT_SIZE
    rotate_up: bool = False

    def __call__(self, path: Path) -> np.ndarray:
        occ = read_grid(path)
        if self.rotate_up:
            occ = occ.transpose(2, 0, 1)  # (x, y, z) → (z, x, y): the y (up) axis last
        return (resize_grid(occ, self.size).astype(np.uint8) * np.uint8(255))[None]


class VoxelFiles(LazyImages):
    """uint8 (N, 1, S, S, S) volumes, one file each, read and resized when indexed
    (:class:`~gbench.data.lazy.LazyImages`' indexing, for 5-D data)."""

    ndim = 5

    def __init__(self, files, decode, shape: tuple[int, int, int, int]):
        if len(shape) != 4:
            raise ValueError(f"shape must be (C, D, H, W), got {tuple(shape)}")
        self.files = tuple(os.fspath(f) for f in files)
        self.decode = decode
        self.image_shape = tuple(int(s) for s in shape)

    def subset(self, index) -> "VoxelFiles":
        if isinstance(index, (int, np.integer)):
            index = [index]
        return VoxelFiles([self.files[int(i)] for i in self._positions(index)], self.decode, self.image_shape)


# ---------------------------------------------------------------------------- layouts


def _natural_key(text: str) -> tuple:
    return tuple(int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", text))


def _voxel_files(folder: Path) -> list[Path]:
    files = [p for p in folder.rglob("*") if p.suffix.lower() in SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: _natural_key(p.relative_to(folder).as_posix()))


@dataclass(frozen=True)
class VoxelFolderSet:
    """A voxel data set under ``DIR/folder`` (layout in the module docstring)."""

    name: str
    folder: str
    source: str
    rotate_up: bool = False
    split_folders: bool = True  # the usual layout (for messages); either layout is read

    @property
    def layout(self) -> str:
        if self.split_folders:
            return f"DIR/{self.folder}/<class>/{{train,test}}/**/*.{{binvox,npy,npz}}"
        return f"DIR/{self.folder}/<class>/**/*.{{binvox,npy,npz}} (last fifth of each class = test)"

    def classes(self, root: Path) -> tuple[str, ...]:
        base = Path(root) / self.folder
        return tuple(sorted((p.name for p in base.iterdir() if p.is_dir()), key=_natural_key))

    def first_missing(self, root: Path) -> Path | None:
        """The first required path that is absent (the folder, a class folder), or None."""
        base = Path(root) / self.folder
        if not base.is_dir():
            return base
        if not self.classes(root):
            return base / "<class>"
        return None

    def reason(self, root: Path) -> str:
        path = self.first_missing(root)
        return "" if path is None else f"{self.name} not found: expected {path} (layout {self.layout})"

    def split_files(self, split: str, root: Path) -> tuple[list[Path], list[int], tuple[str, ...]]:
        """(files, labels, classes) of a split."""
        if split not in SPLITS:
            raise GbenchError(f"unknown split {split!r} for dataset {self.name!r}: use one of {', '.join(SPLITS)}")
        path = self.first_missing(root)
        if path is not None:
            raise GbenchError(f"{self.name} not found: expected {path}; get {self.source}, voxelize it "
                              f"(binvox or .npy/.npz occupancy grids) and place it as {self.layout}")
        base = Path(root) / self.folder
        classes = self.classes(root)
        files: list[Path] = []
        labels: list[int] = []
        for label, name in enumerate(classes):
            folder = base / name
            has = {s: (folder / s).is_dir() for s in SPLITS}
            if any(has.values()) and not all(has.values()):
                missing = folder / next(s for s in SPLITS if not has[s])
                raise GbenchError(f"{self.name}: {missing} is missing (class {name!r} has only some of "
                                  f"{'/'.join(SPLITS)}/): give every class both, or neither")
            if all(has.values()):
                part = _voxel_files(folder / split)
            else:
                found = _voxel_files(folder)
                n_test = max(1, round(len(found) * TEST_FRACTION)) if found else 0
                part = found[:len(found) - n_test] if split == "train" else found[len(found) - n_test:]
            files += part
            labels += [label] * len(part)
        if not files:
            raise GbenchError(f"{self.name}: no .binvox/.npy/.npz files for split {split!r} under {base} "
                              f"(layout {self.layout})")
        return files, labels, classes

    def load(self, split: str, root: Path, size: int = DEFAULT_SIZE) -> ImageSet:
        files, labels, classes = self.split_files(split, Path(root))
        grids = VoxelFiles([os.fspath(f) for f in files], GridDecoder(size, self.rotate_up), (1, size, size, size))
        return ImageSet(grids, torch.tensor(labels, dtype=torch.int64), classes)


SETS = {
    "modelnet10": VoxelFolderSet("modelnet10", "ModelNet10", "ModelNet10 (modelnet.cs.princeton.edu)"),
    "modelnet40": VoxelFolderSet("modelnet40", "ModelNet40", "ModelNet40 (modelnet.cs.princeton.edu)"),
    "shapenet-voxels": VoxelFolderSet("shapenet-voxels", "shapenet-voxels",
                                      "ShapeNetCore (shapenet.org; its models/*.solid.binvox)", rotate_up=True,
                                      split_folders=False),
}


@dataclass(frozen=True)
class VoxelRootSpec(DatasetSpec):
    """A :class:`DatasetSpec` whose ``availability(root)`` also checks the folders under the root."""

    def availability(self, root: Path | None) -> tuple[bool, str]:
        ok, why = super().availability(root)
        if not ok or root is None:
            return ok, why
        why = SETS[self.name].reason(Path(root))
        return not why, why


def _registered(name: str, split: str, root: Path, download: bool) -> ImageSet:
    if download and SETS[name].first_missing(Path(root)) is not None:
        raise GbenchError(f"{name} has no automatic download (it needs a voxelization step): get "
                          f"{SETS[name].source}, voxelize it and place it as {SETS[name].layout}")
    return SETS[name].load(split, Path(root), DEFAULT_SIZE)


def _spec(name: str, description: str, classes: int | None) -> VoxelRootSpec:
    s = DEFAULT_SIZE
    return VoxelRootSpec(name, description, "paper", functools.partial(_registered, name), (1, s, s, s), classes,
                         SETS[name].layout)


SPECS = (
    _spec("modelnet10", "ModelNet10 voxel grids (binvox/.npy/.npz) from a local root, 10 classes, official "
          "train/test, resized to 1×32³", 10),
    _spec("modelnet40", "ModelNet40 voxel grids (binvox/.npy/.npz) from a local root, 40 classes, official "
          "train/test, resized to 1×32³", 40),
    _spec("shapenet-voxels", "ShapeNet voxel grids (e.g. *.solid.binvox) per synset folder from a local root, "
          "y-up turned z-up, last fifth per class = test, 1×32³", None),
)
