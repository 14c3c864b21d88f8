"""`natural`: the real photographs that scikit-image ships.

Only RGB photographs that are inside the scikit-image wheel are used (no
download). The split is by image, so no scene is seen in both splits; the
stereo pair ``motorcycle_left``/``motorcycle_right`` stays together in train.

  train: astronaut, hubble_deep_field, immunohistochemistry, motorcycle_left,
         motorcycle_right, retina
  test:  chelsea, coffee, rocket

Two views:
  * :func:`full_images` — the whole photographs, a list of uint8 (1, 3, H, W)
    (sizes differ, so they cannot share one tensor);
  * :func:`random_patches` — a seeded random-crop sampler, uint8
    (N, 3, size, size), crops drawn uniformly over images weighted by their
    number of valid crop positions.
The registered dataset is a fixed sample of 64×64 patches (seed 0; 2,048 per
split), so it obeys the (N, C, H, W) contract like every other dataset.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch

from gbench.data.base import DatasetSpec, ImageSet
from gbench.errors import GbenchError

SPLIT_IMAGES = {
    "train": ("astronaut", "hubble_deep_field", "immunohistochemistry",
              "motorcycle_left", "motorcycle_right", "retina"),
    "test": ("chelsea", "coffee", "rocket"),
}
PATCH_SIZE = 64
PATCHES_PER_SPLIT = 2048


def _load_one(name: str) -> np.ndarray:
    import skimage.data

    if name in ("motorcycle_left", "motorcycle_right"):
        left, right, _ = skimage.data.stereo_motorcycle()
        return left if name == "motorcycle_left" else right
    return getattr(skimage.data, name)()


@lru_cache(maxsize=None)
def _full(name: str) -> torch.Tensor:
    arr = _load_one(name)
    if arr.ndim != 3 or arr.shape[2] < 3:
        raise RuntimeError(f"scikit-image photo {name!r} is not RGB: shape {arr.shape}")
    return torch.from_numpy(np.ascontiguousarray(arr[..., :3].transpose(2, 0, 1)))[None].contiguous()


def full_images(split: str) -> list[torch.Tensor]:
    """The photographs of ``split`` as uint8 (1, 3, H, W) tensors, in the order above."""
    return [_full(n) for n in SPLIT_IMAGES[split]]


def random_patches(split: str, n: int, size: int, seed: int = 0) -> torch.Tensor:
    """``n`` random ``size``×``size`` crops from the photographs of ``split``.

    Each crop position of each image is equally likely (images are weighted by
    their number of valid positions). Deterministic given ``seed``.

    Returns:
        uint8 (n, 3, size, size).
    """
    images = full_images(split)
    counts = np.array([(im.shape[2] - size + 1) * (im.shape[3] - size + 1) for im in images], dtype=np.float64)
    if (counts <= 0).any():
        raise GbenchError(f"patch size {size} is larger than a `natural` {split} photograph: use a size ≤ 256")
    rng = np.random.default_rng(seed)
    which = rng.choice(len(images), size=n, p=counts / counts.sum())
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for i, k in enumerate(which):
        im = images[k]
        y = rng.integers(0, im.shape[2] - size + 1)
        x = rng.integers(0, im.shape[3] - size + 1)
        out[i] = im[0, :, y:y + size, x:x + size]
    return out


def load(split: str, root=None, download: bool = False) -> ImageSet:
    return ImageSet(random_patches(split, PATCHES_PER_SPLIT, PATCH_SIZE, seed=0 if split == "train" else 1))


SPEC = DatasetSpec(
    name="natural",
    description="scikit-image's real RGB photographs (6 train / 3 test scenes) as fixed 3×64×64 patches",
    profile="embedded",
    load=load,
    shape=(3, PATCH_SIZE, PATCH_SIZE),
)
