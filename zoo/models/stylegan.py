"""`stylegan`: a style-based generator (StyleGAN1).

Karras, Laine & Aila 2019, "A Style-Based Generator Architecture for
Generative Adversarial Networks". Every tool is a config switch, on by default:

* mapping network f: z → w (Sec. 2): z normalized (pixel norm), then
  ``mapping_layers`` (8) equalized dense layers with LeakyReLU(0.2) and the
  learning-rate multiplier 0.01 (App. C), w ∈ R^w_dim;
* synthesis network g: a learned constant 4×4 input, then per resolution two
  3×3 convolutions (the first after a nearest 2× upsample), each followed by
  noise, bias, LeakyReLU and **AdaIN** (Eq. 1) — the StyleGAN1 operation, not
  StyleGAN2's modulated convolutions:
  AdaIN(x_i, y) = y_{s,i} · (x_i − μ(x_i)) / σ(x_i) + y_{b,i},
  with the style y = A(w) a learned affine map per layer (y_s = 1 + A_s(w));
  a linear 1×1 toRGB at the end. 2·(L + 1) layers, each taking its own w.
* noise inputs (Sec. 3.2) — ``noise_inputs``: per layer a single-channel
  N(0, 1) image, added to every channel with a learned per-channel scale B
  (initialized to 0);
* style mixing regularization (Sec. 3.1) — ``style_mixing``: with probability
  ``mixing_prob`` (0.9) a second z₂ is mapped and the w's of the layers from a
  crossover point, uniform in 1..layers−1, are w₂ (one point per minibatch);
* truncation in W (Sec. 4.1, Eq. 3) — ``truncation``: w' = w̄ + ψ(w − w̄), with
  w̄ the EMA (β = 0.995) of the mapped w's of G's training minibatches
  (the buffer ``generator.w_avg``); ψ is chosen at sampling time:
  ``sample(n, generator, psi=0.7)``, ``generate(z, psi=...)``;
* non-saturating loss with R1 (γ = 10) on reals (Sec. 5 / App. C) —
  ``r1_gamma``, applied lazily every ``r1_every`` = 16 D steps as the phase
  "r1" sharing D's optimizer, its loss multiplied by 16;
* EMA of G's weights (App. C) — ``train.ema_decay``.

D is ProGAN's (:mod:`zoo.models.progan`) at the full resolution, with the
minibatch stddev layer — ``minibatch_stddev``. ``mapping(z) → w`` and
``synthesis(ws) → images`` are exposed for perceptual path length in W and
for :func:`style_mixing_grid` (Fig. 3: coarse / middle / fine crossover).

Deviations from the paper:
* no progressive growing: G and D train at the data resolution from the
  first step (StyleGAN2's choice; StyleGAN1 grew like ProGAN);
* lazy R1 (StyleGAN2, Karras et al. 2020, Sec. 4) instead of R1 at every D
  step, without StyleGAN2's Adam-β/learning-rate adjustment for it
  (``r1_every=1`` gives StyleGAN1's every-step R1, on its own minibatch);
* no blur (binomial filter) after the upsampling and before D's downsampling;
* truncation applies to every layer (the paper's code: the first 8 layers);
  ``truncate(w, psi, cutoff)`` takes a cutoff;
* w̄ is updated in G's phase only (the authors' graph updates it whenever G runs);
* the smoke and quick presets use fewer mapping layers, channels and images; the
  quick preset ramps the EMA up (StyleGAN2's ``ema_rampup`` = 0.05).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers import EqualizedConv2d, EqualizedLinear, PixelNorm
from zoo.layers.equalized import LEAKY_SLOPE
from zoo.losses import r1_penalty
from zoo.models.base import ModelSpec, check_preset_args, evaluating, randn
from zoo.models.gan import GAN
from zoo.models.progan import ProDiscriminator, level_channels
from zoo.train import Phase, TrainConfig

# Fig. 3's style groups, by the resolutions whose layers take the second source's w.
CROSSOVERS = {"coarse": (4, 8), "middle": (16, 32), "fine": (64, 1024)}


@dataclass(frozen=True)
class StyleGANConfig:
    """Hyper-parameters of StyleGAN.

    Attributes:
        image_shape: (C, H, W), H = W = 4·2^L.
        train: optimization settings (paper: Adam lr 1e-3, β = (0, 0.99), EMA of G).
        latent_dim, w_dim: sizes of z and w (512).
        mapping_layers: dense layers of the mapping network (8).
        mapping_lr_mul: their learning-rate multiplier (0.01).
        fmap_base, fmap_max: channels per level, as ProGAN's.
        style_mixing, mixing_prob: style mixing regularization and its probability (0.9).
        noise_inputs: per-layer noise with learned per-channel scales.
        truncation: track w̄ so that ψ ≠ 1 is available at sampling time.
        w_avg_beta: EMA decay of w̄ (0.995).
        r1_gamma: R1 weight γ (10; 0 = no R1).
        r1_every: lazy R1 interval in D steps (16).
        minibatch_stddev, mbstd_group: D's stddev feature.
        loss: "non-saturating" (the paper's) or any of zoo.losses.GAN_LOSSES.
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    latent_dim: int = 512
    w_dim: int = 512
    mapping_layers: int = 8
    mapping_lr_mul: float = 0.01
    fmap_base: int = 8192
    fmap_max: int = 512
    style_mixing: bool = True
    mixing_prob: float = 0.9
    noise_inputs: bool = True
    truncation: bool = True
    w_avg_beta: float = 0.995
    r1_gamma: float = 10.0
    r1_every: int = 16
    minibatch_stddev: bool = True
    mbstd_group: int = 4
    loss: str = "non-saturating"

    def __post_init__(self):
        if self.mapping_layers < 1 or self.r1_every < 1:
            raise ValueError(f"mapping_layers and r1_every must be ≥ 1, got {self.mapping_layers}, {self.r1_every}")


class MappingNetwork(nn.Sequential):
    """z (N, latent_dim) → w (N, w_dim): pixel norm, then ``layers`` × (dense, LeakyReLU)."""

    def __init__(self, latent_dim: int, w_dim: int, layers: int, lr_mul: float):
        dims = [latent_dim] + [w_dim] * layers
        super().__init__(PixelNorm(), *[m for i in range(layers) for m in (
            EqualizedLinear(dims[i], dims[i + 1], lr_mul=lr_mul), nn.LeakyReLU(LEAKY_SLOPE))])


class StyleLayer(nn.Module):
    """[2× upsample] → [conv3×3] → + B·noise → + bias → LeakyReLU → AdaIN(·, A(w)).

    x (N, in, H, W), w (N, w_dim), noise (N, 1, H', W') or None → (N, out, H', W').
    ``in_channels`` 0 is the constant input's layer (no convolution).
    """

    def __init__(self, in_channels: int, out_channels: int, w_dim: int, upsample: bool, noise: bool):
        super().__init__()
        self.upsample = upsample
        self.conv = EqualizedConv2d(in_channels, out_channels, 3, bias=False) if in_channels else None
        self.noise_strength = nn.Parameter(torch.zeros(out_channels)) if noise else None
        self.bias = nn.Parameter(torch.zeros(out_channels))
        self.style = EqualizedLinear(w_dim, 2 * out_channels, gain=1.0)  # A: (y_s − 1, y_b), zero-mean at init

    def reset_parameters(self) -> None:  # this layer's own parameters; the trainer resets conv and style itself
        if self.noise_strength is not None:
            nn.init.zeros_(self.noise_strength)
        nn.init.zeros_(self.bias)

    def forward(self, x: torch.Tensor, w: torch.Tensor, noise: torch.Tensor | None) -> torch.Tensor:
        if self.upsample:
            x = F.interpolate(x, scale_factor=2, mode="nearest")
        if self.conv is not None:
            x = self.conv(x)
        if self.noise_strength is not None:
            x = x + self.noise_strength[None, :, None, None] * noise
        x = F.leaky_relu(x + self.bias[None, :, None, None], LEAKY_SLOPE)
        x = F.instance_norm(x, eps=1e-8)
        y_s, y_b = self.style(w)[:, :, None, None].chunk(2, dim=1)
        return x * (1 + y_s) + y_b


class SynthesisNetwork(nn.Module):
    """ws (N, num_layers, w_dim) → images (N, C, H, W), linear output.

    Layer i works at resolution 4·2^(i // 2); noise is drawn per layer as
    (N, 1, res, res) from ``generator`` unless given.
    """

    def __init__(self, out_channels: int, channels: list[int], w_dim: int, noise: bool):
        super().__init__()
        self.const = nn.Parameter(torch.ones(1, channels[0], 4, 4))
        layers = []
        for k, c in enumerate(channels):
            layers.append(StyleLayer(channels[k - 1] if k else 0, c, w_dim, upsample=k > 0, noise=noise))
            layers.append(StyleLayer(c, c, w_dim, upsample=False, noise=noise))
        self.layers = nn.ModuleList(layers)
        self.resolutions = [4 * 2 ** (i // 2) for i in range(len(layers))]
        self.to_rgb = EqualizedConv2d(channels[-1], out_channels, 1, gain=1.0)
        self.noise = noise

    def reset_parameters(self) -> None:
        nn.init.ones_(self.const)

    def forward(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None,
                generator: torch.Generator | None = None) -> torch.Tensor:
        n = ws.shape[0]
        x = self.const.expand(n, -1, -1, -1)
        for i, layer in enumerate(self.layers):
            nz = None
            if self.noise:
                res = self.resolutions[i]
                nz = noise[i] if noise is not None else randn((n, 1, res, res), generator, ws.device)
            x = layer(x, ws[:, i], nz)
        return self.to_rgb(x)


class StyleGenerator(nn.Module):
    """Mapping + synthesis + the tracked average w̄ (buffer ``w_avg``); what the EMA averages."""

    def __init__(self, config: StyleGANConfig):
        super().__init__()
        c, size, _ = config.image_shape
        channels = level_channels(size, config.fmap_base, config.fmap_max)
        self.mapping = MappingNetwork(config.latent_dim, config.w_dim, config.mapping_layers, config.mapping_lr_mul)
        self.synthesis = SynthesisNetwork(c, channels, config.w_dim, config.noise_inputs)
        self.num_layers = len(self.synthesis.layers)
        self.register_buffer("w_avg", torch.zeros(config.w_dim))

    def reset_parameters(self) -> None:
        self.w_avg.zero_()


def _uniform(generator: torch.Generator | None, device: torch.device) -> float:
    where = generator.device if generator is not None else device
    return float(torch.rand((), generator=generator, device=where))


class StyleGAN(GAN):
    """The GAN game with a style-based generator and ProGAN's discriminator; phases "d", ["r1"], "g"."""

    def __init__(self, config: StyleGANConfig):
        c, size, _ = config.image_shape
        channels = level_channels(size, config.fmap_base, config.fmap_max)
        super().__init__(config, StyleGenerator(config),
                         ProDiscriminator(c, channels, config.minibatch_stddev, config.mbstd_group, equalized=True))
        self.num_layers = self.generator.num_layers

    def phases(self, train: TrainConfig) -> list[Phase]:
        phases = super().phases(train)
        if self.config.r1_gamma > 0:  # after "d", stepping D's optimizer (and Adam state)
            phases.insert(1, Phase("r1", (self.discriminator,), train.lr, train.betas,
                                   every=self.config.r1_every, optimizer="d"))
        return phases

    # --- the public generator API ---------------------------------------------------------------
    def mapping(self, z: torch.Tensor) -> torch.Tensor:
        """f(z): (N, latent_dim) → w (N, w_dim)."""
        return self.generator.mapping(z)

    def truncate(self, w: torch.Tensor, psi: float = 1.0, cutoff: int | None = None) -> torch.Tensor:
        """w' = w̄ + ψ(w − w̄) (Eq. 3) for w (N, w_dim) or ws (N, num_layers, w_dim); with ws and
        ``cutoff``, only layers < cutoff are truncated. ψ = 1 returns w unchanged."""
        if psi == 1.0:
            return w
        if not self.config.truncation:
            raise ValueError("this StyleGAN was built with truncation=False (no tracked w̄): use psi=1")
        truncated = torch.lerp(self.generator.w_avg.to(w.dtype), w, psi)
        if cutoff is not None and w.ndim == 3:
            truncated = torch.cat([truncated[:, :cutoff], w[:, cutoff:]], dim=1)
        return truncated

    def synthesis(self, ws: torch.Tensor, noise: list[torch.Tensor] | None = None,
                  generator: torch.Generator | None = None) -> torch.Tensor:
        """g(ws): ws (N, w_dim) (one w for every layer) or (N, num_layers, w_dim) → (N, C, H, W) in [-1, 1].

        Noise per layer from ``noise`` (a list of (N, 1, res, res)) or drawn from ``generator``.
        """
        if ws.ndim == 2:
            ws = ws[:, None].expand(-1, self.num_layers, -1)
        return self.generator.synthesis(ws, noise, generator).clamp(-1.0, 1.0)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None, psi: float = 1.0,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        """g(truncate(f(z), ψ)): (N, latent_dim) → (N, C, H, W) in [-1, 1]; noise from ``generator``."""
        return self.synthesis(self.truncate(self.mapping(z), psi), generator=generator)

    def sample(self, n: int, generator: torch.Generator | None = None, labels: torch.Tensor | None = None,
               psi: float = 1.0) -> torch.Tensor:
        """n samples (n, C, H, W) in [-1, 1]; z and the noise inputs from ``generator``; ψ: truncation."""
        with evaluating(self):
            z = randn((n, self.latent_dim), generator, self.device)
            return self.generate(z, psi=psi, generator=generator).float()

    # --- training ------------------------------------------------------------------------------
    def _training_ws(self, n: int, device: torch.device, generator: torch.Generator | None,
                     track_average: bool = False) -> torch.Tensor:
        """ws (n, num_layers, w_dim) for training fakes, style-mixed with probability mixing_prob;
        ``track_average``: update w̄ with the batch mean of the (first) w's."""
        cfg = self.config
        w = self.mapping(randn((n, self.latent_dim), generator, device))
        ws = w[:, None].expand(-1, self.num_layers, -1)
        if cfg.style_mixing and _uniform(generator, device) < cfg.mixing_prob:
            w2 = self.mapping(randn((n, self.latent_dim), generator, device))
            cut = 1 + int(_uniform(generator, device) * (self.num_layers - 1))  # uniform in 1..layers−1
            ws = torch.cat([ws[:, :cut], w2[:, None].expand(-1, self.num_layers - cut, -1)], dim=1)
        if cfg.truncation and track_average:
            with torch.no_grad():
                self.generator.w_avg.lerp_(w.detach().float().mean(0), 1.0 - cfg.w_avg_beta)
        return ws

    def loss(self, phase, batch, generator):
        x, _ = batch
        if phase == "d":
            with torch.no_grad():
                fake = self.generator.synthesis(self._training_ws(x.shape[0], x.device, generator), None, generator)
            real_logits, fake_logits = self.discriminator(x), self.discriminator(fake)
            logs = {"real_logit": real_logits.detach().mean(), "fake_logit": fake_logits.detach().mean()}
            return self.d_loss(real_logits, fake_logits), logs
        if phase == "r1":
            x = x.detach().requires_grad_(True)
            penalty = r1_penalty(self.discriminator(x), x)
            # ×r1_every: the lazy penalty stands for r1_every per-step penalties (Karras et al. 2020, Sec. 4)
            return 0.5 * self.config.r1_gamma * self.config.r1_every * penalty, {"r1": penalty.detach()}
        if phase == "g":
            ws = self._training_ws(x.shape[0], x.device, generator, track_average=True)
            fake = self.generator.synthesis(ws, None, generator)
            return self.g_loss(self.discriminator(fake)), {}
        raise ValueError(f"StyleGAN has phases 'd', 'r1' and 'g', not {phase!r}")


def style_mixing_grid(model: StyleGAN, rows: int, cols: int, crossover: str | tuple[int, int] = "coarse",
                      generator: torch.Generator | None = None, psi: float = 1.0) -> torch.Tensor:
    """Fig. 3: images of source A (rows) with the styles of source B (columns) in some layers.

    Args:
        model: a StyleGAN.
        rows, cols: numbers of A and B sources.
        crossover: "coarse" (B's w at 4²–8²), "middle" (16²–32²), "fine" (64² and up), or
            (start, stop) layer indices taking B's w.
        generator: for z_A, z_B and the noise (the same noise for every image).
        psi: truncation of both sources' w.

    Returns:
        float ((rows + 1)·(cols + 1), C, H, W) in [-1, 1], row-major, nrow = cols + 1: the first row
        is a white corner then the B images, each next row A_i then its mixes with B_1..B_cols.
    """
    layers = model.generator.synthesis.resolutions
    if isinstance(crossover, str):
        if crossover not in CROSSOVERS:
            raise ValueError(f"crossover must be one of {', '.join(CROSSOVERS)} or (start, stop), got {crossover!r}")
        lo, hi = CROSSOVERS[crossover]
        chosen = [i for i, r in enumerate(layers) if lo <= r <= hi]
        if not chosen:
            raise ValueError(f"no {crossover} layers ({lo}²–{hi}²) at {layers[-1]}×{layers[-1]}: pass (start, stop)")
        start, stop = chosen[0], chosen[-1] + 1
    else:
        start, stop = crossover
    with evaluating(model):
        device = model.device
        w_a = model.truncate(model.mapping(randn((rows, model.latent_dim), generator, device)), psi)
        w_b = model.truncate(model.mapping(randn((cols, model.latent_dim), generator, device)), psi)
        noise = [randn((1, 1, r, r), generator, device) for r in layers]
        ws_a = w_a[:, None, None].expand(-1, cols, model.num_layers, -1).clone()  # (rows, cols, layers, w_dim)
        ws_a[:, :, start:stop] = w_b[None, :, None]

        def render(ws):
            return model.synthesis(ws, [nz.expand(ws.shape[0], -1, -1, -1) for nz in noise]).float()

        top = torch.cat([torch.ones(1, *model.image_shape, device=device), render(w_b)])
        mixed = render(ws_a.flatten(0, 1)).unflatten(0, (rows, cols))
        body = torch.cat([render(w_a)[:, None], mixed], dim=1).flatten(0, 1)
        return torch.cat([top, body])


PRESETS = {
    "smoke": dict(latent_dim=16, w_dim=16, mapping_layers=2, fmap_base=64, fmap_max=16, r1_every=4,
                  train=TrainConfig(steps=4, batch_size=8, lr=1e-3, betas=(0.0, 0.99), ema_decay=0.999,
                                    log_every=1, checkpoint_every=2)),
    # quick: channels 64, 64, 32, 16, 8 at 4²..64²; one core per iteration (D + G, batch 16), measured at
    # 3×64×64: 0.62 s, plus 0.29 s per lazy R1, so ≈ 4.5 core-minutes (≈ 3 at 32×32). The EMA ramps up
    # (half-life ≤ 5 % of the images seen): a constant 0.999 over 400 steps keeps 67 % of the initial weights.
    "quick": dict(latent_dim=64, w_dim=64, mapping_layers=4, fmap_base=256, fmap_max=64,
                  train=TrainConfig(steps=400, batch_size=16, lr=1e-3, betas=(0.0, 0.99), ema_decay=0.999,
                                    ema_rampup=0.05, log_every=20, checkpoint_every=100, sample_every=100)),
    # full: 25M images (the paper's FFHQ schedule) at batch 32; EMA half-life 10k images (G_smoothing_kimg).
    "full": dict(latent_dim=512, w_dim=512, mapping_layers=8, fmap_base=8192, fmap_max=512,
                 train=TrainConfig(steps=780_000, batch_size=32, lr=1e-3, betas=(0.0, 0.99), ema_decay=0.9978,
                                   log_every=100, checkpoint_every=5000, sample_every=10_000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> StyleGANConfig:
    """The ``stylegan`` config for a preset (smoke | quick | full) and data shape."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    return StyleGANConfig(image_shape=shape, **PRESETS[preset])


def build(config: StyleGANConfig) -> StyleGAN:
    return StyleGAN(config)


SPEC = ModelSpec(
    name="stylegan", family="gan", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    description="Karras et al. 2019: mapping network, constant input, AdaIN, noise inputs, style mixing, "
                "truncation in W, non-saturating loss + lazy R1, EMA of G",
)
