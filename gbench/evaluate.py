"""Scoring images against a reference: the glue between extractors and metrics.

A :class:`Reference` holds what a reference set contributes to every metric —
its features (KID, precision/recall, density/coverage), its Fréchet statistics
with the cached square-root factor of Σ (FID), and its size — so that scoring
many models against one test split extracts and factors it once.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from gbench.errors import GbenchError
from gbench.metrics.frechet import FrechetReference
from gbench.metrics.inception_score import inception_score
from gbench.metrics.kid import kid
from gbench.metrics.prdc import density_coverage, precision_recall
from gbench.metrics.stats import FeatureStats

GENERATION_METRICS = ("fid", "kid", "is", "precision", "recall", "density", "coverage")
KID_SUBSETS = 100
KID_SUBSET_SIZE = 1000  # Bińkowski et al.; clipped to the sample count on small sets
PR_K, DC_K = 3, 5       # Kynkäänniemi et al. 2019; Naeem et al. 2020
BATCH_SIZE = 128
PROFILE_EXTRACTORS = {"embedded": "digits-evaluator", "paper": "inception-v3-fid"}


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
    def from_images(cls, extractor, images: torch.Tensor, batch_size: int = BATCH_SIZE) -> "Reference":
        return cls.from_features(extractor.extract(images, batch_size=batch_size, want=("features",))["features"])

    @classmethod
    def from_stats(cls, stats: FeatureStats) -> "Reference":
        return cls(FrechetReference(*stats.compute()), int(stats.n or 0))


def score_features(reference: Reference, features: torch.Tensor, logits: torch.Tensor | None,
                   metrics=GENERATION_METRICS, seed: int = 0) -> dict[str, tuple[float, float | None]]:
    """{metric: (value, std or None)} for features (N, d) (and logits (N, K) for IS)."""
    out: dict[str, tuple[float, float | None]] = {}
    need_features = {"kid", "precision", "recall", "density", "coverage"} & set(metrics)
    if need_features and reference.features is None:
        raise GbenchError(f"{', '.join(sorted(need_features))} need the reference images or features, not only "
                          "saved mu/sigma statistics: pass the reference folder or .npz of images")
    if "fid" in metrics:
        mu, sigma = FeatureStats().update(features).compute()
        out["fid"] = (reference.frechet.distance(mu, sigma), None)
    if "kid" in metrics:
        size = min(KID_SUBSET_SIZE, reference.n, features.shape[0])
        out["kid"] = kid(features, reference.features, subsets=KID_SUBSETS, subset_size=size, seed=seed)
    if "is" in metrics:
        if logits is None:
            raise GbenchError("the Inception Score needs classifier logits: use an extractor with logits")
        out["is"] = inception_score(logits, splits=10, seed=seed)
    if {"precision", "recall"} & set(metrics):
        p, r = precision_recall(reference.features, features, k=PR_K)
        out.update({m: (v, None) for m, v in (("precision", p), ("recall", r)) if m in metrics})
    if {"density", "coverage"} & set(metrics):
        d, c = density_coverage(reference.features, features, k=DC_K)
        out.update({m: (v, None) for m, v in (("density", d), ("coverage", c)) if m in metrics})
    return {m: out[m] for m in metrics if m in out}


def score_images(extractor, reference: Reference, images: torch.Tensor, metrics=GENERATION_METRICS,
                 seed: int = 0, batch_size: int = BATCH_SIZE) -> dict[str, tuple[float, float | None]]:
    """Extract uint8 (N, C, H, W) images and score them against ``reference``."""
    want = ("features", "logits") if "is" in metrics else ("features",)
    out = extractor.extract(images, batch_size=batch_size, want=want)
    return score_features(reference, out["features"], out.get("logits"), metrics, seed)


def load_profile_extractor(ctx):
    """The profile's extractor, loaded on the run's device; or, when its weights
    do not resolve, None after emitting a record that says which file is missing."""
    from gbench.features import EXTRACTORS

    name = PROFILE_EXTRACTORS[ctx.profile]
    spec = EXTRACTORS.get(name)
    # --weights DIR is for third-party files; a shipped evaluator keeps its own file
    weights = ctx.weights if spec.profile == "paper" else None
    try:
        return spec.load(device=ctx.device, weights_path=weights, allow_download=ctx.download,
                         allow_unverified=ctx.allow_unverified)
    except GbenchError as e:
        ctx.emit([ctx.record("all", "-", "all", None, reason=f"unavailable: extractor {name}: {e}")])
        return None
