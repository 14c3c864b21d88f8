"""Super-resolution data: HR test sets and pools of HR training patches.

Test sets (lists of HR images, uint8 (1, C, H, W), sizes differ, so no
common tensor), mod-cropped to multiples of the SR scale:

  * ``natural`` — the held-out photographs of :mod:`gbench.data.natural`
    (chelsea, coffee, rocket), RGB;
  * ``set5``, ``set14``, ``bsd100`` — the benchmark sets of SR papers, read
    from ``DATA_ROOT/Set5`` etc. (folders of HR images). A grayscale image
    stays grayscale (C = 1): SR protocols score it on its own levels, and
    making it RGB first would score it on the limited-range luma of a gray
    RGB image instead (Y = 16 + 219/255 · v), which lifts its PSNR by ~1.3 dB.

Training patches are random HR crops, always RGB (uint8 (N, 3, P, P); a
grayscale training image is replicated to 3 channels): from the ``natural``
train photographs, or from ``DATA_ROOT/DIV2K`` (a folder of HR images) when
asked for and present. Flat crops are dropped (:func:`drop_flat`). The SR
models make each LR patch themselves, so only HR patches are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gbench.data.base import ImageSet
from gbench.data.folder import image_files, read_image
from gbench.data.natural import full_images, random_patches
from gbench.errors import GbenchError
from gbench.images import to_rgb
from gbench.metrics.sr import rgb_to_y
from gbench.transforms.resize import mod_crop

SET_FOLDERS = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100"}
TEST_SETS = ("natural", *SET_FOLDERS)
TRAIN_FOLDER = "DIV2K"
# Patches whose luma std is below this (gray levels) are flat: they hold no detail to learn, and
# 30 % of the `natural` train crops are (dark sky, retina background). Measured (SRResNet at
# `quick`, PSNR-Y on the natural test photos): 29.75 dB after 800 steps with them dropped,
# 29.38 dB without (29.80 dB after 1,400).
MIN_PATCH_STD = 4.0


def load_test_set(name: str, data_root: Path | str | None, scale: int) -> tuple[list[torch.Tensor] | None, str]:
    """The HR images of a test set, or (None, why it is unavailable).

    Args:
        name: one of TEST_SETS.
        data_root: the folder holding ``Set5``, ``Set14``, ``BSD100`` (unused for ``natural``).
        scale: the SR factor; H and W are cropped to its multiples (keeping the top-left).

    Returns:
        (list of uint8 (1, C, H, W), C = 3 for colour and 1 for grayscale files, "") or
        (None, a reason naming the missing folder and what to put there).
    """
    if name == "natural":
        return [mod_crop(x, scale) for x in full_images("test")], ""
    if name not in SET_FOLDERS:
        raise GbenchError(f"unknown SR test set {name!r}: choose one of {', '.join(TEST_SETS)}")
    folder = SET_FOLDERS[name]
    if data_root is None:
        return None, f"needs --data-root DIR with DIR/{folder} (a folder of the {folder} HR images)"
    path = Path(data_root) / folder
    if not path.is_dir() or not image_files(path):
        return None, f"unavailable: {path} not found or holds no images: put the {folder} HR images there"
    return [mod_crop(torch.tensor(read_image(p))[None], scale) for p in image_files(path)], ""


def folder_patches(files: list[Path], n: int, size: int, seed: int) -> torch.Tensor:
    """``n`` random ``size``×``size`` RGB crops from image files, uint8 (n, 3, size, size).

    Like :func:`gbench.data.natural.random_patches`: every crop position of
    every image is equally likely. Image sizes are read from file headers and
    each image is decoded once, so a large folder (DIV2K) is never held in
    memory whole.
    """
    from PIL import Image

    sizes = []
    for p in files:
        with Image.open(p) as im:
            sizes.append(im.size[::-1])  # (H, W)
    counts = np.array([max(0, h - size + 1) * max(0, w - size + 1) for h, w in sizes], dtype=np.float64)
    if counts.sum() == 0:
        raise GbenchError(f"every training image is smaller than the {size}×{size} patch size: use larger images")
    rng = np.random.default_rng(seed)
    which = rng.choice(len(files), size=n, p=counts / counts.sum())
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for k in np.unique(which):
        img = to_rgb(torch.tensor(read_image(files[k]))[None])[0]
        for i in np.flatnonzero(which == k):
            y = rng.integers(0, img.shape[1] - size + 1)
            x = rng.integers(0, img.shape[2] - size + 1)
            out[i] = img[:, y:y + size, x:x + size]
    return out


def drop_flat(patches: torch.Tensor, n: int, min_std: float = MIN_PATCH_STD) -> torch.Tensor:
    """The first ``n`` patches (in draw order) whose luma std is ≥ ``min_std`` gray levels,
    topped up with flat ones (in draw order) if fewer qualify. uint8 (M, 3, s, s) → (n, 3, s, s)."""
    textured = rgb_to_y(patches).flatten(1).std(dim=1) >= min_std
    order = torch.cat([torch.nonzero(textured).flatten(), torch.nonzero(~textured).flatten()])
    return patches[order[:n]]


@dataclass(frozen=True)
class TrainPatches:
    """A pool of HR training patches.

    Attributes:
        name: what the pool is called where trained models are kept
            (``gbench.fit``'s dataset key): ``natural`` or ``div2k``.
        images: uint8 (N, 3, P, P); the trainer converts each minibatch to float.
        note: one line saying what the pool is, for records (``extra.train_data``).
    """

    name: str
    images: ImageSet
    note: str


def training_patches(n: int, size: int, seed: int, div2k_root: Path | str | None = None) -> TrainPatches:
    """``n`` textured HR patches of ``size``×``size``, drawn with ``seed``.

    Twice as many random crops as needed are drawn and the flat ones dropped
    (:func:`drop_flat`).

    Args:
        n: pool size.
        size: patch side P (the preset's HR patch; a multiple of the scale).
        seed: the crop positions' seed.
        div2k_root: the ``--data-root`` to look for ``DIV2K`` under (the paper
            profile), or None to use the ``natural`` train photographs. When the
            folder is missing the natural photographs are used and the note says so.
    """
    folder = Path(div2k_root) / TRAIN_FOLDER if div2k_root is not None else None
    if folder is not None and folder.is_dir() and image_files(folder):
        files = image_files(folder)
        name, patches = "div2k", folder_patches(files, 2 * n, size, seed)
        source = f"{TRAIN_FOLDER} ({len(files)} HR images)"
    else:
        name, patches = "natural", random_patches("train", 2 * n, size, seed=seed)
        source = "natural train photos (6)"
        if div2k_root is not None:
            source += f"; no {TRAIN_FOLDER} folder under --data-root"
    note = (f"{source}: {n} random {size}×{size} patches (seed {seed}), "
            f"luma std ≥ {MIN_PATCH_STD:g} (flat crops dropped)")
    return TrainPatches(name, ImageSet(drop_flat(patches, n).contiguous()), note)


__all__ = ["SET_FOLDERS", "TEST_SETS", "TRAIN_FOLDER", "MIN_PATCH_STD", "TrainPatches", "load_test_set",
           "folder_patches", "drop_flat", "training_patches"]
