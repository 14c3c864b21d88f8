"""Coates et al. 2011 single-layer K-means features (gbench.features.kmeans)."""

import warnings

import numpy as np
import pytest
import torch
from sklearn.exceptions import ConvergenceWarning
from sklearn.preprocessing import StandardScaler
from sklearn.svm import LinearSVC

from gbench.data import digits, natural
from gbench.errors import GbenchError
from gbench.features import kmeans as KM
from gbench.features.kmeans import KMeansFeatures

K = 100


@pytest.fixture(scope="module")
def data():
    train, test = digits.load("train"), digits.load("test")
    return train.images[:400], train.labels[:400], test.images, test.labels


@pytest.fixture(scope="module")
def fitted(data):
    return KMeansFeatures(k=K, seed=0).fit(data[0], num_patches=10_000)


def test_shapes_dtype_and_nonnegative(fitted, data):
    feats = fitted.transform(data[0][:5])
    assert feats.shape == (5, 4 * K) and feats.dtype == torch.float32
    assert (feats >= 0).all()
    maps = fitted.encode(data[0][:2])
    assert maps.shape == (2, K, 27, 27)  # 32 − 6 + 1 positions per side at stride 1
    assert fitted.centroids_.shape == (K, 36) and fitted.whitening_.shape == (36, 36)


def test_rgb_and_stride():
    x = natural.random_patches("test", 12, 20, seed=0)
    fx = KMeansFeatures(k=8, stride=2, seed=0).fit(x, num_patches=2000)
    assert fx.centroids_.shape == (8, 108)
    assert fx.encode(x[:1]).shape == (1, 8, 8, 8)  # (20 − 6) // 2 + 1
    assert fx.transform(x).shape == (12, 32)


def test_pooling_sums_the_four_quadrants(fitted, data):
    maps = fitted.encode(data[0][:3])
    feats = fitted.transform(data[0][:3])
    # 27 positions split 14 + 13 (MATLAB's round(27 / 2)); order TL, BL, TR, BR.
    quads = [maps[:, :, :14, :14], maps[:, :, 14:, :14], maps[:, :, :14, 14:], maps[:, :, 14:, 14:]]
    expected = torch.cat([q.sum(dim=(2, 3)) for q in quads], dim=1)
    torch.testing.assert_close(feats, expected)
    torch.testing.assert_close(feats.view(3, 4, K).sum(1), maps.sum(dim=(2, 3)))


def test_chunking_does_not_change_features(fitted, data, monkeypatch):
    whole = fitted.transform(data[0][:10])
    monkeypatch.setattr(KM, "_CHUNK_FLOATS", 1)  # one image per chunk, one row per assignment chunk
    # Same arithmetic on fewer rows: only float32 summation order can differ.
    torch.testing.assert_close(fitted.transform(data[0][:10]), whole, rtol=1e-5, atol=1e-4)


def test_deterministic_given_seed(data):
    a = KMeansFeatures(k=10, seed=3, iterations=5).fit(data[0][:50], num_patches=1000)
    b = KMeansFeatures(k=10, seed=3, iterations=5).fit(data[0][:50], num_patches=1000)
    c = KMeansFeatures(k=10, seed=4, iterations=5).fit(data[0][:50], num_patches=1000)
    assert torch.equal(a.centroids_, b.centroids_)
    assert torch.equal(a.transform(data[0][:4]), b.transform(data[0][:4]))
    assert not torch.equal(a.centroids_, c.centroids_)


def test_contrast_normalization():
    x = torch.tensor([[0.0, 10.0, 20.0, 30.0], [5.0, 5.0, 5.0, 5.0]])
    y = KM.normalize_patches(x)
    # Row 1: mean 15, unbiased var 166.67 → divide by sqrt(176.67). Row 2: flat → 0, not NaN.
    torch.testing.assert_close(y[0], (x[0] - 15) / np.sqrt(500 / 3 + 10))
    assert torch.equal(y[1], torch.zeros(4))


def test_whitening_makes_the_covariance_identity_where_eps_is_negligible(data):
    p = KM.normalize_patches(KM.sample_patches(data[0], 20_000, 6, seed=1)).double()
    mean, proj = KM.zca_whitening(p, eps=KM.WHITEN_EPS)
    cov_white = torch.cov(((p - mean) @ proj).T)
    lam, vec = torch.linalg.eigh(torch.cov(p.T))
    # Exactly (float64 round-off only): P C P = V diag(λ / (λ + ε)) Vᵀ.
    shrink = lam.clamp(min=0) / (lam.clamp(min=0) + KM.WHITEN_EPS)
    torch.testing.assert_close(cov_white, (vec * shrink) @ vec.T, rtol=0, atol=1e-9)
    # Identity in the directions where λ ≥ 10 ε: there λ / (λ + ε) ≥ 10/11,
    # so every entry of the covariance in that basis is within 1/11 of I.
    strong = vec[:, lam >= 10 * KM.WHITEN_EPS]
    assert strong.shape[1] >= 4  # digits' patches: a handful of strong directions
    block = strong.T @ cov_white @ strong
    assert (block - torch.eye(block.shape[0], dtype=block.dtype)).abs().max() <= 1 / 11
    # Nowhere is variance amplified above 1.
    assert torch.linalg.eigvalsh(cov_white).max() <= 1 + 1e-9


def test_triangle_encoding_is_zero_above_the_mean_distance(fitted, data):
    p = KM.normalize_patches(KM.sample_patches(data[2], 5000, 6, seed=2))
    x = (p - fitted.mean_) @ fitted.whitening_
    f = KM.triangle_encode(x, fitted.centroids_)
    z = torch.cdist(x.double(), fitted.centroids_.double())
    torch.testing.assert_close(f.double(), (z.mean(1, keepdim=True) - z).clamp(min=0), rtol=1e-4, atol=1e-3)
    # Coates et al.: "roughly half" the features are 0 (we measure ≈ 0.45 on digits).
    assert 0.25 <= (f == 0).float().mean().item() <= 0.75


def test_linear_svm_on_features_classifies_digits(fitted, data):
    train_x, train_y, test_x, test_y = data
    # Coates' classifier: features standardized on the training set, linear SVM.
    train_f = fitted.transform(train_x).numpy()
    scaler = StandardScaler().fit(train_f)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)  # liblinear's stopping rule; accuracy is what counts
        svm = LinearSVC(C=0.1).fit(scaler.transform(train_f), train_y.numpy())
    accuracy = svm.score(scaler.transform(fitted.transform(test_x).numpy()), test_y.numpy())
    # 400 training digits, 359 test digits, chance 10 %: we measure ≈ 0.94;
    # 0.85 leaves room for other seeds and BLAS without hiding a broken pipeline.
    assert accuracy >= 0.85, accuracy


def test_bad_input_is_refused(fitted, data):
    with pytest.raises(GbenchError, match="before fit"):
        KMeansFeatures(k=4).transform(data[0][:2])
    with pytest.raises(GbenchError, match="uint8"):
        fitted.transform(data[0][:2].float())
    with pytest.raises(GbenchError, match="channels"):
        fitted.transform(natural.random_patches("test", 2, 32, seed=0))
    with pytest.raises(GbenchError, match="smaller than"):
        fitted.transform(data[0][:2, :, :5, :5])
    with pytest.raises(GbenchError, match="num_patches"):
        KMeansFeatures(k=50).fit(data[0][:10], num_patches=20)
    with pytest.raises(GbenchError, match="positive integer"):
        KMeansFeatures(k=0)
