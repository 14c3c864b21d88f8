"""`dcgan`: deep convolutional GAN, plus latent-space walks and vector arithmetic.

Radford, Metz & Chintala 2016, "Unsupervised Representation Learning with Deep
Convolutional Generative Adversarial Networks". The game is the GAN of
:mod:`zoo.models.gan`; the networks follow the paper's guidelines (Sec. 3),
implemented once in :mod:`zoo.layers.conv`:

* all-convolutional: strided convolutions in D, fractional-strided in G, no
  pooling, no fully connected hidden layers;
* batch norm in G and D except G's output layer and D's input layer;
* ReLU in G with a tanh output, LeakyReLU(0.2) in D;
* Adam, lr 2e-4, β1 = 0.5, batch 128, weights ~ N(0, 0.02) (Sec. 4).

For 64×64 images and ngf = ndf = 64 this is the paper's (and PyTorch's
reference) network; 32×32 drops one resolution level.

The networks take optional class labels (one-hot concatenated to z in G, as
constant label maps to the image in D) so that ``cgan`` and ``icgan`` reuse
them unchanged.

Latent-space analysis (Sec. 6): :func:`interpolation_grid` walks between
random z's (Sec. 6.1), :func:`vector_arithmetic` computes
z_base + α·(mean z_A − mean z_B) (Sec. 6.3.2, e.g. smiling woman − neutral
woman + neutral man). Both return image tensors for the caller to save.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import torch
from torch import nn

from zoo.layers import ConvDecoder, ConvEncoder, concat_label_maps, concat_one_hot, dcgan_init_
from zoo.models.base import ModelSpec, check_preset_args, evaluating, randn
from zoo.models.gan import GAN
from zoo.train import TrainConfig


@dataclass(frozen=True)
class DCGANConfig:
    """Hyper-parameters of DCGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L (32 or 64 in practice).
        train: optimization settings (Adam lr 2e-4, β1 0.5 in every preset).
        latent_dim: size of z (100 in the paper).
        ngf, ndf: channels of G's last hidden layer / D's first layer (64).
        loss: "non-saturating" (as in the paper's code), "minimax" or "hinge".
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    loss: str = "non-saturating"


class DCGANGenerator(nn.Module):
    """z (N, latent_dim) [+ labels (N,)] → images (N, C, H, W) in [-1, 1]."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], ngf: int,
                 num_classes: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        c, h, _ = image_shape
        self.trunk = ConvDecoder(latent_dim + (num_classes or 0), c, h, ngf, batch_norm=True)
        self.out = nn.Tanh()

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes is not None:
            z = concat_one_hot(z, labels, self.num_classes)
        return self.out(self.trunk(z))


class DCGANDiscriminator(nn.Module):
    """images (N, C, H, W) [+ labels (N,)] → logits (N,)."""

    def __init__(self, image_shape: tuple[int, int, int], ndf: int, num_classes: int | None = None):
        super().__init__()
        self.num_classes = num_classes
        c, h, _ = image_shape
        self.trunk = ConvEncoder(c + (num_classes or 0), h, ndf, out_dim=1, batch_norm=True)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.num_classes is not None:
            x = concat_label_maps(x, labels, self.num_classes)
        return self.trunk(x).squeeze(1)

    def layer_outputs(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> list[torch.Tensor]:
        """Each hidden convolutional layer's activations (after its LeakyReLU), input side first.

        The features of Radford et al. 2016, Sec. 5.1 ("the discriminator's
        convolutional features from all layers"). For images of size 4·2^L and
        ``ndf = w``: [(N, w, H/2, W/2), (N, 2w, H/4, W/4), ..., (N, 2^(L−1)·w, 4, 4)];
        the last 4×4 convolution to the logit is not a feature layer.
        Batch norm acts as in the module's current mode (call ``eval()`` for
        features that do not depend on the batch).
        """
        if self.num_classes is not None:
            x = concat_label_maps(x, labels, self.num_classes)
        outputs = []
        for layer in list(self.trunk.net)[:-1]:
            x = layer(x)
            if not isinstance(layer, nn.Conv2d):  # the input conv's output is taken after its LeakyReLU
                outputs.append(x)
        return outputs


def slerp(z0: torch.Tensor, z1: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Spherical interpolation (Shoemake 1985; White 2016, "Sampling Generative
    Networks"), which keeps interpolants at the norm typical of Gaussian z.

    z0, z1: (N, D); t: (T,) in [0, 1] → (N, T, D). Falls back to linear
    interpolation where z0 and z1 are (anti)parallel.
    """
    cos = torch.nn.functional.cosine_similarity(z0, z1, dim=1).clamp(-1.0, 1.0)[:, None, None]
    omega = torch.acos(cos)  # angle between z0 and z1, (N, 1, 1)
    t = t[None, :, None]
    sin = torch.sin(omega)
    parallel = sin.abs() < 1e-6
    sin = torch.where(parallel, torch.ones_like(sin), sin)
    w0 = torch.where(parallel, 1 - t, torch.sin((1 - t) * omega) / sin)
    w1 = torch.where(parallel, t, torch.sin(t * omega) / sin)
    return w0 * z0[:, None] + w1 * z1[:, None]


def interpolation_grid(model: GAN, rows: int, steps: int, generator: torch.Generator | None = None,
                       labels: torch.Tensor | None = None, mode: str = "slerp") -> torch.Tensor:
    """Walks in latent space between pairs of random z's (Radford et al. Sec. 6.1).

    Args:
        model: any zoo model with ``latent_dim`` and ``generate``.
        rows: number of walks; steps: images per walk (endpoints included).
        generator: for the endpoints.
        labels: int64 (rows,) for conditional models (one class per row).
        mode: "slerp" or "lerp".

    Returns:
        float (rows·steps, C, H, W) in [-1, 1], row-major: save with nrow=steps.
    """
    if mode not in ("slerp", "lerp"):
        raise ValueError(f"mode must be 'slerp' or 'lerp', got {mode!r}")
    labels = model.check_labels(labels, rows)
    with evaluating(model):
        z0, z1 = (randn((rows, model.latent_dim), generator, model.device) for _ in range(2))
        t = torch.linspace(0.0, 1.0, steps, device=model.device)
        if mode == "slerp":
            z = slerp(z0, z1, t)
        else:
            z = z0[:, None] + t[None, :, None] * (z1 - z0)[:, None]
        y = labels.repeat_interleave(steps) if labels is not None else None
        return model.generate(z.reshape(rows * steps, -1), y).float()


def vector_arithmetic(model: GAN, z_a: torch.Tensor, z_b: torch.Tensor, z_base: torch.Tensor,
                      alphas: Sequence[float] = (0.0, 0.5, 1.0, 1.5),
                      labels: torch.Tensor | None = None) -> torch.Tensor:
    """Latent vector arithmetic (Radford et al. Sec. 6.3.2):
    z_new = z_base + α·(mean z_A − mean z_B), one row per α.

    Args:
        model: any zoo model with ``latent_dim`` and ``generate``.
        z_a, z_b: (n_a, D), (n_b, D) latents of exemplars with / without the
            attribute (the paper averages 3 per concept).
        z_base: (N, D) latents to edit.
        alphas: strengths; α = 0 reproduces the base images.
        labels: int64 (N,) for conditional models.

    Returns:
        float (len(alphas)·N, C, H, W) in [-1, 1], row-major: save with nrow=N.
    """
    labels = model.check_labels(labels, z_base.shape[0])
    with evaluating(model):
        direction = z_a.to(model.device).mean(0) - z_b.to(model.device).mean(0)
        z = torch.cat([z_base.to(model.device) + a * direction for a in alphas])
        y = labels.repeat(len(alphas)) if labels is not None else None
        return model.generate(z, y).float()


PRESETS = {  # also cgan's: the same networks with label inputs
    "smoke": dict(latent_dim=16, ngf=8, ndf=8,
                  train=TrainConfig(steps=4, batch_size=8, log_every=1, checkpoint_every=2)),
    "quick": dict(latent_dim=64, ngf=16, ndf=16,  # ngf 16 × 800 steps beat ngf 32 × 400 steps (same CPU time)
                  train=TrainConfig(steps=800, batch_size=64, log_every=10, checkpoint_every=200, sample_every=200)),
    "full": dict(latent_dim=100, ngf=64, ndf=64,
                 train=TrainConfig(steps=30_000, batch_size=128, log_every=100, checkpoint_every=2000,
                                   sample_every=2000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> DCGANConfig:
    """The ``dcgan`` config for a preset (smoke | quick | full) and data shape."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    return DCGANConfig(image_shape=shape, **PRESETS[preset])


def build(config: DCGANConfig) -> GAN:
    gan = GAN(config,
              DCGANGenerator(config.latent_dim, config.image_shape, config.ngf),
              DCGANDiscriminator(config.image_shape, config.ndf),
              weight_init=dcgan_init_)
    gan.channels_last_on_cpu = True  # one-thread quick step on digits: 9 % faster in NHWC (measured)
    return gan


SPEC = ModelSpec(
    name="dcgan", family="gan", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    description="Radford et al. 2016: all-convolutional GAN with batch norm, Adam(2e-4, β1=0.5), N(0, 0.02) init",
)
