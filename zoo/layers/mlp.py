"""Fully connected blocks.

Used by the original GAN (Goodfellow et al. 2014, "Generative Adversarial
Nets", Sec. 5: MLP generator and discriminator, dropout in the discriminator)
and by any model that maps vectors to vectors (mapping networks, heads).
"""

from __future__ import annotations

from typing import Callable, Sequence

import torch
from torch import nn


class MLP(nn.Sequential):
    """Linear → activation → dropout, repeated, then a final Linear.

    Args:
        in_dim: input features.
        hidden: widths of the hidden layers (may be empty: one Linear).
        out_dim: output features; the output has no activation, so the caller
            chooses tanh (images in [-1, 1]) or leaves logits.
        activation: factory for the hidden activation, e.g. ``nn.ReLU`` or
            ``lambda: nn.LeakyReLU(0.2)``.
        dropout: dropout probability after each hidden activation (0 = none).
            Goodfellow et al. train the discriminator with dropout.

    Shapes: (N, in_dim) → (N, out_dim).
    """

    def __init__(self, in_dim: int, hidden: Sequence[int], out_dim: int,
                 activation: Callable[[], nn.Module] = nn.ReLU, dropout: float = 0.0):
        layers: list[nn.Module] = []
        width = in_dim
        for h in hidden:
            layers += [nn.Linear(width, h), activation()]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = h
        layers.append(nn.Linear(width, out_dim))
        super().__init__(*layers)
        self.in_dim, self.out_dim = in_dim, out_dim

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 2 or x.shape[1] != self.in_dim:
            raise ValueError(f"MLP expects (N, {self.in_dim}), got {tuple(x.shape)}")
        return super().forward(x)
