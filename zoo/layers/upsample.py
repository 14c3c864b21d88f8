"""Sub-pixel convolution upsampling.

Shi et al. 2016, "Real-Time Single Image and Video Super-Resolution Using an
Efficient Sub-Pixel Convolutional Neural Network", Eq. 4: a convolution at the
low resolution produces r² · C channels, and the periodic shuffle PS
rearranges them into an r-times larger map,

    PS(T)[c, y, x] = T[c · r² + r · (y mod r) + (x mod r), ⌊y / r⌋, ⌊x / r⌋],

which is ``nn.PixelShuffle(r)``. It is a learned upsampling without the
checkerboard zeros of a transposed convolution, and every convolution runs at
the lower resolution. SRResNet stacks two ×2 blocks for ×4 (Ledig et al. 2017,
Fig. 4: conv 3×3 → PixelShuffle ×2 → PReLU).
"""

from __future__ import annotations

import torch
from torch import nn


class SubPixelUpsample(nn.Module):
    """conv(k×k, C → r²·C) → PixelShuffle(r) → PReLU: (N, C, H, W) → (N, C, r·H, r·W).

    Args:
        channels: C, kept through the block (64 in SRResNet).
        factor: r (2 in SRResNet; stack two blocks for ×4).
        kernel_size: odd convolution size (3 in SRResNet).
    """

    def __init__(self, channels: int, factor: int = 2, kernel_size: int = 3):
        super().__init__()
        if factor < 2:
            raise ValueError(f"factor must be ≥ 2, got {factor}")
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd so that H and W are kept before the shuffle, got {kernel_size}")
        self.conv = nn.Conv2d(channels, channels * factor ** 2, kernel_size, padding=kernel_size // 2)
        self.shuffle = nn.PixelShuffle(factor)
        self.act = nn.PReLU(channels)  # after the shuffle: one slope per output channel
        self.channels, self.factor = channels, factor

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or x.shape[1] != self.channels:
            raise ValueError(f"SubPixelUpsample expects (N, {self.channels}, H, W), got {tuple(x.shape)}")
        return self.act(self.shuffle(self.conv(x)))


def upsampler(channels: int, scale: int, kernel_size: int = 3) -> nn.Sequential:
    """log2(scale) ×2 sub-pixel blocks: (N, C, H, W) → (N, C, scale·H, scale·W).

    ``scale`` must be a power of two (×4 in SRResNet: two blocks).
    """
    if scale < 2 or scale & (scale - 1):
        raise ValueError(f"scale must be a power of two ≥ 2 (2, 4, 8), got {scale}")
    return nn.Sequential(*[SubPixelUpsample(channels, 2, kernel_size) for _ in range(scale.bit_length() - 1)])
