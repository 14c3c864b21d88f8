"""What the trainer needs to know: a frozen :class:`TrainConfig` (part of every
model config) and the :class:`Phase` objects a model declares."""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

AMP_DTYPES = ("bf16", "fp16", "off")


@dataclass(frozen=True)
class TrainConfig:
    """Optimization settings shared by every zoo model.

    Attributes:
        steps: training iterations. One iteration runs every active phase once,
            each for its number of updates (e.g. k discriminator updates then
            one generator update, Goodfellow et al. 2014, Algorithm 1).
        batch_size: images per update (every update draws a fresh minibatch).
        lr: Adam learning rate.
        betas: Adam (β1, β2); DCGAN uses β1 = 0.5 (Radford et al. 2016, Sec. 4).
        k_d_steps: discriminator updates per generator update (Algorithm 1's k).
        ema_decay: exponential moving average of the generator's weights
            (0 = off). After training the model holds the averaged weights.
        amp: mixed precision on CUDA: "bf16", "fp16" (with a GradScaler) or
            "off". Ignored on CPU, where training is always float32.
        log_every: record losses every this many iterations (and at the end).
        checkpoint_every: save a resumable checkpoint every this many
            iterations (and at the end); 0 = only at the end.
        sample_every: save a PNG grid of samples every this many iterations
            (and at the end); 0 = never.
        grid_size: number of images in a sample grid (fixed noise).
    """

    steps: int
    batch_size: int = 64
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    k_d_steps: int = 1
    ema_decay: float = 0.0
    amp: str = "bf16"
    log_every: int = 10
    checkpoint_every: int = 500
    sample_every: int = 0
    grid_size: int = 64

    def __post_init__(self):
        for name in ("steps", "batch_size", "k_d_steps", "log_every", "grid_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("checkpoint_every", "sample_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be ≥ 0, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.amp not in AMP_DTYPES:
            raise ValueError(f"TrainConfig.amp must be one of {AMP_DTYPES}, got {self.amp!r}")


@dataclass(frozen=True, eq=False)
class Phase:
    """One optimization objective of a model, with its own Adam optimizer.

    Attributes:
        name: passed to ``model.loss(name, batch, generator)``; prefixes the
            logged losses ("d/loss", "g/loss", "vae/loss", ...).
        modules: the submodules whose parameters this phase updates (only
            these require grad while the phase runs).
        lr, betas: Adam settings.
        updates: optimizer updates per iteration (k for a discriminator).
        start, stop: the phase is active for iterations start ≤ step < stop
            (stop None = to the end), e.g. IcGAN's GAN phase, then encoders.
    """

    name: str
    modules: tuple[nn.Module, ...]
    lr: float
    betas: tuple[float, float]
    updates: int = 1
    start: int = 0
    stop: int | None = None

    def active(self, step: int) -> bool:
        return self.start <= step and (self.stop is None or step < self.stop)

    def parameters(self) -> list[nn.Parameter]:
        seen: dict[int, nn.Parameter] = {}
        for m in self.modules:
            for p in m.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())
