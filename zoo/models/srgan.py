"""`srgan`: SRResNet's generator fine-tuned against a discriminator.

Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network". The generator G is SRResNet's
(:mod:`zoo.models.srresnet`), initialised from the trained SRResNet "to avoid
undesired local optima" (Sec. 3.2). It minimizes the perceptual loss (Eq. 3)

    l_SR = l_X + 10⁻³ · l_Gen,     l_Gen = Σ −log D(G(I_LR))      (Eq. 6)

where the content loss l_X is the VGG-19 feature loss l_VGG/5,4 (Eq. 5,
:class:`zoo.losses.perceptual.VGGContentLoss`; "SRGAN-VGG54", the paper's
SRGAN) or the pixel MSE (Eq. 4; "SRGAN-MSE", the paper's Table 1 variant).
The discriminator D plays the minimax game of Goodfellow et al. 2014 (Eq. 2)
with the binary cross-entropy.

D (Fig. 4): conv 3×3, 64, LeakyReLU(0.2); seven blocks conv 3×3 → BN →
LeakyReLU with (channels, stride) = (64, 2), (128, 1), (128, 2), (256, 1),
(256, 2), (512, 1), (512, 2); dense 1024, LeakyReLU, dense 1 (a logit; the
sigmoid is inside the loss). The dense layer fixes D's input size to the
training patch size.

Training (Sec. 3.2): Adam (β1 = 0.9), lr 1e-4 for 10⁵ updates then 1e-5 for
10⁵ more, alternating one D and one G update. The lr drop is modelled as new
phases ("d_late", "g_late") with their own Adam state from
``lr_decay_step`` on (the paper does not say whether Adam's moments were
kept across the drop).

The VGG-19 weights are passed in by the caller (zoo never looks for files).
The VGG is deliberately not a registered submodule: it is a fixed measuring
network, not part of the model — it must not be re-initialized by
``reset_parameters``, written into every checkpoint or counted in the model
size.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from zoo.losses.gan import d_loss_bce, g_loss_nonsaturating
from zoo.losses.perceptual import VGGContentLoss
from zoo.models.base import ModelSpec
from zoo.models.srresnet import SRModel, SRResNetGenerator, bicubic_downsample, psnr_from_mse
from zoo.models.srresnet import make_config as make_srresnet_config
from zoo.train import Phase, TrainConfig

CONTENT_LOSSES = ("vgg54", "vgg22", "mse")
ADVERSARIAL_WEIGHT = 1e-3  # Eq. 3


@dataclass(frozen=True)
class SRGANConfig:
    """Hyper-parameters of SRGAN.

    Attributes:
        image_shape: (C, P, P) HR training patches; P a multiple of 16 (D
            halves the size four times before its dense layer).
        train: optimization settings.
        scale, num_blocks, channels, batch_norm: the generator (as
            SRResNet's, whose trained weights initialise it).
        d_channels: width of D's first convolutions (64), doubled three times.
        d_hidden: width of D's dense layer (1024).
        adversarial_weight: weight of l_Gen in Eq. 3 (1e-3).
        content_loss: "vgg54" (SRGAN-VGG54), "vgg22" or "mse" (SRGAN-MSE).
        lr_decay_step: iteration from which both learning rates are divided
            by 10 (10⁵ in the paper); None = never.
        generator_init: :func:`state_digest` of the generator weights the run
            starts from (the trained SRResNet), "" for a random start. Part of
            the config so that a checkpoint is never resumed on top of a
            different initialisation.
    """

    image_shape: tuple[int, int, int]
    train: TrainConfig
    scale: int = 4
    num_blocks: int = 16
    channels: int = 64
    batch_norm: bool = True
    d_channels: int = 64
    d_hidden: int = 1024
    adversarial_weight: float = ADVERSARIAL_WEIGHT
    content_loss: str = "vgg54"
    lr_decay_step: int | None = None
    generator_init: str = ""

    def __post_init__(self):
        if self.content_loss not in CONTENT_LOSSES:
            raise ValueError(f"content_loss must be one of {CONTENT_LOSSES}, got {self.content_loss!r}")
        if self.image_shape[1] % 16 or self.image_shape[2] % 16:
            raise ValueError(f"SRGAN's discriminator needs HR patches whose size is a multiple of 16, "
                             f"got {self.image_shape[1:]}")
        if self.image_shape[1] % self.scale:
            raise ValueError(f"HR patch size {self.image_shape[1]} must be a multiple of scale {self.scale}")
        if self.lr_decay_step is not None and self.lr_decay_step < 1:
            raise ValueError(f"lr_decay_step must be ≥ 1 or None, got {self.lr_decay_step}")


class SRGANDiscriminator(nn.Module):
    """Fig. 4's discriminator: HR-sized images (N, C, P, P) in [-1, 1] → logits (N,).

    Args:
        image_shape: (C, P, P), P a multiple of 16.
        width: channels of the first two convolutions (64).
        hidden: units of the dense layer (1024).
    """

    def __init__(self, image_shape: tuple[int, int, int], width: int = 64, hidden: int = 1024):
        super().__init__()
        c, h, w = image_shape
        plan = [(width, 2), (2 * width, 1), (2 * width, 2), (4 * width, 1),  # (channels, stride) of Fig. 4
                (4 * width, 2), (8 * width, 1), (8 * width, 2)]
        layers: list[nn.Module] = [nn.Conv2d(c, width, 3, 1, 1), nn.LeakyReLU(0.2)]  # no BN on the input layer
        channels = width
        for out, stride in plan:
            layers += [nn.Conv2d(channels, out, 3, stride, 1, bias=False), nn.BatchNorm2d(out), nn.LeakyReLU(0.2)]
            channels = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Flatten(), nn.Linear(channels * (h // 16) * (w // 16), hidden),
                                  nn.LeakyReLU(0.2), nn.Linear(hidden, 1))
        self.image_shape = tuple(image_shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != self.image_shape:
            raise ValueError(f"SRGAN discriminator expects (N, {', '.join(map(str, self.image_shape))}), "
                             f"got {tuple(x.shape)}")
        return self.head(self.features(x)).squeeze(1)


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 over the names, shapes, dtypes and bytes of a state dict's tensors (sorted by name)."""
    h = hashlib.sha256()
    for key in sorted(state):
        t = state[key].detach().cpu().contiguous()
        h.update(f"{key}:{tuple(t.shape)}:{t.dtype};".encode())
        h.update(t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.float().numpy().tobytes())
    return h.hexdigest()


class SRGAN(SRModel):
    """SRGAN; see the module docstring. Phases "d", "g" (then "d_late", "g_late").

    Args:
        config: an :class:`SRGANConfig`.
        content: the VGG content loss for ``content_loss`` "vgg54"/"vgg22"
            (built by the caller from VGG-19 weights), None for "mse".
        generator_state: the trained SRResNet generator's state dict; its
            :func:`state_digest` must equal ``config.generator_init``. None
            (with ``generator_init`` "") starts from random weights.
    """

    def __init__(self, config: SRGANConfig, content: VGGContentLoss | None = None,
                 generator_state: dict[str, torch.Tensor] | None = None):
        super().__init__()
        self.config = config
        self.image_shape = tuple(config.image_shape)
        self.scale = config.scale
        self.generator = SRResNetGenerator(config.image_shape[0], config.scale, config.num_blocks, config.channels,
                                           config.batch_norm)
        self.discriminator = SRGANDiscriminator(config.image_shape, config.d_channels, config.d_hidden)

        wants_vgg = config.content_loss.startswith("vgg")
        if wants_vgg and (content is None or content.layer != config.content_loss[3:]):
            raise ValueError(f"content_loss {config.content_loss!r} needs a VGGContentLoss for layer "
                             f"{config.content_loss[3:]} (built from VGG-19 weights); "
                             "use content_loss='mse' without them")
        if not wants_vgg and content is not None:
            raise ValueError("content_loss 'mse' takes no VGG network: pass content=None")
        self.__dict__["content"] = content  # unregistered on purpose (see the module docstring)

        if generator_state is None and config.generator_init:
            raise ValueError(f"config.generator_init is {config.generator_init[:12]}… but no generator_state was given")
        if generator_state is not None:
            digest = state_digest(generator_state)
            if digest != config.generator_init:
                raise ValueError(f"generator_state has digest {digest[:12]}…, config.generator_init says "
                                 f"{config.generator_init[:12] or 'random init'}: "
                                 "set generator_init=state_digest(state)")
            generator_state = {k: v.detach().cpu().clone() for k, v in generator_state.items()}
        self.generator_state = generator_state
        self.reset_parameters()

    def reset_parameters(self) -> None:
        """Random D; G from the trained SRResNet (Sec. 3.2) when given, else random."""
        super().reset_parameters()
        if self.generator_state is not None:
            self.generator.load_state_dict(self.generator_state)

    def phases(self, train: TrainConfig) -> list[Phase]:
        g, d = (self.generator,), (self.discriminator,)
        decay = self.config.lr_decay_step
        phases = [Phase("d", d, train.lr, train.betas, updates=train.k_d_steps, stop=decay),
                  Phase("g", g, train.lr, train.betas, stop=decay)]
        if decay is not None and decay < train.steps:
            late = train.lr * 0.1
            phases += [Phase("d_late", d, late, train.betas, updates=train.k_d_steps, start=decay),
                       Phase("g_late", g, late, train.betas, start=decay)]
        return phases

    def content_loss(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """l_X: VGG feature loss (Eq. 5) or pixel MSE (Eq. 4), scalar."""
        if self.content is None:
            return F.mse_loss(sr.float(), hr.float())
        return self.content.to(sr.device)(sr, hr)  # .to is a no-op once the VGG is on sr's device

    def loss(self, phase, batch, generator):
        role = phase.removesuffix("_late")
        hr, _ = batch
        lr = bicubic_downsample(hr, self.scale)
        if role == "d":
            with torch.no_grad():
                sr = self.generator(lr)
            real, fake = self.discriminator(hr), self.discriminator(sr)
            return d_loss_bce(real, fake), {"real_logit": real.detach().mean(), "fake_logit": fake.detach().mean()}
        if role == "g":
            sr = self.generator(lr)
            content = self.content_loss(sr, hr)
            adversarial = g_loss_nonsaturating(self.discriminator(sr))
            psnr = psnr_from_mse(F.mse_loss(sr.detach().float(), hr.float()))
            logs = {"content": content.detach(), "adversarial": adversarial.detach(), "psnr": psnr}
            return content + self.config.adversarial_weight * adversarial, logs
        raise ValueError(f"SRGAN has phases 'd', 'g', 'd_late', 'g_late', not {phase!r}")


# Paper (Sec. 3.2): 96×96 patches, batch 16, D as in Fig. 4, 10⁵ + 10⁵
# updates at lr 1e-4 then 1e-5. The generator size follows SRResNet's preset
# (it is initialised from it). `quick` trains a narrower D for 300 updates
# (~5 minutes on two busy CPU cores): measured on the `natural` photos
# (SRGAN-MSE from the `quick` SRResNet), PSNR-Y fell 29.84 → 29.24 dB while
# the high-frequency energy ratio SR/HR rose 0.09 → 0.20 (bicubic: 0.03) —
# the paper's trade-off, in CPU minutes (400 updates: 29.11 dB, 0.26).
PRESETS = {
    "smoke": dict(d_channels=8, d_hidden=16,
                  train=TrainConfig(steps=3, batch_size=4, lr=1e-4, betas=(0.9, 0.999), log_every=1,
                                    checkpoint_every=2)),
    "quick": dict(d_channels=32, d_hidden=256,
                  train=TrainConfig(steps=300, batch_size=16, lr=1e-4, betas=(0.9, 0.999), log_every=25,
                                    checkpoint_every=100)),
    "full": dict(d_channels=64, d_hidden=1024, lr_decay_step=100_000,
                 train=TrainConfig(steps=200_000, batch_size=16, lr=1e-4, betas=(0.9, 0.999), log_every=500,
                                   checkpoint_every=10_000)),
}


def make_config(preset: str, image_shape: tuple[int, int, int] | None = None, num_classes: int | None = None,
                *, generator_state: dict[str, torch.Tensor] | None = None,
                vgg19_state: dict[str, torch.Tensor] | None = None, content_loss: str | None = None,
                scale: int = 4, generator_init: str = "") -> SRGANConfig:
    """The ``srgan`` config for a preset; the generator and patch size are SRResNet's at that preset.

    ``content_loss`` None picks "vgg54" when ``vgg19_state`` is given, else the paper's SRGAN-MSE
    ("mse"); a ``generator_state`` (the trained SRResNet's) sets ``generator_init`` to its digest.
    """
    g = make_srresnet_config(preset, image_shape, None, scale)
    if content_loss is None:
        content_loss = "vgg54" if vgg19_state is not None else "mse"
    if generator_state is not None:
        generator_init = state_digest(generator_state)
    return SRGANConfig(image_shape=g.image_shape, scale=g.scale, num_blocks=g.num_blocks, channels=g.channels,
                       batch_norm=g.batch_norm, content_loss=content_loss, generator_init=generator_init,
                       **PRESETS[preset])


def build(config: SRGANConfig, vgg19_state: dict[str, torch.Tensor] | None = None,
          generator_state: dict[str, torch.Tensor] | None = None) -> SRGAN:
    """SRGAN from its config, torchvision VGG-19 weights (for a VGG content
    loss) and the trained SRResNet generator's weights (None: random init)."""
    content = None
    if config.content_loss.startswith("vgg"):
        if vgg19_state is None:
            raise ValueError(f"content_loss {config.content_loss!r} needs the VGG-19 state dict: pass vgg19_state, "
                             "or use content_loss='mse' (the paper's SRGAN-MSE)")
        content = VGGContentLoss(vgg19_state, layer=config.content_loss[3:])
    return SRGAN(config, content, generator_state)


SPEC = ModelSpec(
    name="srgan", family="sr", conditional=False, make_config=make_config, build=build, presets=PRESETS,
    needs=("generator_state", "vgg19_state"), init_from="srresnet",
    description="Ledig et al. 2017: SRResNet fine-tuned against a discriminator with the VGG-19 φ5,4 content "
                "loss (the pixel MSE, SRGAN-MSE, when VGG-19 weights are absent)",
)
