"""Seeded minibatch order that can be resumed from a single integer, and the
minibatches themselves, read per batch from in-memory or lazily decoded data."""

from __future__ import annotations

from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import torch


class BatchSampler:
    """Indices of minibatch ``i`` for a dataset of ``n`` items.

    Epoch e is a permutation drawn from ``numpy.random.default_rng([seed, e])``
    and cut into ``n // batch_size`` batches (the remainder is dropped, so
    every batch has the same size, which batch norm likes). Batch i is a pure
    function of (n, batch_size, seed, i): resuming needs only the counter.
    """

    def __init__(self, n: int, batch_size: int, seed: int):
        if n < batch_size:
            raise ValueError(f"need at least batch_size = {batch_size} training images, got {n}: "
                             "pass more images or lower the batch size")
        self.n, self.batch_size, self.seed = n, batch_size, seed
        self.batches_per_epoch = n // batch_size
        self._epoch, self._perm = -1, torch.empty(0, dtype=torch.int64)

    def __call__(self, i: int) -> torch.Tensor:
        """int64 (batch_size,) indices of batch ``i`` (i ≥ 0)."""
        epoch, j = divmod(i, self.batches_per_epoch)
        if epoch != self._epoch:
            self._perm = torch.from_numpy(np.random.default_rng([self.seed, epoch]).permutation(self.n))
            self._epoch = epoch
        return self._perm[j * self.batch_size:(j + 1) * self.batch_size]


def is_uint8_source(images: Any, ndim: int = 4) -> bool:
    """A uint8 tensor, or a lazy uint8 image source: ``len``, ``shape`` (N, C, H, W),
    ``dtype == torch.uint8``, ``ndim == 4``, and ``__getitem__`` that takes an
    int, a slice or an int64 1-D tensor and returns uint8 tensors. ``ndim=5``:
    the same for volumes (N, C, D, H, W) (voxel models)."""
    return (getattr(images, "dtype", None) == torch.uint8 and getattr(images, "ndim", None) == ndim
            and hasattr(images, "__getitem__") and hasattr(images, "__len__") and hasattr(images, "shape"))


def uint8_to_model(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 → float32 x / 127.5 − 1 in [-1, 1], the models' input range. The one
    conversion: the trainer, the checkpoint fingerprint and gbench's evaluation all use it,
    so a uint8 set and its float version are the same numbers everywhere."""
    return x.float().div_(127.5).sub_(1.0)


class Minibatches:
    """Minibatch ``i`` as the model sees it: float32 (B, C, H, W) in [-1, 1] on ``device``, labels
    (volumes: (B, C, D, H, W); nothing here depends on the number of dimensions).

    ``images`` is a float tensor in [-1, 1], a uint8 tensor or a lazy uint8
    source (:func:`is_uint8_source`); only the rows of batch ``i`` are read,
    moved to ``device`` as they are and, if uint8, converted there with
    ``x / 127.5 - 1`` — the same float32 operations as converting the whole
    set first, so both give bit-identical batches. A source that is not a
    tensor (decoded on access) is read one batch ahead in a background
    thread (never by two threads at once); batch ``i`` is a pure function of
    ``i``, so prefetching changes nothing but speed. Call :meth:`close` (or
    use as a context manager).
    """

    def __init__(self, images: Any, labels: torch.Tensor | None, sampler: BatchSampler, device: torch.device):
        self.images, self.labels, self.sampler, self.device = images, labels, sampler, torch.device(device)
        self._ahead = None if isinstance(images, torch.Tensor) else ThreadPoolExecutor(1, "zoo-prefetch")
        self._pending: tuple[int, Future] | None = None

    def __call__(self, i: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        idx = self.sampler(i)  # the sampler caches its epoch: used from this thread only
        if self._ahead is None:
            x = self.images[idx]
        else:
            pending, self._pending = self._pending, None
            if pending is not None and pending[0] == i:
                x = pending[1].result()
            else:  # first batch (or a jump): let a stale read finish, so the source is never read twice at once
                if pending is not None:
                    pending[1].exception()
                x = self.images[idx]
            self._pending = (i + 1, self._ahead.submit(self.images.__getitem__, self.sampler(i + 1)))
        x = self._to_device(x)
        if x.dtype == torch.uint8:
            x = uint8_to_model(x)
        y = self._to_device(self.labels[idx]) if self.labels is not None else None
        return x, y

    def _to_device(self, t: torch.Tensor) -> torch.Tensor:
        """To the training device; a CPU batch bound for CUDA is page-locked first, so the copy is
        asynchronous (with pageable memory ``non_blocking`` would wait for it)."""
        if self.device.type == "cuda" and t.device.type == "cpu":
            t = t.pin_memory()
        return t.to(self.device, non_blocking=True)

    def close(self) -> None:
        if self._ahead is not None:
            self._ahead.shutdown(wait=True, cancel_futures=True)
            self._pending = None

    def __enter__(self) -> "Minibatches":
        return self

    def __exit__(self, *exc) -> None:
        self.close()
