"""Sharded sampling and feature extraction under torchrun; plain loops in one process.

The two expensive steps of scoring a generative model — running its sampler
and running the feature extractor — are split over the ranks of a
torch.distributed process group, and the results are gathered so that every
rank holds exactly what one process would have computed:

* **Sampling** (:func:`sample_images`). Samples are drawn in chunks of
  ``SAMPLE_CHUNK`` = 256; chunk k draws its noise from a CPU generator seeded
  with :func:`chunk_seed` (seed, k), so chunk k is the same images whichever
  process draws it, on whatever device. Rank r draws a contiguous range of
  chunks, and the uint8 chunks are all-gathered in rank order, which is chunk
  order: the gathered set is bit-for-bit the one-process set (model forward
  passes are per sample, and with the same weights on every rank, the same).
  Chunk 0 is seeded with ``seed`` itself, so the first 256 samples (the
  figures' grids) are those of a single generator seeded with ``seed``.
* **Extraction** (:func:`extract`). Rank r extracts a contiguous slice of the
  images; the features (and logits) are all-gathered in rank order — the
  one-process rows, in the one-process order, so KID subsets, k-NN
  neighbourhoods and IS splits are unchanged — and :func:`feature_stats`
  returns the FID statistics as one all-reduce of each rank's float64 sums
  (:func:`gbench.metrics.distributed.all_reduce_stats`), equal to the
  one-process statistics up to float64 rounding (~1e-13 relative).

Every rank then scores the gathered rows itself (cheap next to sampling and
extraction, and it needs no broadcast of results). Rows are gathered to every
rank rather than to rank 0 only, so that any rank can go on with the suite;
the images themselves are gathered too (uint8, 12 KB per 64×64 RGB image),
because suites draw figures and per-class accuracies from them. Without a
process group these functions are the plain loops, with no collective calls.
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.images import float_to_uint8
from gbench.metrics.distributed import all_gather_batches, all_reduce_stats
from gbench.metrics.stats import FeatureStats
from zoo.train.distributed import rank_and_world  # the trainer's: one notion of rank and world

SAMPLE_CHUNK = 256


def shard(n: int) -> slice:
    """This rank's contiguous share of ``n`` items: rank r of W gets [⌊rn/W⌋, ⌊(r+1)n/W⌋)."""
    rank, world = rank_and_world()
    return slice(rank * n // world, (rank + 1) * n // world)


def chunk_seed(seed: int, k: int) -> int:
    """The generator seed of sample chunk ``k``: ``seed`` for chunk 0 (a single generator's first
    draws), else a 63-bit value of numpy's SeedSequence([seed, k]) (independent streams)."""
    if k == 0:
        return int(seed)
    return int(np.random.SeedSequence([int(seed), int(k)]).generate_state(1, dtype=np.uint64)[0])


def sample_images(model, n: int, seed: int, labels: torch.Tensor | None, device) -> torch.Tensor:
    """n samples of a zoo model as uint8 (n, C, H, W), the same on every rank and in one process.

    Args:
        model: a zoo model with ``sample(n, generator=, labels=)`` returning floats in [-1, 1].
        n: number of samples (≥ 0).
        seed: the run's seed; chunk k uses a CPU generator seeded with ``chunk_seed(seed, k)``.
        labels: (n,) conditions for a conditional model (chunk k takes rows [256k, 256k + 256)), or None.
        device: where the model runs.

    Returns:
        uint8 (n, C, H, W) on the CPU; this rank sampled its contiguous range of chunks only.
    """
    chunks = range((n + SAMPLE_CHUNK - 1) // SAMPLE_CHUNK)
    mine = chunks[shard(len(chunks))]
    out = []
    with torch.no_grad():
        for k in mine:
            rows = slice(k * SAMPLE_CHUNK, min(n, (k + 1) * SAMPLE_CHUNK))
            y = None if labels is None else labels[rows].to(device)
            g = torch.Generator().manual_seed(chunk_seed(seed, k))
            out.append(float_to_uint8(model.sample(rows.stop - rows.start, generator=g, labels=y)).cpu())
    if out:
        local = torch.cat(out)
    else:  # a rank with no chunk (more ranks than chunks): an empty batch of the right shape
        local = torch.empty(0, *_sample_shape(model, labels, device), dtype=torch.uint8)
    return all_gather_batches(local)


def _sample_shape(model, labels, device) -> tuple[int, ...]:
    shape = getattr(model, "image_shape", None)
    if shape is not None:
        return tuple(shape)
    with torch.no_grad():  # a model without image_shape (a wrapper): one sample tells
        y = None if labels is None else labels[:1].to(device)
        return tuple(model.sample(1, generator=torch.Generator().manual_seed(0), labels=y).shape[1:])


def extract(extractor, images, want=("features",), batch_size: int = 128) -> dict[str, torch.Tensor]:
    """``extractor.extract`` of uint8 images (N, C, H, W), sharded: each rank extracts its contiguous
    slice and the outputs are all-gathered in rank order (the one-process rows and order).

    A rank's slice is a run of whole one-process batches (batch b covers images
    [b·batch_size, (b+1)·batch_size)), so every forward pass sees the batch one process would
    feed it: a backend's kernel choice depends on the batch shape, and with other batch
    boundaries the scenes evaluator's features moved by ~1e-9 relative (measured; FID is to
    agree to 1e-10)."""
    batches = shard((len(images) + batch_size - 1) // batch_size)  # whole one-process batches: see below
    mine = slice(batches.start * batch_size, min(len(images), batches.stop * batch_size))
    if mine.stop > mine.start:
        local = extractor.extract(images[mine], batch_size=batch_size, want=want)
    else:  # more ranks than images: take part in the gathers with no rows
        widths = {"features": extractor.feature_dim, "logits": extractor.num_logits}
        local = {key: torch.empty(0, widths[key]) for key in want}
    return {key: all_gather_batches(value) for key, value in local.items()}


def feature_stats(features: torch.Tensor) -> FeatureStats:
    """FID statistics of all ranks' features (N, d), given every rank the gathered rows: each rank
    sums its own shard's rows and one all-reduce combines the sums (see the module docstring)."""
    return all_reduce_stats(FeatureStats().update(features[shard(len(features))]))


__all__ = ["SAMPLE_CHUNK", "chunk_seed", "extract", "feature_stats", "rank_and_world", "sample_images", "shard"]
