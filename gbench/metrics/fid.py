"""FID as a registered metric: the Fréchet distance (:mod:`gbench.metrics.frechet`)
between Gaussians fitted to reference and sample features (Heusel et al. 2017, Eq. 6).

The maths lives in :func:`gbench.frechet_distance`; this file says how the
benchmark computes FID from features: the samples' float64 statistics
(:class:`gbench.FeatureStats`) against the reference's cached factor.
"""

from __future__ import annotations

from gbench.metrics.spec import FeatureInputs, MetricSpec, Score, register_metric
from gbench.metrics.stats import FeatureStats


def fid_score(inputs: FeatureInputs) -> Score:
    """FID of the sample features against the reference statistics (no spread within a run);
    the samples' statistics are ``inputs.fake_stats`` when given (sharded runs), else summed here."""
    stats = inputs.fake_stats if inputs.fake_stats is not None else FeatureStats().update(inputs.fake)
    mu, sigma = stats.compute()
    return Score(inputs.frechet.distance(mu, sigma), None, {})


register_metric(MetricSpec(
    "fid", "FID", False, "Fréchet distance between feature Gaussians (Heusel et al. 2017)", decimals=2,
    consumes="features", compute=fid_score))
