"""Combine metric states across processes with torch.distributed.

Each rank updates its states with its shard of the data; then

* :func:`all_reduce_stats` sums the float64 sums of a :class:`FeatureStats`
  (a merge is an addition, so the result is the single-process state up to
  float64 rounding of the sum), and
* :func:`all_gather_bank` concatenates the rows of a :class:`FeatureBank` in
  rank order.

Both leave every rank with the combined state, work with the gloo (CPU) and
nccl (CUDA) backends, and return their argument unchanged when
torch.distributed is not initialized (one process: nothing to combine).
Launch with ``torchrun``; gbench has no cluster code of its own.
"""

from __future__ import annotations

import torch
import torch.distributed as dist

from gbench.errors import GbenchError
from gbench.metrics.stats import FeatureBank, FeatureStats


def is_distributed() -> bool:
    """True when torch.distributed is available and a process group is initialized."""
    return dist.is_available() and dist.is_initialized()


def all_reduce_stats(stats: FeatureStats) -> FeatureStats:
    """Sum ``stats`` over all ranks, in place; every rank ends with the total.

    Ranks that saw no data take part with zero sums (the feature dimension is
    agreed first), so uneven shards are fine.

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
    dims = _all_gather_ints([stats.dim or 0], device)
    dim = _agreed_dim([row[0] for row in dims], "FeatureStats")
    if dim == 0:
        raise GbenchError("FeatureStats is empty on every rank: update it with features before all_reduce_stats")
    if stats.dim is None:
        stats._allocate(dim, torch.device("cpu"))
    for tensor in stats.state_dict().values():
        buffer = tensor.to(device)
        dist.all_reduce(buffer, op=dist.ReduceOp.SUM)
        tensor.copy_(buffer)
    return stats


def all_gather_bank(bank: FeatureBank) -> FeatureBank:
    """Concatenate the rows of ``bank`` from all ranks in rank order, in place.

    Rows travel as float64 if any rank stores float64, else float32. Shards
    of unequal length are padded for the collective and trimmed after.

    Returns:
        ``bank``, for chaining.
    """
    if not isinstance(bank, FeatureBank):
        raise GbenchError(f"all_gather_bank expects a FeatureBank, got {type(bank).__name__}")
    if not is_distributed():
        return bank
    device = _collective_device()
    is_f64 = int(bank.dtype == torch.float64)
    meta = _all_gather_ints([bank.n, bank.dim or 0, is_f64], device)
    counts = [row[0] for row in meta]
    dim = _agreed_dim([row[1] for row in meta], "FeatureBank")
    dtype = torch.float64 if any(row[2] for row in meta) else torch.float32
    if dim == 0:
        return bank  # empty everywhere

    local = bank.compute() if bank.n else torch.empty(0, dim)
    padded = torch.zeros(max(counts), dim, dtype=dtype, device=device)
    padded[:local.shape[0]] = local.to(device=device, dtype=dtype)
    gathered = [torch.empty_like(padded) for _ in counts]
    dist.all_gather(gathered, padded)
    home = local.device if bank.n else torch.device("cpu")
    rows = torch.cat([g[:c] for g, c in zip(gathered, counts)]).to(home)
    bank._replace(rows)
    return bank


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
