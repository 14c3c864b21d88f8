"""Spatially-adaptive normalization (SPADE) and the SPADE residual block.

Park, Liu, Wang & Zhu 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization", Sec. 3, Eq. 1: with h the activations of a layer (N, C, H, W),
μ_c, σ_c their per-channel batch statistics and m the semantic label map,

    SPADE(h, m)[n, c, y, x] = γ_c,y,x(m) · (h[n, c, y, x] − μ_c) / σ_c + β_c,y,x(m)

γ(m) and β(m) are maps, not per-channel scalars: a two-layer convnet on the
one-hot label map resized (nearest) to H × W — a shared 3×3 conv with ReLU,
then one 3×3 conv each for γ and β (Fig. 2, App. A Fig. 10). Unlike batch norm
after a concatenation at the input, the modulation is recomputed from the map
at every layer, so normalization cannot "wash away" the semantics (Sec. 3,
"Why does SPADE work better?"). As in the authors' code the gain is centred
at one, γ = 1 + conv_γ(·), and the map convolutions carry no spectral norm.

The residual block (Fig. 4 left; App. A Fig. 11):

    h = conv3(LReLU(SPADE₂(conv3(LReLU(SPADE₁(x, m))), m)))     y = h + s(x)

with s(x) = conv1(SPADE_s(x, m)) (no activation) when the width changes
(learned shortcut), else x; the middle width is min(in, out); LeakyReLU slope 0.2.
``label_channels = 0`` gives the same block with affine batch norm everywhere
and no map input: the paper's "w/ Concat" comparison, where the map enters the
generator only at its input.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers.spectral import maybe_sn


def label_map_one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """uint8/int64 label maps (N, H, W) in 0..K−1 → one-hot float (N, K, H, W)."""
    return F.one_hot(labels.long(), num_classes).permute(0, 3, 1, 2).to(dtype)


class SPADE(nn.Module):
    """SPADE(x, m) = (1 + conv_γ(a)) ⊙ BN(x) + conv_β(a), a = ReLU(conv_shared(resize(m))) (Eq. 1).

    Args:
        channels: C of x.
        label_channels: K, channels of the one-hot map m.
        hidden: width of the shared conv (128 in the paper).
        kernel_size: of all three convs (3 in the paper).

    Shapes: x (N, C, H, W), m float (N, K, H', W') (any size; resized to H × W
    by nearest neighbour) → (N, C, H, W). BN has no affine parameters: the
    map decides γ and β.
    """

    def __init__(self, channels: int, label_channels: int, hidden: int = 128, kernel_size: int = 3):
        super().__init__()
        pad = kernel_size // 2
        self.bn = nn.BatchNorm2d(channels, affine=False)
        self.shared = nn.Sequential(nn.Conv2d(label_channels, hidden, kernel_size, padding=pad), nn.ReLU())
        self.gamma = nn.Conv2d(hidden, channels, kernel_size, padding=pad)
        self.beta = nn.Conv2d(hidden, channels, kernel_size, padding=pad)

    def modulation(self, x: torch.Tensor, m: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(γ, β), each (N, C, H, W), for the map m resized to x's size; γ = 1 + conv_γ(a)."""
        a = self.shared(F.interpolate(m, size=x.shape[2:], mode="nearest"))
        return 1 + self.gamma(a), self.beta(a)

    def forward(self, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
        gamma, beta = self.modulation(x, m)
        return gamma * self.bn(x) + beta


class _PlainNorm(nn.BatchNorm2d):
    """Affine batch norm with SPADE's call signature (the map is ignored)."""

    def forward(self, x: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        return super().forward(x)


class SPADEResBlock(nn.Module):
    """SPADE residual block (Fig. 11), no resampling.

    Args:
        in_channels, out_channels: widths.
        label_channels: K of the one-hot map; 0 = affine batch norm, no map (the baseline).
        hidden: SPADE's shared-conv width.
        spectral_norm: on the block's three convs (the authors' G; not on SPADE's map convs).

    Shapes: x (N, in, H, W), m (N, K, H', W') | None → (N, out, H, W).
    """

    def __init__(self, in_channels: int, out_channels: int, label_channels: int, hidden: int = 128,
                 spectral_norm: bool = True):
        super().__init__()
        middle = min(in_channels, out_channels)

        def norm(c: int) -> nn.Module:
            return SPADE(c, label_channels, hidden) if label_channels else _PlainNorm(c)

        self.norm1, self.conv1 = norm(in_channels), maybe_sn(nn.Conv2d(in_channels, middle, 3, padding=1),
                                                             spectral_norm)
        self.norm2, self.conv2 = norm(middle), maybe_sn(nn.Conv2d(middle, out_channels, 3, padding=1), spectral_norm)
        self.shortcut = None
        if in_channels != out_channels:
            self.norm_s = norm(in_channels)
            self.shortcut = maybe_sn(nn.Conv2d(in_channels, out_channels, 1, bias=False), spectral_norm)

    def forward(self, x: torch.Tensor, m: torch.Tensor | None = None) -> torch.Tensor:
        h = self.conv1(F.leaky_relu(self.norm1(x, m), 0.2))
        h = self.conv2(F.leaky_relu(self.norm2(h, m), 0.2))
        return h + (x if self.shortcut is None else self.shortcut(self.norm_s(x, m)))
