"""Exponential moving average of a module's weights (e.g. the generator's,
Karras et al. 2018 "Progressive Growing of GANs", Sec. A.1; Yazıcı et al. 2019
"The Unusual Effectiveness of Averaging in GAN Training")."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import torch
from torch import nn


class EMA:
    """Shadow copy θ̄ ← decay·θ̄ + (1 − decay)·θ of a module's floating-point
    parameters; buffers (batch-norm statistics) are copied, not averaged.

    Args:
        module: the module to average (its state_dict keys name the shadow).
        decay: in [0, 1).
    """

    def __init__(self, module: nn.Module, decay: float):
        self.module, self.decay = module, decay
        self.shadow = {k: v.detach().clone() for k, v in module.state_dict().items()}
        self._averaged = {k for k, _ in module.named_parameters()}

    @torch.no_grad()
    def update(self, decay: float | None = None) -> None:
        """One averaging step with ``decay`` (default: the constructor's; 0 copies the live weights)."""
        decay = self.decay if decay is None else decay
        for k, v in self.module.state_dict().items():
            if k in self._averaged and v.is_floating_point():
                self.shadow[k].lerp_(v, 1.0 - decay)
            else:
                self.shadow[k].copy_(v)

    @contextmanager
    def applied(self) -> Iterator[None]:
        """Temporarily load the averaged weights into the module (for sampling)."""
        live = {k: v.detach().clone() for k, v in self.module.state_dict().items()}
        self.module.load_state_dict(self.shadow)
        try:
            yield
        finally:
            self.module.load_state_dict(live)

    def copy_to_module(self) -> None:
        """Load the averaged weights into the module for good (end of training)."""
        self.module.load_state_dict(self.shadow)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return self.shadow

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for k, v in state.items():
            self.shadow[k].copy_(v)
