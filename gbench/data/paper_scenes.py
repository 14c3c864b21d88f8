"""Paper-profile counterparts of `scenes`: real images with the conditioning that papers use.

The procedural ``scenes`` set (:mod:`gbench.data.scenes`) gives every image a class
label, an integer label map and a caption. These loaders give the same outputs for the
real data sets that text-to-image, label-map-to-image and unconditional papers train
and evaluate on, read from a local ``--data-root DIR``; nothing is downloaded (the hosts
need a registration or a browser) and nothing is unpickled.

  ==========  =====================  ===========  =====  ========  ===========================
  name        paper data             images       label  label     captions
                                     (uint8)      maps   classes
  ==========  =====================  ===========  =====  ========  ===========================
  birds       CUB-200-2011 + Reed    3×S×S        —      200       10 per image (Reed et al.)
              et al. captions        (bbox crop)
  ade20k      ADEChallengeData2016   3×S×S        S×S    scene     —
                                                  0..150 category
  cityscapes  Cityscapes gtFine      3×S×2S       S×2S   —         —
                                                  0..33
  ffhq        FFHQ faces             3×S×S        —      —         —
  celeba-hq   CelebA-HQ faces        3×S×S        —      —         —
  ==========  =====================  ===========  =====  ========  ===========================

Layouts, splits and preprocessing of each are in :mod:`gbench.data.paper_birds`
(birds), :mod:`gbench.data.paper_layouts` (ade20k, cityscapes) and below (faces).

Faces (``ffhq``, ``celeba-hq``). Layout ``DIR/ffhq/`` holding ``thumbnails128x128/``
and/or ``images1024x1024/`` (the official release: 70 sub-folders of 1,000 PNGs, read
recursively) or any tree of images; the thumbnails are used when S ≤ 128 and present,
else the 1024² images. ``DIR/celeba-hq/``: any tree of images (``CelebA-HQ-img/*.jpg``
of CelebAMask-HQ, ``data1024x1024/*.png`` of the PGGAN release). Files are ordered by
their path relative to that folder with digit runs compared as numbers (``2.jpg``
before ``10.jpg``). Neither set has an official split; gbench fixes the usual sizes by
that order: FFHQ's last 10,000 of 70,000 images are ``test`` (the 60k / 10k convention
of e.g. taming-transformers), CelebA-HQ's last 3,000 of 30,000 (the 27k / 3k of Glow and
NVAE); a folder of another size N keeps the same fraction, ``test`` = the last
max(1, round(N / 7)) resp. max(1, round(N / 10)) files. A non-square image is first
centre-cropped to a square; every image is resized to S×S with PIL's antialiased
Lanczos filter (StyleGAN's dataset_tool). Unlabelled.

Common API (mirrors ``scenes.load_split``): :func:`load_conditioned` returns a
:class:`ConditionedSet`; its images are :class:`~gbench.data.lazy.LazyImages` and its
label maps :class:`LazyLabelMaps`, both decoded and resized when indexed (a split never
sits in memory; both pickle, for DataLoader workers). The registered specs
(:data:`SPECS`) return the usual :class:`~gbench.data.base.ImageSet` (images and class
labels where the set has them) at the registered size, and their ``availability(root)``
names the exact missing path. ``download=True`` with the data missing is a one-line
:class:`~gbench.errors.GbenchError` that says where to get the set and where to put it.
"""

from __future__ import annotations

import functools
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.data.folder import IMAGE_SUFFIXES
from gbench.data.lazy import LazyImages
from gbench.errors import GbenchError

DEFAULT_SIZE = 64  # the registered specs' S: the side of `scenes` and of the zoo's conditional models


@dataclass(frozen=True, eq=False)
class ConditionedSet:
    """One split of a paper data set with everything it has to condition on.

    Attributes:
        name: registry name (``birds``, ``ade20k``, ``cityscapes``, ``ffhq``, ``celeba-hq``).
        split: ``train`` or ``test``.
        images: uint8 (N, 3, H, W) RGB (H = W = S; cityscapes W = 2S), decoded when indexed.
        label_maps: uint8 (N, H, W) per-pixel class values (index into ``label_classes``),
            decoded when indexed; None where the set has none.
        labels: int64 (N,) class of each image (index into ``classes``), or None.
        classes: names of the image classes, or None.
        label_classes: names of the label-map values (``label_classes[v]`` names value v), or None.
        captions: N tuples of captions (all the set has per image), or None.
        split_rule: which split convention produced this split (e.g. class-disjoint vs
            CUB's own), in words.
        names: the id of each image: its path relative to the data set's folder.
    """

    name: str
    split: str
    images: LazyImages
    label_maps: LazyLabelMaps | None
    labels: torch.Tensor | None
    classes: tuple[str, ...] | None
    label_classes: tuple[str, ...] | None
    captions: tuple[tuple[str, ...], ...] | None
    split_rule: str
    names: tuple[str, ...]

    def __post_init__(self):
        n = len(self.images)
        for what, v in (("label_maps", self.label_maps), ("labels", self.labels), ("captions", self.captions),
                        ("names", self.names)):
            if v is not None and len(v) != n:
                raise ValueError(f"ConditionedSet.{what} has {len(v)} rows for {n} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def first_captions(self) -> tuple[str, ...] | None:
        """"The" caption of each image: its first (the file's first line for birds), or None."""
        return None if self.captions is None else tuple(c[0] if c else "" for c in self.captions)

    def image_set(self) -> ImageSet:
        """The images and class labels as the registry's :class:`ImageSet`."""
        return ImageSet(self.images, self.labels, self.classes if self.labels is not None else None)


class LazyLabelMaps(LazyImages):
    """uint8 label maps (N, H, W), one file each, decoded by ``decode`` when indexed.

    A :class:`LazyImages` of single-channel images whose channel axis is dropped on the
    way out, so indexing, ``subset``, threads and pickling are LazyImages'.
    ``maps[i]`` → (H, W); ``maps[a:b]``, ``maps[int or bool array]`` → (n, H, W).

    Args:
        files: one label image per map.
        decode: ``decode(path) -> uint8 (1, H, W)`` (module-level or picklable).
        shape: (H, W) of every decoded map.
    """

    ndim = 3

    def __init__(self, files: Sequence[Path | str], decode: Callable[[Path], np.ndarray], shape: tuple[int, int]):
        super().__init__(files, decode, (1, *shape))

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.files), *self.image_shape[1:]))

    def __repr__(self) -> str:
        return f"LazyLabelMaps({len(self)} × {'×'.join(map(str, self.image_shape[1:]))} uint8)"

    def __getitem__(self, index) -> torch.Tensor:
        x = super().__getitem__(index)
        return x[0] if x.ndim == 3 else x[:, 0]

    def subset(self, index) -> "LazyLabelMaps":
        part = super().subset(index)
        return LazyLabelMaps(part.files, part.decode, part.image_shape[1:])


@dataclass(frozen=True, eq=False)
class Decoder:
    """A picklable ``decode(path)`` for :class:`LazyImages`: read, crop, resize.

    Attributes:
        size: (H, W) of the output.
        resample: PIL filter name: ``bicubic`` / ``lanczos`` for photos (PIL's resize is
            antialiased when it shrinks), ``nearest`` for label maps (never a new value).
        labels: decode a label image (8-bit grey or palette PNG; values kept) to uint8
            (1, H, W) instead of RGB to uint8 (3, H, W).
        crop: ``crop(os.fspath(path), width, height)`` → the (left, top, right, bottom) pixel box
            to keep, or None (picklable, e.g. :class:`gbench.data.paper_birds.StackGANCrop`).
        centre_square: crop the largest centred square first (faces).
    """

    size: tuple[int, int]
    resample: str = "bicubic"
    labels: bool = False
    crop: Callable[[str, int, int], tuple[int, int, int, int]] | None = None
    centre_square: bool = False

    def __call__(self, path: Path) -> np.ndarray:
        from PIL import Image

        try:
            with Image.open(path) as im:
                if self.labels and im.mode not in ("L", "P"):
                    raise GbenchError(f"label map {path} is a {im.mode!r} image; expected 8-bit class values "
                                      "(mode L or P): use the dataset's original annotation PNGs")
                im = im if self.labels else im.convert("RGB")
                if self.crop is not None:
                    im = im.crop(self.crop(os.fspath(path), *im.size))
                if self.centre_square:
                    w, h = im.size
                    s = min(w, h)
                    im = im.crop(((w - s) // 2, (h - s) // 2, (w - s) // 2 + s, (h - s) // 2 + s))
                filt = getattr(Image.Resampling, self.resample.upper())
                im = im.resize((self.size[1], self.size[0]), filt, reducing_gap=None)
                arr = np.asarray(im)
        except OSError as e:  # missing, truncated or not an image
            raise GbenchError(f"cannot read {path}: {e}; restore the file from the data set's archive") from None
        return np.ascontiguousarray(arr[None] if self.labels else arr.transpose(2, 0, 1))


def natural_key(text: str) -> tuple:
    """Sort key comparing digit runs as numbers: ``2.jpg`` < ``10.jpg`` (CelebA-HQ's names)."""
    return tuple(int(t) if t.isdigit() else t for t in re.split(r"(\d+)", text))


def image_tree(folder: Path) -> list[Path]:
    """Every image file under ``folder`` (recursively), in :func:`natural_key` order of relative path."""
    files = [p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and p.is_file()]
    return sorted(files, key=lambda p: natural_key(p.relative_to(folder).as_posix()))


def check_split(name: str, split: str) -> None:
    if split not in SPLITS:
        raise GbenchError(f"unknown split {split!r} for dataset {name!r}: use one of {', '.join(SPLITS)}")


def check_size(name: str, size: int) -> int:
    if not isinstance(size, (int, np.integer)) or size < 1:
        raise GbenchError(f"size for dataset {name!r} must be a positive int (e.g. 64, 128, 256), got {size!r}")
    return int(size)


@dataclass(frozen=True)
class PaperSet:
    """What load_conditioned needs to know about one data set.

    Attributes:
        name: registry name.
        source: where to get it, in words (for the missing-data errors).
        layout: what to place under ``--data-root DIR``.
        first_missing: ``first_missing(root)`` → the first required path that is absent, or None.
        load: ``load(split, root, size)`` → :class:`ConditionedSet` (the layout is known to be there).
    """

    name: str
    source: str
    layout: str
    first_missing: Callable[[Path], Path | None]
    load: Callable[[str, Path, int], ConditionedSet]

    def reason(self, root: Path) -> str:
        """'' if the layout is there, else one line naming the exact missing path."""
        path = self.first_missing(root)
        return "" if path is None else f"{self.name} not found: expected {path} (layout {self.layout})"

    def require(self, root: Path, download: bool) -> None:
        path = self.first_missing(root)
        if path is None:
            return
        if download:
            raise GbenchError(f"{self.name} has no automatic download (its hosts need a registration or a "
                              f"browser): get {self.source} and place it as {self.layout}")
        raise GbenchError(f"{self.name} not found: expected {path}; get {self.source} and place it as {self.layout}")


# ---------------------------------------------------------------------------- faces

def _face_folder(name: str, root: Path, size: int) -> Path:
    base = root / name
    if name == "ffhq":  # the smallest official resolution that is at least S
        thumbs, full = base / "thumbnails128x128", base / "images1024x1024"
        if thumbs.is_dir() and (size <= 128 or not full.is_dir()):
            return thumbs
        if full.is_dir():
            return full
    return base


def _faces_missing(name: str, root: Path) -> Path | None:
    return None if (root / name).is_dir() else root / name


def _load_faces(name: str, test_fraction: float, layout: str, split: str, root: Path, size: int) -> ConditionedSet:
    folder = _face_folder(name, root, size)
    files = image_tree(folder)
    if len(files) < 2:
        raise GbenchError(f"{name}: {folder} holds {len(files)} image file(s); a train and a test split need at "
                          f"least 2 (layout {layout})")
    n_test = max(1, round(len(files) * test_fraction))
    part = files[:len(files) - n_test] if split == "train" else files[len(files) - n_test:]
    rule = (f"fixed by file order under {folder.name}/: the last {n_test} of {len(files)} images "
            f"(fraction {test_fraction:.4g}) are test, the rest train")
    decoder = Decoder((size, size), "lanczos", centre_square=True)
    return ConditionedSet(name, split, LazyImages(part, decoder, (3, size, size)), None, None, None, None, None,
                          rule, tuple(p.relative_to(root / name).as_posix() for p in part))


def _faces(name: str, source: str, layout: str, test_fraction: float) -> PaperSet:
    return PaperSet(name, source, layout, functools.partial(_faces_missing, name),
                    functools.partial(_load_faces, name, test_fraction, layout))


# ---------------------------------------------------------------------------- registry

@functools.lru_cache(maxsize=1)
def _paper_sets() -> dict[str, PaperSet]:
    # birds and layouts import this module's helpers, so they are imported on first use
    from gbench.data.paper_birds import BIRDS
    from gbench.data.paper_layouts import ADE20K, CITYSCAPES

    faces = (
        _faces("ffhq", "FFHQ (github.com/NVlabs/ffhq-dataset)",
               "DIR/ffhq/images1024x1024/<00000..69000>/<id>.png and/or DIR/ffhq/thumbnails128x128/…, "
               "or any image tree under DIR/ffhq", 1 / 7),
        _faces("celeba-hq", "CelebA-HQ (CelebAMask-HQ's CelebA-HQ-img, or the PGGAN release)",
               "DIR/celeba-hq/CelebA-HQ-img/<0..29999>.jpg, or any image tree under DIR/celeba-hq", 1 / 10),
    )
    return {s.name: s for s in (BIRDS, ADE20K, CITYSCAPES, *faces)}


def paper_set(name: str) -> PaperSet:
    """The :class:`PaperSet` of a name in :data:`NAMES`."""
    return _paper_sets()[name]


NAMES = ("birds", "ade20k", "cityscapes", "ffhq", "celeba-hq")


def load_conditioned(name: str, split: str, root: Path | str, size: int = DEFAULT_SIZE,
                     download: bool = False) -> ConditionedSet:
    """One split of a paper data set at side ``size`` (S; cityscapes is S×2S).

    Args:
        name: one of :data:`NAMES`.
        split: ``train`` or ``test``.
        root: the ``--data-root`` holding the layouts in the module docstrings.
        size: S, e.g. 64 / 128 / 256 (StackGAN's stages; SPADE's 256).
        download: only changes the error when the data are missing (nothing is downloaded).

    Returns:
        The split's :class:`ConditionedSet`; a missing layout is a one-line :class:`GbenchError`
        naming the first absent path.
    """
    if name not in NAMES:
        raise GbenchError(f"unknown paper scene dataset {name!r}: use one of {', '.join(NAMES)}")
    check_split(name, split)
    size = check_size(name, size)
    root = Path(root)
    paper = paper_set(name)
    paper.require(root, download)
    return paper.load(split, root, size)


@dataclass(frozen=True)
class RootSpec(DatasetSpec):
    """A :class:`DatasetSpec` whose ``availability(root)`` also checks the files under the root."""

    def availability(self, root: Path | None) -> tuple[bool, str]:
        ok, why = super().availability(root)
        if not ok or root is None:
            return ok, why
        why = paper_set(self.name).reason(Path(root))
        return not why, why


def _registered(name: str, split: str, root: Path, download: bool) -> ImageSet:
    return load_conditioned(name, split, root, DEFAULT_SIZE, download).image_set()


def _spec(name: str, description: str, shape: tuple[int, int, int], num_classes: int | None, hint: str) -> RootSpec:
    return RootSpec(name, description, "paper", functools.partial(_registered, name), shape, num_classes, hint)


S = DEFAULT_SIZE
SPECS = (
    _spec("birds", f"CUB-200-2011 birds, StackGAN bbox crop → 3×{S}×{S}, 200 classes (+ Reed captions: "
          "load_conditioned); class-disjoint 150/50 split if listed", (3, S, S), 200,
          "DIR/birds/CUB_200_2011/{images.txt,…,images/} + DIR/birds/text/"),
    _spec("ade20k", f"ADE20K scene parsing (ADEChallengeData2016), 3×{S}×{S} (+ 151-value label maps: "
          "load_conditioned), train / validation", (3, S, S), None,
          "DIR/ADEChallengeData2016/{images,annotations}/{training,validation}/"),
    _spec("cityscapes", f"Cityscapes gtFine, 3×{S}×{2 * S} as SPADE (+ labelId maps: load_conditioned), "
          "train / val", (3, S, 2 * S), None, "DIR/cityscapes/{leftImg8bit,gtFine}/{train,val}/<city>/"),
    _spec("ffhq", f"FFHQ faces, 3×{S}×{S}, unlabelled, last 10k of 70k by file order = test", (3, S, S), None,
          "DIR/ffhq/{images1024x1024,thumbnails128x128}/ or DIR/ffhq/*.png"),
    _spec("celeba-hq", f"CelebA-HQ faces, 3×{S}×{S}, unlabelled, last 3k of 30k by file order = test",
          (3, S, S), None, "DIR/celeba-hq/**/*.jpg|png"),
)
