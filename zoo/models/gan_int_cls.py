"""`gan-int-cls`: text-to-image GAN with a matching-aware discriminator and interpolated captions.

Reed, Akata, Yan, Logeswaran, Schiele & Lee 2016, "Generative Adversarial Text
to Image Synthesis". G and D are DCGANs (:mod:`zoo.layers.conv`) conditioned on a
text embedding φ(t) of the caption t (Sec. 4, Fig. 2):

* G: φ(t) → FC → LeakyReLU(0.2) to a 128-d code, concatenated to z ~ N(0, I)
  (100-d) → DCGAN transposed-conv stack → tanh, x̂ = G(z, φ(t)) ∈ [-1, 1];
* D: DCGAN conv stack down to 4×4 → depth concatenation of D's own compressed
  φ(t) replicated 4×4 → 1×1 conv (BN, LeakyReLU) → 4×4 conv → logit of "real
  image that matches the text".

GAN-CLS (Sec. 4.2, Algorithm 1), with h = φ(t), ĥ = φ(t̂) of a wrong caption
(:func:`zoo.layers.text.mismatched`) and D's scores s = σ(logit):

    s_r = D(x, h),  s_w = D(x, ĥ),  s_f = D(G(z, h), h)
    L_D = log(s_r) + (log(1 − s_w) + log(1 − s_f)) / 2      (ascended by D)
    L_G = log(s_f)                                           (ascended by G)

minimized here as softplus terms of the logits (:mod:`zoo.losses.gan`): the
wrong-text term teaches D to reject real images with captions they do not match
(``cls``; off → the plain conditional GAN loss log s_r + log(1 − s_f)).
GAN-INT (Sec. 4.3, Eq. 5): G is also scored on interpolated embeddings,
h_int = β·h1 + (1 − β)·h2 with β = 0.5 and h2 the embedding of another caption
of the minibatch, adding  E_{t1,t2}[log D(G(z, h_int), h_int)]  (non-saturating
form) to L_G (``interpolation``). D never sees h_int: it has no real pair for it.

φ(t) is a :class:`zoo.layers.text.CaptionEmbedding` held inside G
(``generator.caption``): the trainer's phase "text" pre-trains it with its
matching loss on the training (image, caption) pairs for the first
``text_steps`` iterations; phases "d" and "g" run from ``text_steps`` on, with
the encoder frozen (no GAN phase lists it; φ(t) is computed without autograd).

Conditions: captions as int64 (N, L) token ids in 0..vocab−1, left-aligned and
0-padded, any L (``labels`` in ``train``, ``sample``, ``generate``). Images:
(N, C, H, W), H = W = 4·2^L (64 in the paper, 32 also works), in [-1, 1].

Deviations from the paper:

1. φ(t) is a word-level bidirectional GRU (captions come from a small closed
   grammar), not the char-CNN-RNN; it is trained by the symmetric contrastive
   matching loss against a small conv image embedder, not by the structured
   joint-embedding loss against GoogLeNet features (:mod:`zoo.layers.text`).
2. The encoder is pre-trained inside the run (phase "text", on the same
   training split and minibatches), not separately on another data set.
3. φ(t) is ``text_dim``-d (1024 in the paper, less at quick); the compressed
   code ``compressed_dim``.
4. Networks as in Sec. 4 on the zoo's DCGAN trunks; details only in the
   authors' code (extra 3×3 layers, BN on D's text projection) are left out.
   N(0, 0.02) init for G and D; PyTorch's default for the caption encoder.
5. ĥ of a row is another row's caption (the cyclic shift of
   :func:`zoo.layers.text.mismatched`), not a random one, and INT's h2 is that
   same ĥ; the INT term draws its own z and has weight 1.
6. The learning rate halves every ``lr_halve_every`` GAN iterations (the
   authors' code: every 100 epochs) only at the full preset.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import ConvDecoder, check_condition, dcgan_init_, down_block, num_doublings
from zoo.layers.text import CaptionEmbedding, matching_loss, mismatched
from zoo.losses.gan import d_loss_bce, g_loss_nonsaturating, matching_aware_d_loss
from zoo.models.base import GenerativeModel, ModelSpec, check_preset_args, randn
from zoo.train import Phase, TrainConfig


@dataclass(frozen=True)
class GANINTCLSConfig:
    """Hyper-parameters of GAN-INT-CLS.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L (64 in the paper).
        num_classes: vocabulary size V of the caption tokens (0 = padding).
        train: optimization settings (Adam lr 2e-4, β1 0.5, as in the paper).
        latent_dim: size of z (100).
        ngf, ndf: DCGAN widths of G's last / D's first layer (64 in the paper).
        text_dim: size of φ(t) (1024 in the paper).
        compressed_dim: size of the FC + LeakyReLU code of φ(t) in G and D (128).
        text_width: channels of the image embedder's first layer (pre-training only).
        text_steps: iterations of the matching-loss pre-training ("text" phase),
            before the GAN phases start.
        text_lr: Adam learning rate of the pre-training (β = (0.9, 0.999)).
        cls: the matching-aware wrong-text term of D (GAN-CLS).
        interpolation: G's term on interpolated embeddings (GAN-INT).
        beta: the interpolation weight β of h1 (0.5 in the paper).
        lr_halve_every: halve the GAN learning rate every this many GAN
            iterations (0 = constant).
    """

    image_shape: tuple[int, int, int]
    num_classes: int
    train: TrainConfig
    latent_dim: int = 100
    ngf: int = 64
    ndf: int = 64
    text_dim: int = 1024
    compressed_dim: int = 128
    text_width: int = 32
    text_steps: int = 2000
    text_lr: float = 1e-3
    cls: bool = True
    interpolation: bool = True
    beta: float = 0.5
    lr_halve_every: int = 0

    def __post_init__(self):
        num_doublings(self.image_shape[1])
        if self.num_classes < 2:
            raise ValueError(f"num_classes (the vocabulary size) must be ≥ 2, got {self.num_classes}")
        if self.text_steps < 0 or self.lr_halve_every < 0:
            raise ValueError(f"text_steps and lr_halve_every must be ≥ 0, got {self.text_steps}, "
                             f"{self.lr_halve_every}")
        if not 0.0 <= self.beta <= 1.0:
            raise ValueError(f"beta must be in [0, 1], got {self.beta}")


def text_code(text_dim: int, compressed_dim: int) -> nn.Sequential:
    """φ(t) (N, text_dim) → (N, compressed_dim): FC → LeakyReLU(0.2) (Sec. 4)."""
    return nn.Sequential(nn.Linear(text_dim, compressed_dim), nn.LeakyReLU(0.2))


class TextToImageGenerator(nn.Module):
    """(z (N, latent_dim), φ(t) (N, text_dim)) → images (N, C, H, W) in [-1, 1]; holds φ as ``caption``."""

    def __init__(self, config: GANINTCLSConfig):
        super().__init__()
        c, h, _ = config.image_shape
        self.caption = CaptionEmbedding(config.num_classes, config.text_dim, c, h, config.text_width)
        self.compress = text_code(config.text_dim, config.compressed_dim)
        self.trunk = ConvDecoder(config.latent_dim + config.compressed_dim, c, h, config.ngf, batch_norm=True)

    def forward(self, z: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.trunk(torch.cat([z, self.compress(emb)], dim=1)))


class MatchingDiscriminator(nn.Module):
    """(images (N, C, H, W), φ(t) (N, text_dim)) → logits (N,) of "real and matching"."""

    def __init__(self, config: GANINTCLSConfig):
        super().__init__()
        c, h, _ = config.image_shape
        widths = [config.ndf * 2 ** i for i in range(num_doublings(h))]
        self.features = nn.Sequential(  # ConvEncoder's layers without its last conv: (N, widths[-1], 4, 4)
            nn.Conv2d(c, widths[0], 4, 2, 1), nn.LeakyReLU(0.2),
            *[down_block(widths[i - 1], widths[i]) for i in range(1, len(widths))])
        self.compress = text_code(config.text_dim, config.compressed_dim)
        self.joint = nn.Sequential(
            nn.Conv2d(widths[-1] + config.compressed_dim, widths[-1], 1, bias=False),
            nn.BatchNorm2d(widths[-1]), nn.LeakyReLU(0.2),
            nn.Conv2d(widths[-1], 1, 4, 1, 0))

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        f = self.features(x)
        code = self.compress(emb)[:, :, None, None].expand(-1, -1, *f.shape[2:])  # replicated 4×4
        return self.joint(torch.cat([f, code], dim=1)).flatten()


def cls_d_loss(real: torch.Tensor, wrong: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """GAN-CLS discriminator loss (Algorithm 1), minimized, from logits (N,) of D(x, h), D(x, ĥ), D(x̂, h):
    E[−log s_r] + (E[−log(1 − s_w)] + E[−log(1 − s_f)]) / 2; ``wrong`` None → E[−log s_r] + E[−log(1 − s_f)]."""
    if wrong is None:
        return d_loss_bce(real, fake)
    return matching_aware_d_loss(real, wrong, fake)


class GANINTCLS(GenerativeModel):
    """The text-conditional GAN; ``labels`` everywhere are caption token ids int64 (N, L)."""

    condition = "tokens"

    def __init__(self, config: GANINTCLSConfig):
        super().__init__()
        self.config = config
        self.image_shape = tuple(config.image_shape)
        self.latent_dim = config.latent_dim
        self.num_classes = config.num_classes
        self.generator = TextToImageGenerator(config)
        self.discriminator = MatchingDiscriminator(config)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        for net in (self.generator.compress, self.generator.trunk, self.discriminator):
            net.apply(dcgan_init_)

    def phases(self, train: TrainConfig) -> list[Phase]:
        c, start = self.config, self.config.text_steps
        halve = (lambda step: 0.5 ** ((step - start) // c.lr_halve_every)) if c.lr_halve_every else None
        g = self.generator
        return [
            Phase("text", (g.caption,), c.text_lr, (0.9, 0.999), stop=start),
            Phase("d", (self.discriminator,), train.lr, train.betas, updates=train.k_d_steps, start=start,
                  lr_schedule=halve),
            Phase("g", (g.compress, g.trunk), train.lr, train.betas, start=start, lr_schedule=halve),
        ]

    def embed(self, tokens: torch.Tensor) -> torch.Tensor:
        """φ(t): caption token ids int64 (N, L) → (N, text_dim). Raises ValueError on bad tokens."""
        return self.generator.caption.embed(check_condition("tokens", tokens, self.num_classes))

    def generate_from_embedding(self, z: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        """G(z, emb): (N, latent_dim), (N, text_dim) → (N, C, H, W) in [-1, 1] (any embedding,
        e.g. interpolated ones)."""
        return self.generator(z, emb)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z, φ(t)) for captions ``labels`` int64 (N, L)."""
        if labels is None:
            raise ValueError("GAN-INT-CLS generates from captions: pass their token ids as labels")
        return self.generator(z, self.embed(labels))

    def loss(self, phase, batch, generator):
        x, tokens = batch
        caption = self.generator.caption
        if phase == "text":  # CaptionEmbedding.pretrain_loss, keeping the embeddings for the retrieval log
            image_emb, text_emb = caption.image(x), caption.text(tokens)
            loss = matching_loss(image_emb, text_emb, caption.temperature)
            with torch.no_grad():  # image → caption top-1 retrieval within the minibatch
                sim = F.normalize(image_emb, dim=1) @ F.normalize(text_emb, dim=1).T
                hits = (sim.argmax(1) == torch.arange(len(x), device=x.device)).float().mean()
            return loss, {"matching": loss.detach(), "retrieval": hits}
        if phase not in ("d", "g"):
            raise ValueError(f"{type(self).__name__} has phases 'text', 'd' and 'g', not {phase!r}")
        with torch.no_grad():  # the encoder is frozen after pre-training
            h = caption.embed(tokens)
        h_wrong = mismatched(h)  # φ is per caption, so φ(mismatched t) = mismatched φ(t)
        z = randn((x.shape[0], self.latent_dim), generator, x.device)
        d = self.discriminator
        if phase == "d":
            with torch.no_grad():
                fake = self.generator(z, h)
            real, fake = d(x, h), d(fake, h)
            wrong = d(x, h_wrong) if self.config.cls else None
            logs = {"s_r": torch.sigmoid(real.detach()).mean(), "s_f": torch.sigmoid(fake.detach()).mean()}
            if wrong is not None:
                logs["s_w"] = torch.sigmoid(wrong.detach()).mean()
            return cls_d_loss(real, wrong, fake), logs
        fake = d(self.generator(z, h), h)
        loss, logs = g_loss_nonsaturating(fake), {"s_f": torch.sigmoid(fake.detach()).mean()}
        if self.config.interpolation:
            h_int = self.config.beta * h + (1 - self.config.beta) * h_wrong
            z_int = randn((x.shape[0], self.latent_dim), generator, x.device)
            interp = d(self.generator(z_int, h_int), h_int)
            loss = loss + g_loss_nonsaturating(interp)
            logs["s_int"] = torch.sigmoid(interp.detach()).mean()
        return loss, logs


PRESETS = {  # no sample grids (sample_every 0): the suites draw the figures
    "smoke": dict(latent_dim=16, ngf=8, ndf=8, text_dim=16, compressed_dim=8, text_width=8, text_steps=2,
                  train=TrainConfig(steps=6, batch_size=8, log_every=1, checkpoint_every=2)),
    # quick: 0.15 s of one core per pre-training iteration, 0.57–0.61 s per GAN iteration (D 0.26, G 0.35 with
    # INT) at 3×64×64, batch 32, OMP_NUM_THREADS=1; the whole run on scenes measured 218 s ≈ 3.6 core-minutes
    # (in-batch caption retrieval ≈ 0.4 after pre-training; samples get the background the caption names)
    "quick": dict(latent_dim=64, ngf=16, ndf=16, text_dim=128, compressed_dim=32, text_width=16, text_steps=200,
                  train=TrainConfig(steps=200 + 330, batch_size=32, log_every=10, checkpoint_every=150)),
    # full: the paper's batch 64 for 600 epochs of a 20,000-image training split (scenes) after the
    # encoder's pre-training; lr halved every 100 epochs as in the authors' code
    "full": dict(latent_dim=100, ngf=64, ndf=64, text_dim=1024, compressed_dim=128, text_width=64,
                 text_steps=20_000, lr_halve_every=31_250,
                 train=TrainConfig(steps=20_000 + 187_500, batch_size=64, log_every=100, checkpoint_every=5000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> GANINTCLSConfig:
    """The ``gan-int-cls`` config for a preset (smoke | quick | full), data shape and vocabulary size."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=True)
    return GANINTCLSConfig(image_shape=shape, num_classes=num_classes, **PRESETS[preset])


def build(config: GANINTCLSConfig) -> GANINTCLS:
    return GANINTCLS(config)


SPEC = ModelSpec(
    name="gan-int-cls", family="cgan", conditional=True, condition="tokens", make_config=make_config, build=build,
    presets=PRESETS,
    description="Reed et al. 2016: text-to-image DCGAN on a pre-trained caption embedding, "
                "matching-aware D (CLS) and interpolated captions (INT)",
)
