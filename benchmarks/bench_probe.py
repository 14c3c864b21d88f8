"""The `features` suite's SVM protocol: feature extraction and L2-SVM fit times on digits.

Reference (measured in the same session): one ``LinearSVC`` fit on the
standardized raw pixels of the digits train split (1,438 × 1,024) at C = 0.01.
Timed against it, with the quick preset's settings:

* extraction of the 1,797 digits images by the DCGAN discriminator (ndf = 16,
  seeded random weights: the cost does not depend on training) and by
  K-means (K = 256, fitted once outside the timing);
* one SVM fit at C = 0.01 on each representation;
* the whole :func:`linear_probe` (C chosen among 4 values on a validation
  split, then refitted) on the discriminator's features.

The terminal summary prints each time as a multiple of the reference; wall
time is never asserted.
"""

import pytest
import torch

from gbench.data import DATASETS
from gbench.features.kmeans import KMeansFeatures
from gbench.metrics.linear_probe import ProbeConfig, fit_standardizer, fit_svm, linear_probe, standardize
from gbench.suites.features import PROTOCOLS, discriminator_features

C = 1e-2
_timings: dict[str, float] = {}


@pytest.fixture(scope="module")
def data():
    spec = DATASETS.get("digits")
    train, test = spec("train"), spec("test")
    images = torch.cat([train.images, test.images])
    return train, test, images


@pytest.fixture(scope="module")
def discriminator():
    from zoo.models import MODELS

    spec = MODELS.get("dcgan")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        return spec.build(spec.make_config("quick", (1, 32, 32))).discriminator.eval()


@pytest.fixture(scope="module")
def kmeans(data):
    train, _, _ = data
    return KMeansFeatures(k=PROTOCOLS["quick"].kmeans_k, seed=0).fit(train.images, num_patches=10_000)


def _time(benchmark, name, fn, rounds=2):
    out = benchmark.pedantic(fn, rounds=rounds, iterations=1)
    _timings[name] = benchmark.stats.stats.min
    return out


def _ratio(report_ratio, name, what):
    if "raw svm" in _timings:
        report_ratio(f"{what}: {_timings[name] / _timings['raw svm']:.2f}× one raw-pixel SVM fit "
                     f"({_timings['raw svm']:.2f} s)")


def _standardized(features):
    mean, scale = fit_standardizer(features)
    return standardize(features, mean, scale)


def test_reference_raw_pixel_svm_fit(benchmark, data):
    benchmark.group = "L2-SVM fit, digits train, C = 0.01"
    train, _, _ = data
    x = _standardized(train.images.flatten(1).float() / 255)
    svm, _ = _time(benchmark, "raw svm", lambda: fit_svm(x, train.labels.numpy(), C))
    assert svm.coef_.shape == (10, 1024)


def test_discriminator_feature_extraction(benchmark, data, discriminator, report_ratio):
    benchmark.group = "feature extraction, 1,797 digits"
    _, _, images = data
    f = _time(benchmark, "d features", lambda: discriminator_features(discriminator, images, torch.device("cpu")))
    assert f.shape == (len(images), 16 * (16 + 32 + 64))
    _ratio(report_ratio, "d features", "DCGAN D features (ndf 16), 1,797 images")


def test_kmeans_feature_extraction(benchmark, data, kmeans, report_ratio):
    benchmark.group = "feature extraction, 1,797 digits"
    _, _, images = data
    f = _time(benchmark, "kmeans features", lambda: kmeans.transform(images))
    assert f.shape == (len(images), 4 * kmeans.k)
    _ratio(report_ratio, "kmeans features", f"K-means features (K {kmeans.k}), 1,797 images")


def test_discriminator_svm_fit(benchmark, data, discriminator, report_ratio):
    benchmark.group = "L2-SVM fit, digits train, C = 0.01"
    train, _, _ = data
    x = _standardized(discriminator_features(discriminator, train.images, torch.device("cpu")))
    _time(benchmark, "d svm", lambda: fit_svm(x, train.labels.numpy(), C))
    _ratio(report_ratio, "d svm", f"SVM fit on D features ({x.shape[1]} dims)")


def test_kmeans_svm_fit(benchmark, data, kmeans, report_ratio):
    benchmark.group = "L2-SVM fit, digits train, C = 0.01"
    train, _, _ = data
    x = _standardized(kmeans.transform(train.images))
    _time(benchmark, "kmeans svm", lambda: fit_svm(x, train.labels.numpy(), C))
    _ratio(report_ratio, "kmeans svm", f"SVM fit on K-means features ({x.shape[1]} dims)")


def test_whole_probe_on_discriminator_features(benchmark, data, discriminator, report_ratio):
    benchmark.group = "linear_probe (C selection + refit + test)"
    train, test, _ = data
    cpu = torch.device("cpu")
    f_train = discriminator_features(discriminator, train.images, cpu)
    f_test = discriminator_features(discriminator, test.images, cpu)
    config = PROTOCOLS["quick"].probe
    assert isinstance(config, ProbeConfig)
    result = _time(benchmark, "probe", lambda: linear_probe(f_train, train.labels, f_test, test.labels, config),
                   rounds=1)
    assert 0.0 <= result.accuracy <= 1.0
    _ratio(report_ratio, "probe", f"whole linear_probe on D features ({len(config.cs)} Cs + refit)")
