"""DCGAN-style convolutional blocks and trunks.

Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks", Sec. 3 (architecture guidelines):

* strided convolutions (D) and fractional-strided convolutions (G) instead of
  pooling;
* no fully connected hidden layers (the projection of z is a 4×4 transposed
  convolution of a 1×1 map, the last D layer a 4×4 convolution);
* batch norm everywhere except the generator's output layer and the
  discriminator's input layer;
* ReLU in the generator, LeakyReLU(0.2) in the discriminator.

The trunks are parametrized by image size (4·2^L, L ≥ 1: 8, 16, 32, 64, 128)
and channel count, so the same code serves 1×32×32 digits, 3×32×32 CIFAR-10
and 3×64×64 CelebA. The VAE and the IcGAN encoders reuse them (the VAE without
batch norm, so that its per-sample bounds do not depend on the batch).
"""

from __future__ import annotations

import math

import torch
from torch import nn


def num_doublings(image_size: int) -> int:
    """L such that ``image_size == 4 · 2^L`` (the trunk's number of 2× resamplings)."""
    levels = int(round(math.log2(image_size / 4))) if image_size >= 8 else 0
    if levels < 1 or 4 * 2 ** levels != image_size:
        raise ValueError(f"image size must be 4·2^L with L ≥ 1 (8, 16, 32, 64, 128, ...), got {image_size}")
    return levels


def up_block(in_channels: int, out_channels: int, batch_norm: bool = True) -> nn.Sequential:
    """ConvTranspose2d(k=4, s=2, p=1) → [BatchNorm] → ReLU: (N, in, H, W) → (N, out, 2H, 2W)."""
    layers: list[nn.Module] = [nn.ConvTranspose2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:  # a conv bias before BN is cancelled by BN's mean subtraction
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.ReLU())
    return nn.Sequential(*layers)


def down_block(in_channels: int, out_channels: int, batch_norm: bool = True,
               negative_slope: float = 0.2) -> nn.Sequential:
    """Conv2d(k=4, s=2, p=1) → [BatchNorm] → LeakyReLU: (N, in, H, W) → (N, out, H/2, W/2)."""
    layers: list[nn.Module] = [nn.Conv2d(in_channels, out_channels, 4, 2, 1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers.append(nn.LeakyReLU(negative_slope))
    return nn.Sequential(*layers)


class ConvDecoder(nn.Module):
    """Vector → image trunk (the DCGAN generator without its output activation).

    Layers for ``image_size = 4·2^L`` and ``width = w``: a 4×4 transposed
    convolution of the 1×1 input to 2^(L-1)·w channels (+BN, ReLU), then L−1
    ``up_block``s halving the channels, then a last transposed convolution to
    ``out_channels`` with no batch norm and no activation.

    Args:
        in_dim: input vector size (latent, or latent + one-hot label).
        out_channels: image channels C (1 or 3).
        image_size: output height = width.
        width: channels of the last hidden layer (DCGAN's ``ngf``).
        batch_norm: BN in the hidden layers (never in the output layer).

    Shapes: (N, in_dim) → (N, C, image_size, image_size), unbounded (the
    caller applies tanh for images in [-1, 1], or reads Bernoulli logits).
    """

    def __init__(self, in_dim: int, out_channels: int, image_size: int, width: int, batch_norm: bool = True):
        super().__init__()
        levels = num_doublings(image_size)
        channels = [width * 2 ** (levels - 1 - i) for i in range(levels)]
        project: list[nn.Module] = [nn.ConvTranspose2d(in_dim, channels[0], 4, 1, 0, bias=not batch_norm)]
        if batch_norm:
            project.append(nn.BatchNorm2d(channels[0]))
        project.append(nn.ReLU())
        self.net = nn.Sequential(
            *project,
            *[up_block(channels[i - 1], channels[i], batch_norm) for i in range(1, levels)],
            nn.ConvTranspose2d(channels[-1], out_channels, 4, 2, 1),
        )
        self.in_dim = in_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        if z.ndim != 2 or z.shape[1] != self.in_dim:
            raise ValueError(f"ConvDecoder expects (N, {self.in_dim}), got {tuple(z.shape)}")
        return self.net(z[:, :, None, None])


class ConvEncoder(nn.Module):
    """Image → vector trunk (the DCGAN discriminator with ``out_dim`` outputs).

    Layers for ``image_size = 4·2^L`` and ``width = w``: a stride-2 4×4
    convolution to w channels with LeakyReLU and no batch norm (the input
    layer), L−1 ``down_block``s doubling the channels down to 4×4, then a 4×4
    convolution to ``out_dim`` (no BN, no activation).

    Args:
        in_channels: image channels (plus label maps for conditional models).
        image_size: input height = width.
        width: channels of the first layer (DCGAN's ``ndf``).
        out_dim: output size (1 for a discriminator logit, 2·latent for a VAE
            encoder, the latent size or class count for IcGAN's encoders).
        batch_norm: BN in the hidden layers (never in the input layer).

    Shapes: (N, in_channels, image_size, image_size) → (N, out_dim).
    """

    def __init__(self, in_channels: int, image_size: int, width: int, out_dim: int, batch_norm: bool = True):
        super().__init__()
        levels = num_doublings(image_size)
        channels = [width * 2 ** i for i in range(levels)]
        self.net = nn.Sequential(
            nn.Conv2d(in_channels, channels[0], 4, 2, 1),
            nn.LeakyReLU(0.2),
            *[down_block(channels[i - 1], channels[i], batch_norm) for i in range(1, levels)],
            nn.Conv2d(channels[-1], out_dim, 4, 1, 0),
        )
        self.in_channels, self.image_size = in_channels, image_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(f"ConvEncoder expects (N, {', '.join(map(str, expected))}), got {tuple(x.shape)}")
        return self.net(x).flatten(1)
