"""Self-attention over spatial positions.

Zhang, Goodfellow, Metaxas & Odena 2019, "Self-Attention Generative Adversarial
Networks", Sec. 3. For features x (C channels, N = H·W positions) and 1×1
convolutions f, g, h (C → C̄) and v (C̄ → C):

    s_ij = f(x_i)ᵀ g(x_j)                                    (Eq. 1)
    β_j,i = exp(s_ij) / Σ_i exp(s_ij)     (how much position j attends to i)
    o_j = v(Σ_i β_j,i h(x_i))                                (Eq. 2)
    y_i = γ·o_i + x_i,   γ a learned scalar initialized to 0 (Eq. 3)

so the block starts as the identity and the network learns to rely on
non-local evidence gradually. C̄ = C/8 as in the paper.

Deviation: the authors' (and BigGAN's) code max-pools the keys and values 2×2
to save memory (N × N/4 attention); here every position attends to every
position, as in the equations.
"""

from __future__ import annotations

import torch
from torch import nn

from zoo.layers.spectral import maybe_sn


class SelfAttention(nn.Module):
    """y = γ·o + x (Eq. 1–3), shape-preserving.

    Args:
        channels: C; the query/key/value width is C̄ = max(1, C // reduction).
        spectral_norm: spectral-normalize f, g, h, v (SAGAN uses SN in G and D).
        reduction: C / C̄ (8 in the paper).

    Shapes: (B, C, H, W) → (B, C, H, W).
    """

    def __init__(self, channels: int, spectral_norm: bool = True, reduction: int = 8):
        super().__init__()
        inner = max(1, channels // reduction)
        self.f, self.g, self.h = (maybe_sn(nn.Conv2d(channels, inner, 1, bias=False), spectral_norm) for _ in range(3))
        self.v = maybe_sn(nn.Conv2d(inner, channels, 1, bias=False), spectral_norm)
        self.gamma = nn.Parameter(torch.zeros(()))

    def reset_parameters(self) -> None:
        nn.init.zeros_(self.gamma)  # Eq. 3: the block starts as the identity

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        """β: (B, N, N) with β[b, j, i] = β_j,i, each row j a distribution over positions i."""
        query, key = self.f(x).flatten(2), self.g(x).flatten(2)      # (B, C̄, N)
        scores = torch.bmm(query.transpose(1, 2), key)               # s[b, i, j] = f(x_i)·g(x_j)
        return torch.softmax(scores.transpose(1, 2), dim=-1)         # [b, j, i], normalized over i

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hgt, wid = x.shape
        beta = self.attention(x)
        values = self.h(x).flatten(2)                                 # (B, C̄, N)
        attended = torch.bmm(values, beta.transpose(1, 2))            # [b, :, j] = Σ_i β_j,i h(x_i)
        o = self.v(attended.view(b, -1, hgt, wid))
        return self.gamma * o + x
