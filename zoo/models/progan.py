"""`progan`: Progressive Growing of GANs.

Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation". G and D start at 4×4 and grow by one
resolution level at a time up to the data size (32×32 digits: 3 growth
stages after 4×4; 64×64 scenes: 4). Every tool of the paper is a config
switch, on by default:

* growth with fade-in (Sec. 2, Fig. 2) — ``progressive``: training is a
  sequence of phases of ``stage_steps`` iterations: stable 4×4, then for each
  new level a fade-in phase and a stable phase. During a fade-in the new
  layers are blended in with α rising linearly from 0 to 1:
  G: img = (1 − α)·up(toRGB_old(h)) + α·toRGB_new(block(h)),
  D: h = (1 − α)·fromRGB_old(avgpool(x)) + α·block(fromRGB_new(x)).
  Real images are average-pooled to the current resolution and faded the same
  way, x ← (1 − α)·up(avgpool(x)) + α·x (the authors' ``process_reals``).
  The stage (level, α) is a pure function of the step (:func:`growth`), set
  by ``on_step`` and kept in buffers, so a resumed run and a reloaded model
  are where the original was. Off: every level from the first step.
* minibatch standard deviation (Sec. 3) — ``minibatch_stddev``: one extra
  feature map before D's last block;
* equalized learning rate (Sec. 4.1) — ``equalized_lr``;
* pixelwise feature normalization in G (Sec. 4.2, ε = 1e-8) — ``pixel_norm``,
  after every 3×3 convolution and on z;
* WGAN-GP (λ = 10) plus the drift term ε_drift·E[D(x)²], ε_drift = 1e-3
  (App. A.1) — ``gp_lambda``, ``drift``;
* EMA of G's weights, decay 0.999 (App. A.1) — ``train.ema_decay`` (0 = off).

Networks (Table 2): G = z → [PixelNorm] → dense to 4×4 → conv3×3, then per
level: nearest 2× upsample, conv3×3, conv3×3, each LeakyReLU(0.2) [+
PixelNorm]; toRGB is a linear 1×1 convolution. D mirrors it: fromRGB 1×1,
per level conv3×3, conv3×3, 2× average pool; at 4×4 [minibatch stddev],
conv3×3, conv4×4 (as a dense layer), dense → score. Channels per level are
min(fmap_base / 2^(level+1), fmap_max) (the authors' ``nf``).

``sample``/``generate`` run at the current stage: after the schedule's last
fade-in that is the data resolution; mid-training (or in a model whose
schedule ended early) the stage's image is upsampled (nearest) to the data
size. G's output is linear during training, as in the paper; ``generate``
clamps it to [-1, 1].

Deviations from the paper:
* one batch size for every resolution (the paper lowers it at high resolution
  to fit memory), and stage lengths in iterations (paper: 800k images per
  phase, i.e. 50k iterations at batch 16, the full preset);
* after the last fade-in, training continues at full resolution until
  ``train.steps`` (the 32×32 full preset has longer final training);
* minibatch stddev over groups of 4 (the authors' code; the paper's text uses
  the whole minibatch, the fallback when 4 does not divide the batch);
* the smoke and quick presets use far fewer channels, latents and images; the
  quick preset ramps the EMA up (StyleGAN2's ``ema_rampup``) because its phases
  are too short for a constant 0.999.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import EqualizedConv2d, EqualizedLinear, MinibatchStddev, PixelNorm, num_doublings
from zoo.layers.equalized import LEAKY_SLOPE
from zoo.losses import drift_penalty, gradient_penalty
from zoo.models.base import ModelSpec, check_preset_args, randn
from zoo.models.gan import GAN
from zoo.train import TrainConfig


@dataclass(frozen=True)
class ProGANConfig:
    """Hyper-parameters of ProGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L (32 or 64 in practice).
        train: optimization settings (paper: Adam lr 1e-3, β = (0, 0.99),
            batch 16, ema_decay 0.999).
        latent_dim: size of z (512).
        fmap_base, fmap_max: channels per level, min(fmap_base / 2^(level+1), fmap_max)
            (8192 and 512: 512 channels up to 32×32, 256 at 64×64).
        stage_steps: iterations of every fade-in and every stable phase.
        progressive: grow from 4×4 (False: all levels from the start).
        minibatch_stddev, mbstd_group: the stddev feature in D and its group size.
        equalized_lr: runtime He scaling of every weight (False: He init).
        pixel_norm: pixelwise feature normalization in G.
        gp_lambda: WGAN-GP weight λ (10).
        drift: ε_drift (1e-3).
        loss: "wasserstein" (the paper's); any of zoo.losses.GAN_LOSSES works.
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    latent_dim: int = 512
    fmap_base: int = 8192
    fmap_max: int = 512
    stage_steps: int = 50_000
    progressive: bool = True
    minibatch_stddev: bool = True
    mbstd_group: int = 4
    equalized_lr: bool = True
    pixel_norm: bool = True
    gp_lambda: float = 10.0
    drift: float = 1e-3
    loss: str = "wasserstein"


def level_channels(image_size: int, fmap_base: int, fmap_max: int) -> list[int]:
    """Channels of each resolution level 4, 8, ..., image_size (the authors' ``nf``)."""
    return [max(1, min(fmap_base // 2 ** (k + 1), fmap_max)) for k in range(num_doublings(image_size) + 1)]


def growth(step: int, stage_steps: int, top_level: int, progressive: bool = True) -> tuple[int, float]:
    """(level, α) at iteration ``step`` (0-based): a pure function of the step.

    Phase p = step // stage_steps: p = 0 is stable 4×4 (level 0); odd p fades
    in level (p + 1) / 2 with α = (step mod stage_steps) / stage_steps,
    0 → 1 − 1/stage_steps; even p ≥ 2 is stable (α = 1). Past the fade-in of
    ``top_level`` (the data resolution) it stays at (top_level, 1).
    """
    if not progressive:
        return top_level, 1.0
    phase, within = divmod(step, stage_steps)
    level = (phase + 1) // 2
    if level > top_level:
        return top_level, 1.0
    return level, (within / stage_steps if phase % 2 == 1 else 1.0)


def _act() -> nn.Module:
    return nn.LeakyReLU(LEAKY_SLOPE)


def _up(x: torch.Tensor) -> torch.Tensor:
    return F.interpolate(x, scale_factor=2, mode="nearest")


class ProGenerator(nn.Module):
    """z (N, latent_dim) → images (N, C, 4·2^level, 4·2^level), linear output, at a given (level, α)."""

    def __init__(self, latent_dim: int, out_channels: int, channels: list[int], pixel_norm: bool, equalized: bool):
        super().__init__()
        norm = PixelNorm if pixel_norm else nn.Identity

        def conv(cin, cout):
            return [EqualizedConv2d(cin, cout, 3, equalized=equalized), _act(), norm()]

        c0 = channels[0]
        self.input_norm = norm()
        # The 4×4 "conv of a 1×1 map" is a dense layer; gain √2/4 as in the authors' code (fan-in counts one pixel).
        self.dense = EqualizedLinear(latent_dim, c0 * 16, gain=2 ** 0.5 / 4, equalized=equalized)
        self.blocks = nn.ModuleList([nn.Sequential(_act(), norm(), *conv(c0, c0))] + [
            nn.Sequential(*conv(channels[k - 1], channels[k]), *conv(channels[k], channels[k]))
            for k in range(1, len(channels))])
        self.to_rgb = nn.ModuleList([EqualizedConv2d(c, out_channels, 1, gain=1.0, equalized=equalized)
                                     for c in channels])

    def forward(self, z: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
        h = self.dense(self.input_norm(z)).view(z.shape[0], -1, 4, 4)
        old = None
        for k in range(level + 1):
            if k > 0:
                h = _up(h)
                if k == level and alpha < 1.0:
                    old = self.to_rgb[k - 1](h)  # toRGB commutes with nearest upsampling: run it at the cheap side
            h = self.blocks[k](h)
        img = self.to_rgb[level](h)
        return img if old is None else torch.lerp(old, img, alpha)


class ProDiscriminator(nn.Module):
    """images (N, C, 4·2^level, ...) → scores (N,), at a given (level, α); level None = the top level."""

    def __init__(self, in_channels: int, channels: list[int], minibatch_stddev: bool, mbstd_group: int,
                 equalized: bool):
        super().__init__()

        def conv(cin, cout):
            return [EqualizedConv2d(cin, cout, 3, equalized=equalized), _act()]

        c0 = channels[0]
        self.from_rgb = nn.ModuleList([nn.Sequential(EqualizedConv2d(in_channels, c, 1, equalized=equalized), _act())
                                       for c in channels])
        self.blocks = nn.ModuleList([nn.Identity()] + [  # level k: 3×3 at c_k, 3×3 to c_(k-1), halve the size
            nn.Sequential(*conv(channels[k], channels[k]), *conv(channels[k], channels[k - 1]), nn.AvgPool2d(2))
            for k in range(1, len(channels))])
        self.final = nn.Sequential(
            MinibatchStddev(mbstd_group) if minibatch_stddev else nn.Identity(),
            *conv(c0 + int(minibatch_stddev), c0), nn.Flatten(),
            EqualizedLinear(c0 * 16, c0, equalized=equalized), _act(),  # the 4×4 "valid" convolution
            EqualizedLinear(c0, 1, gain=1.0, equalized=equalized))
        self.top_level = len(channels) - 1

    def forward(self, x: torch.Tensor, level: int | None = None, alpha: float = 1.0) -> torch.Tensor:
        level = self.top_level if level is None else level
        h = self.blocks[level](self.from_rgb[level](x))
        if level > 0 and alpha < 1.0:
            h = torch.lerp(self.from_rgb[level - 1](F.avg_pool2d(x, 2)), h, alpha)
        for k in range(level - 1, 0, -1):
            h = self.blocks[k](h)
        return self.final(h).squeeze(1)


def process_reals(x: torch.Tensor, level: int, alpha: float) -> torch.Tensor:
    """Real images (N, C, S, S) at the stage: average-pooled to 4·2^level and, during a fade-in,
    x ← lerp(up(avgpool(x)), x, α) so reals blend like G's output."""
    factor = x.shape[-1] // (4 * 2 ** level)
    if factor > 1:
        x = F.avg_pool2d(x, factor)
    if level > 0 and alpha < 1.0:
        x = torch.lerp(_up(F.avg_pool2d(x, 2)), x, alpha)
    return x


class ProGAN(GAN):
    """The progressive GAN: the GAN game of :mod:`zoo.models.gan` played at the current stage.

    Buffers ``level`` (int64) and ``alpha`` (float32) hold the stage; the
    trainer sets them from the step through ``on_step``.
    """

    def __init__(self, config: ProGANConfig):
        c, size, _ = config.image_shape
        channels = level_channels(size, config.fmap_base, config.fmap_max)
        generator = ProGenerator(config.latent_dim, c, channels, config.pixel_norm, config.equalized_lr)
        discriminator = ProDiscriminator(c, channels, config.minibatch_stddev, config.mbstd_group,
                                         config.equalized_lr)
        super().__init__(config, generator, discriminator)
        self.top_level = len(channels) - 1
        self.register_buffer("level", torch.zeros((), dtype=torch.int64))
        self.register_buffer("alpha", torch.ones(()))
        self.on_step(0)

    def growth(self, step: int) -> tuple[int, float]:
        """(level, α) at ``step`` under this config (:func:`growth`)."""
        cfg = self.config
        return growth(step, cfg.stage_steps, self.top_level, cfg.progressive)

    def on_step(self, step: int) -> None:
        level, alpha = self.growth(step)
        self.level.fill_(level)
        self.alpha.fill_(alpha)

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if hasattr(self, "level"):  # (GAN.__init__ resets the weights before the stage buffers exist)
            self.on_step(0)  # the stage a run starts from

    @property
    def stage(self) -> tuple[int, float]:
        """The current (level, α); the image size is 4·2^level."""
        return int(self.level), float(self.alpha)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) at the current stage, nearest-upsampled to the data size, clamped: (N, C, H, W) in [-1, 1]."""
        img = self.generator(z, *self.stage)
        factor = self.image_shape[-1] // img.shape[-1]
        if factor > 1:
            img = F.interpolate(img, scale_factor=factor, mode="nearest")
        return img.clamp(-1.0, 1.0)

    def loss(self, phase, batch, generator):
        x, _ = batch
        level, alpha = self.stage
        z = randn((x.shape[0], self.latent_dim), generator, x.device)
        if phase == "d":
            with torch.no_grad():
                fake = self.generator(z, level, alpha)
            real = process_reals(x, level, alpha)
            real_scores, fake_scores = self.discriminator(real, level, alpha), self.discriminator(fake, level, alpha)
            loss = self.d_loss(real_scores, fake_scores)
            logs = {"real_score": real_scores.detach().mean(), "fake_score": fake_scores.detach().mean(),
                    "level": torch.tensor(float(level)), "alpha": torch.tensor(alpha)}
            cfg = self.config
            if cfg.gp_lambda > 0:
                gp = gradient_penalty(lambda h: self.discriminator(h, level, alpha), real, fake, generator)
                loss, logs["gp"] = loss + cfg.gp_lambda * gp, gp.detach()
            if cfg.drift > 0:
                loss = loss + cfg.drift * drift_penalty(real_scores)
            return loss, logs
        if phase == "g":
            return self.g_loss(self.discriminator(self.generator(z, level, alpha), level, alpha)), {}
        raise ValueError(f"ProGAN has phases 'd' and 'g', not {phase!r}")


PRESETS = {
    "smoke": dict(latent_dim=16, fmap_base=64, fmap_max=16, stage_steps=2,  # 6 steps: 4×4, fade-in to 8×8, 8×8
                  train=TrainConfig(steps=6, batch_size=8, lr=1e-3, betas=(0.0, 0.99), ema_decay=0.999,
                                    log_every=1, checkpoint_every=2)),
    # quick: channels 64, 64, 32, 16, 8 at 4²..64²; one core per iteration (D + GP + G, batch 16), measured
    # at 3×64×64: 0.04, 0.15, 0.34, 0.57, 0.90 s at 4²..64², so ≈ 4 core-minutes at 64×64 (≈ 2.5 at 32×32):
    # 9 phases of 60 iterations at 64×64, then 60 more at full resolution (32×32: 7 phases, then 180).
    # The EMA ramps up (half-life ≤ 5 % of the images seen): with a constant 0.999 the average of the top
    # level, which trains only in the last 120–300 iterations, would still be 74–90 % its initial weights.
    # A grid after every phase (sample_every = stage_steps) feeds the growing figure.
    "quick": dict(latent_dim=64, fmap_base=256, fmap_max=64, stage_steps=60,
                  train=TrainConfig(steps=600, batch_size=16, lr=1e-3, betas=(0.0, 0.99), ema_decay=0.999,
                                    ema_rampup=0.05, log_every=20, checkpoint_every=120, sample_every=60)),
    "full": dict(latent_dim=512, fmap_base=8192, fmap_max=512, stage_steps=50_000,  # 800k images per phase
                 train=TrainConfig(steps=450_000, batch_size=16, lr=1e-3, betas=(0.0, 0.99), ema_decay=0.999,
                                   log_every=100, checkpoint_every=5000, sample_every=10_000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> ProGANConfig:
    """The ``progan`` config for a preset (smoke | quick | full) and data shape."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    return ProGANConfig(image_shape=shape, **PRESETS[preset])


def build(config: ProGANConfig) -> ProGAN:
    return ProGAN(config)


SPEC = ModelSpec(
    name="progan", family="gan", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    description="Karras et al. 2018: progressive growing with fade-in, minibatch stddev, equalized lr, "
                "pixel norm, WGAN-GP + drift, EMA of G",
)
