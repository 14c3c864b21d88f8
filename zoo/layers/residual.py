"""Residual blocks.

He, Zhang, Ren & Sun 2016, "Deep Residual Learning for Image Recognition": a
block learns a residual F(x) and outputs x + F(x) (Eq. 1), so a deep stack
starts close to the identity and trains easily. The variant here is the one
SRResNet uses (Ledig et al. 2017, "Photo-Realistic Single Image
Super-Resolution Using a Generative Adversarial Network", Fig. 4, following
Gross & Wilber's "Training and investigating residual nets"): two 3×3
convolutions, each followed by batch norm, with a PReLU between them and no
activation after the sum.
"""

from __future__ import annotations

import torch
from torch import nn


class ResidualBlock(nn.Module):
    """x + BN(conv(PReLU(BN(conv(x))))), shape-preserving.

    Args:
        channels: feature channels in and out (64 in SRResNet).
        kernel_size: odd convolution size (3 in SRResNet); padding keeps H, W.
        batch_norm: BN after each convolution (SRResNet: yes; EDSR later drops
            it). Without BN the convolutions get a bias.

    Shapes: (N, channels, H, W) → (N, channels, H, W).
    """

    def __init__(self, channels: int, kernel_size: int = 3, batch_norm: bool = True):
        super().__init__()
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that the block keeps H and W, got {kernel_size}")
        pad = kernel_size // 2

        def conv() -> nn.Conv2d:  # a bias before BN would be cancelled by BN's mean subtraction
            return nn.Conv2d(channels, channels, kernel_size, padding=pad, bias=not batch_norm)

        def norm() -> nn.Module:
            return nn.BatchNorm2d(channels) if batch_norm else nn.Identity()

        # PReLU (He et al. 2015) with one learned slope per channel, as in SRResNet.
        self.body = nn.Sequential(conv(), norm(), nn.PReLU(channels), conv(), norm())
        self.channels = channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"ResidualBlock expects (N, {self.channels}, H, W), got {tuple(x.shape)}")
        return x + self.body(x)
