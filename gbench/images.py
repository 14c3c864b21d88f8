"""The image convention at every gbench boundary.

An image batch is a ``torch.uint8`` tensor of shape (N, C, H, W), C in {1, 3},
values 0..255 — quantized exactly as if it had been saved to PNG, so that a
model's samples and a folder of PNG files give the same numbers.

Models output float in [-1, 1]; :func:`float_to_uint8` is the one function that
converts. Metrics never guess a range: a float array passed where images are
expected is an error unless its range is declared.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gbench.errors import GbenchError


def as_tensor(x) -> torch.Tensor:
    """numpy array or torch tensor → torch tensor (no copy when possible)."""
    if isinstance(x, torch.Tensor):
        return x
    if isinstance(x, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(x))
    raise GbenchError(f"expected a numpy array or torch tensor, got {type(x).__name__}")


def float_to_uint8(x: torch.Tensor, value_range: tuple[float, float] = (-1.0, 1.0)) -> torch.Tensor:
    """Quantize float images in ``value_range`` to uint8 0..255 as PNG saving does.

    Args:
        x: float tensor (N, C, H, W) with values nominally in ``value_range``;
            values outside are clipped (a generator's tanh never leaves it, a
            linear output may overshoot slightly).
        value_range: (low, high) mapped to (0, 255).

    Returns:
        uint8 tensor of the same shape: round(255 · (x − low) / (high − low)).
    """
    if not torch.is_floating_point(x):
        raise GbenchError(f"float_to_uint8 expects a float tensor, got {x.dtype}")
    if not torch.isfinite(x).all():
        raise GbenchError("images contain NaN or Inf values: check the model's output")
    lo, hi = check_value_range(value_range)
    y = (x.detach().float() - lo) * (255.0 / (hi - lo))
    return y.round_().clamp_(0, 255).to(torch.uint8)


def check_value_range(value_range) -> tuple[float, float]:
    """(low, high): two finite numbers with low < high, or a GbenchError naming the problem."""
    try:
        lo, hi = (float(v) for v in value_range)
    except (TypeError, ValueError):
        raise GbenchError(f"value_range must be a (low, high) pair of numbers, got {value_range!r}") from None
    if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
        raise GbenchError(f"value_range must be finite with low < high, got ({lo:g}, {hi:g}): e.g. (-1, 1) or (0, 1)")
    return lo, hi


def uint8_to_float(x: torch.Tensor) -> torch.Tensor:
    """uint8 0..255 → float32 x / 127.5 − 1 in [-1, 1] (the models' input range): the
    zoo trainer's own conversion, so evaluation sees what training saw."""
    from zoo.train.sampler import uint8_to_model

    return uint8_to_model(x)


def check_images(x, name: str = "images", value_range: tuple[float, float] | None = None,
                 spatial_dims: int = 2) -> torch.Tensor:
    """Validate an image batch and return it as uint8 (N, C, H, W).

    Args:
        x: numpy array or torch tensor, (N, C, H, W) with C in {1, 3}.
            uint8 is taken as it is. A float array is accepted only with
            ``value_range`` (it is quantized with :func:`float_to_uint8`).
        name: what to call the input in error messages.
        value_range: the declared range of a float input.
        spatial_dims: 2 for images; 3 for volumes (N, C, D, H, W), e.g. `voxels` grids.

    Raises:
        GbenchError: wrong rank, channel count, dtype, undeclared float range,
            NaN/Inf values or an empty batch.
    """
    t = as_tensor(x)
    layout = "(N, C, H, W)" if spatial_dims == 2 else "(N, C, D, H, W)"
    if t.ndim != 2 + spatial_dims:
        raise GbenchError(f"{name} must have shape {layout}, got {tuple(t.shape)}")
    if t.shape[1] not in (1, 3):
        raise GbenchError(f"{name} must have 1 or 3 channels in dim 1 {layout}, got shape {tuple(t.shape)}")
    if t.shape[0] == 0:
        raise GbenchError(f"{name} is empty: need at least one image")
    if t.dtype == torch.uint8:
        return t
    if torch.is_floating_point(t):
        if value_range is None:
            raise GbenchError(f"{name} are {t.dtype}, not uint8: declare their value range "
                              "(e.g. value_range=(-1, 1)) or convert with gbench.images.float_to_uint8")
        return float_to_uint8(t, value_range)
    raise GbenchError(f"{name} must be uint8 (or float with a declared range), got {t.dtype}")


def to_rgb(x: torch.Tensor) -> torch.Tensor:
    """(N, 1, H, W) → (N, 3, H, W) by repeating the channel; RGB passes through."""
    return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x
