"""Conditional batch normalization.

De Vries et al. 2017, "Modulating early visual processing by language"; Dumoulin
et al. 2017 (conditional instance norm); used class-conditionally by Miyato &
Koyama 2018 and SAGAN, and by BigGAN (Brock et al. 2019, Sec. 3 and App. B)
with gains and biases that are *linear functions* of a conditioning vector c:

    y = (1 + W_γ c) ⊙ BN(x) + W_β c      (BN without its own affine parameters)

c is what the generator chooses: a one-hot label (then W_γ, W_β are per-layer
class embeddings, the cBN of Miyato & Koyama), BigGAN's shared class embedding,
and/or a chunk of the latent z (hierarchical latent). The gain is centred at 1
(as in the BigGAN code) so a zero-initialized or small W_γ starts at plain BN.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.layers.spectral import maybe_sn


class ConditionalBatchNorm2d(nn.Module):
    """(1 + W_γ c) ⊙ BN(x) + W_β c; with ``cond_dim == 0`` an ordinary BatchNorm2d
    (learned γ, β) that ignores c, so unconditional generators share the blocks.

    Args:
        channels: C.
        cond_dim: size of c (0: unconditional).
        spectral_norm: spectral-normalize W_γ, W_β (BigGAN's G uses SN everywhere).

    Shapes: x (B, C, H, W), c (B, cond_dim) or None → (B, C, H, W).
    """

    def __init__(self, channels: int, cond_dim: int = 0, spectral_norm: bool = False):
        super().__init__()
        self.cond_dim = cond_dim
        self.bn = nn.BatchNorm2d(channels, affine=cond_dim == 0)
        if cond_dim:
            self.gain = maybe_sn(nn.Linear(cond_dim, channels, bias=False), spectral_norm)
            self.shift = maybe_sn(nn.Linear(cond_dim, channels, bias=False), spectral_norm)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        out = self.bn(x)
        if not self.cond_dim:
            return out
        if c is None or c.shape != (x.shape[0], self.cond_dim):
            raise ValueError(f"conditional batch norm needs c of shape ({x.shape[0]}, {self.cond_dim}), "
                             f"got {None if c is None else tuple(c.shape)}")
        return (1 + self.gain(c))[:, :, None, None] * out + self.shift(c)[:, :, None, None]
