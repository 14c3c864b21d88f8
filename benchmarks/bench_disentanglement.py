"""dSprites rendering throughput and disentanglement-metric times.

Run:  pytest benchmarks/ --benchmark-only -k bench_disentanglement
(naming the file directly collects it twice: benchmarks/conftest.py collects
bench_*.py files, and pytest collects a named file too.)

Workload: 10,000 dSprites factor rows (seed 0). Codes have 10 latents: the 5
factor indices plus Gaussian noise (σ = 0.3) and 5 pure-noise latents — a
"good but imperfect" encoder. MIG, SAP and DCI score these 10,000 codes;
FactorVAE draws its own 10,000 + 1,200 × 64 factor rows (its defaults
num_variance_estimate, num_train, num_eval). Slow metrics run one round
(pedantic mode); the whole file stays under 3 minutes on 2 CPU cores.

The terminal summary prints reference time / gbench time, references measured
in the same session:
  * rendering: the same images rendered with one call per image (the
    per-call overhead a naive loop pays) / one vectorised call;
  * metrics: rendering the 10,000 images they score / the metric (so 0.5
    reads "the metric costs twice as much as drawing its data").
Wall time is never asserted.
"""

import time

import numpy as np
import pytest

from gbench.data import dsprites
from gbench.metrics.disentanglement import dci, factorvae_score, mig, sap

N = 10_000


@pytest.fixture(scope="module")
def factors():
    return dsprites.sample_factors(N, np.random.default_rng(0))


@pytest.fixture(scope="module")
def codes(factors):
    rng = np.random.default_rng(1)
    return np.concatenate([factors + rng.normal(scale=0.3, size=factors.shape), rng.normal(size=(N, 5))], axis=1)


@pytest.fixture(scope="module")
def render_seconds(factors):
    """Reference for the metrics: best of 3 vectorised renders of the 10,000 images."""
    times = []
    for _ in range(3):
        start = time.perf_counter()
        dsprites.render(factors)
        times.append(time.perf_counter() - start)
    return min(times)


def _report(benchmark, report_ratio, name, render_seconds):
    seconds = benchmark.stats.stats.min
    benchmark.extra_info.update({"seconds": seconds, "render_10k_over_metric": render_seconds / seconds})
    report_ratio(f"{name}: {seconds:.3f} s; render 10k images / metric = {render_seconds / seconds:.3f}")


def test_render_throughput(benchmark, factors, report_ratio):
    benchmark.group = "dsprites render 10k"
    images = benchmark.pedantic(dsprites.render, args=(factors,), rounds=5, iterations=1, warmup_rounds=1)
    assert images.shape == (N, 1, 64, 64)
    seconds = benchmark.stats.stats.min
    # Reference: one call per image, timed on the first 1,000 images and scaled to 10,000.
    start = time.perf_counter()
    for i in range(1000):
        dsprites.render(factors[i:i + 1])
    per_image_seconds = (time.perf_counter() - start) * N / 1000
    benchmark.extra_info.update({"images_per_second": N / seconds})
    report_ratio(f"dsprites render: {N / seconds:,.0f} images/s (batch of {N:,}); "
                 f"one call per image / batch = {per_image_seconds / seconds:.1f}")


def test_mig_time(benchmark, factors, codes, render_seconds, report_ratio):
    benchmark.group = "disentanglement metrics, 10k codes"
    score = benchmark.pedantic(mig, args=(codes, factors), rounds=3, iterations=1)
    assert 0.0 <= score <= 1.0
    _report(benchmark, report_ratio, f"mig = {score:.3f}", render_seconds)


def test_sap_time(benchmark, factors, codes, render_seconds, report_ratio):
    benchmark.group = "disentanglement metrics, 10k codes"
    score = benchmark.pedantic(sap, args=(codes, factors), rounds=1, iterations=1)
    assert 0.0 <= score <= 1.0
    _report(benchmark, report_ratio, f"sap = {score:.3f}", render_seconds)


@pytest.mark.parametrize("model", ["gbt", "rf"])
def test_dci_time(benchmark, factors, codes, render_seconds, report_ratio, model):
    benchmark.group = "disentanglement metrics, 10k codes"
    # The default n_estimators=10 (disentanglement_lib's GBT uses 100 stages: ≈ 10× this time).
    scores = benchmark.pedantic(dci, args=(codes, factors), kwargs={"model": model}, rounds=1, iterations=1)
    assert 0.0 <= scores["disentanglement"] <= 1.0
    summary = ", ".join(f"{k} {v:.3f}" for k, v in scores.items())
    _report(benchmark, report_ratio, f"dci[{model}] ({summary})", render_seconds)


def test_factorvae_time_on_codes(benchmark, render_seconds, report_ratio):
    """The metric's own cost: a cheap, entangled representation computed from the factors."""
    benchmark.group = "disentanglement metrics, 10k codes"
    weights = np.random.default_rng(2).normal(size=(5, 10))
    noise = np.random.default_rng(3)

    def represent(f):
        return f @ weights + noise.normal(size=(len(f), 10))

    result = benchmark.pedantic(
        factorvae_score, args=(represent, dsprites.FACTOR_SIZES, np.random.default_rng(0)),
        kwargs={"sample_factors": dsprites.sample_factors, "sample_fixed_factor": dsprites.sample_fixed_factor},
        rounds=3, iterations=1,
    )
    _report(benchmark, report_ratio, f"factorvae (codes) = {result['eval_accuracy']:.3f}", render_seconds)


def test_factorvae_time_with_rendering(benchmark, render_seconds, report_ratio):
    """End to end: renders 86,800 images (10,000 + 1,200 batches of 64), encoded by image moments."""
    benchmark.group = "disentanglement metrics, 10k codes"

    def represent(f):
        mask = dsprites.render(f)[:, 0].numpy() > 0
        area = mask.sum(axis=(1, 2))
        centroid_x = (mask.sum(axis=1) * np.arange(64)).sum(1) / area
        centroid_y = (mask.sum(axis=2) * np.arange(64)).sum(1) / area
        return np.stack([centroid_x, centroid_y, area], axis=1)

    result = benchmark.pedantic(
        factorvae_score, args=(represent, dsprites.FACTOR_SIZES, np.random.default_rng(0)),
        kwargs={"sample_factors": dsprites.sample_factors, "sample_fixed_factor": dsprites.sample_fixed_factor},
        rounds=1, iterations=1,
    )
    _report(benchmark, report_ratio, f"factorvae (rendered) = {result['eval_accuracy']:.3f}", render_seconds)
