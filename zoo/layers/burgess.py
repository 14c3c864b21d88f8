"""The convolutional encoder and decoder of the β-VAE papers on dSprites.

Higgins et al. 2017, "β-VAE: Learning Basic Visual Concepts with a
Constrained Variational Framework" (appendix, dSprites architecture), as
standardized by Locatello et al. 2019, "Challenging Common Assumptions in the
Unsupervised Learning of Disentangled Representations" (appendix: the
``conv_encoder`` / ``deconv_decoder`` of disentanglement_lib), on 1×64×64
(Burgess et al. 2018, "Understanding disentangling in β-VAE", use a close
variant: 32 channels in all four convolutions and two FC 256 layers):

    encoder  Conv 4×4/2 32 → Conv 4×4/2 32 → Conv 4×4/2 64 → Conv 4×4/2 64
             → FC 256 → FC out_dim (2 × latents: means and log-variances)
    decoder  FC 256 → FC 4·4·64 → ConvT 4×4/2 64 → ConvT 4×4/2 32
             → ConvT 4×4/2 32 → ConvT 4×4/2 C (Bernoulli logits or means)

with ReLU after every hidden layer and none on the outputs. ``width`` scales
every layer: channels (w, w, 2w, 2w), FC 8w; w = 32 is the papers' network,
smaller w a cheaper one with the same shape. Four stride-2 layers take an
image of side H to H/16, so any H divisible by 16 works (64 → 4×4, the
papers'; 32 → 2×2). No normalization layers: every code and likelihood of an
image is independent of its batch.
"""

from __future__ import annotations

import torch
from torch import nn

NUM_DOWNSAMPLINGS = 4


def _trunk_sizes(image_size: int, width: int) -> tuple[list[int], int, int]:
    """(conv channels (4,), FC hidden width, side of the smallest feature map)."""
    if image_size < 16 or image_size % 2 ** NUM_DOWNSAMPLINGS:
        raise ValueError(f"image size must be a multiple of 16 (four stride-2 layers), got {image_size}")
    if width < 1:
        raise ValueError(f"width must be ≥ 1, got {width}")
    return [width, width, 2 * width, 2 * width], 8 * width, image_size // 2 ** NUM_DOWNSAMPLINGS


class BurgessEncoder(nn.Module):
    """Image → vector: four 4×4 stride-2 convolutions, FC 8w, FC ``out_dim``.

    Args:
        in_channels: image channels C.
        image_size: input height = width H, a multiple of 16 (64 in the papers).
        out_dim: output size (2 × latents for a Gaussian posterior).
        width: w; channels (w, w, 2w, 2w), hidden FC 8w (32 → the papers' 32, 32, 64, 64, 256).

    Shapes: (N, C, H, H) → (N, out_dim), unbounded.
    """

    def __init__(self, in_channels: int, image_size: int, out_dim: int, width: int = 32):
        super().__init__()
        channels, hidden, side = _trunk_sizes(image_size, width)
        layers: list[nn.Module] = []
        for c_in, c_out in zip([in_channels, *channels[:-1]], channels):
            layers += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
        self.net = nn.Sequential(
            *layers,
            nn.Flatten(),
            nn.Linear(channels[-1] * side * side, hidden), nn.ReLU(),
            nn.Linear(hidden, out_dim),
        )
        self.in_channels, self.image_size = in_channels, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"BurgessEncoder expects (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return self.net(x)


class BurgessDecoder(nn.Module):
    """Vector → image: FC 8w, FC 2w·(H/16)², four 4×4 stride-2 transposed convolutions.

    The mirror of :class:`BurgessEncoder` (channels 2w, 2w, w, w, then C).

    Args:
        in_dim: input vector size (the latent size).
        out_channels: image channels C.
        image_size: output height = width H, a multiple of 16.
        width: w, as in the encoder.

    Shapes: (N, in_dim) → (N, C, H, H), unbounded (Bernoulli logits, or a
    mean the caller squashes).
    """

    def __init__(self, in_dim: int, out_channels: int, image_size: int, width: int = 32):
        super().__init__()
        channels, hidden, side = _trunk_sizes(image_size, width)
        up = channels[::-1]  # 2w, 2w, w, w
        layers: list[nn.Module] = []
        for c_in, c_out in zip(up[:-1], up[1:]):
            layers += [nn.ConvTranspose2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
        self.net = nn.Sequential(
            nn.Linear(in_dim, hidden), nn.ReLU(),
            nn.Linear(hidden, up[0] * side * side), nn.ReLU(),
            nn.Unflatten(1, (up[0], side, side)),
            *layers,
            nn.ConvTranspose2d(up[-1], out_channels, 4, 2, 1),
        )
        self.in_dim = in_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.in_dim:
            raise ValueError(f"BurgessDecoder expects (N, {self.in_dim}), got {tuple(z.shape)}")
        return self.net(z)
