"""The linear L2-SVM probe of Radford et al. 2016 (gbench.metrics.linear_probe): properties."""

import numpy as np
import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics.linear_probe import (ProbeConfig, few_label_probe, fit_standardizer, fit_svm, linear_probe,
                                         max_pool_grid, per_class_subset, select_c, standardize, stratified_split)


def _blobs(rng, n_train, n_test, classes=3, dim=6, spread=0.5):
    """Train and test sets drawn from Gaussian blobs around shared centers 4σ apart:
    (x_train (N, dim), y_train, x_test (M, dim), y_test)."""
    centers = rng.standard_normal((classes, dim)) * 4
    out = []
    for n in (n_train, n_test):
        y = np.repeat(np.arange(classes), n)
        out += [centers[y] + spread * rng.standard_normal((len(y), dim)), y]
    return tuple(out)


def test_max_pool_grid_concatenates_every_dcgan_layer_pooled_to_4x4():
    from zoo.models import MODELS

    spec = MODELS.get("dcgan")
    d = spec.build(spec.make_config("smoke", (1, 32, 32))).discriminator.eval()
    x = torch.randn(5, 1, 32, 32)
    with torch.no_grad():
        layers = d.layer_outputs(x)
        feats = max_pool_grid(layers)
    # ndf = 8 at smoke: (8, 16, 16), (16, 8, 8), (32, 4, 4); the logit conv is not a feature layer.
    assert [tuple(t.shape[1:]) for t in layers] == [(8, 16, 16), (16, 8, 8), (32, 4, 4)]
    assert feats.shape == (5, (8 + 16 + 32) * 16)
    # Layer 1 comes first, channel-major: feature 0 is the max of channel 0 over the top-left 4×4 cell.
    assert torch.equal(feats[:, 0], layers[0][:, 0, :4, :4].amax(dim=(1, 2)))
    # A 4×4 map passes unchanged: the last block is the tail of the vector.
    assert torch.equal(feats[:, -32 * 16:], layers[2].flatten(1))
    # layer_outputs ends where forward's logit conv begins.
    with torch.no_grad():
        assert torch.allclose(d.trunk.net[-1](layers[-1]).flatten(), d(x))


def test_max_pool_grid_rejects_mismatched_batches():
    with pytest.raises(GbenchError, match="layer 1"):
        max_pool_grid([torch.zeros(2, 3, 8, 8), torch.zeros(3, 3, 8, 8)])


def test_standardizer_uses_training_statistics_and_keeps_constant_features_finite(rng):
    train = rng.normal(5.0, 3.0, size=(200, 4))
    train[:, 3] = 7.0  # constant on train
    mean, scale = fit_standardizer(train)
    z = standardize(train, mean, scale)
    np.testing.assert_allclose(z[:, :3].mean(0), 0, atol=1e-12)
    np.testing.assert_allclose(z[:, :3].std(0), 1, atol=1e-12)
    assert scale[3] == 1.0 and np.all(z[:, 3] == 0)
    test = rng.normal(10.0, 3.0, size=(50, 4))  # shifted: must stay shifted under train statistics
    assert standardize(test, mean, scale)[:, :3].mean() > 1.0


def test_linear_probe_standardizes_with_training_data_only(rng):
    # Predictions on test points must not depend on other test points: an extreme test point would
    # move test-fitted statistics and change every other prediction.
    x, y, xt, yt = _blobs(rng, 60, 20, spread=5.0)  # overlapping: some test points are misclassified
    config = ProbeConfig(cs=(1e-2, 1.0))
    base = linear_probe(x, y, xt, yt, config, seed=0)
    outlier = np.full((1, x.shape[1]), 1e6)
    more = linear_probe(x, y, np.vstack([xt, outlier]), np.append(yt, 0), config, seed=0)
    m = len(yt)
    assert more.c == base.c and 0.5 < base.accuracy < 1.0
    # The other m predictions are unchanged: only the outlier's own hit can be added.
    assert round(more.accuracy * (m + 1)) - round(base.accuracy * m) in (0, 1)


def test_c_is_chosen_on_validation_split_never_on_test_labels(rng):
    x, y, xt, yt = _blobs(rng, 60, 20)
    config = ProbeConfig(cs=(1e-8, 1e-2, 1.0))
    a = linear_probe(x, y, xt, yt, config, seed=0)
    b = linear_probe(x, y, xt, (yt + 1) % 3, config, seed=0)  # every test label wrong
    assert a.c == b.c and a.val_accuracy == b.val_accuracy
    assert a.accuracy == 1.0 and b.accuracy == 0.0


def test_select_c_scores_each_c_by_an_svm_fitted_on_the_fit_part(rng):
    x, y, _, _ = _blobs(rng, 50, 1, classes=4, dim=20, spread=4.0)
    fit, val = stratified_split(y, 0.3, seed=0)
    cs = (1.0, 1e-4, 1e-2)
    c, scores, _ = select_c(x[fit], y[fit], x[val], y[val], ProbeConfig(cs=cs))
    mean, scale = fit_standardizer(x[fit])  # the fit part's statistics, not the validation part's
    for each in cs:
        svm, _ = fit_svm(standardize(x[fit], mean, scale), y[fit], each, ProbeConfig(cs=cs))
        assert scores[each] == np.mean(svm.predict(standardize(x[val], mean, scale)) == y[val])
    assert scores[c] == max(scores.values())


def test_select_c_takes_the_best_validation_accuracy_and_the_smallest_c_on_ties(monkeypatch, rng):
    import gbench.metrics.linear_probe as lp

    x, y, _, _ = _blobs(rng, 10, 1)
    fit, val = stratified_split(y, 0.3, seed=0)
    right = {0.1, 10.0}  # these Cs predict every validation label; the others predict class 0

    class Fake:
        converged = True

        def __init__(self, c):
            self.c = c

        def predict(self, features):
            return y[val] if self.c in right else np.zeros(len(features), dtype=int)

    class FakeProblem:  # select_c solves one problem for the whole C grid
        def __init__(self, xs, ys):
            pass

        def solve(self, c, tol, max_iter, start):
            return Fake(c)

    monkeypatch.setattr(lp, "L2SVMProblem", FakeProblem)
    c, scores, _ = lp.select_c(x[fit], y[fit], x[val], y[val], ProbeConfig(cs=(10.0, 1.0, 0.1, 0.01)))
    assert scores[0.1] == scores[10.0] == 1.0 and scores[0.01] < 1.0
    assert c == 0.1


def test_stratified_split_holds_out_every_class_disjointly():
    y = np.array([0] * 10 + [1] * 5 + [2] * 2)
    kept, held = stratified_split(y, 0.2, seed=3)
    assert np.intersect1d(kept, held).size == 0
    assert np.array_equal(np.sort(np.concatenate([kept, held])), np.arange(len(y)))
    assert np.bincount(y[held]).tolist() == [2, 1, 1]  # round(0.2·n), at least 1, at most n − 1
    with pytest.raises(GbenchError, match="at least 2 per class"):
        stratified_split(np.array([0, 0, 1]), 0.2)


def test_per_class_subset_draws_exactly_n_per_class():
    y = np.repeat(np.arange(3), [10, 12, 15])
    idx = per_class_subset(y, 4, seed=0)
    assert np.bincount(y[idx]).tolist() == [4, 4, 4] and len(set(idx)) == 12
    assert not np.array_equal(idx, per_class_subset(y, 4, seed=1))
    with pytest.raises(GbenchError, match="fewer than the 11"):
        per_class_subset(y, 11)


def test_few_label_probe_reports_mean_and_sample_std_over_draws(rng):
    x, y, xt, yt = _blobs(rng, 30, 30, spread=3.0)  # overlapping: accuracies vary between draws
    mean, std, results = few_label_probe(x, y, xt, yt, n_per_class=5, draws=4, config=ProbeConfig(cs=(1e-2, 1.0)))
    acc = [r.accuracy for r in results]
    assert len(results) == 4
    assert mean == pytest.approx(np.mean(acc)) and std == pytest.approx(np.std(acc, ddof=1))
