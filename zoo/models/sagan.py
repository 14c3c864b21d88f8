"""`sagan`: self-attention GAN (unconditional), on residual networks with spectral norm.

Zhang, Goodfellow, Metaxas & Odena 2019, "Self-Attention Generative Adversarial
Networks". The ingredients, each a config switch (all on by default):

* ``self_attention`` — a self-attention block (Sec. 3, Eq. 1–3,
  :class:`zoo.layers.attention.SelfAttention`: y = γ·o + x, γ initialized to 0)
  in G and D at the feature resolution ``attention_resolution``;
* ``spectral_norm_g`` / ``spectral_norm_d`` — spectral normalization of every
  weight layer in G and in D (Sec. 4; Miyato et al. 2018), one power iteration
  per forward pass (:mod:`zoo.layers.spectral`);
* ``ttur`` — the two time-scale update rule (Sec. 4; Heusel et al. 2017): Adam
  with lr_D = 4e-4 and lr_G = 1e-4, β = (0, 0.9) (Sec. 5); off → both 2e-4;
* ``loss`` — the hinge loss (Eq. 4):
  L_D = E[max(0, 1 − D(x))] + E[max(0, 1 + D(G(z)))],  L_G = −E[D(G(z))].

Networks (:mod:`zoo.layers.resblocks`): G = linear z → 4×4 map, one residual
×2-upsampling block per doubling (batch norm, ReLU, nearest upsampling, 3×3
convs), BN-ReLU-conv3×3-tanh; G's channels halve per doubling,
``width · min(16, 2^(L − i))`` at resolution 4·2^i (L: 64×64 → 4). D =
residual ×2-downsampling blocks (``width`` channels at H/2, doubling per
halving up to 16·width), one more block at 4×4, ReLU, global sum pooling,
linear → logit: BigGAN's D for 64×64 and 128×128.
The game is :class:`zoo.models.gan.GAN` with one D step per G step.

Deviations from the paper:

1. Unconditional (family "gan"): the paper's ImageNet model is class-conditional
   (conditional BN in G, projection D); the zoo's conditional member of this
   line is ``biggan``, which adds exactly those.
2. Residual networks as in the authors' code, with a generic width rule and
   one extra non-downsampling D block at 4×4 (the BigGAN layout) rather than
   the paper's 128×128 table; nearest-neighbour upsampling.
3. Full attention (every position attends to every position, as in Eq. 1–2);
   the code max-pools keys and values 2×2.
4. Attention at resolution H/2 in the full preset (64×64 → 32×32 features,
   the paper's best choices were feat32/feat64 at 128×128), lower at quick for CPU cost.
5. Xavier-uniform initialization of the raw weights (the paper does not say;
   the TF code uses Glorot), batch sizes and step counts sized per preset.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import concat_label_maps, num_doublings
from zoo.layers.attention import SelfAttention
from zoo.layers.resblocks import DBlock, GBlock, pyramid_widths
from zoo.layers.spectral import GAN_INITS, gan_init_, maybe_sn
from zoo.models.base import ModelSpec, check_preset_args
from zoo.models.gan import GAN
from zoo.train import Phase, TrainConfig


def check_attention_resolution(resolution: int | None, image_size: int) -> None:
    """Attention sits where both G and D have feature maps of this size: 8 ≤ r ≤ H/2, a power of 2."""
    if resolution is None:
        return
    valid = [4 * 2 ** i for i in range(1, num_doublings(image_size))]
    if resolution not in valid:
        raise ValueError(f"attention_resolution must be one of {valid} for {image_size}×{image_size} images, "
                         f"got {resolution}")


@dataclass(frozen=True)
class SAGANConfig:
    """Hyper-parameters of SAGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L with L ≥ 2 (16, 32, 64, 128).
        train: optimization settings; Adam β = (0, 0.9), ``train.lr`` = 2e-4 is
            used by both networks when ``ttur`` is off.
        latent_dim: size of z ~ N(0, I) (128 in the paper's code).
        g_width, d_width: channels of G's last / D's first level (64 in the paper).
        attention_resolution: feature-map size (8..H/2) of the attention block.
        self_attention: use the attention block in G and D.
        spectral_norm_g, spectral_norm_d: spectral norm on G's / D's weight layers.
        ttur: lr_g for G and lr_d for D (Sec. 4); off → ``train.lr`` for both.
        lr_g, lr_d: the TTUR learning rates (1e-4, 4e-4).
        loss: "hinge" (paper), "non-saturating" or "minimax".
        init: raw-weight initialization, one of zoo.layers.spectral.GAN_INITS.
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    latent_dim: int = 128
    g_width: int = 64
    d_width: int = 64
    attention_resolution: int = 32
    self_attention: bool = True
    spectral_norm_g: bool = True
    spectral_norm_d: bool = True
    ttur: bool = True
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    loss: str = "hinge"
    init: str = "xavier"

    def __post_init__(self):
        check_attention_resolution(self.attention_resolution, self.image_shape[1])
        if self.init not in GAN_INITS:
            raise ValueError(f"init must be one of {GAN_INITS}, got {self.init!r}")


class ResGenerator(nn.Module):
    """Residual generator trunk: z (B, in_dim) [+ one conditioning vector per block] → (B, C, H, W) in [-1, 1].

    Args:
        in_dim: size of the vector projected to the 4×4 map.
        image_shape: (C, H, W).
        width: channels at the output resolution; ``pyramid_widths`` above it.
        attention_resolution: where the self-attention block goes (None: nowhere).
        spectral_norm: on every conv / linear (and cBN projection).
        cond_dims: size of each block's cBN conditioning vector (None: plain BN).
    """

    def __init__(self, in_dim: int, image_shape: tuple[int, int, int], width: int,
                 attention_resolution: int | None, spectral_norm: bool, cond_dims: Sequence[int] | None = None):
        super().__init__()
        c, h, _ = image_shape
        levels = num_doublings(h)
        widths = pyramid_widths(levels, width)
        cond_dims = list(cond_dims) if cond_dims is not None else [0] * levels
        self.linear = maybe_sn(nn.Linear(in_dim, widths[0] * 16), spectral_norm)
        self.blocks = nn.ModuleList(GBlock(widths[i], widths[i + 1], cond_dims[i], spectral_norm)
                                    for i in range(levels))
        # block i outputs maps of size 4·2^(i+1)
        self.attention_after = num_doublings(attention_resolution) - 1 if attention_resolution else None
        if attention_resolution:
            self.attention = SelfAttention(widths[num_doublings(attention_resolution)], spectral_norm)
        self.out_bn = nn.BatchNorm2d(widths[-1])  # unconditional, as in the BigGAN code
        self.out_conv = maybe_sn(nn.Conv2d(widths[-1], c, 3, padding=1), spectral_norm)

    def forward(self, z: torch.Tensor, conds: Sequence[torch.Tensor] | None = None) -> torch.Tensor:
        h = self.linear(z).view(z.shape[0], -1, 4, 4)
        for i, block in enumerate(self.blocks):
            h = block(h, conds[i] if conds is not None else None)
            if i == self.attention_after:
                h = self.attention(h)
        return torch.tanh(self.out_conv(F.relu(self.out_bn(h))))


class ResDiscriminator(nn.Module):
    """Residual discriminator: images (B, C, H, W) [+ labels (B,)] → logits (B,).

    Unconditional: logit = ψ(φ(x)), φ the globally sum-pooled ReLU features
    (B, widths[0] = width · min(16, 2^L)), ψ linear. Conditional (``num_classes``), either the
    projection discriminator (Miyato & Koyama 2018, Sec. 3):
    logit = ψ(φ(x)) + ⟨embed(y), φ(x)⟩, or (``projection=False``) the label
    concatenated to the image as K constant maps (as in ``cgan``).
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int, attention_resolution: int | None,
                 spectral_norm: bool, num_classes: int | None = None, projection: bool = True):
        super().__init__()
        c, h, _ = image_shape
        levels = num_doublings(h)
        widths = pyramid_widths(levels, width)
        self.num_classes, self.projection = num_classes, projection and num_classes is not None
        concat = num_classes if num_classes is not None and not projection else 0
        # BigGAN's D: block k maps to H / 2^(k+1) with widths[L − k] channels (width at H/2,
        # twice as many per halving, up to 16·width), then one more block at 4×4 to widths[0]
        outs = widths[::-1][:levels] + [widths[0]]
        ins = [c + concat] + outs[:-1]
        self.blocks = nn.ModuleList(DBlock(i, o, downsample=k < levels, first=k == 0, spectral_norm=spectral_norm)
                                    for k, (i, o) in enumerate(zip(ins, outs)))
        self.attention_after = num_doublings(h // attention_resolution * 4) - 1 if attention_resolution else None
        if attention_resolution:
            self.attention = SelfAttention(outs[self.attention_after], spectral_norm)
        self.linear = maybe_sn(nn.Linear(widths[0], 1), spectral_norm)
        if self.projection:
            self.embed = maybe_sn(nn.Embedding(num_classes, widths[0]), spectral_norm)

    def features(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """φ(x): (B, widths[0]), ReLU then sum over positions (label maps added first when concatenating)."""
        if self.num_classes is not None and not self.projection:
            x = concat_label_maps(x, labels, self.num_classes)
        for k, block in enumerate(self.blocks):
            x = block(x)
            if k == self.attention_after:
                x = self.attention(x)
        return F.relu(x).sum(dim=(2, 3))

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        phi = self.features(x, labels)
        logit = self.linear(phi).squeeze(1)
        if self.projection:
            logit = logit + (self.embed(labels) * phi).sum(1)
        return logit


class SAGANGenerator(nn.Module):
    """z (B, latent_dim) → images (B, C, H, W) in [-1, 1] (batch norm, no conditioning)."""

    def __init__(self, config: SAGANConfig):
        super().__init__()
        self.trunk = ResGenerator(config.latent_dim, config.image_shape, config.g_width,
                                  config.attention_resolution if config.self_attention else None,
                                  config.spectral_norm_g)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.trunk(z)


class SAGAN(GAN):
    """The GAN game with TTUR: D and G get their own learning rates (``config.ttur``)."""

    def __init__(self, config, generator: nn.Module, discriminator: nn.Module, num_classes: int | None = None):
        super().__init__(config, generator, discriminator, num_classes,
                         weight_init=partial(gan_init_, kind=config.init))

    def phases(self, train: TrainConfig) -> list[Phase]:
        lr_g, lr_d = (self.config.lr_g, self.config.lr_d) if self.config.ttur else (train.lr, train.lr)
        return [
            Phase("d", (self.discriminator,), lr_d, train.betas, updates=train.k_d_steps),
            Phase("g", (self.generator,), lr_g, train.betas),
        ]


_BETAS = (0.0, 0.9)  # Sec. 5
PRESETS = {
    "smoke": dict(latent_dim=16, g_width=4, d_width=4, attention_resolution=8,
                  train=TrainConfig(steps=4, batch_size=8, betas=_BETAS, log_every=1, checkpoint_every=2)),
    # quick: ≈ 1.3 s of one core per iteration at 3×64×64 (0.45 s at 1×32×32), so ≈ 5.5 core-minutes
    # (≈ 2 at 32×32): the generation suite's four Zoo II models fit 30 minutes on 2 cores
    "quick": dict(latent_dim=64, g_width=8, d_width=8, attention_resolution=16,
                  train=TrainConfig(steps=250, batch_size=32, betas=_BETAS, log_every=10, checkpoint_every=200,
                                    sample_every=200)),
    "full": dict(latent_dim=128, g_width=64, d_width=64, attention_resolution=64,
                 train=TrainConfig(steps=100_000, batch_size=256, betas=_BETAS, log_every=100,
                                   checkpoint_every=2000, sample_every=2000)),
}


def fit_attention_resolution(resolution: int, image_size: int) -> int:
    """A preset's attention resolution, lowered to H/2 for small images (the largest valid place)."""
    return min(resolution, image_size // 2)


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> SAGANConfig:
    """The ``sagan`` config for a preset (smoke | quick | full) and data shape."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    table = dict(PRESETS[preset])
    table["attention_resolution"] = fit_attention_resolution(table["attention_resolution"], shape[1])
    return SAGANConfig(image_shape=shape, **table)


def build(config: SAGANConfig) -> SAGAN:
    discriminator = ResDiscriminator(config.image_shape, config.d_width,
                                     config.attention_resolution if config.self_attention else None,
                                     config.spectral_norm_d)
    return SAGAN(config, SAGANGenerator(config), discriminator)


SPEC = ModelSpec(
    name="sagan", family="gan", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    description="Zhang et al. 2019: residual GAN with self-attention, spectral norm in G and D, hinge loss, TTUR",
)
