"""`icgan`: Invertible Conditional GAN, for attribute editing.

Perarnau, van de Weijer, Raducanu & Álvarez 2016, "Invertible Conditional GANs
for image editing". A conditional GAN x' = G(z, y') (here :mod:`zoo.models.cgan`)
plus two encoders that invert it (the paper's best "IND" configuration: two
separate networks):

* E_z: x → z, trained on generated pairs (Eq. 4):
  L_ez = E_{z ~ N(0,I), y' ~ p_data(y)} ‖z − E_z(G(z, y'))‖²;
* E_y: x → y, trained on real labelled data (Eq. 5); labels here are class
  indices, so the loss is cross-entropy on E_y's logits.

Editing (Sec. 3.3): encode x to (z, y) = (E_z(x), E_y(x)), change y, decode
x' = G(z, y_new).

Schedule (as in the paper, which trains the cGAN first and the encoders on
the trained generator): iterations [0, gan_steps) run the GAN phases "d", "g";
iterations [gan_steps, train.steps) run "enc_z" and "enc_y". Both stages run
inside the one zoo trainer, so a killed run resumes in either stage. While
E_z trains, G runs in eval mode (batch-norm running statistics), exactly as
it does when editing, and stays frozen.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from zoo.layers import ConvEncoder, dcgan_init_
from zoo.models.base import ModelSpec, check_preset_args, evaluating, randn
from zoo.models.dcgan import DCGANDiscriminator, DCGANGenerator
from zoo.models.gan import GAN
from zoo.train import Phase, TrainConfig


@dataclass(frozen=True)
class IcGANConfig:
    """Hyper-parameters of IcGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L.
        num_classes: K, the number of labels.
        train: optimization settings; ``train.steps`` counts both stages.
        gan_steps: iterations of the cGAN stage; the encoders train for the
            remaining ``train.steps − gan_steps``.
        latent_dim, ngf, ndf, loss: the cGAN (as in ``cgan``).
        nef: first-layer width of both encoders (DCGAN discriminator trunks).
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    train: TrainConfig
    gan_steps: int
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    nef: int = 64
    loss: str = "non-saturating"

    def __post_init__(self):
        if not 0 < self.gan_steps < self.train.steps:
            raise ValueError(f"IcGAN needs 0 < gan_steps < train.steps (the encoders train after the GAN), "
                             f"got gan_steps={self.gan_steps}, train.steps={self.train.steps}")


class IcGAN(GAN):
    """Conditional GAN + encoders E_z, E_y; see the module docstring."""

    def __init__(self, config: IcGANConfig):
        c, h, _ = config.image_shape
        k = config.num_classes
        super().__init__(config,
                         DCGANGenerator(config.latent_dim, config.image_shape, config.ngf, num_classes=k),
                         DCGANDiscriminator(config.image_shape, config.ndf, num_classes=k),
                         num_classes=k, weight_init=dcgan_init_)
        self.gan_steps = config.gan_steps
        self.encoder_z = ConvEncoder(c, h, config.nef, out_dim=config.latent_dim, batch_norm=True)
        self.encoder_y = ConvEncoder(c, h, config.nef, out_dim=k, batch_norm=True)
        self.reset_parameters()

    def phases(self, train: TrainConfig) -> list[Phase]:
        d, g = super().phases(train)
        return [
            Phase(d.name, d.modules, d.lr, d.betas, updates=d.updates, stop=self.gan_steps),
            Phase(g.name, g.modules, g.lr, g.betas, stop=self.gan_steps),
            Phase("enc_z", (self.encoder_z,), train.lr, train.betas, start=self.gan_steps),
            Phase("enc_y", (self.encoder_y,), train.lr, train.betas, start=self.gan_steps),
        ]

    def loss(self, phase, batch, generator):
        x, y = batch
        if phase == "enc_z":
            z = randn((x.shape[0], self.latent_dim), generator, x.device)
            with evaluating(self.generator):
                fake = self.generator(z, y)  # y' ~ p_data(y): the real minibatch's labels
            return F.mse_loss(self.encoder_z(fake), z), {}
        if phase == "enc_y":
            logits = self.encoder_y(x)
            accuracy = (logits.argmax(1) == y).float().mean()
            return F.cross_entropy(logits.float(), y), {"accuracy": accuracy.detach()}
        return super().loss(phase, batch, generator)

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x float (N, C, H, W) in [-1, 1] → (z (N, latent_dim), y_logits (N, K)); eval mode, no grad."""
        with evaluating(self):
            x = x.to(self.device)
            return self.encoder_z(x), self.encoder_y(x)

    def edit(self, x: torch.Tensor, new_labels: torch.Tensor) -> torch.Tensor:
        """Change the class of real images: G(E_z(x), new_labels), float (N, C, H, W) in [-1, 1]."""
        new_labels = self.check_labels(new_labels, x.shape[0])
        z, _ = self.encode(x)
        with evaluating(self):
            return self.generate(z, new_labels).float()

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """G(E_z(x), argmax E_y(x)), float (N, C, H, W) in [-1, 1]."""
        z, y_logits = self.encode(x)
        with evaluating(self):
            return self.generate(z, y_logits.argmax(1)).float()


PRESETS = {
    "smoke": dict(latent_dim=16, ngf=8, ndf=8, nef=8, gan_steps=3,
                  train=TrainConfig(steps=5, batch_size=8, log_every=1, checkpoint_every=2)),
    "quick": dict(latent_dim=64, ngf=16, ndf=16, nef=16, gan_steps=650,
                  train=TrainConfig(steps=850, batch_size=64, log_every=10, checkpoint_every=200, sample_every=200)),
    "full": dict(latent_dim=100, ngf=64, ndf=64, nef=64, gan_steps=30_000,
                 train=TrainConfig(steps=40_000, batch_size=128, log_every=100, checkpoint_every=2000,
                                   sample_every=2000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> IcGANConfig:
    """The ``icgan`` config for a preset (smoke | quick | full), data shape and class count."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=True)
    return IcGANConfig(image_shape=shape, num_classes=num_classes, **PRESETS[preset])


SPEC = ModelSpec(
    name="icgan", family="icgan", conditional=True, make_config=make_config, build=IcGAN, presets=PRESETS,
    description="Perarnau et al. 2016: conditional DCGAN + encoders E_z (on generated pairs), E_y (on real labels)",
)
