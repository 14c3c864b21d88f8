"""`spade` and `spade-baseline`: semantic image synthesis from label maps.

Park, Liu, Wang & Zhu 2019, "Semantic Image Synthesis with Spatially-Adaptive
Normalization". The condition is a semantic label map m (N, H, W) with values
0..K−1, the size of the image; G(z, m) paints an image with that layout.

Generator (Fig. 4, App. A Fig. 12): z ~ N(0, I) → linear → a 4×4 map of
``g_width · min(16, 2^L)`` channels (H = 4·2^L) → a SPADE residual block at
4×4, then per doubling ×2 nearest upsampling and a SPADE residual block
(:class:`zoo.layers.spade.SPADEResBlock`; widths halve per doubling,
``g_width · min(16, 2^(L − i))`` at 4·2^i), LeakyReLU(0.2), conv3×3 → RGB, tanh.
Every normalization is SPADE (Eq. 1):

    SPADE(h, m) = γ(m) ⊙ (h − μ) / σ + β(m),     γ, β: conv nets on m resized to h's size

Discriminator (Sec. 3, pix2pixHD's multi-scale PatchGAN; App. A Fig. 13):
``num_d`` PatchGANs on [x, one_hot(m)], the k-th on inputs average-pooled
k times by 2; each is conv4×4 stride 2 + LeakyReLU(0.2), then ``d_layers − 1``
spectral-normalized conv4×4 + instance norm + LeakyReLU (stride 2, the last
stride 1, widths doubling up to 8·``d_width``), then a conv4×4 to a map of
logits; every intermediate output is a feature for feature matching.

Losses (Sec. 4 and the authors' code), with D_k's logit maps l_k and
intermediate features D_k^(i), averaged over the num_d scales:

    L_D = mean_k [ E max(0, 1 − l_k(x, m)) + E max(0, 1 + l_k(G(z, m), m)) ]       (hinge)
    L_G = mean_k [ −E l_k(G(z, m), m) ] + λ_FM · mean_k Σ_i ‖D_k^(i)(x) − D_k^(i)(G(z, m))‖₁   (λ_FM = 10)

with the feature-matching term of pix2pixHD (Wang et al. 2018, Eq. 4; L1 means
per layer, summed over D's layers but the logits, averaged over scales, as in
the authors' code). TTUR: Adam lr_G = 1e-4, lr_D = 4e-4, β = (0, 0.999).
With ``style_encoder`` the model is the paper's multi-modal VAE-GAN (Sec. 3.3,
App. B): an encoder E(x) = (μ, log σ²), z = μ + σ ε in training, and
λ_KL · KL(N(μ, σ²) ‖ N(0, I)) added to L_G (λ_KL = 0.05); sampling draws z ~ N(0, I).

``spade-baseline`` (config ``spade=False``): the same generator, discriminator
and losses, but the label map enters only at the input — its one-hot map,
area-downsampled to 4×4 (the class fractions per cell), concatenated to the
z-map — and every normalization is affine batch norm: the paper's comparison of
SPADE with feeding the map at the input and normalizing it away (Sec. 3,
"Why does SPADE work better?"; Table 4, "w/ Concat").

Deviations from the paper:

1. No VGG perceptual loss (λ_VGG = 10 in the paper): it needs ImageNet VGG-19
   weights and most of the CPU budget at 64×64; G's losses are hinge + FM (+ KL).
2. G always starts from z (4×4 for any image size H = 4·2^L) and uses one
   residual block per resolution; the authors' 256×256 G starts at 8×8 with two
   blocks at 16×16, and without the encoder starts from the downsampled map
   rather than from noise.
3. The style encoder is zoo.layers.ConvEncoder (DCGAN-style 4×4 stride-2
   convs, no normalization) instead of six 3×3 instance-norm conv layers; its KL
   is summed over latent dimensions and averaged over the batch (the code sums
   over the batch too).
4. Batch norm instead of synchronized batch norm; Glorot-uniform init (the code:
   Glorot-normal with gain 0.02); D's input pooling is a plain 2×2 average pool.
5. Sizes (widths, SPADE hidden width, steps) per preset; 64×64 in practice.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import ConvEncoder, num_doublings
from zoo.layers.resblocks import pyramid_widths
from zoo.layers.spade import SPADEResBlock, label_map_one_hot
from zoo.layers.spectral import GAN_INITS, gan_init_, maybe_sn
from zoo.losses import kl_normal_standard
from zoo.models.base import ModelSpec, check_preset_args, randn
from zoo.models.gan import GAN
from zoo.train import Phase, TrainConfig


@dataclass(frozen=True)
class SPADEConfig:
    """Hyper-parameters of SPADE and its baseline.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L (L ≥ 1).
        train: optimization settings (Adam β = (0, 0.999)).
        num_classes: K, label classes of the maps (values 0..K−1).
        spade: SPADE in every normalization (True) or the baseline: the map
            concatenated at G's input and affine batch norm (False).
        latent_dim: size of z (256 in the paper).
        g_width: channels at the output resolution (the paper's nf = 64; 16·nf at 4×4).
        spade_hidden: width of SPADE's shared map conv (128 in the paper).
        d_width, d_layers, num_d: PatchGAN width (64), conv layers before the logits (4), scales (2).
        spectral_norm_g, spectral_norm_d: on G's residual convs / D's convs (both in the paper).
        loss: "hinge" (paper), "non-saturating" or "minimax".
        lambda_fm: weight of D's feature-matching loss (10).
        lr_g, lr_d: TTUR learning rates (1e-4, 4e-4).
        style_encoder: train with an image encoder as a VAE-GAN (Sec. 3.3).
        lambda_kl: weight of the encoder's KL term (0.05).
        init: raw-weight initialization, one of zoo.layers.spectral.GAN_INITS.
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    num_classes: int
    spade: bool = True
    latent_dim: int = 256
    g_width: int = 64
    spade_hidden: int = 128
    d_width: int = 64
    d_layers: int = 4
    num_d: int = 2
    spectral_norm_g: bool = True
    spectral_norm_d: bool = True
    loss: str = "hinge"
    lambda_fm: float = 10.0
    lr_g: float = 1e-4
    lr_d: float = 4e-4
    style_encoder: bool = False
    lambda_kl: float = 0.05
    init: str = "xavier"

    def __post_init__(self):
        num_doublings(self.image_shape[1])
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be ≥ 2, got {self.num_classes}")
        if self.d_layers < 2 or self.num_d < 1:
            raise ValueError(f"need d_layers ≥ 2 and num_d ≥ 1, got {self.d_layers}, {self.num_d}")
        if self.image_shape[1] // 2 ** (self.num_d - 1) < 8:
            raise ValueError(f"num_d = {self.num_d} pools {self.image_shape[1]}×{self.image_shape[1]} images "
                             "below 8×8")
        if self.init not in GAN_INITS:
            raise ValueError(f"init must be one of {GAN_INITS}, got {self.init!r}")


class SPADEGenerator(nn.Module):
    """G(z, m): z (N, latent_dim), label maps (N, H, W) in 0..K−1 → images (N, C, H, W) in [-1, 1]."""

    def __init__(self, config: SPADEConfig):
        super().__init__()
        c, h, _ = config.image_shape
        levels = num_doublings(h)
        widths = pyramid_widths(levels, config.g_width)
        self.num_classes, self.spade = config.num_classes, config.spade
        k = config.num_classes if config.spade else 0  # SPADE's map channels; 0: plain BN
        self.linear = nn.Linear(config.latent_dim, widths[0] * 4 * 4)
        head_in = widths[0] + (0 if config.spade else config.num_classes)  # baseline: [z-map, map] at 4×4
        block = partial(SPADEResBlock, label_channels=k, hidden=config.spade_hidden,
                        spectral_norm=config.spectral_norm_g)
        self.head = block(head_in, widths[0])
        self.blocks = nn.ModuleList(block(widths[i], widths[i + 1]) for i in range(levels))  # at 4·2^(i+1)
        self.out_conv = nn.Conv2d(widths[-1], c, 3, padding=1)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        m = label_map_one_hot(labels, self.num_classes, z.dtype)
        h = self.linear(z).view(z.shape[0], -1, 4, 4)
        if not self.spade:
            h, m = torch.cat([h, F.adaptive_avg_pool2d(m, 4)], dim=1), None
        h = self.head(h, m)
        for block in self.blocks:
            h = block(F.interpolate(h, scale_factor=2, mode="nearest"), m)
        return torch.tanh(self.out_conv(F.leaky_relu(h, 0.2)))


def patch_discriminator(in_channels: int, width: int, layers: int, spectral_norm: bool) -> nn.ModuleList:
    """pix2pixHD's PatchGAN as a list of stages (each output is a feature for matching; the last: logits).

    conv4×4/2 + LReLU; ``layers − 1`` × [SN conv4×4 (stride 2, the last 1) + InstanceNorm + LReLU];
    conv4×4/1 → 1 channel. Padding 2, and no spectral norm on the first and last convs, as in the
    authors' code. (N, in, H, W) → maps of logits (N, 1, h, w).
    """
    stages, c = [nn.Sequential(nn.Conv2d(in_channels, width, 4, 2, 2), nn.LeakyReLU(0.2))], width
    for n in range(1, layers):
        out = min(c * 2, width * 8)
        stages.append(nn.Sequential(maybe_sn(nn.Conv2d(c, out, 4, 1 if n == layers - 1 else 2, 2, bias=False),
                                             spectral_norm),
                                    nn.InstanceNorm2d(out), nn.LeakyReLU(0.2)))
        c = out
    stages.append(nn.Sequential(nn.Conv2d(c, 1, 4, 1, 2)))
    return nn.ModuleList(stages)


class MultiscaleDiscriminator(nn.Module):
    """D(x, m): images (N, C, H, W), label maps (N, H, W) → per scale, the list of stage outputs.

    Scale k sees [x, one_hot(m)] average-pooled k times by 2; its last output is the
    (N, 1, h, w) map of patch logits, the others are the features for feature matching.
    """

    def __init__(self, config: SPADEConfig):
        super().__init__()
        self.num_classes = config.num_classes
        self.scales = nn.ModuleList(
            patch_discriminator(config.image_shape[0] + config.num_classes, config.d_width, config.d_layers,
                                config.spectral_norm_d) for _ in range(config.num_d))

    def forward(self, x: torch.Tensor, labels: torch.Tensor) -> list[list[torch.Tensor]]:
        h = torch.cat([x, label_map_one_hot(labels, self.num_classes, x.dtype)], dim=1)
        outputs = []
        for k, stages in enumerate(self.scales):
            if k:
                h = F.avg_pool2d(h, 2)
            feats, f = [], h
            for stage in stages:
                f = stage(f)
                feats.append(f)
            outputs.append(feats)
        return outputs


def feature_matching(fake: list[list[torch.Tensor]], real: list[list[torch.Tensor]]) -> torch.Tensor:
    """pix2pixHD's L_FM (Eq. 4): per scale, Σ over features (not the logits) of the mean |D(fake) − D(real)|;
    averaged over scales. ``real`` is treated as a constant."""
    per_scale = [sum(F.l1_loss(f.float(), r.detach().float()) for f, r in zip(fs[:-1], rs[:-1]))
                 for fs, rs in zip(fake, real)]
    return torch.stack(per_scale).mean()


class SPADEGAN(GAN):
    """The SPADE game: multi-scale hinge loss, feature matching, TTUR, optional style encoder (VAE-GAN)."""

    condition = "layout"

    def __init__(self, config: SPADEConfig):
        super().__init__(config, SPADEGenerator(config), MultiscaleDiscriminator(config),
                         num_classes=config.num_classes, weight_init=partial(gan_init_, kind=config.init))
        c, h, _ = config.image_shape
        self.encoder = (ConvEncoder(c, h, config.d_width, 2 * config.latent_dim, batch_norm=False)
                        if config.style_encoder else None)
        if self.encoder is not None:
            self.encoder.apply(self.weight_init)

    def phases(self, train: TrainConfig) -> list[Phase]:
        g_modules = (self.generator,) + ((self.encoder,) if self.encoder is not None else ())
        return [Phase("d", (self.discriminator,), self.config.lr_d, train.betas, updates=train.k_d_steps),
                Phase("g", g_modules, self.config.lr_g, train.betas)]

    def encode(self, x: torch.Tensor, generator: torch.Generator | None) -> tuple[torch.Tensor, torch.Tensor]:
        """Style code z = μ + σ ε of images x and its KL to N(0, I) per sample (N,)."""
        mu, logvar = self.encoder(x).float().chunk(2, dim=1)
        eps = randn(mu.shape, generator, x.device)
        return mu + torch.exp(0.5 * logvar) * eps, kl_normal_standard(mu, logvar)

    def _discriminate_pair(self, fake: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> tuple[list, list]:
        """D's outputs for (fake, m) and (x, m) in one pass: (fake outputs, real outputs)."""
        n = x.shape[0]
        outputs = self.discriminator(torch.cat([fake, x]), torch.cat([y, y]))
        return [[f[:n] for f in fs] for fs in outputs], [[f[n:] for f in fs] for fs in outputs]

    def loss(self, phase, batch, generator):
        x, y = batch
        n = x.shape[0]
        logs: dict[str, torch.Tensor] = {}
        if self.encoder is not None:
            z, kl = self.encode(x, generator)
        else:
            z, kl = randn((n, self.latent_dim), generator, x.device), None
        if phase == "d":
            with torch.no_grad():
                fake = self.generate(z, y)
            fake_out, real_out = self._discriminate_pair(fake, x, y)
            parts = [self.d_loss(r[-1], f[-1]) for r, f in zip(real_out, fake_out)]
            logs["real_logit"] = torch.stack([r[-1].detach().mean() for r in real_out]).mean()
            logs["fake_logit"] = torch.stack([f[-1].detach().mean() for f in fake_out]).mean()
            return torch.stack(parts).mean(), logs
        if phase == "g":
            fake = self.generate(z, y)
            fake_out, real_out = self._discriminate_pair(fake, x, y)
            adversarial = torch.stack([self.g_loss(f[-1]) for f in fake_out]).mean()
            fm = feature_matching(fake_out, real_out)
            total = adversarial + self.config.lambda_fm * fm
            logs.update(adversarial=adversarial.detach(), feature_matching=fm.detach())
            if kl is not None:
                kl = kl.mean()
                total = total + self.config.lambda_kl * kl
                logs["kl"] = kl.detach()
            return total, logs
        raise ValueError(f"{type(self).__name__} has phases 'd' and 'g', not {phase!r}")


_BETAS = (0.0, 0.999)  # Sec. 4
PRESETS = {
    "smoke": dict(latent_dim=16, g_width=4, spade_hidden=8, d_width=4, d_layers=3,
                  train=TrainConfig(steps=4, batch_size=8, betas=_BETAS, log_every=1, checkpoint_every=2)),
    # quick: measured with OMP_NUM_THREADS=1 on 3×64×64 scenes, 9 label classes (process CPU time): ≈ 0.72 s
    # of one core per iteration (1.3 s at batch 16), so ≈ 4.2 core-minutes; the baseline ≈ 0.41 s, ≈ 2.4.
    # After 60 iterations SPADE's samples already follow the map (L1 to the real image 0.34, 0.44 given
    # another image's map); the baseline's barely (0.41 vs 0.43).
    "quick": dict(latent_dim=64, g_width=8, spade_hidden=16, d_width=16, d_layers=3,
                  train=TrainConfig(steps=350, batch_size=8, betas=_BETAS, log_every=10, checkpoint_every=100)),
    # full: the paper's sizes; 200 epochs of 20,000 images at batch 32 (the paper: 200 epochs at 256×256)
    "full": dict(latent_dim=256, g_width=64, spade_hidden=128, d_width=64, d_layers=4,
                 train=TrainConfig(steps=125_000, batch_size=32, betas=_BETAS, log_every=100,
                                   checkpoint_every=2000)),
}
# No sample grids (``sample_every`` 0): the conditional suite draws the figures.
BASELINE_PRESETS = {name: {**table, "spade": False} for name, table in PRESETS.items()}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> SPADEConfig:
    """The ``spade`` config for a preset (smoke | quick | full), data shape and label-class count."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=True)
    return SPADEConfig(image_shape=shape, num_classes=num_classes, **PRESETS[preset])


def make_baseline_config(preset: str, image_shape: tuple[int, int, int],
                         num_classes: int | None = None) -> SPADEConfig:
    """The ``spade-baseline`` config: ``spade``'s with ``spade=False``."""
    return dataclasses.replace(make_config(preset, image_shape, num_classes), spade=False)


def build(config: SPADEConfig) -> SPADEGAN:
    return SPADEGAN(config)


SPEC = ModelSpec(
    name="spade", family="cgan", conditional=True, condition="layout", make_config=make_config, build=build,
    presets=PRESETS,
    description="Park et al. 2019: label map → image, SPADE residual G, multi-scale PatchGAN, hinge + FM loss",
)
BASELINE_SPEC = ModelSpec(
    name="spade-baseline", family="cgan", conditional=True, condition="layout", make_config=make_baseline_config,
    build=build, presets=BASELINE_PRESETS,
    description="SPADE's baseline (Park et al. 2019): label map concatenated at G's input, batch norm, same D, losses",
)
