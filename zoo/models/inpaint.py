"""`patch-inpaint`: patch-based image inpainting GAN (PGGAN).

Demir & Ünal 2018, "Patch-Based Image Inpainting with Generative Adversarial
Networks" (arXiv 1803.07422; the paper names its method PGGAN, not to be
confused with progressive growing). A generator G fills the holes of an image;
a discriminator whose early layers are shared splits into a global, image-level
head ("G-GAN": one logit per image) and a PatchGAN head (Isola et al. 2017: one
logit per overlapping patch), so G is pushed towards globally plausible content
and locally consistent texture. G minimizes

    L = λ1·L_rec + λ2·L_adv^global + λ3·L_adv^patch,      λ1 = 0.995, λ2 = λ3 = 0.0025

with L_rec the L1 distance between G's output and the original image, averaged
over the whole image (``l1_region="image"``; "hole" averages over the hole
pixels only, the Context-Encoder choice, for comparison), and the adversarial
terms the non-saturating GAN losses of the two heads (:mod:`zoo.losses.gan`),
the patch term averaged over patches. D minimizes the sum of the two heads'
binary cross-entropies. ``discriminator="global"`` is the paper's ablation:
no patch head, L = λ1·L_rec + λ2·L_adv^global.

Networks (shapes for images (C, S, S), S a multiple of 8, at least 32):

* G: input the masked image with holes zeroed plus the mask channel
  (N, C+1, S, S); conv 7×7 (``edge_kernel``) → two stride-2 convs (w, 2w, 4w channels) →
  residual blocks of two dilated 3×3 convs at S/4 (dilation rates
  ``dilations``; the receptive field grows with the rate, so the hole is
  filled from distant context) → two ×2 nearest-neighbour upsamplings each
  followed by a 3×3 conv (resize-convolution: no transposed-convolution
  checkerboard) → conv 7×7 (``edge_kernel``) → tanh. Batch norm and ReLU inside.
* D: shared trunk = three stride-2 4×4 convs (w, 2w, 4w; no norm on the
  first, batch norm after, LeakyReLU 0.2 — the first layers of pix2pix's
  PatchGAN); patch head = two stride-1 4×4 convs (8w, then 1): a map of
  logits, each seeing a 70-pixel-wide window at full size; global head =
  stride-2 4×4 convs down to at most 4×4, then a linear layer to one logit.
  D sees the completed image (G's output in the hole, the known pixels
  elsewhere), as ``complete`` returns it.

Training: Adam (lr 2e-4, β1 0.5), one D then one G update per iteration,
weights ~ N(0, 0.02). Holes are drawn inside ``loss`` from the trainer's noise
generator (so runs are seeded and resumable): per minibatch one mask kind from
``mask_kinds`` and one hole ratio uniform in ``mask_ratios`` (``zoo.layers.masks``).

Assumptions and deviations. The paper's text could not be consulted while
this file was written (only its abstract: shared discriminator layers, then a
global and a PatchGAN path, two adversarial losses); the other facts are as
recalled and flagged here, each filled with the standard choice of the works
PGGAN builds on:
* the weights λ1 = 0.995, λ2 = λ3 = 0.0025 and the L1 over the whole image
  are the paper's as recalled;
* G's exact layer table is not reproduced: the encoder/decoder follows
  Johnson et al.'s ResNet generator with batch norm (instance norm, as in
  CycleGAN, removes each image's mean colour at the first layer: measured on
  the `natural` patches after 150 quick iterations, hole L1 0.28 with
  instance norm, 0.21 with batch norm, 0.17 for the mean-of-valid fill), the
  dilation rates GLCIC's doubling 2, 4, 8, 16 (Iizuka et al. 2017) between
  plain blocks in ``full``; no long skips from encoder to decoder (U-Net
  style sums at S and S/2 changed nothing measurable there: hole L1 0.22
  against 0.21 after 150 iterations);
* D's trunk and patch head are pix2pix's 70×70 PatchGAN, split after its
  third layer; D is not given the mask;
* Adam (2e-4, β1 0.5) and the N(0, 0.02) init are pix2pix's; batch 16 and
  10⁵ iterations for ``full`` are our choice (the paper trains at 256×256 on
  Places2, CelebA and Paris StreetView);
* ``quick`` trains 64×64 (or 32×32) patches with w = 16, four residual blocks
  (rates 1, 2, 4, 1), 3×3 edge convolutions, batch 8, 400 iterations;
  ``smoke`` w = 4, two blocks, batch 4, two iterations — CPU-sized stand-ins
  for the paper's w = 64 network at 256×256 and its long training;
* no EMA of G (the paper does not average weights).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.layers import MASK_KINDS, dcgan_init_, make_masks
from zoo.losses import gan_losses
from zoo.models.base import GenerativeModel, ModelSpec, check_preset_args, evaluating
from zoo.train import Phase, TrainConfig
from zoo.train.distributed import draw_rows

DISCRIMINATORS = ("both", "global")
L1_REGIONS = ("image", "hole")


@dataclass(frozen=True)
class InpaintConfig:
    """Hyper-parameters of the patch-based inpainting GAN.

    Attributes:
        image_shape: (C, S, S), C in {1, 3}, S a multiple of 8 and ≥ 32.
        train: optimization settings.
        width: G's first-layer channels (w, 2w, 4w down the encoder).
        dilations: one residual block per entry, with that dilation rate.
        edge_kernel: odd kernel size of G's first and last convolutions (7; 3 in
            the CPU presets, where the 7×7 convolutions at full resolution cost
            more than all the residual blocks).
        d_width: D's first-layer channels.
        discriminator: "both" (PGGAN) or "global" (the ablation without the patch head).
        l1_weight, global_weight, patch_weight: λ1, λ2, λ3.
        l1_region: where the L1 is averaged: "image" (the paper) or "hole".
        loss: GAN loss of both heads (zoo.losses.GAN_LOSSES; "non-saturating").
        mask_kinds: hole kinds drawn in training (zoo.layers.MASK_KINDS).
        mask_ratios: (low, high) range of the training hole ratio, 0 < low ≤ high < 1.
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    width: int = 64
    dilations: tuple[int, ...] = (1, 2, 4, 8, 16, 1)
    edge_kernel: int = 7
    d_width: int = 64
    discriminator: str = "both"
    l1_weight: float = 0.995
    global_weight: float = 0.0025
    patch_weight: float = 0.0025
    l1_region: str = "image"
    loss: str = "non-saturating"
    mask_kinds: tuple[str, ...] = MASK_KINDS
    mask_ratios: tuple[float, float] = (0.1, 0.5)

    def __post_init__(self):
        c, h, w = self.image_shape
        if c not in (1, 3) or h != w or h % 8 or h < 32:
            raise ValueError(f"patch-inpaint needs image_shape (C, S, S) with C in {{1, 3}} and S a multiple of 8, "
                             f"at least 32 (D halves S three times), got {tuple(self.image_shape)}")
        if self.discriminator not in DISCRIMINATORS:
            raise ValueError(f"discriminator must be one of {DISCRIMINATORS}, got {self.discriminator!r}")
        if self.l1_region not in L1_REGIONS:
            raise ValueError(f"l1_region must be one of {L1_REGIONS}, got {self.l1_region!r}")
        if not self.mask_kinds or set(self.mask_kinds) - set(MASK_KINDS):
            raise ValueError(f"mask_kinds must be a non-empty subset of {MASK_KINDS}, got {self.mask_kinds}")
        low, high = self.mask_ratios
        if not 0.0 < low <= high < 1.0:
            raise ValueError(f"mask_ratios must be (low, high) with 0 < low ≤ high < 1, got {self.mask_ratios}")
        if self.edge_kernel < 1 or self.edge_kernel % 2 == 0:
            raise ValueError(f"edge_kernel must be odd, got {self.edge_kernel}")
        if not self.dilations or min(self.dilations) < 1:
            raise ValueError(f"dilations must be a non-empty tuple of rates ≥ 1, got {self.dilations}")
        gan_losses(self.loss)  # raises for an unknown loss


def _conv_norm_relu(cin: int, cout: int, kernel: int, stride: int = 1, dilation: int = 1) -> list[nn.Module]:
    pad = dilation * (kernel - 1) // 2  # "same" padding for odd kernels
    return [nn.Conv2d(cin, cout, kernel, stride, pad, dilation=dilation, bias=False),
            nn.BatchNorm2d(cout), nn.ReLU()]


class DilatedResidualBlock(nn.Module):
    """x + BN(conv3×3_d(ReLU(BN(conv3×3_d(x))))), both convolutions with dilation d: shape-preserving."""

    def __init__(self, channels: int, dilation: int):
        super().__init__()
        self.body = nn.Sequential(*_conv_norm_relu(channels, channels, 3, dilation=dilation),
                                  nn.Conv2d(channels, channels, 3, padding=dilation, dilation=dilation, bias=False),
                                  nn.BatchNorm2d(channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class NearestUpsample2x(nn.Module):
    """×2 nearest-neighbour upsampling, (N, C, H, W) → (N, C, 2H, 2W): the values of
    ``F.interpolate(x, scale_factor=2)``, as one broadcast copy (about 3× faster on CPU)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        return x[:, :, :, None, :, None].expand(n, c, h, 2, w, 2).reshape(n, c, 2 * h, 2 * w)


class InpaintGenerator(nn.Module):
    """(masked image (N, C, S, S) with holes zeroed, mask (N, 1, S, S) float) → image (N, C, S, S) in [-1, 1]."""

    def __init__(self, channels: int, width: int, dilations: tuple[int, ...], edge_kernel: int = 7):
        super().__init__()
        w = width
        self.encoder = nn.Sequential(*_conv_norm_relu(channels + 1, w, edge_kernel),
                                     *_conv_norm_relu(w, 2 * w, 3, stride=2),
                                     *_conv_norm_relu(2 * w, 4 * w, 3, stride=2))
        self.blocks = nn.Sequential(*[DilatedResidualBlock(4 * w, d) for d in dilations])
        self.decoder = nn.Sequential(NearestUpsample2x(), *_conv_norm_relu(4 * w, 2 * w, 3),
                                     NearestUpsample2x(), *_conv_norm_relu(2 * w, w, 3),
                                     nn.Conv2d(w, channels, edge_kernel, padding=edge_kernel // 2), nn.Tanh())

    def forward(self, masked: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.decoder(self.blocks(self.encoder(torch.cat([masked, mask], 1))))


class PatchGlobalDiscriminator(nn.Module):
    """images (N, C, S, S) → (global logits (N,), patch logits (N, S/8 − 2, S/8 − 2) or None).

    The trunk is shared; ``patch=False`` builds only the global head (the ablation).
    """

    def __init__(self, channels: int, size: int, width: int, patch: bool = True):
        super().__init__()
        w = width

        def down(cin: int, cout: int, norm: bool = True) -> list[nn.Module]:
            return [nn.Conv2d(cin, cout, 4, 2, 1, bias=not norm), *([nn.BatchNorm2d(cout)] if norm else []),
                    nn.LeakyReLU(0.2)]

        self.trunk = nn.Sequential(*down(channels, w, norm=False), *down(w, 2 * w), *down(2 * w, 4 * w))
        self.patch = nn.Sequential(nn.Conv2d(4 * w, 8 * w, 4, 1, 1, bias=False), nn.BatchNorm2d(8 * w),
                                   nn.LeakyReLU(0.2), nn.Conv2d(8 * w, 1, 4, 1, 1)) if patch else None
        layers: list[nn.Module] = []
        side, ch = size // 8, 4 * w
        while side > 4:
            layers += down(ch, min(2 * ch, 8 * w))
            side, ch = side // 2, min(2 * ch, 8 * w)
        self.global_head = nn.Sequential(*layers, nn.Flatten(), nn.Linear(ch * side * side, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        h = self.trunk(x)
        return self.global_head(h).squeeze(1), (self.patch(h).squeeze(1) if self.patch is not None else None)


def reconstruction_l1(output: torch.Tensor, target: torch.Tensor, mask: torch.Tensor, region: str) -> torch.Tensor:
    """Mean |output − target| over the whole image ("image") or over the hole pixels only ("hole").

    output, target: float (N, C, H, W); mask: bool (N, 1, H, W), True = hole. Scalar float32.
    """
    error = (output.float() - target.float()).abs()
    if region == "image":
        return error.mean()
    if region == "hole":
        weight = mask.to(error.dtype).expand_as(error)
        return (error * weight).sum() / weight.sum().clamp(min=1.0)
    raise ValueError(f"region must be one of {L1_REGIONS}, got {region!r}")


class PatchInpaint(GenerativeModel):
    """The patch-based inpainting GAN; see the module docstring. Phases "d", "g".

    Use :meth:`complete` to fill holes; there is nothing to sample from noise.
    """

    latent_dim = 0  # no latent code: the input is the masked image

    def __init__(self, config: InpaintConfig):
        super().__init__()
        self.config = config
        self.image_shape = tuple(config.image_shape)
        c, size, _ = config.image_shape
        self.generator = InpaintGenerator(c, config.width, config.dilations, config.edge_kernel)
        self.discriminator = PatchGlobalDiscriminator(c, size, config.d_width, patch=config.discriminator == "both")
        self.d_loss, self.g_loss = gan_losses(config.loss)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        super().reset_parameters()
        self.apply(dcgan_init_)

    def phases(self, train: TrainConfig) -> list[Phase]:
        return [Phase("d", (self.discriminator,), train.lr, train.betas, updates=train.k_d_steps),
                Phase("g", (self.generator,), train.lr, train.betas)]

    def training_masks(self, n: int, generator: torch.Generator | None) -> torch.Tensor:
        """Holes for one minibatch, bool (n, 1, S, S): one kind from ``mask_kinds`` and one ratio
        uniform in ``mask_ratios``, both drawn from ``generator`` (as are free-form strokes)."""
        kinds, (low, high) = self.config.mask_kinds, self.config.mask_ratios
        kind = kinds[int(torch.randint(len(kinds), (1,), generator=generator))]
        ratio = low + (high - low) * float(torch.rand(1, generator=generator))
        # the batch's masks as one process draws them; in data-parallel training, this rank's rows
        return draw_rows(lambda m: make_masks(kind, m, self.image_shape[-1], ratio, generator), n)

    def fill(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(G's output, the completed image): G sees x with the holes zeroed plus the mask;
        the completed image is G's output in the hole and x elsewhere (exactly)."""
        output = self.generator(x.masked_fill(mask, 0.0), mask.to(x.dtype))
        return output, torch.where(mask, output, x)

    def adversarial_losses(self, images: torch.Tensor) -> dict[str, torch.Tensor]:
        """G's adversarial terms for completed images: {"global": ..., "patch": ... (both heads only)}."""
        global_logits, patch_logits = self.discriminator(images)
        terms = {"global": self.g_loss(global_logits)}
        if patch_logits is not None:
            terms["patch"] = self.g_loss(patch_logits)
        return terms

    def loss(self, phase, batch, generator):
        x, _ = batch
        mask = self.training_masks(x.shape[0], generator).to(x.device)
        if phase == "d":
            with torch.no_grad():
                _, fake = self.fill(x, mask)
            (real_g, real_p), (fake_g, fake_p) = self.discriminator(x), self.discriminator(fake)
            loss = self.d_loss(real_g, fake_g)
            logs = {"real_logit": real_g.detach().mean(), "fake_logit": fake_g.detach().mean()}
            if real_p is not None:
                loss = loss + self.d_loss(real_p, fake_p)
                logs.update(real_patch_logit=real_p.detach().mean(), fake_patch_logit=fake_p.detach().mean())
            return loss, logs
        if phase == "g":
            output, completed = self.fill(x, mask)
            l1 = reconstruction_l1(output, x, mask, self.config.l1_region)
            adversarial = self.adversarial_losses(completed)
            cfg = self.config
            loss = cfg.l1_weight * l1 + cfg.global_weight * adversarial["global"]
            if "patch" in adversarial:
                loss = loss + cfg.patch_weight * adversarial["patch"]
            logs = {"l1": l1.detach(), **{f"adv_{k}": v.detach() for k, v in adversarial.items()},
                    "hole_ratio": mask.float().mean()}
            return loss, logs
        raise ValueError(f"{type(self).__name__} has phases 'd' and 'g', not {phase!r}")

    def complete(self, x: torch.Tensor, mask: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
        """Fill the holes: mask·G(x⊙(1−mask), mask) + (1−mask)·x, float32 (N, C, H, W) in [-1, 1].

        Args:
            x: float (N, C, H, W) in [-1, 1], the model's image shape (the hole pixels' values are ignored).
            mask: bool (N, 1, H, W), True = hole.
            batch_size: images per forward pass.

        Runs in eval mode without autograd, on the model's device; the known
        pixels of the result equal ``x``'s exactly.
        """
        if not (isinstance(x, torch.Tensor) and x.is_floating_point() and x.ndim == 4
                and tuple(x.shape[1:]) == self.image_shape):
            raise ValueError(f"x must be float (N, {', '.join(map(str, self.image_shape))}) in [-1, 1], got "
                             f"{getattr(x, 'dtype', type(x).__name__)} {tuple(getattr(x, 'shape', ()))}")
        if not (isinstance(mask, torch.Tensor) and mask.dtype == torch.bool
                and tuple(mask.shape) == (x.shape[0], 1, *x.shape[2:])):
            raise ValueError(f"mask must be bool ({x.shape[0]}, 1, {x.shape[2]}, {x.shape[3]}) with True = hole, "
                             f"got {getattr(mask, 'dtype', type(mask).__name__)} {tuple(getattr(mask, 'shape', ()))}")
        if batch_size < 1:
            raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
        out = []
        with evaluating(self):
            for i in range(0, x.shape[0], batch_size):
                xb = x[i:i + batch_size].to(self.device, torch.float32)
                out.append(self.fill(xb, mask[i:i + batch_size].to(self.device))[1])
        return torch.cat(out) if out else x.new_zeros((0, *self.image_shape), dtype=torch.float32)

    def generate(self, z, labels=None):
        raise NotImplementedError("patch-inpaint completes images, it does not generate them from noise: "
                                  "call model.complete(x, mask)")

    def sample(self, n, generator=None, labels=None):
        raise NotImplementedError("patch-inpaint completes images, it does not sample from noise: "
                                  "call model.complete(x, mask) with images and hole masks (zoo.layers.make_masks)")


# Paper: 256×256 images, w = 64. `quick` and `smoke` shrink the networks and the steps (module docstring);
# sample_every = 0 everywhere: there are no samples from noise to put in a grid. `quick` measured on one
# core (process CPU time, 3×64×64): 0.51 s per iteration (one D + one G update) at batch 8, 0.98 s at
# batch 16; 0.20 s at 3×32×32 and batch 8. 400 × 0.51 s ≈ 3.4 CPU-minutes ≈ 2 minutes on two cores, so
# the suite's four runs (two data sets × the model and its global-only ablation) fit its budget.
# Measured on the `natural` patches (64×64, free-form holes of ratio 0.2): after 400 quick iterations the
# hole L1 is 0.20 on the held-out photographs against 0.175 for the mean-of-valid fill, while on patches
# of the training photographs the GAN already beats that fill after 150 iterations (0.14 against 0.16):
# a few thousand training images from six photographs do not yet generalize to other photographs.
PRESETS = {
    "smoke": dict(width=4, dilations=(1, 2), edge_kernel=3, d_width=4,
                  train=TrainConfig(steps=2, batch_size=4, lr=2e-4, betas=(0.5, 0.999), log_every=1,
                                    checkpoint_every=1, sample_every=0)),
    "quick": dict(width=16, dilations=(1, 2, 4, 1), edge_kernel=3, d_width=16,
                  train=TrainConfig(steps=400, batch_size=8, lr=2e-4, betas=(0.5, 0.999), log_every=20,
                                    checkpoint_every=100, sample_every=0)),
    "full": dict(width=64, dilations=(1, 2, 4, 8, 16, 1), edge_kernel=7, d_width=64,
                 train=TrainConfig(steps=100_000, batch_size=16, lr=2e-4, betas=(0.5, 0.999), log_every=200,
                                   checkpoint_every=5000, sample_every=0)),
}


def make_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None) -> InpaintConfig:
    """The ``patch-inpaint`` config for a preset (smoke | quick | full) and image shape (C, S, S)."""
    shape = check_preset_args(preset, image_shape, num_classes, conditional=False)
    return InpaintConfig(image_shape=shape, **PRESETS[preset])


def build(config: InpaintConfig) -> PatchInpaint:
    return PatchInpaint(config)


SPEC = ModelSpec(
    name="patch-inpaint", family="inpainting", conditional=False, make_config=make_config, build=build,
    presets=PRESETS,
    description="Demir & Ünal 2018 (PGGAN): dilated-residual encoder–decoder fills holes against a discriminator "
                "with shared early layers and global + PatchGAN heads; L1 + both adversarial terms",
)
