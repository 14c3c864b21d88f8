"""Inpainting data: training images and a fixed test set per data set, all S×S RGB.

Embedded profile (offline):

* ``natural`` — training: the textured random patches of the `natural` train
  photographs that the `sr` suite trains on (:func:`gbench.data.sr_sets.training_patches`:
  flat crops dropped); test: random patches of the held-out photographs
  (chelsea, coffee, rocket), flat ones dropped the same way, drawn with the
  fixed seed :data:`TEST_SEED` (the same test set for every run seed);
* ``scenes`` — the registered procedural scenes (3×64×64), lazily rendered
  train split; test: the first n images of the test split.

Paper profile (``--data-root DIR``): ``celeba`` (the registered aligned faces,
64×64) and two folders of photographs, decoded lazily, centre-cropped to a
square and resized to S×S (PIL Lanczos):

* ``places2`` — Places365-Standard (Zhou et al. 2017): ``DIR/places365_standard/train/<class>/*.jpg``
  for training and ``DIR/places365_standard/val/<class>/*.jpg`` for testing;
* ``paris-streetview`` — Paris StreetView (Doersch et al. 2012, as released for
  Pathak et al. 2016): ``DIR/paris_streetview/paris_train_original/*.png`` and the
  100 ``DIR/paris_streetview/paris_eval_gt/*.png`` for testing.

A missing folder gives (None, a reason that names it) instead of an error, so
the suite can write it into an 'unavailable' record.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch

from gbench.data.base import ImageSet
from gbench.data.lazy import LazyImages
from gbench.data.natural import random_patches
from gbench.data.paper_scenes import Decoder, image_tree
from gbench.data.sr_sets import drop_flat, training_patches

TEST_SEED = 1  # the `natural` registered test split's seed: test patches do not move with the run seed
FOLDERS = {  # name → (train folder, test folder) under --data-root
    "places2": ("places365_standard/train", "places365_standard/val"),
    "paris-streetview": ("paris_streetview/paris_train_original", "paris_streetview/paris_eval_gt"),
}


@dataclass(frozen=True)
class InpaintData:
    """One data set ready for the inpainting suite.

    Attributes:
        name: the data set's name (records' ``dataset``, the model directory key).
        train: training images, uint8 (N, 3, S, S) or a lazy source.
        test: the test images, uint8 (n, 3, S, S) tensor (decoded).
        note: what the images are, for records (``extra.data``).
    """

    name: str
    train: ImageSet
    test: torch.Tensor
    note: str


def natural(n_train: int, n_test: int, size: int, seed: int) -> InpaintData:
    """`natural` patches: ``n_train`` textured train patches (seed ``seed``) and ``n_test`` test patches."""
    pool = training_patches(n_train, size, seed)
    test = drop_flat(random_patches("test", 2 * n_test, size, seed=TEST_SEED), n_test).contiguous()
    return InpaintData("natural", pool.images, test,
                       f"train: {pool.note}; test: {n_test} textured {size}×{size} patches of chelsea, coffee, "
                       f"rocket (seed {TEST_SEED})")


def folder_split(name: str, root: Path | str | None, size: int) -> tuple[tuple[LazyImages, LazyImages] | None, str]:
    """(train, test) lazy S×S images of a :data:`FOLDERS` data set, or (None, why: the missing folder)."""
    parts = FOLDERS[name]
    if root is None:
        return None, f"needs --data-root DIR with DIR/{parts[0]} and DIR/{parts[1]}"
    out = []
    for part in parts:
        folder = Path(root) / part
        files = image_tree(folder) if folder.is_dir() else []
        if not files:
            return None, f"{folder} not found or holds no images: put the {name} images there"
        out.append(LazyImages(files, Decoder((size, size), "lanczos", centre_square=True), (3, size, size)))
    return (out[0], out[1]), ""


def folder_data(name: str, root: Path | str | None, n_test: int, size: int) -> tuple[InpaintData | None, str]:
    """A :data:`FOLDERS` data set: the whole train folder (lazy) and the first ``n_test`` test images."""
    split, why = folder_split(name, root, size)
    if split is None:
        return None, why
    train, test = split
    n = min(n_test, len(test))
    note = f"{len(train)} train / first {n} of {len(test)} test images, centre square → {size}×{size}"
    return InpaintData(name, ImageSet(train), test[:n], note), ""


__all__ = ["FOLDERS", "TEST_SEED", "InpaintData", "folder_data", "folder_split", "natural"]
