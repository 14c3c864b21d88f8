"""`gan`: the original generative adversarial net with MLP networks.

Goodfellow et al. 2014, "Generative Adversarial Nets". G maps noise z ~ N(0, I)
to images, D maps images to the logit of "real"; they play (Eq. 1)

    min_G max_D  E_x[log D(x)] + E_z[log(1 − D(G(z)))]

trained by alternating k discriminator updates with one generator update
(Algorithm 1; the zoo trainer runs it from the phases below). The generator
loss is a config field: "minimax" is Eq. 1 itself, log(1 − D(G(z))), which
saturates when D rejects the samples confidently; "non-saturating" (default,
Sec. 3) maximizes log D(G(z)) instead; "hinge" is the modern alternative.

The :class:`GAN` class is the game for any (generator, discriminator) pair;
``dcgan``, ``cgan`` and ``icgan`` reuse it with convolutional networks.

Deviations from the paper, for CPU-sized training: ReLU generator with a tanh
output (images in [-1, 1]) instead of a sigmoid; LeakyReLU(0.2) discriminator
with dropout instead of maxout; Gaussian instead of uniform noise; Adam
(lr 2e-4, β1 = 0.5) instead of SGD with momentum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import torch
from torch import nn

from zoo.layers import MLP
from zoo.losses import gan_losses
from zoo.models.base import GenerativeModel, ModelSpec, check_preset_args, randn
from zoo.train import Phase, TrainConfig


@dataclass(frozen=True)
class GANConfig:
    """Hyper-parameters of the MLP GAN.

    Attributes:
        image_shape: (C, H, W) of the data.
        train: optimization settings.
        latent_dim: size of z.
        g_hidden, d_hidden: hidden widths of the generator / discriminator MLPs
            (the paper's D used 240-unit maxout layers, G 1200-unit layers).
        d_dropout: dropout after each discriminator hidden layer (paper: yes).
        loss: "non-saturating" (default), "minimax" or "hinge".
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    latent_dim: int = 100
    g_hidden: tuple[int, ...] = (1200, 1200)
    d_hidden: tuple[int, ...] = (240, 240)
    d_dropout: float = 0.5
    loss: str = "non-saturating"


class MLPGenerator(nn.Module):
    """z (N, latent_dim) → images (N, C, H, W) in [-1, 1] (tanh output)."""

    def __init__(self, latent_dim: int, image_shape: tuple[int, int, int], hidden: tuple[int, ...]):
        super().__init__()
        self.image_shape = image_shape
        self.mlp = MLP(latent_dim, hidden, math.prod(image_shape), activation=nn.ReLU)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.mlp(z)).view(-1, *self.image_shape)


class MLPDiscriminator(nn.Module):
    """images (N, C, H, W) → logits (N,) of D(x) = P(real)."""

    def __init__(self, image_shape: tuple[int, int, int], hidden: tuple[int, ...], dropout: float):
        super().__init__()
        self.mlp = MLP(math.prod(image_shape), hidden, 1, activation=lambda: nn.LeakyReLU(0.2), dropout=dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mlp(x.flatten(1)).squeeze(1)


class GAN(GenerativeModel):
    """The adversarial game of Eq. 1 for a given generator and discriminator.

    Args:
        config: needs ``image_shape``, ``latent_dim`` and ``loss``.
        generator: ``G(z)`` or, if conditional, ``G(z, labels)`` → images in [-1, 1].
        discriminator: ``D(x)`` or ``D(x, labels)`` → logits (N,).
        num_classes: class count of a conditional GAN (None: unconditional).
            Fake samples in a minibatch get the labels of the real minibatch,
            so G is trained on the data's class frequencies.
        weight_init: applied to every submodule by ``reset_parameters`` (e.g.
            DCGAN's N(0, 0.02)); None keeps PyTorch's default init.
    """

    def __init__(self, config, generator: nn.Module, discriminator: nn.Module,
                 num_classes: int | None = None, weight_init: Callable[[nn.Module], None] | None = None):
        super().__init__()
        self.config = config
        self.image_shape = tuple(config.image_shape)
        self.latent_dim = config.latent_dim
        self.num_classes = num_classes
        self.generator, self.discriminator = generator, discriminator
        self.d_loss, self.g_loss = gan_losses(config.loss)
        self.weight_init = weight_init
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.weight_init is not None:
            self.apply(self.weight_init)

    def phases(self, train: TrainConfig) -> list[Phase]:
        return [
            Phase("d", (self.discriminator,), train.lr, train.betas, updates=train.k_d_steps),
            Phase("g", (self.generator,), train.lr, train.betas),
        ]

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z[, labels]): (N, latent_dim) → (N, C, H, W) in [-1, 1]."""
        return self.generator(z) if labels is None else self.generator(z, labels)

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N,) of D(x[, labels])."""
        return self.discriminator(x) if labels is None else self.discriminator(x, labels)

    def loss(self, phase, batch, generator):
        x, y = batch
        y = y if self.conditional else None
        z = randn((x.shape[0], self.latent_dim), generator, x.device)
        if phase == "d":
            with torch.no_grad():
                fake = self.generate(z, y)
            real_logits, fake_logits = self.discriminate(x, y), self.discriminate(fake, y)
            logs = {"real_logit": real_logits.detach().mean(), "fake_logit": fake_logits.detach().mean()}
            return self.d_loss(real_logits, fake_logits), logs
        if phase == "g":
            return self.g_loss(self.discriminate(self.generate(z, y), y)), {}
        raise ValueError(f"{type(self).__name__} has phases 'd' and 'g', not {phase!r}")


PRESETS = {
    "smoke": dict(latent_dim=16, g_hidden=(32,), d_hidden=(32,),
                  train=TrainConfig(steps=4, batch_size=8, log_every=1, checkpoint_every=2)),
    "quick": dict(latent_dim=64, g_hidden=(256, 512), d_hidden=(512, 256),
                  train=TrainConfig(steps=1500, batch_size=64, log_every=25, checkpoint_every=500, sample_every=500)),
    "full": dict(latent_dim=100, g_hidden=(1200, 1200), d_hidden=(240, 240),
                 train=TrainConfig(steps=50_000, batch_size=100, log_every=100, checkpoint_every=5000,
                                   sample_every=5000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> GANConfig:
    """The ``gan`` config for a preset (smoke | quick | full) and data shape."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    return GANConfig(image_shape=shape, **PRESETS[preset])


def build(config: GANConfig) -> GAN:
    return GAN(config,
               MLPGenerator(config.latent_dim, config.image_shape, config.g_hidden),
               MLPDiscriminator(config.image_shape, config.d_hidden, config.d_dropout))


SPEC = ModelSpec(
    name="gan", family="gan", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    description="Goodfellow et al. 2014: MLP generator and discriminator (dropout), non-saturating or minimax loss",
)
