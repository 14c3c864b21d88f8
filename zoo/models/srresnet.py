"""`srresnet`: the residual super-resolution network of SRGAN, trained on MSE.

Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network", Sec. 2.2 and Fig. 4 (generator). For ×4:

    LR (N, 3, h, w)
    → conv 9×9, 64 → PReLU ─────────────────────────────┐ (long skip)
    → B residual blocks (conv 3×3, BN, PReLU, conv 3×3, BN, + input)
    → conv 3×3, 64 → BN → + ──────────────────────────────┘
    → 2 × [conv 3×3, 256 → PixelShuffle ×2 → PReLU]      (Shi et al. 2016)
    → conv 9×9, 3                                          SR (N, 3, 4h, 4w)

with B = 16 and 64 channels. SRResNet is this network trained on the pixel
MSE (Eq. 4: l_MSE = 1/(r²WH) Σ (I_HR − G(I_LR))²) with Adam, lr 1e-4, 10⁶
updates, minibatches of 16 random 96×96 HR patches (Sec. 3.2). SRGAN
(:mod:`zoo.models.srgan`) starts from the trained SRResNet.

Training pairs: the trainer hands the model HR patches only, so the model
makes each LR patch itself (:func:`bicubic_downsample`: antialiased bicubic,
Keys a = −0.5, as MATLAB's ``imresize``, then quantized to 8-bit levels as a
saved LR image would be). Away from the outer 2 LR pixels this is exactly
MATLAB's ``imresize`` in double precision (``gbench.transforms.resize.imresize_float``; the
tests check it); MATLAB on uint8 also rounds between its two 1-D passes,
which moves ~10 % of LR pixels by one gray level.

Deviations from the paper: LR inputs are in [-1, 1] like HR (the paper
scales LR to [0, 1]; an affine change the first convolution absorbs), and
the output is linear (clipped when converted to uint8). The ``smoke`` and
``quick`` presets shrink the network and training (see ``PRESETS``).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.layers.residual import ResidualBlock
from zoo.layers.upsample import upsampler
from zoo.models.base import GenerativeModel, ModelSpec, check_preset_args, evaluating
from zoo.train import Phase, TrainConfig

PIXEL_LOSSES = ("mse", "l1")


def bicubic_downsample(hr: torch.Tensor, scale: int) -> torch.Tensor:
    """The ×1/scale LR image of an HR batch, as an SR dataset stores it.

    Antialiased bicubic resampling (PyTorch's ``antialias=True`` uses Keys'
    kernel with a = −0.5 stretched by ``scale`` and pixel-centre alignment,
    like MATLAB's ``imresize``), then quantized to the 256 levels of a uint8
    image.

    Args:
        hr: float (N, C, H, W) in [-1, 1], H and W multiples of ``scale``.
        scale: integer factor ≥ 2.

    Returns:
        float (N, C, H/scale, W/scale) in [-1, 1], on 8-bit levels.
    """
    n, c, h, w = hr.shape
    if h % scale or w % scale:
        raise ValueError(f"HR size {h}×{w} is not a multiple of scale {scale}: mod-crop the HR images first")
    lr = F.interpolate(hr.float(), size=(h // scale, w // scale), mode="bicubic", antialias=True,
                       align_corners=False)
    return ((lr + 1.0) * 127.5).round().clamp(0, 255) / 127.5 - 1.0


@dataclass(frozen=True)
class SRResNetConfig:
    """Hyper-parameters of SRResNet.

    Attributes:
        image_shape: (C, P, P) of the HR training patches; P a multiple of
            ``scale`` (96 in the paper).
        train: optimization settings (Adam lr 1e-4, β = (0.9, 0.999) in the paper).
        scale: upscaling factor, a power of two (4).
        num_blocks: residual blocks B (16).
        channels: feature channels (64).
        batch_norm: BN in the residual trunk (the paper: yes).
        loss: pixel loss, "mse" (the paper) or "l1".
        lr_decay_step: iteration from which the learning rate is divided by
            10 (a new phase "g_late" with its own Adam state); None = never
            (the paper trains SRResNet at a constant 1e-4).
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    scale: int = 4
    num_blocks: int = 16
    channels: int = 64
    batch_norm: bool = True
    loss: str = "mse"
    lr_decay_step: int | None = None

    def __post_init__(self):
        if self.loss not in PIXEL_LOSSES:
            raise ValueError(f"loss must be one of {PIXEL_LOSSES}, got {self.loss!r}")
        if self.scale < 2 or self.scale & (self.scale - 1):
            raise ValueError(f"scale must be a power of two ≥ 2, got {self.scale}")
        if self.image_shape[1] % self.scale or self.image_shape[2] % self.scale:
            raise ValueError(f"HR patch size {self.image_shape[1:]} must be a multiple of scale {self.scale}")
        if self.num_blocks < 1 or self.channels < 1:
            raise ValueError(f"need num_blocks ≥ 1 and channels ≥ 1, got {self.num_blocks}, {self.channels}")
        if self.lr_decay_step is not None and self.lr_decay_step < 1:
            raise ValueError(f"lr_decay_step must be ≥ 1 or None, got {self.lr_decay_step}")


class SRResNetGenerator(nn.Module):
    """The SRResNet / SRGAN generator of Fig. 4 (see the module docstring).

    Args:
        image_channels: C of LR and SR images (3).
        scale: power of two; log2(scale) sub-pixel ×2 blocks.
        num_blocks: residual blocks B.
        channels: feature channels.
        batch_norm: BN after every trunk convolution (the paper: yes).

    Shapes: LR (N, C, h, w) in [-1, 1] → SR (N, C, scale·h, scale·w), linear
    output (nominally [-1, 1]).
    """

    def __init__(self, image_channels: int = 3, scale: int = 4, num_blocks: int = 16, channels: int = 64,
                 batch_norm: bool = True):
        super().__init__()
        self.head = nn.Sequential(nn.Conv2d(image_channels, channels, 9, padding=4), nn.PReLU(channels))
        self.blocks = nn.Sequential(*[ResidualBlock(channels, batch_norm=batch_norm) for _ in range(num_blocks)])
        # conv + BN closing the residual trunk, before the long skip (a bias before BN would be cancelled)
        self.trunk_out = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1, bias=not batch_norm),
                                       nn.BatchNorm2d(channels) if batch_norm else nn.Identity())
        self.upsample = upsampler(channels, scale)
        self.tail = nn.Conv2d(channels, image_channels, 9, padding=4)
        self.image_channels, self.scale = image_channels, scale

    def forward(self, lr: torch.Tensor) -> torch.Tensor:
        if lr.ndim != 4 or lr.shape[1] != self.image_channels:
            raise ValueError(f"SRResNet expects LR images (N, {self.image_channels}, h, w), got {tuple(lr.shape)}")
        h = self.head(lr)
        h = h + self.trunk_out(self.blocks(h))
        return self.tail(self.upsample(h))


def pixel_loss(kind: str, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
    """Mean squared (Eq. 4) or absolute error over every pixel, on the [-1, 1] scale."""
    if kind == "mse":
        return F.mse_loss(sr.float(), hr.float())
    if kind == "l1":
        return F.l1_loss(sr.float(), hr.float())
    raise ValueError(f"unknown pixel loss {kind!r}: choose one of {PIXEL_LOSSES}")


def psnr_from_mse(mse: torch.Tensor) -> torch.Tensor:
    """PSNR (dB) of a mean squared error on the [-1, 1] scale (peak-to-peak 2)."""
    return 10.0 * torch.log10(4.0 / mse.clamp_min(1e-12))


class SRModel(GenerativeModel):
    """What SRResNet and SRGAN share: a ``generator`` that upscales LR images.

    An SR model is conditioned on a low-resolution image, not on noise:
    ``upscale(lr)`` is its sampler, and ``generate(lr)`` runs the generator
    with autograd. ``sample(n)`` (noise → images) does not apply.
    """

    channels_last_on_cpu = True  # the 9×9 conv to RGB at HR: one-thread quick step 23 % faster in NHWC (measured)

    generator: SRResNetGenerator
    scale: int

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(I_LR): ``z`` is the LR batch (N, C, h, w) in [-1, 1] → (N, C, scale·h, scale·w)."""
        return self.generator(z)

    def upscale(self, lr: torch.Tensor) -> torch.Tensor:
        """SR images, float32 (N, C, scale·h, scale·w), nominally [-1, 1] (not clipped),
        from LR float (N, C, h, w) in [-1, 1]; eval mode, no autograd, on the model's device."""
        with evaluating(self):
            return self.generator(lr.to(self.device)).float()

    def sample(self, n, generator=None, labels=None):
        raise TypeError(f"{type(self).__name__} is conditioned on a low-resolution image: "
                        "call upscale(lr) instead of sample(n)")


class SRResNet(SRModel):
    """SRResNet: the generator trained on a pixel loss. Phase "g" (then "g_late" at lr / 10)."""

    def __init__(self, config: SRResNetConfig):
        super().__init__()
        self.config = config
        self.image_shape = tuple(config.image_shape)
        self.scale = config.scale
        self.generator = SRResNetGenerator(config.image_shape[0], config.scale, config.num_blocks, config.channels,
                                           config.batch_norm)

    def phases(self, train: TrainConfig) -> list[Phase]:
        decay = self.config.lr_decay_step
        phases = [Phase("g", (self.generator,), train.lr, train.betas, stop=decay)]
        if decay is not None and decay < train.steps:
            phases.append(Phase("g_late", (self.generator,), train.lr * 0.1, train.betas, start=decay))
        return phases

    def loss(self, phase, batch, generator):
        if phase not in ("g", "g_late"):
            raise ValueError(f"SRResNet has phases 'g' and 'g_late', not {phase!r}")
        hr, _ = batch
        sr = self.generator(bicubic_downsample(hr, self.scale))
        loss = pixel_loss(self.config.loss, sr, hr)
        mse = F.mse_loss(sr.detach().float(), hr.float())
        return loss, {"psnr": psnr_from_mse(mse)}


# Paper (Sec. 3.2): 16 blocks × 64 channels with BN, 96×96 HR patches, batch
# 16, Adam(1e-4, β1 0.9), 10⁶ updates. The CPU presets deviate, measured on
# the `natural` photos (×4, PSNR-Y of the 3 test photos; bicubic 29.59 dB):
# a 6 × 32 network on 48×48 patches; no BN (with BN: 29.33 dB after 1,200
# steps, without: 29.74 dB — EDSR, Lim et al. 2017, later dropped BN from SR
# networks for the same reason); Adam lr 1e-3, divided by 10 for the last 400
# steps (lr 1e-4 is too slow for a few CPU minutes; L1 did worse than MSE in a
# 32² trial): 29.84 dB after 1,500 steps, ~4 CPU-minutes.
PRESETS = {
    "smoke": dict(patch=16, num_blocks=2, channels=8, batch_norm=False,
                  train=TrainConfig(steps=3, batch_size=4, lr=1e-3, betas=(0.9, 0.999), log_every=1,
                                    checkpoint_every=2)),
    "quick": dict(patch=48, num_blocks=6, channels=32, batch_norm=False, lr_decay_step=1100,
                  train=TrainConfig(steps=1500, batch_size=16, lr=1e-3, betas=(0.9, 0.999), log_every=25,
                                    checkpoint_every=250)),
    "full": dict(patch=96, num_blocks=16, channels=64, batch_norm=True,
                 train=TrainConfig(steps=1_000_000, batch_size=16, lr=1e-4, betas=(0.9, 0.999), log_every=500,
                                   checkpoint_every=10_000)),
}
PAPER = PRESETS["full"]


def patch_shape(preset: str, image_shape: tuple[int, int, int] | None = None) -> tuple[int, int, int]:
    """(C, P, P) of the HR training patches at a preset: P is the preset's ``patch``; C is
    ``image_shape``'s (3 when None). An ``image_shape`` of another size is an error."""
    check_preset_args(preset, (3, 1, 1), None, conditional=False)
    patch = PRESETS[preset]["patch"]
    c = 3 if image_shape is None else int(image_shape[0])
    if image_shape is not None and tuple(image_shape[1:]) != (patch, patch):
        raise ValueError(f"SR models train on the preset's {patch}×{patch} HR patches, got image_shape "
                         f"{tuple(image_shape)}: sample patches of patch_shape({preset!r})")
    return check_preset_args(preset, (c, patch, patch), None, conditional=False)


def make_config(preset: str, image_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
                scale: int = 4) -> SRResNetConfig:
    """The ``srresnet`` config for a preset (smoke | quick | full); HR patches are square (:func:`patch_shape`)."""
    settings = {k: v for k, v in PRESETS[preset].items() if k != "patch"} if preset in PRESETS else {}
    return SRResNetConfig(image_shape=patch_shape(preset, image_shape), scale=scale, **settings)


def build(config: SRResNetConfig) -> SRResNet:
    return SRResNet(config)


def count_parameters(module: nn.Module) -> int:
    """Number of scalar parameters (the model size tables report)."""
    return sum(p.numel() for p in module.parameters())


SPEC = ModelSpec(
    name="srresnet", family="sr", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    description="Ledig et al. 2017: ×4 residual SR network (sub-pixel upsampling) trained with the pixel MSE",
)
