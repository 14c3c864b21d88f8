"""The metric registry: one :class:`MetricSpec` per metric, registered next to its function.

A spec carries everything any consumer needs, so that ``evaluate``,
``gbench score``, ``gbench list``, the leaderboard and the studies iterate
the registry and never name a metric themselves:

* display: table label, direction (↑/↓), decimals, display scale (KID ×10³),
  what a within-run ± means;
* computation: what the metric consumes and its ``compute`` function;
* protocol: the parameters it is computed with (KID subsets and subset size,
  IS splits, PR k), recorded with every number.

What a metric consumes (``consumes``):

* ``features`` — sample features against a reference (:class:`FeatureInputs`):
  FID, KID, precision/recall, density/coverage;
* ``logits`` — the samples' classifier logits (:class:`FeatureInputs`): IS;
* ``pairs`` — (restored, ground truth) pairs, a list of uint8 (1, C, H, W)
  tensor pairs of any sizes; ``compute(pairs) -> Score`` (mean over images ±
  their std): PSNR, SSIM, the HF energy ratio; LPIPS (which needs a loaded
  network, so its suite scores it);
* ``codes`` — latent codes with the true factors: MIG, SAP, DCI, FactorVAE;
* ``conditioned`` — samples with the condition each was generated from
  (:class:`gbench.metrics.conditioned.ConditionedInputs`: captions, label maps)
  and the shipped `scenes` evaluator that reads them: caption consistency,
  layout mIoU, R-precision;
* ``run`` — a quantity a suite measures with its own procedure (an ELBO, a
  probe accuracy, a rank correlation); no ``compute`` here.

Only ``features`` and ``logits`` metrics with a ``compute`` are scored by
``gbench score`` (images → extractor → metric). ``group`` lets one CLI name
select several metrics computed together (``pr`` → precision and recall).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

import torch

from gbench.registry import Registry

CONSUMES = ("features", "logits", "pairs", "codes", "conditioned", "run")


@dataclass(frozen=True)
class Score:
    """One computed number: value, its within-run spread (None when the
    protocol defines none) and the protocol parameters actually used."""

    value: float
    std: float | None = None
    protocol: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class FeatureInputs:
    """What ``features`` and ``logits`` metrics read.

    Attributes:
        fake: sample features, float (N, d).
        logits: the samples' classifier logits (N, K), or None.
        real: reference features (M, d), or None when the reference is only
            saved statistics (then only the Fréchet distance is defined).
        frechet: the reference's Fréchet statistics with their cached factor
            (:class:`gbench.metrics.frechet.FrechetReference`).
        seed: for metrics that draw subsets or splits.
        fake_stats: the samples' :class:`gbench.FeatureStats` when already summed
            (all-reduced over ranks by sharded extraction), else None: FID sums ``fake``.
        memo: results shared by metrics computed together (precision and
            recall come from one k-NN pass); see :meth:`shared`.
    """

    fake: torch.Tensor
    logits: torch.Tensor | None = None
    real: torch.Tensor | None = None
    frechet: Any = None
    seed: int = 0
    fake_stats: Any = None
    memo: dict = field(default_factory=dict)

    def require_real(self, metric: str) -> torch.Tensor:
        """The reference features; an error naming ``metric`` when only saved statistics were given."""
        if self.real is None:
            from gbench.errors import GbenchError

            raise GbenchError(f"{metric} needs the reference images or features, not only saved mu/sigma "
                              "statistics: pass the reference folder or .npz of images")
        return self.real

    def shared(self, key: str, fn: Callable[[], Any]) -> Any:
        """``fn()`` once per key for these inputs."""
        if key not in self.memo:
            self.memo[key] = fn()
        return self.memo[key]


@dataclass(frozen=True)
class MetricSpec:
    """A registered metric.

    Attributes:
        name: the ``metric`` field of records and the CLI name.
        label: column header (without the direction arrow).
        higher_is_better: True (↑), False (↓) or None (neither: a size, a time,
            a correlation read against a target).
        description: one line for `gbench list`.
        decimals: digits after the point in tables (None: 4 significant digits).
        scale: tables show value × scale (KID ×10³; the label says so).
        consumes: one of CONSUMES.
        compute: ``compute(inputs) -> Score`` — ``features``/``logits``: a
            :class:`FeatureInputs`; ``pairs``: a list of (restored, reference)
            uint8 tensors; ``conditioned``: a ``ConditionedInputs`` — or None (``run`` metrics, and those whose
            inputs need a loaded network or a suite's procedure).
        protocol: the parameters the metric is computed with, by name.
        group: a CLI name that selects this metric with others (``pr``).
        spread: what a within-run ± means ("std over 100 subsets"); "" = none.
    """

    name: str
    label: str
    higher_is_better: bool | None
    description: str
    decimals: int | None = None
    scale: float = 1.0
    consumes: str = "run"
    compute: Callable[[Any], Score] | None = None
    protocol: Mapping[str, Any] = field(default_factory=dict)
    group: str | None = None
    spread: str = ""

    def __post_init__(self):
        if self.consumes not in CONSUMES:
            raise ValueError(f"metric {self.name!r}: consumes must be one of {CONSUMES}, got {self.consumes!r}")
        if self.consumes == "run" and self.compute is not None:
            raise ValueError(f"metric {self.name!r}: a 'run' metric is measured by its suite, it has no compute")

    @property
    def header(self) -> str:
        arrow = {True: " ↑", False: " ↓", None: ""}[self.higher_is_better]
        return self.label + arrow

    @property
    def scoreable(self) -> bool:
        """Can ``gbench score`` compute it from images and a reference?"""
        return self.compute is not None and self.consumes in ("features", "logits")


METRICS: Registry[MetricSpec] = Registry("metric")
_REGISTERED: list[str] = []  # registration order: a group's members are listed in it (precision, recall)


def register_metric(*specs: MetricSpec) -> None:
    """Register metric specs. Registering an equal spec again is a no-op (a
    module may be imported twice under pytest); a different one is an error."""
    for spec in specs:
        if spec.name in METRICS:
            if METRICS.get(spec.name) != spec:
                raise ValueError(f"metric {spec.name!r} is already registered with a different spec")
            continue
        METRICS.register(spec.name, spec)
        _REGISTERED.append(spec.name)


def metric_spec(name: str) -> MetricSpec | None:
    """The spec of a registered metric, or None for a name no module registered."""
    return METRICS.get(name) if name in METRICS else None


def cli_names() -> dict[str, tuple[str, ...]]:
    """CLI name → the scoreable metrics it selects: every scoreable metric by
    its own name, and each group by its group name, in registry order."""
    out: dict[str, tuple[str, ...]] = {}
    for name in sorted(_REGISTERED):
        spec = METRICS.get(name)
        if not spec.scoreable:
            continue
        out[name] = (name,)
    for name in _REGISTERED:
        spec = METRICS.get(name)
        if spec.scoreable and spec.group:
            out[spec.group] = out.get(spec.group, ()) + (name,)
    return out


def scoreable_metrics() -> tuple[str, ...]:
    """Every metric computed from sample features or logits, in registration order
    (``gbench.metrics`` registers FID first, then IS, KID, precision/recall, density/coverage)."""
    return tuple(name for name in _REGISTERED if METRICS.get(name).scoreable)


def score_features(inputs: FeatureInputs, metrics) -> dict[str, Score]:
    """{metric: Score} for each named scoreable metric, in the order given."""
    out = {}
    for name in metrics:
        spec = METRICS.get(name)
        if not spec.scoreable:
            raise ValueError(f"metric {name!r} consumes {spec.consumes!r}; it is not computed from features")
        out[name] = spec.compute(inputs)
    return out
