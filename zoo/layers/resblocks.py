"""Residual up- and down-sampling blocks of SAGAN and BigGAN.

Miyato et al. 2018 (SNGAN) / Zhang et al. 2019 (SAGAN code) / Brock et al.
2019 (BigGAN, Fig. 15 a–b, App. B): pre-activation residual blocks (He et al.
2016, "Identity Mappings in Deep Residual Networks").

Generator block (Fig. 15a), ×2 nearest-neighbour upsampling:

    h = conv3(ReLU(BN₂(conv3(up(ReLU(BN₁(x, c)))), c)))      y = h + conv1(up(x))

Discriminator block (Fig. 15b), ×2 average pooling:

    h = pool(conv3(ReLU(conv3(ReLU(x)))))                     y = h + pool(conv1(x))

The input block of D skips the first ReLU (its input is an image) and pools
before its shortcut convolution (the "optimized block" of the SNGAN/BigGAN
code, cheaper and equivalent up to the order of two linear maps). A shortcut
convolution is used only where the shape changes (BigGAN's ``learnable_sc``).

:func:`pyramid_widths` gives the channels per resolution shared by G and D.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers.conditional_bn import ConditionalBatchNorm2d
from zoo.layers.spectral import maybe_sn


def pyramid_widths(levels: int, width: int, max_multiplier: int = 16) -> list[int]:
    """Channels at resolutions 4, 8, ..., 4·2^levels: ``width · min(max_multiplier, 2^(levels − i))``.

    For 128×128 (levels 5) this is BigGAN's G: 16, 16, 8, 4, 2, 1 (× ch); for
    64×64: 16, 8, 4, 2, 1 (BigGAN's 64×64 G uses 16, 16, 8, 4, 2 — one level wider).
    """
    return [width * min(max_multiplier, 2 ** (levels - i)) for i in range(levels + 1)]


class GBlock(nn.Module):
    """Residual ×2 upsampling block with (conditional) batch norm.

    Args:
        in_channels, out_channels: widths.
        cond_dim: size of the conditioning vector of its two cBNs (0: plain BN).
        spectral_norm: spectral-normalize the convolutions (and cBN projections).

    Shapes: x (B, in, H, W), c (B, cond_dim) | None → (B, out, 2H, 2W).
    """

    def __init__(self, in_channels: int, out_channels: int, cond_dim: int = 0, spectral_norm: bool = True):
        super().__init__()
        self.bn1 = ConditionalBatchNorm2d(in_channels, cond_dim, spectral_norm)
        self.conv1 = maybe_sn(nn.Conv2d(in_channels, out_channels, 3, padding=1), spectral_norm)
        self.bn2 = ConditionalBatchNorm2d(out_channels, cond_dim, spectral_norm)
        self.conv2 = maybe_sn(nn.Conv2d(out_channels, out_channels, 3, padding=1), spectral_norm)
        self.shortcut = maybe_sn(nn.Conv2d(in_channels, out_channels, 1), spectral_norm)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        h = F.interpolate(F.relu(self.bn1(x, c)), scale_factor=2, mode="nearest")
        h = self.conv2(F.relu(self.bn2(self.conv1(h), c)))
        return h + self.shortcut(F.interpolate(x, scale_factor=2, mode="nearest"))


class DBlock(nn.Module):
    """Residual discriminator block, optionally ×2 average-pooling.

    Args:
        in_channels, out_channels: widths.
        downsample: halve H and W.
        first: the input block (no ReLU on the image; pool before the shortcut conv).
        spectral_norm: spectral-normalize the convolutions.

    Shapes: (B, in, H, W) → (B, out, H/2, W/2) (or H, W without downsampling).
    """

    def __init__(self, in_channels: int, out_channels: int, downsample: bool = True, first: bool = False,
                 spectral_norm: bool = True):
        super().__init__()
        self.downsample, self.first = downsample, first
        self.conv1 = maybe_sn(nn.Conv2d(in_channels, out_channels, 3, padding=1), spectral_norm)
        self.conv2 = maybe_sn(nn.Conv2d(out_channels, out_channels, 3, padding=1), spectral_norm)
        learnable = in_channels != out_channels or downsample
        self.shortcut = maybe_sn(nn.Conv2d(in_channels, out_channels, 1), spectral_norm) if learnable else None

    def _pool(self, x: torch.Tensor) -> torch.Tensor:
        return F.avg_pool2d(x, 2) if self.downsample else x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = x if self.first else F.relu(x)
        h = self._pool(self.conv2(F.relu(self.conv1(h))))
        if self.shortcut is None:
            return h + x
        skip = self.shortcut(self._pool(x)) if self.first else self._pool(self.shortcut(x))
        return h + skip
