"""`biggan`: class-conditional large-scale GAN on SAGAN's base.

Brock, Donahue & Simonyan 2019, "Large Scale GAN Training for High Fidelity
Natural Image Synthesis". SAGAN's residual networks, self-attention, spectral
norm in G and D, hinge loss and Adam β1 = 0 (:mod:`zoo.models.sagan`), plus,
each a config switch (all on by default):

* class-conditional batch norm in every G block whose gains and biases are
  linear in a conditioning vector (:class:`zoo.layers.conditional_bn.ConditionalBatchNorm2d`);
  ``shared_embedding``: that vector holds one class embedding shared by all
  blocks (Sec. 3, App. B; off: a one-hot y, i.e. separate per-block class embeddings);
* ``hierarchical_z`` (skip-z, Sec. 3): z is split into one chunk per G block
  plus one for the input linear layer; each block is conditioned on
  [shared embedding, its z chunk] (off: all of z enters at the input);
* ``projection_d`` — the projection discriminator (Miyato & Koyama 2018, Sec. 3):
  D(x, y) = ψ(φ(x)) + ⟨embed(y), φ(x)⟩ (off: y as constant label maps on the image, as ``cgan``);
* ``ortho_reg`` — off-diagonal orthogonal regularization of G (Sec. 3.1, Eq. 3,
  :mod:`zoo.losses.orthogonal`): β ‖WᵀW ⊙ (1 − I)‖²_F, β = 1e-4, added to G's
  loss for every G weight of ≥ 2 dimensions except the shared embedding (the
  authors' code: all of G's matrices and conv kernels, including the cBN gain/bias
  projections; biases and BN parameters are 1-D and not regularized);
* ``ema`` — an exponential moving average of G's weights (App. B: decay
  0.9999, from iteration 20k), the trainer's ``TrainConfig.ema_decay`` / ``ema_start``;
* ``self_attention``, ``spectral_norm_g``, ``spectral_norm_d``, ``ttur``
  (lr_D 2e-4, lr_G 5e-5, β = (0, 0.999), App. B; off → ``train.lr`` for both) as in SAGAN;
* 2 D steps per G step (App. B): ``TrainConfig.k_d_steps = 2`` in every preset;
* orthogonal initialization of every conv / linear / embedding weight (App. B).

Truncation trick (Sec. 3.1): ``sample(n, generator, labels, psi=t)`` draws z
from N(0, I) truncated to |z_i| ≤ t by resampling the components outside
(:func:`truncated_randn`); ``psi`` is the *threshold* (smaller = less variety,
higher fidelity; ∞ = untruncated), not StyleGAN's interpolation factor ψ ∈ [0, 1].

Deviations from the paper:

1. G's widths follow the generic rule of SAGAN's file (``width · min(16, 2^(L−i))``;
   BigGAN's 64×64 G is one level wider: 16, 16, 8, 4, 2 × ch); D is BigGAN's
   64×64 / 128×128 layout. BigGAN-deep and the 256/512 architectures are not implemented.
2. Full attention without the 2×2 max-pooling of keys and values.
3. Orthogonal regularization as the loss of Eq. 3 (the code adds half its
   gradient); the sampling-time "standing statistics" of batch norm are not
   used: samples use batch norm's running statistics (eval mode), which the
   EMA copies from the live G rather than averaging.
4. Batch sizes and step counts sized per preset (the paper: batch 2048 on 128 TPU cores);
   the quick preset uses lr_G 1e-4 / lr_D 4e-4 (the authors' PyTorch scripts) for its few steps.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import torch
from torch import nn

from zoo.layers import num_doublings, one_hot
from zoo.losses.orthogonal import orthogonal_regularization
from zoo.models.base import ModelSpec, check_preset_args, evaluating, randn
from zoo.models.sagan import (
    SAGAN, ResDiscriminator, ResGenerator, check_attention_resolution, fit_attention_resolution,
)
from zoo.train import TrainConfig


@dataclass(frozen=True)
class BigGANConfig:
    """Hyper-parameters of BigGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L with L ≥ 2.
        num_classes: K.
        train: optimization settings: β = (0, 0.999), ``k_d_steps`` = 2,
            ``ema_decay``/``ema_start`` for the EMA of G (``ema``).
        latent_dim: size of z (120 at 128×128: 6 chunks of 20).
        g_width, d_width: BigGAN's ``ch`` for G / D (96 at 128×128).
        embed_dim: size of the shared class embedding (128).
        attention_resolution: feature-map size (8..H/2) of the attention block (64 at 128×128).
        shared_embedding, hierarchical_z, projection_d, ortho_reg, ema,
        self_attention, spectral_norm_g, spectral_norm_d, ttur: the switches above.
        ortho_beta: β of the orthogonal regularization (1e-4).
        lr_g, lr_d: the TTUR learning rates (5e-5, 2e-4).
        loss: "hinge" (paper), "non-saturating" or "minimax".
        init: raw-weight initialization ("ortho", App. B).
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    train: TrainConfig
    latent_dim: int = 120
    g_width: int = 96
    d_width: int = 96
    embed_dim: int = 128
    attention_resolution: int = 64
    shared_embedding: bool = True
    hierarchical_z: bool = True
    projection_d: bool = True
    ortho_reg: bool = True
    ortho_beta: float = 1e-4
    ema: bool = True
    self_attention: bool = True
    spectral_norm_g: bool = True
    spectral_norm_d: bool = True
    ttur: bool = True
    lr_g: float = 5e-5
    lr_d: float = 2e-4
    loss: str = "hinge"
    init: str = "ortho"

    def __post_init__(self):
        check_attention_resolution(self.attention_resolution, self.image_shape[1])
        if self.ema and self.train.ema_decay == 0:
            raise ValueError("ema=True needs train.ema_decay > 0 (set ema=False for no averaging)")
        if not self.ema and self.train.ema_decay:  # the switch is the one place EMA is turned off
            object.__setattr__(self, "train", dataclasses.replace(self.train, ema_decay=0.0))


def latent_chunks(latent_dim: int, blocks: int, hierarchical: bool) -> list[int]:
    """Sizes of z's chunks: one for the input layer, then one per G block (as equal
    as possible, the first ones larger); non-hierarchical: [latent_dim]."""
    if not hierarchical:
        return [latent_dim]
    n = blocks + 1
    if latent_dim < n:
        raise ValueError(f"hierarchical z needs latent_dim ≥ {n} (one chunk per block and the input)")
    return [latent_dim // n + (i < latent_dim % n) for i in range(n)]


class BigGANGenerator(nn.Module):
    """z (B, latent_dim), labels (B,) → images (B, C, H, W) in [-1, 1].

    Block k's cBN is conditioned on c_k = [e(y), z_k] with e the shared class
    embedding (or one_hot(y)) and z_k the k-th chunk of z (hierarchical), or on e(y) alone.
    """

    def __init__(self, config: BigGANConfig):
        super().__init__()
        self.num_classes, levels = config.num_classes, num_doublings(config.image_shape[1])
        self.z_sizes = latent_chunks(config.latent_dim, levels, config.hierarchical_z)
        self.shared = nn.Embedding(config.num_classes, config.embed_dim) if config.shared_embedding else None
        class_dim = config.embed_dim if config.shared_embedding else config.num_classes
        cond_dims = [class_dim + s for s in self.z_sizes[1:]] if config.hierarchical_z else [class_dim] * levels
        self.trunk = ResGenerator(self.z_sizes[0], config.image_shape, config.g_width,
                                  config.attention_resolution if config.self_attention else None,
                                  config.spectral_norm_g, cond_dims=cond_dims)

    def forward(self, z: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        e = self.shared(labels) if self.shared is not None else one_hot(labels, self.num_classes, z.dtype)
        chunks = z.split(self.z_sizes, dim=1)
        if len(chunks) == 1:
            return self.trunk(z, [e] * len(self.trunk.blocks))
        return self.trunk(chunks[0], [torch.cat([e, c], dim=1) for c in chunks[1:]])

    def regularized_weights(self) -> list[torch.Tensor]:
        """The weights orthogonal regularization applies to: every ≥ 2-D parameter but the shared embedding."""
        return [p for name, p in self.named_parameters() if p.ndim >= 2 and not name.startswith("shared.")]


def truncated_randn(shape: tuple[int, ...], threshold: float, generator: torch.Generator | None,
                    device: torch.device) -> torch.Tensor:
    """N(0, I) truncated to |z_i| ≤ threshold by redrawing the components outside (Brock et al. Sec. 3.1).

    threshold = ∞ returns exactly ``randn(shape, generator, device)`` (same draws).
    Redrawing continues until every component is inside: each round draws a full
    tensor from ``generator`` (so the result depends only on its state) and keeps
    the new values where the old ones were outside.
    """
    if not threshold > 0:
        raise ValueError(f"the truncation threshold must be > 0, got {threshold}")
    z = randn(shape, generator, device)
    if math.isinf(threshold):
        return z
    outside = z.abs() > threshold
    while outside.any():
        z = torch.where(outside, randn(shape, generator, device), z)
        outside = z.abs() > threshold
    return z


class BigGAN(SAGAN):
    """SAGAN's game (TTUR, k D steps from the config) + orthogonal regularization of G
    + sampling from the truncated normal."""

    def loss(self, phase, batch, generator):
        loss, logs = super().loss(phase, batch, generator)
        if phase == "g" and self.config.ortho_reg:
            penalty = orthogonal_regularization(self.generator.regularized_weights(), self.config.ortho_beta)
            loss, logs = loss + penalty, {**logs, "ortho": penalty.detach()}
        return loss, logs

    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               psi: float = math.inf) -> torch.Tensor:
        """n samples, float32 (n, C, H, W) in [-1, 1], of classes ``labels`` (int64 (n,)).

        ``psi``: truncation threshold t > 0 of the truncation trick (z_i redrawn
        until |z_i| ≤ t); ∞ (default) = untruncated, the same samples as
        ``GenerativeModel.sample`` for the same generator state.
        """
        labels = self.check_labels(labels, n)
        with evaluating(self):
            z = truncated_randn((n, self.latent_dim), psi, generator, self.device)
            return self.generate(z, labels).float()


_BETAS = (0.0, 0.999)  # App. B
PRESETS = {
    "smoke": dict(latent_dim=16, g_width=4, d_width=4, embed_dim=8, attention_resolution=8,
                  train=TrainConfig(steps=4, batch_size=8, betas=_BETAS, k_d_steps=2, ema_decay=0.9, ema_start=2,
                                    log_every=1, checkpoint_every=2)),
    # quick: ≈ 2.1 s of one core per iteration (2 D steps) at 3×64×64 (0.8 s at 1×32×32), so ≈ 7
    # core-minutes (≈ 2.7 at 32×32); the
    # learning rates of the authors' PyTorch ImageNet scripts (1e-4 / 4e-4): 300 steps at 5e-5 barely move G
    "quick": dict(latent_dim=60, g_width=8, d_width=8, embed_dim=32, attention_resolution=16, lr_g=1e-4, lr_d=4e-4,
                  train=TrainConfig(steps=200, batch_size=32, betas=_BETAS, k_d_steps=2, ema_decay=0.99,
                                    ema_start=100, log_every=10, checkpoint_every=100, sample_every=100)),
    "full": dict(latent_dim=120, g_width=96, d_width=96, embed_dim=128, attention_resolution=64,
                 train=TrainConfig(steps=150_000, batch_size=256, betas=_BETAS, k_d_steps=2, ema_decay=0.9999,
                                   ema_start=20_000, log_every=100, checkpoint_every=2000, sample_every=2000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> BigGANConfig:
    """The ``biggan`` config for a preset (smoke | quick | full), data shape and class count;
    the attention resolution is lowered to H/2 for small images."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=True)
    table = dict(PRESETS[preset])
    table["attention_resolution"] = fit_attention_resolution(table["attention_resolution"], shape[1])
    return BigGANConfig(image_shape=shape, num_classes=num_classes, **table)


def build(config: BigGANConfig) -> BigGAN:
    discriminator = ResDiscriminator(config.image_shape, config.d_width,
                                     config.attention_resolution if config.self_attention else None,
                                     config.spectral_norm_d, num_classes=config.num_classes,
                                     projection=config.projection_d)
    return BigGAN(config, BigGANGenerator(config), discriminator, num_classes=config.num_classes)


SPEC = ModelSpec(
    name="biggan", family="cgan", conditional=True, make_config=make_config, build=build, presets=PRESETS,
    description="Brock et al. 2019: SAGAN + shared-embedding cBN, hierarchical z, projection D, orthogonal "
                "regularization, 2 D steps, EMA of G, truncation trick",
)
