"""A model's starting weights: one function, used by the trainer for a fresh
run and by anything that needs the weights a run starts from (e.g. a suite's
untrained ``@init`` baseline)."""

from __future__ import annotations

import torch
from torch import nn


def init_weights(model: nn.Module, seed: int) -> nn.Module:
    """Re-initialize ``model`` from ``seed``: the weights a training run with this seed starts from.

    Runs ``torch.manual_seed(seed)`` then ``model.reset_parameters()`` inside
    ``torch.random.fork_rng`` (with the CUDA devices the model lives on), so
    the caller's global RNG state is left as it was. The weights depend on
    (model class, config, seed, device type) only, not on how or where the
    model was built before: initialize after moving the model to its device
    (CUDA draws from its own generator, so CPU and CUDA weights differ).

    Args:
        model: a zoo model (anything with ``reset_parameters()``), on any device.
        seed: ≥ 0.

    Returns:
        ``model`` itself, re-initialized in place.
    """
    if seed < 0:
        raise ValueError(f"seed must be ≥ 0, got {seed}")
    devices = sorted({t.device for t in (*model.parameters(), *model.buffers()) if t.device.type == "cuda"},
                     key=lambda d: d.index or 0)
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        model.reset_parameters()
    return model
