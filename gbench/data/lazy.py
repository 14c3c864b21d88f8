"""Images decoded on access: a uint8 (N, C, H, W) source that holds file names, not pixels.

A data set too large to hold as one tensor — CelebA-64's train split is
162,770 × 3×64×64 = 2.0 GB as uint8 and 8 GB as float — is handed out as
:class:`LazyImages`. It looks like a uint8 tensor to the code that reads it
(``len``, ``shape``, ``dtype``, ``ndim``, indexing) and decodes only the images
an index asks for; the zoo trainer takes it directly and converts each
minibatch to float on the device.

Indexing (every form returns a decoded uint8 ``torch.Tensor``, never a lazy view):

    images[i]               int → (C, H, W)
    images[a:b:s]           slice → (n, C, H, W)
    images[idx]             int64 1-D tensor, list or numpy array of ints
                            (negative counts from the end), or a bool mask of
                            length N → (n, C, H, W) in the order of ``idx``

A narrower source without decoding is :meth:`LazyImages.subset`; the whole
set as one tensor (for small sets) is :meth:`LazyImages.materialize` (there is
deliberately no ``__array__``, so nothing decodes the whole set by accident).
Images of one index are decoded in parallel threads (PIL releases the GIL
while decoding and resizing); the result does not depend on the thread count.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np
import torch

from gbench.errors import GbenchError

_POOL: ThreadPoolExecutor | None = None


def _pool() -> ThreadPoolExecutor:
    global _POOL
    if _POOL is None:
        _POOL = ThreadPoolExecutor(max_workers=min(8, os.cpu_count() or 1), thread_name_prefix="gbench-decode")
    return _POOL


def _forget_pool() -> None:  # a forked child (e.g. a DataLoader worker) has no threads: start a new pool there
    global _POOL
    _POOL = None


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool)


class LazyImages:
    """uint8 images (N, C, H, W), one file each, decoded by ``decode`` when indexed.

    Args:
        files: one path per image, in data-set order (kept as ``str`` in ``.files``).
        decode: ``decode(path: Path) -> uint8 (C, H, W)`` (numpy array or tensor).
            Must be a module-level function if the source is to be pickled
            (e.g. sent to DataLoader workers). Its errors propagate.
        shape: (C, H, W) that every decoded image must have.
    """

    dtype = torch.uint8
    ndim = 4

    def __init__(self, files: Sequence[Path | str], decode: Callable[[Path], Any], shape: tuple[int, int, int]):
        if len(shape) != 3:
            raise ValueError(f"shape must be (C, H, W), got {tuple(shape)}")
        self.files = tuple(os.fspath(f) for f in files)  # str, not Path: a third of the memory
        self.decode = decode
        self.image_shape = tuple(int(s) for s in shape)

    @property
    def shape(self) -> torch.Size:
        return torch.Size((len(self.files), *self.image_shape))

    def __len__(self) -> int:
        return len(self.files)

    def __repr__(self) -> str:
        where = f", first {self.files[0]}" if self.files else ""
        return f"LazyImages({len(self)} × {'×'.join(map(str, self.image_shape))} uint8{where})"

    def _positions(self, index) -> np.ndarray:
        return positions(index, len(self.files))

    def _decode_one(self, i: int) -> torch.Tensor:
        x = torch.from_numpy(np.array(self.decode(Path(self.files[i])), copy=True))  # a decoder may return read-only
        if x.dtype != torch.uint8 or tuple(x.shape) != self.image_shape:
            raise GbenchError(f"decoding {self.files[i]} gave {x.dtype} {tuple(x.shape)}, expected uint8 "
                              f"{self.image_shape}: the file does not match the rest of the data set")
        return x

    def __getitem__(self, index) -> torch.Tensor:
        if isinstance(index, (torch.Tensor, np.ndarray)) and index.ndim == 0:
            index = index.item()
        if isinstance(index, (int, np.integer)):
            i = int(index)
            if not -len(self) <= i < len(self):
                raise IndexError(f"index {i} out of range for {len(self)} images")
            return self._decode_one(i % len(self))
        pos = self._positions(index)
        out = torch.empty((len(pos), *self.image_shape), dtype=torch.uint8)

        def fill(k: int) -> None:
            out[k] = self._decode_one(int(pos[k]))

        if len(pos) <= 1:
            for k in range(len(pos)):
                fill(k)
        else:
            list(_pool().map(fill, range(len(pos))))  # list(): wait, and re-raise a decoding error here
        return out

    def subset(self, index) -> "LazyImages":
        """The images at ``index`` (any form ``__getitem__`` takes) as a new lazy source; decodes nothing."""
        if isinstance(index, (int, np.integer)):
            index = [index]
        return LazyImages([self.files[int(i)] for i in self._positions(index)], self.decode, self.image_shape)

    def materialize(self) -> torch.Tensor:
        """Every image decoded into one uint8 (N, C, H, W) tensor (N × C·H·W bytes of memory)."""
        return self[:]


def positions(index, n: int) -> np.ndarray:
    """Any index a lazy source supports — an int, a slice, a 1-D int or bool array (numpy, torch
    or list) — as int64 positions in 0..n−1 (1-D, in index order)."""
    if isinstance(index, slice):
        return np.arange(n, dtype=np.int64)[index]
    if isinstance(index, torch.Tensor):
        index = index.detach().cpu().numpy()
    idx = np.asarray(index)
    if idx.dtype == np.bool_:
        if idx.shape != (n,):
            raise IndexError(f"a boolean mask must have shape ({n},), got {idx.shape}")
        return np.flatnonzero(idx)
    if idx.ndim != 1 or not (np.issubdtype(idx.dtype, np.integer) or idx.size == 0):
        raise IndexError(f"index with an int, a slice, or a 1-D array of ints or bools; got {idx.dtype} {idx.shape}")
    idx = idx.astype(np.int64)
    if idx.size and (idx.min() < -n or idx.max() >= n):
        raise IndexError(f"index out of range for {n} images: {int(idx.min())}..{int(idx.max())}")
    return np.where(idx < 0, idx + n, idx)
