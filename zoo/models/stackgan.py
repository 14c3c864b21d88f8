"""`stackgan1`, `stackgan2`: StackGAN, text to image in two stacked GANs.

Zhang et al. 2017, "StackGAN: Text to Photo-realistic Image Synthesis with
Stacked Generative Adversarial Networks". A caption t (token ids, int64 (N, L),
0 = padding) is embedded as φ_t by a pre-trained text encoder; Stage-I draws a
low-resolution sketch from [ĉ, z], Stage-II refines it to the data size.

Conditioning augmentation (Sec. 3.1). A fully connected layer maps φ_t to μ(φ_t)
and log σ²(φ_t) (N_g values each) and

    ĉ = μ(φ_t) + σ(φ_t) ⊙ ε,   ε ~ N(0, I),
    D_KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²)   (mean over the batch),

the KL being added to each stage's G loss with weight λ = 1 (Sec. 3.2–3.3). ``conditioning_augmentation``
off: ĉ = FC(φ_t), deterministic, no KL (the paper's CA ablation, Sec. 4.2). ε is part of
the model's latent (``latent_dim`` = z_dim + N_g), so ``generate(z, tokens)`` is a
pure function and ``sample`` draws ε with z.

Stage-I (Sec. 3.2), at ``stage1_size`` = data size / ``stage1_factor``:
G₀: [ĉ₀, z] → FC → 4×4 → (nearest 2× up, 3×3 conv, BN, ReLU)* → 3×3 conv → tanh;
D₀: stride-2 4×4 convs down to 4×4 (DCGAN's), φ_t compressed by FC + LeakyReLU to
N_d and replicated 4×4, concatenated, 1×1 conv (BN, LeakyReLU), 4×4 conv → logit.
D₀ sees reals average-pooled to stage1_size; ``generate`` upsamples G₀'s output
bilinearly to the data size (values stay in [−1, 1]) so suites score every row at one size.

Stage-II (Sec. 3.3), at the data size: G = the frozen Stage-I G₀ on the same
(z, ε₀, t) gives s₀; an encoder (3×3 conv, ReLU, stride-2 4×4 convs with BN,
ReLU) takes s₀ to a map of size max(4, stage1_size / 4); Stage-II's own ĉ is
replicated over it and concatenated, a 3×3 conv (BN, ReLU), residual blocks
(:class:`zoo.layers.residual.ResidualBlock`), up-blocks to the data size, 3×3 conv,
tanh. No z (Sec. 3.3: "the randomness has already been preserved by s₀"): the latent
is [z, ε₀, ε]. D: the Stage-I kind at the data size.

Losses (Sec. 3.2–3.3, with the matching-aware discriminator of Reed et al. 2016, GAN-CLS;
l = D's logit, sp = softplus, t̂ = a mismatched caption, ``zoo.layers.text.mismatched``):

    L_D = sp(−l(x, t)) + ½ [sp(l(x, t̂)) + sp(l(G(z, t), t))]
    L_G = sp(−l(G(z, t), t)) + λ D_KL          (non-saturating, as the authors' code)

The text embedding φ_t is a :class:`zoo.layers.text.CaptionEmbedding` inside G₀
(so Stage-II's ``generator_state`` carries it), pre-trained with its matching loss
on real (image, caption) pairs in the phase "text" for the first ``text_steps``
iterations of Stage-I, frozen after: the GAN phases start at ``text_steps`` and do
not list it. Stage-II loads Stage-I's whole generator and trains only its refiner
and its D. Adam, lr 2e-4, β1 = 0.5 (Sec. 4); weights N(0, 0.02) (authors' code) but
the caption encoder's (PyTorch defaults). The lr is halved every 100 epochs at full.

Deviations from the paper:
* φ_t: a word-level bidirectional GRU trained here with a contrastive matching loss
  (``zoo.layers.text``) instead of Reed et al.'s pre-trained char-CNN-RNN (1024-d);
  its image side sees the Stage-I resolution;
* CPU resolutions: Stage-I at data size / 2 on smoke/quick (32×32 → 64×64 on
  scenes), / 4 at full (the paper's 64 → 256);
* the CA layer is linear (the authors' code puts a (leaky) ReLU on μ and log σ²,
  which forbids σ < 1) and its KL is summed over the N_g dimensions as the paper
  writes it (their code averages it);
* Stage-II's residual blocks are SRResNet's (PReLU inside, nothing after the sum);
  the paper's end in a ReLU;
* lengths in iterations (full: 600 epochs of the 20k scenes images at batch 64, lr halved
  every 100 epochs as in Sec. 4), Stage-I's first ``text_steps`` of them pre-training φ_t.

Stage-II is in :mod:`zoo.models.stackgan_stage2` (``STAGE2_SPEC``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import dcgan_init_, down_block, num_doublings
from zoo.layers.text import CaptionEmbedding, mismatched
from zoo.losses.gan import matching_aware_d_loss
from zoo.models.base import GenerativeModel, ModelSpec, check_preset_args, randn
from zoo.train import Phase, TrainConfig

KL_WEIGHT = 1.0  # λ, "we set λ = 1 for all our experiments" (Sec. 3.1)


@dataclass(frozen=True)
class Stage1Config:
    """Hyper-parameters of StackGAN Stage-I.

    Attributes:
        image_shape: (C, H, W) of the DATA; H = stage1_factor · 4·2^L.
        num_classes: vocabulary size of the captions (0 = padding).
        train: optimization settings (Adam lr 2e-4, β1 0.5).
        stage1_factor: data size / Stage-I size (paper 4: 64 → 256).
        z_dim: N_z (100); cond_dim: N_g, size of ĉ (128); text_dim: size of φ_t (1024).
        ngf: G channels at stage1_size, doubled per level down to 4×4 (paper 64: 1024 at 4×4).
        ndf: D channels after its first conv, doubled per level (64).
        d_cond_dim: N_d, D's compressed φ_t (128).
        embed_width: first-layer width of the caption pre-training's image embedder.
        text_steps: iterations of caption-encoder pre-training before the GAN phases.
        conditioning_augmentation: ĉ = μ + σ ⊙ ε with the KL term (False: ĉ = FC(φ_t)).
        kl_weight: λ.
        lr_decay_every: halve the GAN phases' learning rates every this many iterations (0 = never).
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    train: TrainConfig
    stage1_factor: int = 4
    z_dim: int = 100
    cond_dim: int = 128
    text_dim: int = 1024
    ngf: int = 64
    ndf: int = 64
    d_cond_dim: int = 128
    embed_width: int = 64
    text_steps: int = 1000
    conditioning_augmentation: bool = True
    kl_weight: float = KL_WEIGHT
    lr_decay_every: int = 0

    def __post_init__(self):
        size = self.image_shape[-1]
        if self.stage1_factor < 1 or size % self.stage1_factor:
            raise ValueError(f"stage1_factor {self.stage1_factor} must divide the image size {size}")
        num_doublings(self.stage1_size)  # raises unless 4·2^L, L ≥ 1
        if self.text_steps < 0:
            raise ValueError(f"text_steps must be ≥ 0, got {self.text_steps}")

    @property
    def stage1_size(self) -> int:
        return self.image_shape[-1] // self.stage1_factor

    @property
    def latent_dim(self) -> int:
        return self.z_dim + self.cond_dim * self.conditioning_augmentation


def kl_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """D_KL(N(μ, diag σ²) ‖ N(0, I)) = ½ Σ_j (μ_j² + σ_j² − 1 − log σ_j²), mean over rows; (N, D) → scalar."""
    return 0.5 * (mu.float() ** 2 + logvar.float().exp() - 1 - logvar.float()).sum(1).mean()


class ConditioningAugmentation(nn.Module):
    """φ_t (N, text_dim), ε (N, cond_dim) | None → (ĉ, μ, log σ²) (Sec. 3.1); off: (FC(φ_t), None, None)."""

    def __init__(self, text_dim: int, cond_dim: int, enabled: bool = True):
        super().__init__()
        self.fc = nn.Linear(text_dim, 2 * cond_dim if enabled else cond_dim)
        self.enabled, self.cond_dim = enabled, cond_dim

    def forward(self, phi: torch.Tensor, eps: torch.Tensor | None):
        h = self.fc(phi)
        if not self.enabled:
            return h, None, None
        mu, logvar = h[:, :self.cond_dim], h[:, self.cond_dim:]
        return mu + (0.5 * logvar).exp() * eps, mu, logvar


def kl_term(mu: torch.Tensor | None, logvar: torch.Tensor | None) -> torch.Tensor | None:
    return None if mu is None else kl_standard_normal(mu, logvar)


def up_conv(cin: int, cout: int) -> nn.Sequential:
    """Nearest 2× upsampling → 3×3 conv → BN → ReLU (StackGAN's upBlock): (N, cin, H, W) → (N, cout, 2H, 2W)."""
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(cin, cout, 3, 1, 1, bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU())


def split_latent(z: torch.Tensor, sizes: list[int]) -> list[torch.Tensor | None]:
    """(N, Σ sizes) → chunks; a size 0 gives None (no ε without CA)."""
    if z.ndim != 2 or z.shape[1] != sum(sizes):
        raise ValueError(f"expected latents (N, {sum(sizes)}), got {tuple(z.shape)}")
    return [c if s else None for c, s in zip(z.split(sizes, dim=1), sizes)]


class Stage1Generator(nn.Module):
    """G₀: latents (N, z_dim [+ cond_dim]) and tokens (N, L) → (images (N, C, s, s) in [−1, 1], μ, log σ²).

    Holds the caption embedding (``caption``: φ_t) and the CA layer (``ca``).
    """

    def __init__(self, cfg: Stage1Config):
        super().__init__()
        c, s = cfg.image_shape[0], cfg.stage1_size
        levels = num_doublings(s)
        widths = [cfg.ngf * 2 ** (levels - i) for i in range(levels + 1)]  # 4×4 … s×s
        self.caption = CaptionEmbedding(cfg.num_classes, cfg.text_dim, c, s, cfg.embed_width)
        self.ca = ConditioningAugmentation(cfg.text_dim, cfg.cond_dim, cfg.conditioning_augmentation)
        self.trunk = nn.Sequential(
            nn.Linear(cfg.z_dim + cfg.cond_dim, widths[0] * 16, bias=False), nn.BatchNorm1d(widths[0] * 16), nn.ReLU(),
            nn.Unflatten(1, (widths[0], 4, 4)),
            *[up_conv(widths[i], widths[i + 1]) for i in range(levels)],
            nn.Conv2d(widths[-1], c, 3, 1, 1), nn.Tanh())
        self.sizes = [cfg.z_dim, cfg.cond_dim * cfg.conditioning_augmentation]

    def forward(self, latent: torch.Tensor, tokens: torch.Tensor, phi: torch.Tensor | None = None):
        """``phi``: φ_t of ``tokens`` when the caller has it (it is frozen whenever G₀ runs)."""
        z, eps = split_latent(latent, self.sizes)
        if phi is None:
            with torch.no_grad():
                phi = self.caption.embed(tokens)
        c_hat, mu, logvar = self.ca(phi, eps)
        return self.trunk(torch.cat([c_hat, z], 1)), mu, logvar


class MatchingDiscriminator(nn.Module):
    """D(x, φ_t): images (N, C, S, S) in [−1, 1] and φ_t (N, text_dim) → logits (N,) (Sec. 3.2–3.3)."""

    def __init__(self, channels: int, size: int, ndf: int, text_dim: int, d_cond_dim: int):
        super().__init__()
        levels = num_doublings(size)
        widths = [ndf * 2 ** i for i in range(levels)]
        self.encode = nn.Sequential(nn.Conv2d(channels, ndf, 4, 2, 1), nn.LeakyReLU(0.2),
                                    *[down_block(widths[i - 1], widths[i]) for i in range(1, levels)])
        self.compress = nn.Sequential(nn.Linear(text_dim, d_cond_dim), nn.LeakyReLU(0.2))
        self.logit = nn.Sequential(nn.Conv2d(widths[-1] + d_cond_dim, widths[-1], 1, bias=False),
                                   nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(0.2), nn.Conv2d(widths[-1], 1, 4))
        self.shape = (channels, size, size)

    def forward(self, x: torch.Tensor, phi: torch.Tensor) -> torch.Tensor:
        if tuple(x.shape[1:]) != self.shape:
            raise ValueError(f"discriminator expects (N, {', '.join(map(str, self.shape))}), got {tuple(x.shape)}")
        h = self.encode(x)
        c = self.compress(phi)[:, :, None, None].expand(-1, -1, 4, 4)
        return self.logit(torch.cat([h, c], 1)).flatten()


class StackGANModel(GenerativeModel):
    """What both stages share: the matching-aware game on ``self.generator`` (→ (image, μ, log σ²) at
    ``d_size``) and ``self.discriminator``, conditioned on φ_t of the caption encoder ``caption``."""

    condition = "tokens"
    caption: CaptionEmbedding
    d_size: int

    def reset_parameters(self) -> None:
        super().reset_parameters()
        caption = {id(m) for m in self.caption.modules()}  # keeps PyTorch's init (GRU, embeddings)
        for m in self.modules():
            if id(m) not in caption:
                dcgan_init_(m)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """(N, latent_dim) and tokens (N, L) → (N, C, H, W) in [−1, 1] at the data size."""
        img = self.generator(z, labels)[0]
        if img.shape[-1] != self.image_shape[-1]:
            img = F.interpolate(img, size=self.image_shape[1:], mode="bilinear", align_corners=False)
        return img

    def gan_loss(self, phase: str, batch, generator: torch.Generator | None):
        x, tokens = batch
        if x.shape[-1] != self.d_size:
            x = F.avg_pool2d(x, x.shape[-1] // self.d_size)
        with torch.no_grad():  # φ_t is frozen in the GAN phases
            phi = self.caption.embed(tokens)
        z = randn((x.shape[0], self.latent_dim), generator, x.device)
        if phase == "d":
            with torch.no_grad():
                fake = self.generator(z, tokens, phi)[0]
            # φ_t is per caption, so the mismatched captions' embeddings are φ_t's rows shifted alike
            logits = {"real_right": self.discriminator(x, phi), "real_wrong": self.discriminator(x, mismatched(phi)),
                      "fake_right": self.discriminator(fake, phi)}
            return matching_aware_d_loss(**logits), {k: v.detach().mean() for k, v in logits.items()}
        if phase == "g":
            fake, mu, logvar = self.generator(z, tokens, phi)
            loss = adversarial = F.softplus(-self.discriminator(fake, phi).float()).mean()
            kl = kl_term(mu, logvar)
            logs = {"adversarial": adversarial.detach()}
            if kl is not None:
                loss, logs["kl"] = loss + self.config.kl_weight * kl, kl.detach()
            return loss, logs
        raise ValueError(f"{type(self).__name__} has phases {[p.name for p in self.phases(self.config.train)]}, "
                         f"not {phase!r}")


class Stage1(StackGANModel):
    """StackGAN Stage-I; phases "text" (steps < text_steps), then "d" and "g"."""

    def __init__(self, config: Stage1Config):
        super().__init__()
        self.config, self.image_shape = config, tuple(config.image_shape)
        self.num_classes, self.latent_dim, self.d_size = config.num_classes, config.latent_dim, config.stage1_size
        self.generator = Stage1Generator(config)
        self.discriminator = MatchingDiscriminator(config.image_shape[0], config.stage1_size, config.ndf,
                                                   config.text_dim, config.d_cond_dim)
        self.reset_parameters()

    @property
    def caption(self) -> CaptionEmbedding:
        return self.generator.caption

    def phases(self, train: TrainConfig) -> list[Phase]:
        start = self.config.text_steps
        g = self.generator
        decay = halving(self.config.lr_decay_every)
        return [Phase("text", (g.caption,), train.lr, train.betas, stop=start),
                Phase("d", (self.discriminator,), train.lr, train.betas, updates=train.k_d_steps, start=start,
                      lr_schedule=decay),
                Phase("g", (g.ca, g.trunk), train.lr, train.betas, start=start, lr_schedule=decay)]

    def loss(self, phase, batch, generator):
        if phase == "text":
            x, tokens = batch
            x = F.avg_pool2d(x, self.config.stage1_factor) if self.config.stage1_factor > 1 else x
            return self.caption.pretrain_loss(x, tokens), {}
        return self.gan_loss(phase, batch, generator)


def adam(steps: int, batch_size: int, **kw) -> TrainConfig:
    """The paper's optimizer settings (Sec. 4): Adam, lr 2e-4, β1 = 0.5."""
    return TrainConfig(steps=steps, batch_size=batch_size, lr=2e-4, betas=(0.5, 0.999), **kw)


def halving(every: int):
    """lr × ½ every ``every`` iterations ("decayed to 1/2 of its previous value every 100 epochs",
    Sec. 4); None (constant) for 0."""
    return (lambda step: 0.5 ** (step // every)) if every else None


# Costs measured on one CPU thread (OMP_NUM_THREADS=1, CPU time of the process on a shared core),
# 3×64×64 data, batch 32: a "text" iteration 0.11 s, a GAN iteration (D + G at 32×32) 0.17 s, so quick
# is 150 × 0.11 + 750 × 0.17 ≈ 140 s ≈ 2.3 core-minutes. Full: 600 epochs of the 20k scenes images
# at batch 64 (the paper's 600 epochs, batch 64, lr halved every 100 epochs).
# No sample grids (sample_every 0): the conditional suite draws the figures.
STAGE1_PRESETS = {
    "smoke": dict(stage1_factor=2, z_dim=8, cond_dim=4, text_dim=8, ngf=4, ndf=4, d_cond_dim=4, embed_width=4,
                  text_steps=2, train=adam(5, 8, log_every=1, checkpoint_every=2)),
    "quick": dict(stage1_factor=2, z_dim=32, cond_dim=16, text_dim=64, ngf=8, ndf=16, d_cond_dim=16, embed_width=16,
                  text_steps=150, train=adam(900, 32, log_every=10, checkpoint_every=150)),
    "full": dict(stage1_factor=4, text_steps=5000, lr_decay_every=31_250,
                 train=adam(187_500, 64, log_every=100, checkpoint_every=5000)),
}


def make_stage1_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None
                       ) -> Stage1Config:
    """The ``stackgan1`` config for a preset, the data shape and the caption vocabulary size."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=True)
    return Stage1Config(image_shape=shape, num_classes=num_classes, **STAGE1_PRESETS[preset])


def build_stage1(config: Stage1Config) -> Stage1:
    return Stage1(config)


STAGE1_SPEC = ModelSpec(
    name="stackgan1", family="cgan", conditional=True, condition="tokens", make_config=make_stage1_config,
    build=build_stage1, presets=STAGE1_PRESETS,
    description="Zhang et al. 2017, StackGAN Stage-I: caption → low-resolution image with conditioning "
                "augmentation and a matching-aware D (upsampled bilinearly to the data size)",
)
