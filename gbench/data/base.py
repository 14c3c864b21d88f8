"""What a dataset is in gbench.

Every dataset yields :class:`ImageSet`: uint8 images (N, C, H, W) — or, for
volumetric data (`voxels`), occupancy grids (N, C, D, H, W) — with optional
integer labels, for a fixed, documented ``train`` / ``test`` split. Small
datasets hold their images as one uint8 tensor; large ones (CelebA) as a
:class:`gbench.data.lazy.LazyImages` that decodes on access, so a split never
has to fit in memory (the zoo trainer converts each minibatch to float).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from gbench.data.lazy import LazyImages
from gbench.errors import GbenchError

SPLITS = ("train", "test")


@dataclass(frozen=True)
class ImageSet:
    """A split of a dataset.

    Attributes:
        images: uint8 (N, C, H, W), 0..255 (or (N, C, D, H, W) volumes,
            ``ndim == 5``): a tensor, or an image source that
            decodes on access (:class:`~gbench.data.lazy.LazyImages`, or any
            object with ``len``, ``shape``, ``dtype == torch.uint8``,
            ``ndim == 4`` (5) and ``__getitem__`` taking an int, a slice or an
            int64 1-D tensor and returning uint8 tensors). Either way
            ``images[idx]``, ``images[:n]`` give tensors and ``images.shape``,
            ``len(split)`` work; a lazy source is not a tensor, so pass
            ``images[:]`` (decodes everything) where a function needs one.
        labels: int64 (N,) class indices, or None for unlabelled data.
        classes: class names indexed by label, or None.
    """

    images: torch.Tensor | LazyImages
    labels: torch.Tensor | None = None
    classes: tuple[str, ...] | None = None

    def __post_init__(self):
        x = self.images
        if not isinstance(x, torch.Tensor) and not all(hasattr(x, a) for a in ("shape", "__getitem__", "__len__")):
            raise ValueError(f"ImageSet.images must be a uint8 tensor (N, C, H, W) or a lazy image source, "
                             f"got {type(x).__name__}")
        if getattr(x, "dtype", None) != torch.uint8 or getattr(x, "ndim", None) not in (4, 5) \
                or len(x.shape) != x.ndim:
            raise ValueError(f"ImageSet.images must be uint8 (N, C, H, W) or volumes (N, C, D, H, W), got "
                             f"{getattr(x, 'dtype', None)} {tuple(x.shape)}")
        if self.labels is not None and self.labels.shape != (self.images.shape[0],):
            raise ValueError("ImageSet.labels must have shape (N,)")

    def __len__(self) -> int:
        return self.images.shape[0]

    @property
    def num_classes(self) -> int | None:
        return None if self.classes is None else len(self.classes)


@dataclass(frozen=True)
class DatasetSpec:
    """A registered dataset.

    Attributes:
        name: registry name.
        description: one line for `gbench list`.
        profile: ``embedded`` (ships with gbench or its dependencies; works
            offline) or ``paper`` (needs a local root).
        load: ``load(split, root, download) -> ImageSet``.
        shape: (C, H, W) of every image; (C, D, H, W) of every volume.
        num_classes: number of labels, or None.
        root_hint: for paper datasets, what ``--data-root`` must contain.
    """

    name: str
    description: str
    profile: str
    load: Callable[[str, Path | None, bool], ImageSet]
    shape: tuple[int, ...]
    num_classes: int | None = None
    root_hint: str = ""

    def availability(self, root: Path | None) -> tuple[bool, str]:
        """Can this dataset load here? (ok, reason-if-not)."""
        if self.profile == "embedded":
            return True, ""
        if root is None:
            return False, f"needs --data-root: {self.root_hint}"
        return True, ""

    def __call__(self, split: str, root: Path | str | None = None, download: bool = False) -> ImageSet:
        if split not in SPLITS:
            raise GbenchError(f"unknown split {split!r} for dataset {self.name!r}: use one of {', '.join(SPLITS)}")
        root = Path(root) if root is not None else None
        if self.profile != "embedded" and root is None:
            raise GbenchError(f"dataset {self.name!r} needs a local root: pass --data-root DIR ({self.root_hint})")
        return self.load(split, root, download)
