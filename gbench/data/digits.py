"""`digits`: scikit-learn's real handwritten digits at 32×32.

Source: ``sklearn.datasets.load_digits`` — 1,797 real 8×8 scans (UCI optdigits
test set), 10 classes, gray levels 0..16. Shipped inside scikit-learn, so it
works offline.

Preprocessing (documented, deterministic):
  1. gray levels 0..16 → 0..255 by ``v · 255 / 16`` (float);
  2. upscale ×4 to 32×32 with bicubic interpolation (``torch.nn.functional.
     interpolate``, ``align_corners=False``, no antialiasing since this is an
     upscale), clamped to 0..255 and rounded to uint8. Bicubic keeps strokes
     smooth where nearest-neighbour would leave 4×4 blocks that no generator
     should have to learn.

Split (fixed, stratified): for each class c, its indices in sklearn's order are
permuted with ``numpy.random.default_rng(c)``; the first ``round(0.2 · n_c)`` go
to ``test``, the rest to ``train`` (1,438 train / 359 test). Both splits keep
sklearn's order.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np
import torch
import torch.nn.functional as F

from gbench.data.base import DatasetSpec, ImageSet

TEST_FRACTION = 0.2
CLASSES = tuple(str(i) for i in range(10))


@lru_cache(maxsize=1)
def _all_digits() -> tuple[torch.Tensor, torch.Tensor]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = torch.from_numpy(bunch.images.astype(np.float32))[:, None] * (255.0 / 16.0)
    x = F.interpolate(x, size=(32, 32), mode="bicubic", align_corners=False)
    images = x.round().clamp(0, 255).to(torch.uint8)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return images, labels


def split_indices(labels: np.ndarray, test_fraction: float = TEST_FRACTION) -> dict[str, np.ndarray]:
    """The fixed stratified split: {'train': idx, 'test': idx}, each sorted."""
    test = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        perm = np.random.default_rng(int(c)).permutation(idx)
        test.append(perm[: int(round(test_fraction * len(idx)))])
    test_idx = np.sort(np.concatenate(test))
    train_idx = np.setdiff1d(np.arange(len(labels)), test_idx)
    return {"train": train_idx, "test": test_idx}


def load(split: str, root=None, download: bool = False) -> ImageSet:
    images, labels = _all_digits()
    idx = torch.from_numpy(split_indices(labels.numpy())[split])
    return ImageSet(images[idx].clone(), labels[idx].clone(), CLASSES)


SPEC = DatasetSpec(
    name="digits",
    description="scikit-learn's 1,797 real handwritten digits, 10 classes, bicubic-upscaled to 1×32×32",
    profile="embedded",
    load=load,
    shape=(1, 32, 32),
    num_classes=10,
)
