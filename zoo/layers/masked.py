"""Masked convolutions for autoregressive image models (PixelCNN).

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural
Networks", Sec. 3.5: a k×k convolution whose kernel is zeroed at every tap
that would read the current pixel's successors in raster order, so that the
output at (i, j) depends only on inputs at (i', j') < (i, j) (mask "A", the
first layer) or ≤ (i, j) (mask "B", every later layer, whose input at (i, j)
already summarizes only the pixels before it). One-channel images only: the
R→G→B masking between colour channels is left out.

The blocks are residual: :class:`GatedResidualBlock` with the gated activation
tanh(W_f ∗ x) ⊙ σ(W_g ∗ x) of van den Oord et al. 2016, "Conditional Image
Generation with PixelCNN Decoders", Eq. 2, and :class:`ResidualBlock`, the
ReLU residual block of Pixel RNN Fig. 5. Both keep one stack of masked
convolutions, hence its blind spot (the region above-right of a pixel that a
stack of masked 3×3 convolutions never reaches), which the vertical/horizontal
two-stack design of the gated PixelCNN paper removes.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MASK_TYPES = ("A", "B")


def causal_mask(kernel_size: int, mask_type: str) -> torch.Tensor:
    """float32 (k, k) mask: 1 on the rows above the centre and on the centre row
    left of the centre; the centre itself for type "B" only; 0 elsewhere."""
    if mask_type not in MASK_TYPES:
        raise ValueError(f"mask_type must be one of {MASK_TYPES}, got {mask_type!r}")
    if kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be odd and ≥ 1, got {kernel_size}")
    c = kernel_size // 2
    mask = torch.ones(kernel_size, kernel_size)
    mask[c, c + (mask_type == "B"):] = 0
    mask[c + 1:, :] = 0
    return mask


class MaskedConv2d(nn.Conv2d):
    """A same-padded k×k convolution with a causal mask (Pixel RNN Sec. 3.5, Fig. 2).

    Shapes: (N, C_in, H, W) → (N, C_out, H, W). Output rows ≤ r depend on input
    rows ≤ r only, so a network of these run on the top r + 1 rows gives the
    same values there as on the whole image (the sampler's cache relies on it).
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, mask_type: str, bias: bool = True):
        super().__init__(in_channels, out_channels, kernel_size, padding=kernel_size // 2, bias=bias)
        self.mask_type = mask_type
        self.register_buffer("mask", causal_mask(kernel_size, mask_type), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, self.weight * self.mask, self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        return super().extra_repr() + f", mask_type={self.mask_type!r}"


class GatedResidualBlock(nn.Module):
    """x + W_o ∗ [tanh(W_f ∗ x) ⊙ σ(W_g ∗ x)] with W_f, W_g masked ("B") k×k and W_o 1×1
    (Conditional PixelCNN Eq. 2, on a single stack). (N, C, H, W) → same."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        self.conv = MaskedConv2d(channels, 2 * channels, kernel_size, "B")
        self.out = nn.Conv2d(channels, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f, g = self.conv(x).chunk(2, dim=1)
        return x + self.out(torch.tanh(f) * torch.sigmoid(g))


class ResidualBlock(nn.Module):
    """Pixel RNN Fig. 5: x + 1×1(ReLU(masked k×k "B"(ReLU(1×1(ReLU(x)))))) with a
    2h → h → h → 2h bottleneck (here C → C/2 → C/2 → C). (N, C, H, W) → same."""

    def __init__(self, channels: int, kernel_size: int):
        super().__init__()
        h = max(1, channels // 2)
        self.reduce = nn.Conv2d(channels, h, 1)
        self.conv = MaskedConv2d(h, h, kernel_size, "B")
        self.expand = nn.Conv2d(h, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.reduce(F.relu(x))
        h = self.conv(F.relu(h))
        return x + self.expand(F.relu(h))
