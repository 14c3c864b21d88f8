"""`pixelcnn`: an autoregressive model of gray-level images with exact likelihoods.

van den Oord, Kalchbrenner & Kavukcuoglu 2016, "Pixel Recurrent Neural
Networks" (Sec. 3.5, PixelCNN), with the gated activation of van den Oord et
al. 2016, "Conditional Image Generation with PixelCNN Decoders" (Eq. 2).
The image density factorizes in raster order (Pixel RNN Eq. 1)

    p(x) = Π_{i=1}^{H·W} p(x_i | x_1, ..., x_{i−1}),

each factor a 256-way softmax over the pixel's 8-bit level (Sec. 5.3), or
with ``binarized=True`` a Bernoulli over the pixel thresholded at x01 > 0.5.
The network is a masked 7×7 convolution of type "A" (it cannot see the
current pixel), ``layers`` residual blocks of masked k×k convolutions of type
"B" (:mod:`zoo.layers.masked`), and two 1×1 ReLU layers to the logits, so the
logits at pixel i depend only on pixels before it and the product above is a
normalized distribution whose log is computed exactly in one pass.

:meth:`PixelCNN.nll` is −log p(x) in nats per image of the uint8 levels
round((x + 1)·127.5) (binarized: of the thresholded bits); :meth:`bits_per_dim`
divides by H·W·ln 2 with no dequantization term (a discrete likelihood).

Sampling runs the network H·W times in raster order, drawing each pixel from
its conditional with uniform noise from the caller's generator (inverse CDF).
Fast path: the logits at pixel (i, j) depend only on the inputs in rows
i − R … i and columns j − R … j + R, where R = first_kernel_size // 2 +
layers · (kernel_size // 2) is the network's receptive radius (every masked
k×k convolution reaches k // 2 rows up and k // 2 columns to each side, and
nothing below). So at (i, j) the network runs on that window only, clipped to
the image (where clipping meets the image border, the window's zero padding is
the network's own). Errors from zero padding at a window edge inside the image
reach at most R − 1 cells inward, so the window's cell (i, j) is the full
network's value, up to float rounding of convolutions on a smaller input
(about 1e-6; tested). At 32×32 with R = 7 a window has 8 × 15 cells instead of
the whole image's 1,024: about 8× less work per pixel than running on every
row, without caching any activation.

Deviations from the paper:

* Gray-level images only (C = 1); the R→G→B masking of colour channels
  (Pixel RNN Sec. 3.4) is left out and C ≠ 1 raises a ValueError.
* ``gated=True`` uses the gated activation tanh ⊙ σ inside residual blocks on
  a single stack of masked convolutions, not the vertical/horizontal two-stack
  design: the single stack keeps PixelCNN's blind spot (pixels above-right of
  the current one outside the masked receptive field).
  ``gated=False`` is the Pixel RNN residual block of Fig. 5 (ReLU).
* No class conditioning (the conditional PixelCNN's h-term of Eq. 4).
* Smaller networks at the smoke/quick presets; "full" follows the paper's
  15 layers, 128 channels, Adam lr 1e-3 (Pixel RNN Sec. 5.2 / Table 4) but
  not its batch size or schedule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers.masked import GatedResidualBlock, MaskedConv2d, ResidualBlock
from zoo.losses import bits_per_dim
from zoo.models.base import GenerativeModel, ModelSpec, check_preset_args, evaluating
from zoo.train import Phase, TrainConfig

LEVELS = 256


@dataclass(frozen=True)
class PixelCNNConfig:
    """Hyper-parameters of the PixelCNN.

    Attributes:
        image_shape: (1, H, W).
        train: optimization settings (Adam lr 1e-3, β = (0.9, 0.999)).
        channels: feature maps of every block.
        layers: residual blocks after the type-"A" first layer.
        kernel_size: odd size of the blocks' masked convolutions.
        first_kernel_size: odd size of the type-"A" first layer (7 in the paper).
        gated: gated tanh ⊙ σ blocks (True) or ReLU residual blocks (False).
        binarized: Bernoulli pixels on x01 > 0.5 (True) or 256-way softmax (False).
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    channels: int = 64
    layers: int = 7
    kernel_size: int = 3
    first_kernel_size: int = 7
    gated: bool = True
    binarized: bool = False

    def __post_init__(self):
        if self.image_shape[0] != 1:
            raise ValueError(f"pixelcnn models gray-level images only (C = 1; R→G→B masking is left out), "
                             f"got image_shape {tuple(self.image_shape)}")
        for name in ("kernel_size", "first_kernel_size"):
            k = getattr(self, name)
            if k < 1 or k % 2 == 0:
                raise ValueError(f"{name} must be odd and ≥ 1, got {k}")
        if self.channels < 1 or self.layers < 0:
            raise ValueError(f"channels must be ≥ 1 and layers ≥ 0, got {self.channels}, {self.layers}")


class PixelCNN(GenerativeModel):
    """See the module docstring. Shapes: x float (N, 1, H, W) in [-1, 1].
    ``latent_dim`` is 0: there is no latent code, ``sample`` draws pixels."""

    def __init__(self, config: PixelCNNConfig):
        super().__init__()
        self.config = config
        self.image_shape = tuple(config.image_shape)
        self.latent_dim = 0
        self.num_classes = None
        block = GatedResidualBlock if config.gated else ResidualBlock
        ch = config.channels
        self.net = nn.Sequential(
            MaskedConv2d(1, ch, config.first_kernel_size, "A"),
            *[block(ch, config.kernel_size) for _ in range(config.layers)],
            nn.ReLU(), nn.Conv2d(ch, ch, 1), nn.ReLU(),
            nn.Conv2d(ch, 1 if config.binarized else LEVELS, 1),
        )
        self.reset_parameters()

    def phases(self, train: TrainConfig) -> list[Phase]:
        return [Phase("nll", (self,), train.lr, train.betas)]

    # --- the model ------------------------------------------------------------------------------

    def targets(self, x: torch.Tensor) -> torch.Tensor:
        """The modelled values of x in [-1, 1]: int64 levels round((x + 1)·127.5) in 0..255,
        or with ``binarized`` float bits (x01 > 0.5, i.e. x > 0). (N, 1, H, W)."""
        if self.config.binarized:
            return (x > 0).float()
        return ((x.float() + 1.0) * 127.5).round().clamp(0, LEVELS - 1).long()

    def _inputs(self, x: torch.Tensor) -> torch.Tensor:
        # The network sees exactly what it models: binarized data as ±1.
        return self.targets(x) * 2.0 - 1.0 if self.config.binarized else x.float()

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """Per-pixel conditionals from x (N, 1, H, W) in [-1, 1]: float32 (N, 256, 1, H, W)
        (softmax over dim 1), or (N, 1, H, W) Bernoulli logits when binarized. The
        entry at pixel (i, j) depends on x only through pixels before (i, j)."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected x of shape (N, 1, H, W), got {tuple(x.shape)}")
        out = self.net(self._inputs(x)).float()
        return out if self.config.binarized else out.unsqueeze(2)

    def nll(self, x: torch.Tensor) -> torch.Tensor:
        """Exact −log p(x) in nats per image (N,), float32, of the discretized pixels (``targets``)."""
        return self._nll(self.logits(x), self.targets(x))

    def _nll(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        if self.config.binarized:
            per_pixel = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
        else:
            per_pixel = F.cross_entropy(logits, target, reduction="none")
        return per_pixel.flatten(1).sum(1)

    def bits_per_dim(self, nll: torch.Tensor) -> torch.Tensor:
        """NLL in bits/dim (float64) from ``nll`` (nats per image): nll / (H·W·ln 2)."""
        return bits_per_dim(-nll, math.prod(self.image_shape))

    def loss(self, phase, batch, generator):
        """Phase "nll": mean −log p(x) / (H·W), nats per dimension."""
        x, _ = batch
        nll = self.nll(x)
        dims = math.prod(self.image_shape)
        return nll.mean() / dims, {"bits_per_dim": (nll.mean() / (dims * math.log(2.0))).detach()}

    # --- sampling -------------------------------------------------------------------------------

    @property
    def receptive_radius(self) -> int:
        """R: the logits at (i, j) read inputs in rows i − R … i and columns j − R … j + R only."""
        c = self.config
        return c.first_kernel_size // 2 + c.layers * (c.kernel_size // 2)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError("PixelCNN has no latent code: use sample(n, generator)")

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None, window: bool = True) -> torch.Tensor:
        """n samples drawn pixel by pixel in raster order: float32 (n, 1, H, W) in [-1, 1]
        (level/127.5 − 1; binarized: ±1), on the model's device. Uniform noise comes
        from ``generator`` on its own device (global RNG if None), so a seeded CPU
        generator gives the same draws on any model device. At pixel (i, j) the network
        runs on its receptive window only (see the module docstring); ``window=False`` runs
        it on the whole image for every pixel — the definition, for tests and benchmarks."""
        _, h, w = self.image_shape
        device = self.device
        where = generator.device if generator is not None else device
        r = self.receptive_radius if window else max(h, w)
        x = torch.zeros(n, 1, h, w, device=device)
        with evaluating(self):
            for i in range(h):
                top = max(0, i - r)
                for j in range(w):
                    left = max(0, j - r)
                    bottom = i + 1 if window else h
                    out = self.logits(x[:, :, top:bottom, left:min(w, j + r + 1)])[..., i - top, j - left]
                    u = torch.rand(n, generator=generator, device=where).to(device)
                    if self.config.binarized:
                        bit = (u < torch.sigmoid(out[:, 0])).float()
                        x[:, 0, i, j] = bit * 2.0 - 1.0
                    else:
                        cdf = torch.softmax(out[:, :, 0].double(), dim=1).cumsum(1)
                        level = torch.searchsorted(cdf, u.double().unsqueeze(1)).clamp(max=LEVELS - 1)
                        x[:, 0, i, j] = level.squeeze(1).float() / 127.5 - 1.0
        return x


# Costs measured on one core (OMP_NUM_THREADS=1), 1×32×32 digits; see the quick entry.
PRESETS = {
    "smoke": dict(channels=8, layers=2, first_kernel_size=3,
                  train=TrainConfig(steps=4, batch_size=8, lr=1e-3, betas=(0.9, 0.999), log_every=1,
                                    checkpoint_every=2)),
    # quick, digits 1×32×32 on one core (OMP_NUM_THREADS=1): 0.21 s per iteration (batch 16), 1000
    # iterations ≈ 210 s ≈ 3.5 core-minutes of training. Sampling on the receptive window (R = 7):
    # 64 images in 22 s, 256 in 110 s (on the top rows of the whole width it took 138 s for 64;
    # 32 channels × 5 layers took 1.0 s/iteration and 335 s to sample 64 that way).
    "quick": dict(channels=16, layers=4,
                  train=TrainConfig(steps=1000, batch_size=16, lr=1e-3, betas=(0.9, 0.999), log_every=25,
                                    checkpoint_every=200, sample_every=0)),
    "full": dict(channels=128, layers=15,
                 train=TrainConfig(steps=50_000, batch_size=64, lr=1e-3, betas=(0.9, 0.999), log_every=100,
                                   checkpoint_every=5000, sample_every=5000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> PixelCNNConfig:
    """``pixelcnn``: unconditional, gated blocks, 256-way softmax; ``num_classes`` is ignored."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    return PixelCNNConfig(image_shape=shape, **PRESETS[preset])


SPEC = ModelSpec(
    name="pixelcnn", family="autoregressive", conditional=False, make_config=make_config, build=PixelCNN,
    presets=PRESETS,
    description="PixelCNN (van den Oord et al. 2016): masked convolutions, gated blocks, exact 8-bit likelihood",
)
