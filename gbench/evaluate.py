"""Scoring images against a reference: the glue between extractors and the metric registry.

A :class:`Reference` holds what a reference set contributes to every metric —
its features (KID, precision/recall, density/coverage), its Fréchet statistics
with the cached square-root factor of Σ (FID), and its size — so that scoring
many models against one test split extracts and factors it once. Which
metrics exist, and how each is computed, is the registry's business
(:mod:`gbench.metrics.spec`); nothing here names a metric.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gbench.errors import GbenchError
from gbench.metrics.frechet import FrechetReference
from gbench.metrics.spec import METRICS, FeatureInputs, Score, score_features, scoreable_metrics
from gbench.metrics.stats import FeatureStats

BATCH_SIZE = 128
PROFILE_EXTRACTORS = {"embedded": "digits-evaluator", "paper": "inception-v3-fid"}
# Embedded datasets with their own shipped evaluator (the profile's default covers the rest).
DATASET_EXTRACTORS = {"digits": "digits-evaluator", "scenes": "scenes-evaluator",
                      "natural": "inception-v3-fid"}  # no shipped evaluator reads photographs


def sample_metrics() -> tuple[str, ...]:
    """Every metric computed from sample features or logits (`gbench score`'s default and
    what the generation suite records), in registration order."""
    return scoreable_metrics()


@dataclass
class Reference:
    """A reference set, ready to score against.

    ``features`` is None for a reference given as saved statistics (only FID
    can use it then).
    """

    frechet: FrechetReference
    n: int
    features: torch.Tensor | None = None

    @classmethod
    def from_features(cls, features: torch.Tensor) -> "Reference":
        stats = FeatureStats().update(features)
        return cls(FrechetReference(*stats.compute()), int(features.shape[0]), features)

    @classmethod
    def from_images(cls, extractor, images, batch_size: int = BATCH_SIZE, cache: bool = True) -> "Reference":
        """The reference of uint8 (N, C, H, W) images (or a lazy uint8 source), its features read from
        the content-keyed cache of :mod:`gbench.cache` when ``cache`` (and ``GBENCH_NO_CACHE`` unset),
        else extracted (and then stored there, for verified weights only)."""
        from gbench.cache import cached_features

        return cls.from_features(cached_features(extractor, images, batch_size=batch_size, cache=cache)[0])

    @classmethod
    def from_stats(cls, stats: FeatureStats) -> "Reference":
        return cls(FrechetReference(*stats.compute()), int(stats.n or 0))


def score(reference: Reference, features: torch.Tensor, logits: torch.Tensor | None, metrics=None,
          seed: int = 0, stats: FeatureStats | None = None) -> dict[str, Score]:
    """{metric: Score} for sample features (N, d) (and logits (N, K) for IS); every
    scoreable metric when ``metrics`` is None. ``stats``: the features' Fréchet statistics
    when already summed (sharded extraction all-reduces them); else FID computes them."""
    metrics = sample_metrics() if metrics is None else tuple(metrics)
    inputs = FeatureInputs(fake=features, logits=logits, real=reference.features, frechet=reference.frechet,
                           seed=seed, fake_stats=stats)
    return score_features(inputs, metrics)


def needs_logits(metrics) -> bool:
    return any(METRICS.get(m).consumes == "logits" for m in metrics)


def score_images(extractor, reference: Reference, images: torch.Tensor, metrics=None, seed: int = 0,
                 batch_size: int = BATCH_SIZE) -> dict[str, Score]:
    """Extract uint8 (N, C, H, W) images and score them against ``reference``; under torchrun each
    rank extracts its shard (:mod:`gbench.sharding`) and every rank scores the gathered rows."""
    from gbench import sharding

    metrics = sample_metrics() if metrics is None else tuple(metrics)
    want = ("features", "logits") if needs_logits(metrics) else ("features",)
    out = sharding.extract(extractor, images, want=want, batch_size=batch_size)
    stats = sharding.feature_stats(out["features"]) if "fid" in metrics else None
    return score(reference, out["features"], out.get("logits"), metrics, seed, stats=stats)


def records_for(ctx, model: str, dataset: str, scores: dict[str, Score], *, variant: str = "", **fields) -> list:
    """One record per score, with its protocol parameters."""
    return [ctx.record(model, dataset, metric, s.value, std=s.std, protocol=dict(s.protocol), variant=variant,
                       **fields) for metric, s in scores.items()]


def profile_extractor_name(ctx, dataset: str | None = None) -> str:
    """``--extractor``, else the dataset's shipped evaluator (embedded profile), else the profile's."""
    if ctx.extractor:
        return ctx.extractor
    if ctx.profile == "embedded" and dataset in DATASET_EXTRACTORS:
        return DATASET_EXTRACTORS[dataset]
    return PROFILE_EXTRACTORS[ctx.profile]


def try_profile_extractor(ctx, dataset: str | None = None):
    """(the run's extractor for ``dataset`` (:func:`profile_extractor_name`) loaded on the run's device, "")
    or, when its weights do not resolve, (None, "unavailable: …" naming the missing file)."""
    from gbench.features import EXTRACTORS

    name = profile_extractor_name(ctx, dataset)
    spec = EXTRACTORS.get(name)
    # --weights DIR is for third-party files; a shipped evaluator keeps its own file
    weights = ctx.weights if spec.profile == "paper" else None
    try:
        return spec.load(device=ctx.device, weights_path=weights, allow_download=ctx.download,
                         allow_unverified=ctx.allow_unverified, channels_last=ctx.device.type == "cuda",
                         tf32=ctx.device.type == "cuda"), ""
    except GbenchError as e:
        return None, f"unavailable: extractor {name}: {e}"


def load_profile_extractor(ctx, dataset: str | None = None):
    """:func:`try_profile_extractor`'s extractor; or None after emitting a record that says why."""
    extractor, why = try_profile_extractor(ctx, dataset)
    if extractor is None:
        ctx.emit([ctx.record("all", dataset or "-", "all", None, reason=why)])
    return extractor


def conditioned_records(ctx, model: str, dataset: str, inputs, t0: float) -> list:
    """Records of every registered ``conditioned`` metric whose condition ``inputs`` (a
    :class:`gbench.metrics.conditioned.ConditionedInputs`) holds, in registry order.

    An evaluator whose weights do not load gives that metric an 'unavailable'
    record naming the file, and the others still run.
    """
    import time

    from gbench.metrics.conditioned import EVALUATOR_OF, MissingCondition

    out = []
    for name, spec in METRICS.items():
        if spec.consumes != "conditioned":
            continue
        try:
            s = spec.compute(inputs)
        except MissingCondition:  # e.g. layout mIoU of caption-conditioned samples: not in this table
            continue
        except GbenchError as e:
            out.append(ctx.record(model, dataset, name, None, reason=f"unavailable: {e}"))
            continue
        out.append(ctx.record(model, dataset, name, s.value, std=s.std, protocol=dict(s.protocol),
                              n_fake=len(inputs.images), extractor=inputs.memo.get(EVALUATOR_OF[name]),
                              wall_seconds=time.perf_counter() - t0))
    return out
