"""`cgan`: class-conditional GAN with DCGAN networks.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", Eq. 2:

    min_G max_D  E_{x,y}[log D(x | y)] + E_{z,y}[log(1 − D(G(z | y) | y))]

The label y enters G as a one-hot code concatenated to z and D as K constant
label maps concatenated to the image (the convolutional form of the paper's
concatenation; the networks are :class:`zoo.models.dcgan.DCGANGenerator` /
``DCGANDiscriminator`` with ``num_classes`` set). Training is the GAN game of
:class:`zoo.models.gan.GAN`; generated samples in a minibatch take the real
minibatch's labels, so G sees y with the data's class frequencies.
"""

from __future__ import annotations

from dataclasses import dataclass

from zoo.layers import dcgan_init_
from zoo.models.base import ModelSpec, check_preset_args
from zoo.models.dcgan import PRESETS, DCGANDiscriminator, DCGANGenerator
from zoo.models.gan import GAN
from zoo.train import TrainConfig


@dataclass(frozen=True)
class CGANConfig:
    """Hyper-parameters of the conditional DCGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L.
        num_classes: K, the number of labels.
        train: optimization settings (Adam lr 2e-4, β1 0.5).
        latent_dim, ngf, ndf, loss: as in :class:`zoo.models.dcgan.DCGANConfig`.
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    train: TrainConfig
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    loss: str = "non-saturating"


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> CGANConfig:
    """The ``cgan`` config for a preset (smoke | quick | full), data shape and class count:
    DCGAN's presets, as the networks are DCGAN's plus the label inputs."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=True)
    return CGANConfig(image_shape=shape, num_classes=num_classes, **PRESETS[preset])


def build(config: CGANConfig) -> GAN:
    k = config.num_classes
    return GAN(config,
               DCGANGenerator(config.latent_dim, config.image_shape, config.ngf, num_classes=k),
               DCGANDiscriminator(config.image_shape, config.ndf, num_classes=k),
               num_classes=k, weight_init=dcgan_init_)


SPEC = ModelSpec(
    name="cgan", family="cgan", conditional=True, make_config=make_config, build=build, presets=PRESETS,
    description="Mirza & Osindero 2014: class-conditional GAN on DCGAN networks (one-hot y into G, label maps into D)",
)
