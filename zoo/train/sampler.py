"""Seeded minibatch order that can be resumed from a single integer."""

from __future__ import annotations

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
