"""Input checks shared by the metric maths: numpy or torch in, float64 torch out.

Every metric accepts numpy arrays and torch tensors (on any device). These
helpers convert to a float64 tensor on the input's device — numpy becomes a CPU
tensor — and turn malformed input (wrong rank, wrong dtype, NaN/Inf) into one
:class:`~gbench.errors.GbenchError` that names the argument and the fix.
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.errors import GbenchError


def as_real_tensor(x, name: str) -> torch.Tensor:
    """numpy array or torch tensor of real numbers → torch tensor, dtype and device kept.

    Raises:
        GbenchError: not an array, a bool/complex dtype, or NaN/Inf values.
    """
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.floating) or np.issubdtype(x.dtype, np.integer)):
            raise GbenchError(f"{name} must hold real numbers, got numpy dtype {x.dtype}")
        t = torch.from_numpy(np.ascontiguousarray(x))
    elif isinstance(x, torch.Tensor):
        if x.is_complex() or x.dtype == torch.bool:
            raise GbenchError(f"{name} must hold real numbers, got {x.dtype}")
        t = x.detach()
    else:
        raise GbenchError(f"{name} must be a numpy array or a torch tensor, got {type(x).__name__}")
    if t.is_floating_point() and not bool(torch.isfinite(t).all()):
        raise GbenchError(f"{name} contains NaN or Inf values: check the features or statistics that produced it")
    return t


def as_float64(x, name: str) -> torch.Tensor:
    """numpy array or torch tensor of real numbers → float64 tensor on the same device."""
    return as_real_tensor(x, name).to(torch.float64)


def as_features(x, name: str, min_rows: int = 1, float64: bool = True) -> torch.Tensor:
    """Validate a feature matrix (N, d); return it as float64 (or as given), same device."""
    t = as_real_tensor(x, name)
    if t.ndim != 2:
        raise GbenchError(f"{name} must have shape (N, d) (one row per sample), got {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise GbenchError(f"{name} has {t.shape[0]} rows, need at least {min_rows}: pass more samples")
    if t.shape[1] == 0:
        raise GbenchError(f"{name} has 0 feature dimensions: expected shape (N, d) with d ≥ 1")
    return t.to(torch.float64) if float64 else t


def same_dim(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Both feature matrices must have the same number of columns d."""
    if a.shape[1] != b.shape[1]:
        raise GbenchError(f"{name_a} has {a.shape[1]} feature dimensions but {name_b} has {b.shape[1]}: "
                          "extract both with the same feature extractor and layer")


def to_numpy(t: torch.Tensor) -> np.ndarray:
    """Tensor on any device → numpy array on the CPU."""
    return t.detach().cpu().numpy()


# Seeds are 32-bit everywhere in gbench: numpy's legacy generators and many
# tools take no more, and seeds derived by adding offsets stay far inside
# torch's 64-bit range (a larger seed overflowed torch.Generator.manual_seed).
MAX_SEED = 2**32 - 1


def check_seed(seed, fn: str) -> int:
    """A seed: an int in [0, MAX_SEED], or a GbenchError naming ``fn`` (a function or a CLI option)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed <= MAX_SEED:
        raise GbenchError(f"{fn}: seed must be an integer from 0 to {MAX_SEED} (2^32 − 1), got {seed!r}")
    return int(seed)
