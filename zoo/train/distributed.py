"""Data-parallel training helpers for the trainer (torch.distributed; torchrun launches).

The global minibatch B of one-process training is split over W ranks: rank r
takes rows [r·B/W, (r+1)·B/W) of every batch and of every noise draw, so W
processes compute, shard by shard, what one process computes on B:

* :class:`RankSlice` — batch i's indices from the one-process sampler, sliced;
* :func:`batch_shard` / :func:`draw_rows` — a noise draw of shape (b, ...) with
  b = B/W draws (B, ...) from the generator (which every rank seeds alike)
  and keeps the rank's rows, so each rank's generator advances exactly as the
  one-process generator and rank r gets its slice of the one-process noise;
* :func:`average_gradients` — one all-reduce of the phase's gradients (see below);
* :func:`average_buffers` — buffers that track batch statistics (StyleGAN's w̄);
* :func:`mean_over_ranks` — logged values, averaged only when logged.

Why an explicit all-reduce and not ``DistributedDataParallel``: the trainer
switches ``requires_grad`` per phase (D, then G, then encoders...), and DDP's
reducer expects the parameters that got gradients once to get them after
every forward: wrapping G and D in DDP needs ``find_unused_parameters``, a
``no_sync`` around every forward of a network the phase does not train (G in
D's phase, D in G's phase — or the reducer waits for gradients that never
come), and a DDP wrapper per network the losses call. Averaging the
gradients of the phase's parameters after each backward is one collective,
works for any number of networks and phases, and leaves the models
unwrapped (same state-dict keys as one process). It does not overlap
communication with the backward pass, which DDP does; the zoo's networks
are small enough that this costs little.

With no process group everything here is the identity, and the trainer does
not call the collectives at all: one-process training is bit-identical to a
trainer without this module.
"""

from __future__ import annotations

import contextlib
import contextvars
from typing import Callable, Iterator

import torch
import torch.distributed as dist
from torch import nn

# (rank, world) while the trainer runs a loss on rank's shard of the batch; None otherwise
_SHARD: contextvars.ContextVar[tuple[int, int] | None] = contextvars.ContextVar("zoo_batch_shard", default=None)


def rank_and_world() -> tuple[int, int]:
    """(rank, world size) of the initialized process group; (0, 1) without one."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


@contextlib.contextmanager
def batch_shard(rank: int, world: int) -> Iterator[None]:
    """Inside, :func:`draw_rows` (and so ``zoo.models.base.randn``/``rand``) returns rank's
    rows of a W-times larger draw. The trainer wraps each ``model.loss`` call in it."""
    token = _SHARD.set((rank, world) if world > 1 else None)
    try:
        yield
    finally:
        _SHARD.reset(token)


def draw_rows(draw: Callable[[int], torch.Tensor], n: int) -> torch.Tensor:
    """``draw(n)``, a tensor whose first dimension is the batch (n, ...), or inside
    :func:`batch_shard` rows [r·n, (r+1)·n) of ``draw(n·W)`` — with n·W = B, the draw
    one process makes for the whole batch."""
    shard = _SHARD.get()
    if shard is None:
        return draw(n)
    rank, world = shard
    return draw(n * world)[rank * n:(rank + 1) * n]


class RankSlice:
    """A sampler of rank's part of each global batch: ``sampler(i)`` (B indices), rows
    [r·B/W, (r+1)·B/W). The global order is the one-process order, so a checkpoint
    (which stores the batch counter only) is independent of the world size."""

    def __init__(self, sampler: Callable[[int], torch.Tensor], batch_size: int, rank: int, world: int):
        if batch_size % world:
            raise ValueError(f"config.train.batch_size = {batch_size} is the global batch and must be divisible by "
                             f"the world size {world}: choose a batch size that is a multiple of {world}")
        self.sampler, self.rank, self.per_rank = sampler, rank, batch_size // world

    def __call__(self, i: int) -> torch.Tensor:
        return self.sampler(i)[self.rank * self.per_rank:(self.rank + 1) * self.per_rank]


def average_gradients(parameters: list[nn.Parameter], world: int) -> None:
    """Replace each parameter's ``.grad`` by its mean over ranks (one all-reduce of one
    flattened bucket: sum, then / W). Each rank backpropagated its shard's mean loss,
    so the mean over ranks is the gradient of the global batch's mean loss. Parameters
    without a gradient are left alone (the same on every rank: same code, same shapes)."""
    grads = [p.grad for p in parameters if p.grad is not None]
    if not grads:
        return
    bucket = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(bucket, op=dist.ReduceOp.SUM)
    bucket /= world
    offset = 0
    for g in grads:
        g.copy_(bucket[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def average_buffers(module: nn.Module, world: int) -> None:
    """Floating-point buffers ← their mean over ranks (one all-reduce), after each update.

    A buffer that a training forward moves towards a batch statistic with a
    linear rule — StyleGAN's w̄ ← lerp(w̄, mean_batch w, 1 − β) — moves towards
    the shard's statistic on each rank; since the rule is linear and the shards
    are equal, the mean over ranks is the one-process value, and it keeps the
    ranks identical. Buffers that are already equal on every rank (synchronized
    batch-norm statistics, spectral-norm vectors of identical weights) stay as
    they are: (a + a) / 2 = a exactly. Integer buffers (counters) are equal on
    every rank and left alone."""
    buffers = [b for b in module.buffers() if b.is_floating_point()]
    if not buffers:
        return
    bucket = torch.cat([b.detach().reshape(-1).to(torch.float64) for b in buffers])
    dist.all_reduce(bucket, op=dist.ReduceOp.SUM)
    bucket /= world
    offset = 0
    with torch.no_grad():
        for b in buffers:
            b.copy_(bucket[offset:offset + b.numel()].view_as(b))
            offset += b.numel()


def broadcast_module(module: nn.Module) -> None:
    """Rank 0's parameters and buffers to every rank, so all start (or resume) identical."""
    with torch.no_grad():
        for t in (*module.parameters(), *module.buffers()):
            dist.broadcast(t.data, src=0)


def mean_over_ranks(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """{name: 0-d value} averaged over ranks (one all-reduce, float64, on the collective's
    device; bools count as 0/1). The same keys, in the same order, on every rank."""
    if not values:
        return values
    device = torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else "cpu"
    stacked = torch.stack([v.detach().to(device, torch.float64).reshape(()) for v in values.values()])
    dist.all_reduce(stacked, op=dist.ReduceOp.SUM)
    stacked /= dist.get_world_size()
    return dict(zip(values, stacked.cpu().unbind()))
