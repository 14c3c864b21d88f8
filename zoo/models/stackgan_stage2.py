"""`stackgan2`: StackGAN Stage-II (Zhang et al. 2017, Sec. 3.3); the model, its equations and
its deviations from the paper are described in :mod:`zoo.models.stackgan`, which holds Stage-I and
the parts both stages share.

G: the frozen, trained Stage-I generator G₀ (caption encoder included) draws s₀ at stage1_size from
(z, ε₀, t); an encoder takes s₀ to a small map, Stage-II's own ĉ = μ + σ ⊙ ε (its own CA and KL) is
replicated over it and concatenated, residual blocks, nearest up-blocks to the data size, tanh.
D: the matching-aware discriminator of Stage-I at the data size. Only the refiner and D train.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.layers.residual import ResidualBlock
from zoo.layers.text import CaptionEmbedding
from zoo.models.base import ModelSpec
from zoo.models.srgan import state_digest
from zoo.models.stackgan import (
    KL_WEIGHT, ConditioningAugmentation, MatchingDiscriminator, StackGANModel, Stage1Config, Stage1Generator, adam,
    halving, make_stage1_config, split_latent, up_conv,
)
from zoo.train import Phase, TrainConfig


@dataclass(frozen=True)
class Stage2Config:
    """Hyper-parameters of StackGAN Stage-II.

    Attributes:
        stage1: the Stage-I config whose trained generator it refines (same data shape and vocabulary).
        train: optimization settings (Adam lr 2e-4, β1 0.5).
        cond_dim: N_g of Stage-II's own CA (128).
        ngf: encoder width after its first conv (paper 128; the joint map has 4·ngf channels).
        num_residual: residual blocks on the joint map (paper: 4 in the authors' code).
        ndf, d_cond_dim: D at the data size, as Stage-I's (64, 128).
        conditioning_augmentation, kl_weight: as in Stage-I, for Stage-II's CA.
        lr_decay_every: halve both learning rates every this many iterations (0 = never).
        generator_init: :func:`zoo.models.srgan.state_digest` of the Stage-I generator state it loads
            ("" = random Stage-I, for tests); part of the config so a checkpoint never resumes on another.
    """

    stage1: Stage1Config
    train: TrainConfig
    cond_dim: int = 128
    ngf: int = 128
    num_residual: int = 4
    ndf: int = 64
    d_cond_dim: int = 128
    conditioning_augmentation: bool = True
    kl_weight: float = KL_WEIGHT
    lr_decay_every: int = 0
    generator_init: str = ""

    @property
    def image_shape(self) -> tuple[int, int, int]:
        return self.stage1.image_shape

    @property
    def latent_dim(self) -> int:
        return self.stage1.latent_dim + self.cond_dim * self.conditioning_augmentation


class Stage2Generator(nn.Module):
    """G: latents [z, ε₀, ε] (N, latent_dim) and tokens → (images (N, C, S, S) in [−1, 1], μ, log σ²).

    ``stage1`` is the trained G₀, frozen: never in a phase, always in eval mode (BN statistics kept).
    """

    def __init__(self, cfg: Stage2Config):
        super().__init__()
        c, s1, size = cfg.image_shape[0], cfg.stage1.stage1_size, cfg.image_shape[-1]
        small = max(4, s1 // 4)
        downs, ups = (s1 // small).bit_length() - 1, (size // small).bit_length() - 1
        widths = [cfg.ngf * 2 ** i for i in range(downs + 1)]
        self.stage1 = Stage1Generator(cfg.stage1)
        self.ca = ConditioningAugmentation(cfg.stage1.text_dim, cfg.cond_dim, cfg.conditioning_augmentation)
        self.encode = nn.Sequential(nn.Conv2d(c, widths[0], 3, 1, 1), nn.ReLU(), *[
            nn.Sequential(nn.Conv2d(widths[i], widths[i + 1], 4, 2, 1, bias=False), nn.BatchNorm2d(widths[i + 1]),
                          nn.ReLU()) for i in range(downs)])
        ch = widths[-1]
        up = [max(8, ch // 2 ** (i + 1)) for i in range(ups)]
        self.joint = nn.Sequential(nn.Conv2d(ch + cfg.cond_dim, ch, 3, 1, 1, bias=False), nn.BatchNorm2d(ch),
                                   nn.ReLU(), *[ResidualBlock(ch) for _ in range(cfg.num_residual)])
        self.decode = nn.Sequential(*[up_conv(a, b) for a, b in zip([ch] + up, up)],
                                    nn.Conv2d(up[-1] if up else ch, c, 3, 1, 1), nn.Tanh())
        self.sizes = [cfg.stage1.latent_dim, cfg.cond_dim * cfg.conditioning_augmentation]

    def train(self, mode: bool = True) -> "Stage2Generator":
        super().train(mode)
        self.stage1.eval()
        return self

    def refiner(self) -> tuple[nn.Module, ...]:
        """The trained parts (everything but ``stage1``)."""
        return self.ca, self.encode, self.joint, self.decode

    def forward(self, latent: torch.Tensor, tokens: torch.Tensor, phi: torch.Tensor | None = None):
        z1, eps = split_latent(latent, self.sizes)
        with torch.no_grad():
            phi = self.stage1.caption.embed(tokens) if phi is None else phi
            s0 = self.stage1(z1, tokens, phi)[0]
        c_hat, mu, logvar = self.ca(phi, eps)
        h = self.encode(s0)
        c = c_hat[:, :, None, None].expand(-1, -1, *h.shape[2:])
        return self.decode(self.joint(torch.cat([h, c], 1))), mu, logvar


class Stage2(StackGANModel):
    """StackGAN Stage-II; phases "d" and "g" (the refiner). Stage-I's generator state is loaded into
    ``generator.stage1`` by ``reset_parameters`` (its digest must equal ``config.generator_init``)."""

    def __init__(self, config: Stage2Config, generator_state: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.config, self.image_shape = config, tuple(config.image_shape)
        self.num_classes, self.latent_dim, self.d_size = config.stage1.num_classes, config.latent_dim, \
            config.image_shape[-1]
        self.generator = Stage2Generator(config)
        self.discriminator = MatchingDiscriminator(config.image_shape[0], self.d_size, config.ndf,
                                                   config.stage1.text_dim, config.d_cond_dim)
        digest = "" if generator_state is None else state_digest(generator_state)
        if digest != config.generator_init:
            raise ValueError(f"generator_state has digest {digest[:12] or 'none'}…, config.generator_init says "
                             f"{config.generator_init[:12] or 'random Stage-I'}: build the config with this state")
        self.generator_state = None if generator_state is None else {
            k: v.detach().cpu().clone() for k, v in generator_state.items()}
        self.reset_parameters()
        self.generator.train(self.training)

    @property
    def caption(self) -> CaptionEmbedding:
        return self.generator.stage1.caption

    def reset_parameters(self) -> None:
        super().reset_parameters()
        if self.generator_state is not None:
            self.generator.stage1.load_state_dict(self.generator_state)

    def phases(self, train: TrainConfig) -> list[Phase]:
        decay = halving(self.config.lr_decay_every)
        return [Phase("d", (self.discriminator,), train.lr, train.betas, updates=train.k_d_steps, lr_schedule=decay),
                Phase("g", self.generator.refiner(), train.lr, train.betas, lr_schedule=decay)]

    def loss(self, phase, batch, generator):
        return self.gan_loss(phase, batch, generator)




# Costs measured on one CPU thread (OMP_NUM_THREADS=1, CPU time of the process on a shared core),
# 3×64×64 data from a 32×32 Stage-I, batch 32: 0.40 s per iteration (frozen G₀, refiner to 64×64, D at
# 64×64), so quick is 500 × 0.40 ≈ 200 s ≈ 3.3 core-minutes. Full: the paper's 600 epochs at batch 64.
STAGE2_PRESETS = {
    "smoke": dict(cond_dim=4, ngf=4, num_residual=1, ndf=4, d_cond_dim=4,
                  train=adam(4, 8, log_every=1, checkpoint_every=2)),
    "quick": dict(cond_dim=16, ngf=8, num_residual=2, ndf=8, d_cond_dim=16,
                  train=adam(500, 32, log_every=10, checkpoint_every=100)),
    "full": dict(cond_dim=128, ngf=128, num_residual=4, ndf=64, d_cond_dim=128, lr_decay_every=31_250,
                 train=adam(187_500, 64, log_every=100, checkpoint_every=5000)),
}


def make_stage2_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None, *,
                       generator_state: dict[str, torch.Tensor] | None = None) -> Stage2Config:
    """The ``stackgan2`` config: Stage-I's config at the same preset, and the digest of its trained generator."""
    init = "" if generator_state is None else state_digest(generator_state)
    return Stage2Config(stage1=make_stage1_config(preset, image_shape, num_classes), generator_init=init,
                        **STAGE2_PRESETS[preset])


def build_stage2(config: Stage2Config, generator_state: dict[str, torch.Tensor] | None = None) -> Stage2:
    return Stage2(config, generator_state)


STAGE2_SPEC = ModelSpec(
    name="stackgan2", family="cgan", conditional=True, condition="tokens", make_config=make_stage2_config,
    build=build_stage2, presets=STAGE2_PRESETS, needs=("generator_state",), init_from="stackgan1",
    description="Zhang et al. 2017, StackGAN Stage-II: refines the frozen Stage-I's image to the data size "
                "(residual blocks, its own CA and matching-aware D)",
)
