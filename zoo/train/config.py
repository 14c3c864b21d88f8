"""What the trainer needs to know: a frozen :class:`TrainConfig` (part of every
model config) and the :class:`Phase` objects a model declares."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

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
        ema_start: iteration at which averaging starts, the shadow being reset to
            the live weights there (BigGAN, Brock et al. 2019, App. B: 20k); before
            it the shadow follows the live weights.
        ema_rampup: StyleGAN2's ramp-up (Karras et al. 2020, training loop): the
            average's half-life, in images, is at most ``ema_rampup`` × the images
            seen since ``ema_start`` (0 = off: the constant ``ema_decay``), so the
            early, poor weights are forgotten quickly.
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
    ema_start: int = 0
    ema_rampup: float = 0.0
    amp: str = "bf16"
    log_every: int = 10
    checkpoint_every: int = 500
    sample_every: int = 0
    grid_size: int = 64

    def __post_init__(self):
        for name in ("steps", "batch_size", "k_d_steps", "log_every", "grid_size"):
            if getattr(self, name) < 1:
                raise ValueError(f"TrainConfig.{name} must be ≥ 1, got {getattr(self, name)}")
        for name in ("checkpoint_every", "sample_every", "ema_start"):
            if getattr(self, name) < 0:
                raise ValueError(f"TrainConfig.{name} must be ≥ 0, got {getattr(self, name)}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"TrainConfig.ema_decay must be in [0, 1), got {self.ema_decay}")
        if self.ema_rampup < 0:
            raise ValueError(f"TrainConfig.ema_rampup must be ≥ 0, got {self.ema_rampup}")
        if self.amp not in AMP_DTYPES:
            raise ValueError(f"TrainConfig.amp must be one of {AMP_DTYPES}, got {self.amp!r}")

    def ema_decay_at(self, step: int) -> float:
        """The averaging decay applied after iteration ``step`` (0-based; see ``ema_start``, ``ema_rampup``)."""
        if step < self.ema_start:
            return 0.0  # the shadow tracks the live weights until averaging starts
        if self.ema_rampup <= 0:
            return self.ema_decay
        # The constant decay's half-life in images: decay^(n / batch) = ½.
        half_life = self.batch_size * math.log(0.5) / math.log(self.ema_decay)
        half_life = min(half_life, (step - self.ema_start + 1) * self.batch_size * self.ema_rampup)
        return 0.5 ** (self.batch_size / half_life)


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
        every: and only on every ``every``-th of those iterations — lazy
            regularization (Karras et al. 2020, Sec. 4: R1 every 16 D steps,
            the loss multiplied by 16 by the model).
        optimizer: the name of an earlier phase whose optimizer (and Adam state)
            this phase steps, e.g. lazy R1 updating D with D's optimizer; None =
            its own. A sharing phase's ``lr``/``betas`` are the owner's.
        lr_schedule: ``lr_schedule(step) -> factor``: the learning rate at an
            iteration is ``lr × factor`` (None = constant), a pure function of
            the step so a resumed run follows the same schedule.
        skip_if: the name of a value the phase's ``model.loss`` logs; an update
            whose loss logs it as true (non-zero) is skipped: no backward pass
            and no optimizer step, so the weights and the Adam state (its step
            count included) stay as they were. The minibatch and the noise are
            drawn all the same, so a run's randomness does not depend on which
            updates were skipped. The trainer logs ``<phase>/skipped``, the
            number of updates skipped so far. 3D-GAN's adaptive discriminator
            update (Wu et al. 2016, Sec. 3.1: D is updated only while its
            accuracy on the batch is at most 80 %). None = always step.
    """

    name: str
    modules: tuple[nn.Module, ...]
    lr: float
    betas: tuple[float, float]
    updates: int = 1
    start: int = 0
    stop: int | None = None
    every: int = 1
    optimizer: str | None = None
    lr_schedule: Callable[[int], float] | None = None
    skip_if: str | None = None

    def __post_init__(self):
        if self.skip_if is not None and (not isinstance(self.skip_if, str) or not self.skip_if):
            raise ValueError(f"Phase {self.name!r}: skip_if names a logged value (a non-empty string), "
                             f"got {self.skip_if!r}")
        if self.every < 1 or self.updates < 1:
            raise ValueError(f"Phase {self.name!r}: every and updates must be ≥ 1, got {self.every}, {self.updates}")

    def active(self, step: int) -> bool:
        return (self.start <= step and (self.stop is None or step < self.stop)
                and (step - self.start) % self.every == 0)

    @property
    def optimizer_name(self) -> str:
        """The phase whose optimizer this phase steps (itself unless it shares one)."""
        return self.optimizer or self.name

    def parameters(self) -> list[nn.Parameter]:
        seen: dict[int, nn.Parameter] = {}
        for m in self.modules:
            for p in m.parameters():
                seen.setdefault(id(p), p)
        return list(seen.values())
