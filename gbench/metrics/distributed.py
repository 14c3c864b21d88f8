"""Combine metric states across processes with torch.distributed.

Each rank updates its states with its shard of the data; then

* :func:`all_reduce_stats` combines the float64 sums of a :class:`FeatureStats`:
  every rank re-centres its sums on the shift of the first rank that has
  data (broadcast from it), then the sums are added — a merge, so the result
  is the single-process state up to float64 rounding, and
* :func:`all_gather_rows` concatenates feature rows (N_rank, d) in rank order,
  for the metrics that need the samples themselves (KID, precision/recall).

Both leave every rank with the combined result, work with the gloo (CPU) and
nccl (CUDA) backends, and return their argument unchanged when
torch.distributed is not initialized (one process: nothing to combine).
Launch with ``torchrun``; gbench has no cluster code of its own.
"""

from __future__ import annotations

import functools

import torch
import torch.distributed as dist

from gbench.errors import GbenchError
from gbench.metrics._arrays import as_real_tensor
from gbench.metrics.stats import FeatureStats

# Row dtypes all_gather_rows accepts, by the index that travels between ranks.
_ROW_DTYPES = (torch.float16, torch.bfloat16, torch.float32, torch.float64)
# What all_gather_batches moves (gloo and nccl both take these).
_BATCH_DTYPES = (torch.uint8, torch.int32, torch.int64, *_ROW_DTYPES)


def is_distributed() -> bool:
    """True when torch.distributed is available and a process group is initialized."""
    return dist.is_available() and dist.is_initialized()


def world_size() -> int:
    """The number of processes: torch.distributed's world size when initialized, else 1."""
    return dist.get_world_size() if is_distributed() else 1


def all_reduce_stats(stats: FeatureStats) -> FeatureStats:
    """Sum ``stats`` over all ranks, in place; every rank ends with the total.

    The sums of different ranks are taken around different shifts (each
    state's first batch sets its own), and only sums around one shift may be
    added: the lowest rank holding data broadcasts its shift, every rank
    re-centres on it (:meth:`FeatureStats.recentre`, exact), and then ``n``
    and the sums are all-reduced. Ranks that saw no data take part with zero
    sums (the feature dimension is agreed first), so uneven shards are fine.

    Returns:
        ``stats``, for chaining.
    """
    if not isinstance(stats, FeatureStats):
        raise GbenchError(f"all_reduce_stats expects a FeatureStats, got {type(stats).__name__}")
    if not stats.mergeable:
        raise GbenchError("cannot all-reduce FeatureStats loaded with only mu and sigma: "
                          "compute them from features on every rank")
    if not is_distributed():
        return stats
    device = _collective_device()
    meta = _all_gather_ints([stats.dim or 0, stats.n], device)
    dim = _agreed_dim([row[0] for row in meta], "FeatureStats")
    holders = [rank for rank, row in enumerate(meta) if row[1] > 0]
    if dim == 0 or not holders:
        raise GbenchError("FeatureStats is empty on every rank: update it with features before all_reduce_stats")
    if stats.dim is None:
        stats._allocate(dim, torch.device("cpu"))
    shift = stats.state_dict()["shift"].to(device, copy=True)
    dist.broadcast(shift, src=holders[0])
    stats.recentre(shift)
    state = stats.state_dict()
    for key in ("n", "shifted_sum", "shifted_sum_outer"):  # the shift is now the same everywhere
        buffer = state[key].to(device)
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        state[key].copy_(buffer)
    return stats


def all_gather_rows(rows) -> torch.Tensor:
    """Every rank's feature rows, concatenated in rank order, on every rank.

    Rank r passes its (N_r, d) rows; each rank gets the (N_0 + N_1 + …, d)
    tensor of all of them, rank 0's first: with contiguous shards in rank
    order this is the single-process row order, so seeded subsets (KID) and
    neighbourhoods (precision/recall) are the same as in one process. Shards
    of unequal length are padded for the collective and trimmed after.

    Args:
        rows: torch tensor or numpy array (N_r, d) of floating point features,
            any device. A rank without data passes (0, d), or (0, 0) if it does
            not know d.

    Returns:
        A tensor (N, d) on ``rows``' device (CPU for numpy input), of the
        promoted dtype of all ranks' rows (float64 if any rank's is).
        ``rows`` itself, as a tensor, when torch.distributed is not initialized.

    Raises:
        GbenchError: not 2-D, not floating point, NaN/Inf, or ranks with rows
            of different widths.
    """
    local = as_real_tensor(rows, "rows")
    if local.ndim != 2:
        raise GbenchError(f"rows must have shape (N, d) (one row per sample), got {tuple(local.shape)}")
    if local.dtype not in _ROW_DTYPES:
        raise GbenchError(f"rows must be floating point features, got {local.dtype}")
    if local.shape[0] and not local.shape[1]:
        raise GbenchError(f"rows has {local.shape[0]} rows of 0 features: expected shape (N, d) with d ≥ 1")
    if not is_distributed():
        return local
    device = _collective_device()
    meta = _all_gather_ints([local.shape[0], local.shape[1], _ROW_DTYPES.index(local.dtype)], device)
    counts = [row[0] for row in meta]
    # A rank without rows need not know d: only ranks with data set it.
    dim = _agreed_dim([row[1] if row[0] else 0 for row in meta], "feature rows")
    if dim == 0:
        return local  # no rows anywhere
    # Every rank must gather the same dtype; an empty rank's dtype is no vote.
    dtype = functools.reduce(torch.promote_types, [_ROW_DTYPES[row[2]] for row in meta if row[0]])
    padded = torch.zeros(max(counts), dim, dtype=dtype, device=device)
    if local.shape[0]:  # an empty rank's rows may be (0, 0): nothing to copy
        padded[:local.shape[0]] = local.to(device=device, dtype=dtype)
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:c] for g, c in zip(gathered, counts)]).to(local.device)


def all_true(flag: bool) -> bool:
    """Whether ``flag`` holds on every rank (``flag`` itself in one process): for decisions that
    must be the same everywhere, such as reading a cache that one rank might not see yet."""
    if not is_distributed():
        return bool(flag)
    value = torch.tensor([int(bool(flag))], device=_collective_device())
    dist.all_reduce(value, op=dist.ReduceOp.MIN)
    return bool(value.item())


def all_gather_batches(batch: torch.Tensor) -> torch.Tensor:
    """Every rank's ``batch`` (N_r, ...) of any dtype (uint8 images, int64 labels, float rows),
    concatenated in rank order along dim 0, on every rank; ``batch`` unchanged without a
    process group. Unlike :func:`all_gather_rows` there is no check on the values: the
    trailing shape and the dtype must agree on every rank (a GbenchError otherwise)."""
    if not isinstance(batch, torch.Tensor) or batch.ndim < 1:
        raise GbenchError(f"all_gather_batches expects a tensor (N, ...), got {type(batch).__name__}")
    if not is_distributed():
        return batch
    if batch.dtype not in _BATCH_DTYPES or batch.ndim > 7:
        raise GbenchError(f"all_gather_batches takes up to 7 dimensions of {', '.join(map(str, _BATCH_DTYPES))}; "
                          f"got {batch.dtype} of {batch.ndim} dimensions")
    device = _collective_device()
    shape = list(batch.shape[1:])
    meta = _all_gather_ints([batch.shape[0], _BATCH_DTYPES.index(batch.dtype), batch.ndim, *shape,
                             *[0] * (6 - len(shape))], device)
    if any(row[1:] != meta[0][1:] for row in meta):
        raise GbenchError("ranks hold batches of different dtypes or shapes: gather one kind of batch on every rank")
    counts = [row[0] for row in meta]
    padded = torch.zeros(max(counts), *shape, dtype=batch.dtype, device=device)
    padded[:batch.shape[0]] = batch.to(device)
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    return torch.cat([g[:c] for g, c in zip(gathered, counts)]).to(batch.device)


def _collective_device() -> torch.device:
    """nccl moves CUDA tensors only; gloo (and others) take CPU tensors."""
    if dist.get_backend() == "nccl":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def _all_gather_ints(values: list[int], device: torch.device) -> list[list[int]]:
    """Every rank's ``values`` (same length on all ranks), in rank order."""
    mine = torch.tensor(values, dtype=torch.int64, device=device)
    everyone = [torch.empty_like(mine) for _ in range(dist.get_world_size())]
    dist.all_gather(everyone, mine)
    return [t.tolist() for t in everyone]


def _agreed_dim(dims: list[int], what: str) -> int:
    """The one nonzero feature dimension among ranks (0 if none has data)."""
    known = sorted({d for d in dims if d})
    if len(known) > 1:
        raise GbenchError(f"ranks hold {what} of different dimensions {known}: "
                          "use one feature extractor and layer on every rank")
    return known[0] if known else 0
