"""Fréchet distance at Inception's d = 2048: gbench's eigh backend against pytorch-fid.

Times one call of pytorch-fid's ``calculate_frechet_distance`` (scipy sqrtm of
Σ₁Σ₂), of ``frechet_distance(..., backend="eigh")`` and of a cached
``FrechetReference.distance``, on the same statistics, in the same session;
the terminal summary prints reference time / gbench time. Results must agree
to 1e-8 relative; wall time is never asserted. The statistics have full rank,
as FID's 50k-sample ones do: gbench factors Σ₁ by Cholesky (an eigh, taken
only for singular covariances, costs ~35× more at d = 2048 on a CPU).

pytorch-fid takes tens of seconds per call on two CPU cores, so each variant
runs a single round (pedantic mode): the whole file stays under two minutes.
With ``--bench-records DIR`` each gbench variant becomes a ``performance`` record
(seconds per call, pytorch-fid's as the reference).
"""

import warnings

import numpy as np
import pytest
from pytorch_fid.fid_score import calculate_frechet_distance

from gbench.metrics.frechet import FrechetReference, frechet_distance

D = 2048
N_SAMPLES = 4096
RTOL = 1e-8  # the backends' contract on well-conditioned statistics

_timings: dict[str, float] = {}
_values: dict[str, float] = {}


def _stats(rng, shift, scale):
    """Statistics of N_SAMPLES correlated Gaussian features: well-conditioned SPD, as FID's."""
    mixing = np.eye(D) + 0.3 * rng.standard_normal((D, D)) / np.sqrt(D)
    x = (rng.standard_normal((N_SAMPLES, D)) @ mixing) * scale + shift
    return x.mean(axis=0), np.cov(x, rowvar=False)


@pytest.fixture(scope="module")
def statistics():
    rng = np.random.default_rng(0)
    return (*_stats(rng, 0.0, 1.0), *_stats(rng, 0.1, 1.2))


def _run(benchmark, name, fn, rounds=1):
    value = benchmark.pedantic(fn, rounds=rounds, iterations=1)
    _timings[name] = benchmark.stats.stats.min
    _values[name] = value
    return value


def _reference_value(statistics):
    if "pytorch-fid" not in _values:  # its benchmark was deselected
        _values["pytorch-fid"] = _pytorch_fid(statistics)
    return _values["pytorch-fid"]


def _pytorch_fid(statistics):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # pytorch-fid passes scipy's deprecated disp
        return calculate_frechet_distance(*statistics)


def test_pytorch_fid(benchmark, statistics):
    benchmark.group = "frechet d=2048"
    _run(benchmark, "pytorch-fid", lambda: _pytorch_fid(statistics))


def test_eigh(benchmark, statistics, report_ratio, bench_record):
    benchmark.group = "frechet d=2048"
    value = _run(benchmark, "eigh", lambda: frechet_distance(*statistics, backend="eigh"), rounds=3)
    assert value == pytest.approx(_reference_value(statistics), rel=RTOL)
    _report(report_ratio, bench_record, "eigh", "frechet_distance(backend='eigh')")


def test_cached_reference(benchmark, statistics, report_ratio, bench_record):
    benchmark.group = "frechet d=2048"
    mu_ref, sigma_ref, mu, sigma = statistics
    reference = FrechetReference(mu_ref, sigma_ref)  # factored once, outside the timing
    value = _run(benchmark, "cached reference", lambda: reference.distance(mu, sigma), rounds=3)
    assert value == pytest.approx(_reference_value(statistics), rel=RTOL)
    _report(report_ratio, bench_record, "cached reference", "FrechetReference.distance (reference factored once)")


def _report(report_ratio, bench_record, name, subject):
    if "pytorch-fid" in _timings:
        ref = _timings["pytorch-fid"]
        bench_record(subject, f"d = {D}, full-rank statistics of {N_SAMPLES:,} samples", "s_per_call", _timings[name],
                     reference="pytorch-fid calculate_frechet_distance", reference_value=ref)
        report_ratio(f"frechet d={D}: pytorch-fid {ref:.2f} s / {name} {_timings[name]:.2f} s "
                     f"= {ref / _timings[name]:.1f}x")
