"""Batch norm whose training statistics are taken over every process's shard.

Data-parallel training gives each of W processes B/W images; plain batch
norm would normalize each shard by its own statistics, so the network would
compute something else than on one process with batch B. Here, in training
mode, the per-channel (sum, sum of squares, count) of every rank are added
with one all-reduce, so mean and variance are those of the whole batch
(Ioffe & Szegedy 2015, Alg. 1, over the global minibatch).

Why not ``torch.nn.SyncBatchNorm``: it runs on CUDA only (no CPU/gloo), so it
cannot be tested, nor trained, on a CPU machine, and it is one class for every
dimension, whereas the zoo's models and inits check ``isinstance(m,
nn.BatchNorm2d)`` and SPADE subclasses BatchNorm2d with its own call
signature. :func:`convert_sync_batchnorm` therefore swaps the *class* of each
batch-norm module in place for a subclass of its own class: weights, buffers,
hooks, ``isinstance`` and any subclass's ``forward`` stay as they were; only
``_BatchNorm.forward`` is replaced.

Gradients: the all-reduce is differentiable (its backward is again a sum over
ranks), so rank r's backward of its own shard's mean loss L_r reaches the
statistics' inputs of every rank. Summed over ranks, the parameter gradients
are ∂(Σ_r L_r)/∂θ = W·∂L/∂θ for the one-process loss L over the concatenated
batch (equal shards), and the trainer's average over ranks gives ∂L/∂θ.

Precision: the sums are taken in float64. Var = E[x²] − E[x]² in float32 loses
every digit when |mean| ≫ std; in float64 it is exact to ~1e-16 relative,
which keeps the result within float32 rounding of the one-process
``nn.BatchNorm`` (whose CPU kernel also accumulates in double).
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.modules.batchnorm import _BatchNorm


class _SumOverRanks(torch.autograd.Function):
    """Differentiable all-reduce (sum): forward and backward both sum over ranks.
    Written out because ``torch.distributed.nn.functional.all_reduce`` is deprecated."""

    @staticmethod
    def forward(ctx, tensor: torch.Tensor) -> torch.Tensor:
        tensor = tensor.clone(memory_format=torch.contiguous_format)
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        return tensor

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:
        return _SumOverRanks.apply(grad)


def sum_over_ranks(tensor: torch.Tensor) -> torch.Tensor:
    """Σ over ranks of ``tensor`` (any shape), differentiable; every rank gets the sum."""
    return _SumOverRanks.apply(tensor)


class SyncBatchNorm(_BatchNorm):
    """Mixin placed after a batch-norm class in a synced subclass's MRO (see
    :func:`convert_sync_batchnorm`); overrides ``_BatchNorm.forward`` only.

    Shapes: x (N, C, *) as the wrapped class takes it (1d: (N, C) or (N, C, L);
    2d: (N, C, H, W); 3d: (N, C, D, H, W)) → the same shape. Outside training
    (running statistics), or with no process group / one process, it is the
    wrapped class's forward exactly.
    """

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self._check_input_dim(x)
        uses_batch_stats = self.training or self.running_mean is None
        if not uses_batch_stats or not dist.is_initialized() or dist.get_world_size() == 1:
            return super().forward(x)
        dims = [0, *range(2, x.ndim)]
        x64 = x.double()
        count = torch.full((1,), x.numel() // x.shape[1], dtype=torch.float64, device=x.device)
        totals = sum_over_ranks(torch.cat([x64.sum(dims), (x64 * x64).sum(dims), count]))
        c = x.shape[1]
        n = totals[-1]
        mean = totals[:c] / n
        var = (totals[c:2 * c] / n - mean * mean).clamp(min=0.0)  # biased: the normalization's variance
        if self.training and self.track_running_stats:
            self._update_running_stats(mean.detach(), var.detach() * (n / (n - 1)).detach())
        shape = (1, c) + (1,) * (x.ndim - 2)
        # normalized in float32 and returned in x's dtype, as torch's kernels do for bf16/fp16 (AMP) inputs
        y = (x.float() - mean.float().view(shape)) * torch.rsqrt(var + self.eps).float().view(shape)
        if self.affine:
            y = y * self.weight.float().view(shape) + self.bias.float().view(shape)
        return y.to(x.dtype)

    @torch.no_grad()
    def _update_running_stats(self, mean: torch.Tensor, unbiased_var: torch.Tensor) -> None:
        """As ``_BatchNorm.forward``: momentum None is a cumulative average over batches."""
        if self.num_batches_tracked is not None:
            self.num_batches_tracked.add_(1)
        factor = 1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
        self.running_mean.mul_(1.0 - factor).add_(mean.to(self.running_mean.dtype), alpha=factor)
        self.running_var.mul_(1.0 - factor).add_(unbiased_var.to(self.running_var.dtype), alpha=factor)


_SYNCED: dict[type, type] = {}


def _synced_class(cls: type) -> type:
    """``Sync<cls>``: cls first (its own forward and ``_check_input_dim`` win), then the mixin,
    whose forward is what ``super().forward`` / ``_BatchNorm.forward`` resolves to."""
    if cls not in _SYNCED:
        _SYNCED[cls] = type(f"Sync{cls.__name__}", (cls, SyncBatchNorm), {"__module__": __name__})
    return _SYNCED[cls]


def convert_sync_batchnorm(module: nn.Module) -> dict[nn.Module, type]:
    """Make every batch-norm layer in ``module`` synchronized, in place.

    Each ``nn.BatchNorm1d/2d/3d`` (or subclass) gets the class ``Sync<its class>``;
    parameters, buffers and the state-dict keys are untouched.

    Returns:
        {layer: its previous class}, for :func:`revert_sync_batchnorm`.
    """
    changed: dict[nn.Module, type] = {}
    for m in module.modules():
        if isinstance(m, _BatchNorm) and not isinstance(m, SyncBatchNorm):
            changed[m] = type(m)
            m.__class__ = _synced_class(type(m))
    return changed


def revert_sync_batchnorm(changed: dict[nn.Module, type]) -> None:
    """Undo :func:`convert_sync_batchnorm` (the layers get their classes back)."""
    for m, cls in changed.items():
        m.__class__ = cls
