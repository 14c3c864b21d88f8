"""What every zoo model is: a :class:`ModelSpec` in the registry, and an
``nn.Module`` with the :class:`GenerativeModel` interface the trainer and
gbench call."""

from __future__ import annotations

import dataclasses
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from zoo.layers import CONDITIONS, check_condition
from zoo.train import Phase, TrainConfig
from zoo.train.distributed import draw_rows

PRESET_NAMES = ("smoke", "quick", "full")  # the only definition; gbench imports it
FAMILIES = ("gan", "vae", "cgan", "icgan", "sr", "autoregressive", "voxel", "inpainting")
# Inputs a model may need beyond its config, provided by whoever trains it (gbench's fit helper):
#   num_images       size of the training split (β-TCVAE's minibatch-weighted TC estimate)
#   generator_state  trained generator weights of the model named by ``init_from`` (SRGAN ← SRResNet)
#   vgg19_state      torchvision's ImageNet VGG-19 state dict, or None when it is not on the machine
NEEDS = ("num_images", "generator_state", "vgg19_state")


@dataclass(frozen=True)
class ModelSpec:
    """A registered model.

    Attributes:
        name: registry name (``gan``, ``dcgan``, ...).
        family: one of FAMILIES; tells gbench which evaluations apply.
        description: one line for ``gbench list``.
        conditional: whether training and sampling need a condition.
        condition: what a conditional model is conditioned on (zoo.layers.CONDITIONS):
            "class" (int64 (N,)), "tokens" (int64 (N, L) caption token ids) or
            "layout" (uint8/int64 (N, H, W) label maps); make_config's
            ``num_classes`` is the size of that alphabet (classes, vocabulary,
            label classes).
        make_config: ``(preset, image_shape (C, H, W), num_classes | None,
            **needs) -> frozen config`` with a ``train: TrainConfig`` field.
            For SR models image_shape is the HR training patch (its size is
            the preset's ``patch``).
        build: ``(config, **needs) -> model`` (a :class:`GenerativeModel`).
        presets: the model file's ``PRESETS`` table: preset name → keyword
            arguments of its config (with ``train``), one entry per PRESET_NAMES.
        needs: names from NEEDS that ``make_config`` and ``build`` take as
            keyword arguments (both receive every declared need).
        init_from: the registered model whose trained generator starts this
            one (``generator_state``), or None.
    """

    name: str
    family: str
    description: str
    conditional: bool
    make_config: Callable[..., Any]
    build: Callable[..., nn.Module]
    presets: Mapping[str, Mapping[str, Any]]
    needs: tuple[str, ...] = ()
    init_from: str | None = None
    condition: str = "class"

    def __post_init__(self):
        if self.condition not in CONDITIONS:
            raise ValueError(f"{self.name}: condition must be one of {CONDITIONS}, got {self.condition!r}")
        if self.family not in FAMILIES:
            raise ValueError(f"model family must be one of {FAMILIES}, got {self.family!r}")
        if tuple(self.presets) != PRESET_NAMES:
            raise ValueError(f"{self.name}: PRESETS must define exactly {PRESET_NAMES}, got {tuple(self.presets)}")
        unknown = set(self.needs) - set(NEEDS)
        if unknown:
            raise ValueError(f"{self.name}: unknown needs {sorted(unknown)}; known: {NEEDS}")
        if ("generator_state" in self.needs) != (self.init_from is not None):
            raise ValueError(f"{self.name}: a model that needs generator_state names its init_from model, and only then")


def check_preset_args(preset: str, image_shape: tuple[int, int, int], num_classes: int | None,
                      conditional: bool) -> tuple[int, int, int]:
    """Validate ``make_config`` arguments; returns image_shape as a tuple of ints."""
    if preset not in PRESET_NAMES:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESET_NAMES)}")
    shape = tuple(int(s) for s in image_shape)
    if len(shape) != 3 or shape[0] not in (1, 3) or shape[1] != shape[2]:
        raise ValueError(f"image_shape must be (C, H, H) with C in {{1, 3}}, got {tuple(image_shape)}")
    if conditional and (num_classes is None or num_classes < 2):
        raise ValueError(f"a class-conditional model needs num_classes ≥ 2, got {num_classes}")
    return shape  # type: ignore[return-value]


def with_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """A copy of a frozen config with some fields changed (an ablation: one trick off).

    Keys name fields of the config, or of its ``train`` config as ``"train.<field>"``:
    ``with_overrides(cfg, {"pixel_norm": False, "train.ema_decay": 0.0})``. The
    config's own checks (``__post_init__``) run on the result.

    Raises:
        ValueError: a key that names no field.
    """
    top, train = {}, {}
    for key, value in overrides.items():
        where, name = (train, key[len("train."):]) if key.startswith("train.") else (top, key)
        owner = config.train if where is train else config
        if name not in {f.name for f in dataclasses.fields(owner)}:
            raise ValueError(f"{type(config).__name__} has no field {key!r} to override")
        where[name] = value
    if train:
        top["train"] = dataclasses.replace(config.train, **train)
    return dataclasses.replace(config, **top)


def randn(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """N(0, I) noise drawn on the generator's device (CPU generators give the
    same noise whatever the model's device), returned on ``device``.

    The first dimension is the batch: in data-parallel training (inside
    :func:`zoo.train.distributed.batch_shard`) rank r gets its rows of the
    draw one process makes for the whole batch. Noise whose first dimension is
    not the batch must not be drawn here during a loss (a scalar may: every
    rank draws the same one)."""
    return _draw(torch.randn, shape, generator, device)


def rand(shape: tuple[int, ...], generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
    """U[0, 1) noise, drawn and sharded as :func:`randn`."""
    return _draw(torch.rand, shape, generator, device)


def _draw(fn: Callable[..., torch.Tensor], shape: tuple[int, ...], generator: torch.Generator | None,
          device: torch.device) -> torch.Tensor:
    where = generator.device if generator is not None else device
    shape = tuple(shape)
    if not shape:
        return fn(shape, generator=generator, device=where).to(device)
    return draw_rows(lambda n: fn((n, *shape[1:]), generator=generator, device=where), shape[0]).to(device)


@contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """Eval mode and no autograd inside; the previous mode is restored after."""
    was_training = module.training
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        module.train(was_training)


class GenerativeModel(nn.Module):
    """The interface shared by every zoo model.

    Subclasses set ``config``, ``image_shape`` (C, H, W), ``latent_dim``,
    ``num_classes`` (None if unconditional) and implement:

    * ``phases(train: TrainConfig) -> list[Phase]`` — what the trainer optimizes;
    * ``loss(phase, batch, generator) -> (scalar loss, {name: value})`` with
      ``batch = (x float (N, C, H, W) in [-1, 1], labels int64 (N,) | None)``;
    * ``generate(z, labels) -> (N, C, H, W) in [-1, 1]`` from given latents.

    ``sample`` and ``reset_parameters`` are shared.
    """

    config: Any
    image_shape: tuple[int, int, int]
    latent_dim: int
    num_classes: int | None = None
    condition: str = "class"  # what ``labels`` are when num_classes is set (zoo.layers.CONDITIONS)
    # Train on the CPU in channels-last (NHWC) memory: oneDNN's convolutions with few output channels
    # (the RGB/gray output layer) are up to twice as fast in NHWC. Set where measured faster; the trainer
    # converts for the run and back after it (zoo.train.trainer), so evaluation sees the usual layout.
    channels_last_on_cpu: bool = False

    @property
    def conditional(self) -> bool:
        return self.num_classes is not None

    @property
    def device(self) -> torch.device:
        return next(self.parameters()).device

    @property
    def ema_module(self) -> nn.Module | None:
        """The network whose weights ``TrainConfig.ema_decay`` averages (None: no EMA)."""
        return getattr(self, "generator", None)

    def phases(self, train: TrainConfig) -> list[Phase]:
        raise NotImplementedError

    def loss(self, phase: str, batch: tuple[torch.Tensor, torch.Tensor | None],
             generator: torch.Generator | None) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        raise NotImplementedError

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        raise NotImplementedError

    def reset_parameters(self) -> None:
        """Re-initialize every layer from the global RNG, as at construction.
        The trainer calls it (with the RNG seeded) when a run starts, so a run
        depends on its seed only. Subclasses with a custom init extend it."""
        for m in self.modules():
            if m is not self and callable(getattr(m, "reset_parameters", None)):
                m.reset_parameters()

    def check_labels(self, labels: torch.Tensor | None, n: int) -> torch.Tensor | None:
        """The condition (class labels, caption tokens or label maps: ``condition``) on the
        model's device, validated; None for unconditional models."""
        if not self.conditional:
            return None
        if labels is None:
            what = f"labels (int64, shape ({n},))" if self.condition == "class" else f"its {self.condition} condition"
            raise ValueError(f"{type(self).__name__} is {self.condition}-conditional: pass {what} for {n} samples")
        return check_condition(self.condition, labels, self.num_classes, n, self.image_shape[-1]).to(self.device)

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """n samples, float32 (n, C, H, W) in [-1, 1], on the model's device.

        Draws z ~ N(0, I) from ``generator`` (global RNG if None) and decodes
        it in eval mode without autograd. Conditional models need ``labels``
        (int64 (n,) in 0..num_classes−1).
        """
        labels = self.check_labels(labels, n)
        with evaluating(self):
            z = randn((n, self.latent_dim), generator, self.device)
            return self.generate(z, labels).float()
