"""What the disentanglement metrics mean: property tests, plus MIG parity with disentanglement_lib's algorithm.

Factor sets used below:
  SMALL = (2, 5, 10, 20): every factor has at most 20 values, so with MIG's
  default 20 bins a perfect code loses nothing to discretization.
"""

import numpy as np
import pytest
import sklearn.metrics
import torch

from gbench.data import dsprites
from gbench.errors import GbenchError
from gbench.metrics.disentanglement import (
    dci,
    factorvae_score,
    mig,
    mig_per_factor,
    normalized_mutual_info_matrix,
    sap,
)
from gbench.metrics.disentanglement._common import histogram_discretize
from gbench.metrics.disentanglement.dci import completeness_score, disentanglement_score
from gbench.metrics.disentanglement.factorvae import majority_vote_accuracy
from gbench.metrics.disentanglement.sap import sap_score_matrix_discrete, top_two_gap

SMALL = (2, 5, 10, 20)


def uniform_factors(n, sizes, seed):
    rng = np.random.default_rng(seed)
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1)


@pytest.fixture(scope="module")
def small():
    """(factors, perfect code, random code) for SMALL, N = 3000."""
    factors = uniform_factors(3000, SMALL, seed=0)
    random_code = np.random.default_rng(1).normal(size=(3000, 6))
    return factors, factors.astype(np.float64), random_code


# ---------------------------------------------------------------- MIG


def reference_compute_mig(mus, ys, num_bins):
    """disentanglement_lib's compute_mig, written from its documented algorithm.

    Layout as in disentanglement_lib: mus (num_codes, N), ys (num_factors, N).
    """
    discretized = np.zeros_like(mus)
    for i in range(mus.shape[0]):
        discretized[i, :] = np.digitize(mus[i, :], np.histogram(mus[i, :], num_bins)[1][:-1])
    m = np.zeros([mus.shape[0], ys.shape[0]])
    for i in range(mus.shape[0]):
        for j in range(ys.shape[0]):
            m[i, j] = sklearn.metrics.mutual_info_score(ys[j, :], discretized[i, :])
    entropy = np.array([sklearn.metrics.mutual_info_score(ys[j, :], ys[j, :]) for j in range(ys.shape[0])])
    sorted_m = np.sort(m, axis=0)[::-1]
    return np.mean(np.divide(sorted_m[0, :] - sorted_m[1, :], entropy[:]))


def test_mig_matches_disentanglement_lib_algorithm(small):
    factors, perfect, _ = small
    rng = np.random.default_rng(5)
    # An entangled, noisy code: mixtures of factors plus noise, so no entry is trivially 0 or 1.
    codes = perfect @ rng.normal(size=(4, 7)) + rng.normal(scale=2.0, size=(3000, 7))
    for num_bins in (5, 20, 37):
        expected = reference_compute_mig(codes.T, factors.T, num_bins)
        # Same operations in the same order up to array layout: agreement to rounding.
        assert mig(codes, factors, num_bins=num_bins) == pytest.approx(expected, abs=1e-12)


def test_histogram_discretize_labels_bins_like_numpy_histogram():
    codes = np.array([[0.0], [0.49], [0.5], [0.99], [1.0]])
    # Two bins over [0, 1]: edges (0, 0.5, 1); the maximum belongs to the last bin.
    np.testing.assert_array_equal(histogram_discretize(codes, 2)[:, 0], [1, 1, 2, 2, 2])
    # A constant latent falls in a single bin (numpy widens its zero range to ±0.5).
    assert len(np.unique(histogram_discretize(np.full((4, 1), 3.0), 20))) == 1


def test_mig_perfect_code_is_high_under_permutation_and_affine_rescaling(small):
    factors, perfect, _ = small
    score = mig(perfect, factors)
    # ≥ 0.9: 1 minus the plug-in MI bias of the runner-up latent, ≈ (20−1)(20−1)/(2N) nats / H ≲ 0.02.
    assert score >= 0.9
    perm = np.array([2, 0, 3, 1])
    rescaled = perfect[:, perm] * np.array([3.0, 0.01, 250.0, 7.0]) + np.array([-4.0, 1e3, 0.5, 0.0])
    flipped = -2.5 * perfect + 1.0
    # Each bin holds exactly one factor value, far from a bin edge, so the score is unchanged up to rounding.
    assert mig(rescaled, factors) == pytest.approx(score, abs=1e-12)
    assert mig(flipped, factors) == pytest.approx(score, abs=1e-12)


def test_mig_is_invariant_to_latent_order(small):
    factors, perfect, random_code = small
    codes = np.concatenate([perfect + np.random.default_rng(2).normal(scale=0.7, size=perfect.shape), random_code], 1)
    perm = np.random.default_rng(3).permutation(codes.shape[1])
    assert mig(codes[:, perm], factors) == mig(codes, factors)


def test_mig_constant_and_random_codes_are_near_zero(small):
    factors, _, random_code = small
    assert mig(np.zeros((3000, 4)), factors) == 0.0  # one bin per latent: no information at all
    # Random codes: only the plug-in bias remains, (20−1)(20−1)/(2·3000) nats / log 20 ≈ 0.02 at most.
    assert mig(random_code, factors) <= 0.1


def test_mig_duplicated_latent_closes_the_gap_of_its_factor(small):
    factors, perfect, _ = small
    codes = np.concatenate([perfect, perfect[:, 2:3]], axis=1)
    gaps = mig_per_factor(codes, factors)
    assert gaps[2] == 0.0  # two identical latents carry identical information
    assert (gaps[[0, 1, 3]] >= 0.9).all()


def test_mig_histogram_caps_factors_with_more_values_than_bins():
    factors = uniform_factors(20_000, (40,), seed=4)
    code = factors.astype(np.float64) * 0.3 + 2.0
    h = sklearn.metrics.mutual_info_score(factors[:, 0], factors[:, 0])
    nmi = normalized_mutual_info_matrix(code, factors, num_bins=20)[0, 0]
    # I(z; v) ≤ H(z binned) ≤ log 20, whatever the code: a perfect code cannot exceed log 20 / H(v).
    assert nmi <= np.log(20) / h + 1e-12
    # 20 equal-width bins over 40 equally spaced values hold exactly 2 values each, so the cap is reached:
    # nmi = H(bins) / H(v) ≈ log 20 / log 40 = 0.812 (±0.005: sampling noise of both entropies at N = 20,000).
    assert nmi == pytest.approx(np.log(20) / np.log(40), abs=0.005)
    # With as many bins as values the same code is resolved completely.
    assert normalized_mutual_info_matrix(code, factors, num_bins=40)[0, 0] == pytest.approx(1.0, abs=1e-12)


def test_mig_accepts_torch_and_refuses_bad_input(small):
    factors, perfect, _ = small
    assert mig(torch.from_numpy(perfect).float(), torch.from_numpy(factors)) == pytest.approx(mig(perfect, factors))
    bad = perfect.copy()
    bad[0, 0] = np.nan
    with pytest.raises(GbenchError, match="NaN"):
        mig(bad, factors)
    with pytest.raises(GbenchError, match="one row per observation"):
        mig(perfect[:-1], factors)
    with pytest.raises(GbenchError, match="single value"):
        mig(perfect, np.concatenate([factors, np.zeros((3000, 1), dtype=np.int64)], 1))
    with pytest.raises(GbenchError, match="at least 2 latents"):
        mig(perfect[:, :1], factors)
    with pytest.raises(GbenchError, match="integer"):
        mig(perfect, factors + 0.5)


# ---------------------------------------------------------------- SAP


def test_sap_continuous_perfect_code_is_one_and_random_is_zero(small):
    factors, perfect, random_code = small
    perm = np.array([3, 1, 0, 2])
    # Own latent: squared correlation 1; others ≈ 1/N. So SAP ≥ 0.99.
    assert sap(perfect[:, perm] * 4.0 - 1.0, factors, continuous=True) >= 0.99
    assert sap(random_code, factors, continuous=True) <= 0.01  # squared correlations of independent data ~ 1/N


def test_sap_discrete_gap_is_accuracy_above_the_runner_up():
    factors = uniform_factors(3000, (2, 2, 2), seed=6)
    perfect = factors.astype(np.float64)
    # Binary factors: own latent separates them perfectly (accuracy 1), the others are at chance (0.5),
    # so SAP ≈ 0.5; ±0.05 covers the sampling noise of a chance accuracy on 1000 test points (σ ≈ 0.016).
    assert sap(perfect, factors) == pytest.approx(0.5, abs=0.05)
    assert sap(np.random.default_rng(7).normal(size=(3000, 4)), factors) <= 0.05
    # A duplicated latent ties with its copy: that factor's gap is exactly 0.
    duplicated = np.concatenate([perfect, perfect[:, :1]], axis=1)
    train, test = np.arange(2000), np.arange(2000, 3000)
    scores = sap_score_matrix_discrete(duplicated[train], factors[train], duplicated[test], factors[test])
    assert scores[0, 0] == scores[3, 0] == 1.0
    assert top_two_gap(scores[:, :1]) == 0.0 and top_two_gap(scores[:, 1:]) >= 0.4


def test_sap_latent_order_and_explicit_split(small):
    factors, perfect, random_code = small
    codes = np.concatenate([perfect + np.random.default_rng(8).normal(size=perfect.shape), random_code], 1)
    perm = np.random.default_rng(9).permutation(codes.shape[1])
    assert sap(codes[:, perm], factors) == sap(codes, factors)
    # The seeded split is the documented one: passing it explicitly gives the same score.
    test_idx = np.sort(np.random.default_rng(0).permutation(3000)[:1000])
    train_idx = np.setdiff1d(np.arange(3000), test_idx)
    explicit = sap(codes[train_idx], factors[train_idx], codes[test_idx], factors[test_idx])
    assert explicit == sap(codes, factors, seed=0)
    with pytest.raises(GbenchError, match="both"):
        sap(codes, factors, codes_test=codes)


# ---------------------------------------------------------------- DCI


def test_dci_scores_of_importance_matrices():
    # Pure functions of the importance matrix R (latents × factors), Eastwood & Williams Eqs. 1-3.
    assert disentanglement_score(np.eye(3)) == pytest.approx(1.0, abs=1e-9)
    assert completeness_score(np.eye(3)) == pytest.approx(1.0, abs=1e-9)
    assert disentanglement_score(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    assert completeness_score(np.ones((3, 3))) == pytest.approx(0.0, abs=1e-9)
    # Two latents for factor 0, nothing for factor 1: each latent is still about one factor
    # (D = 1) but factor 0 is split over two of two latents (C = 1 − log₂ 2 = 0).
    r = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert disentanglement_score(r) == pytest.approx(1.0, abs=1e-9)
    assert completeness_score(r) == pytest.approx(0.0, abs=1e-9)
    # Order of latents and of factors does not matter.
    r = np.random.default_rng(0).random((5, 3))
    assert disentanglement_score(r[[4, 2, 0, 1, 3]][:, [2, 0, 1]]) == pytest.approx(disentanglement_score(r), abs=1e-12)
    assert completeness_score(r[[4, 2, 0, 1, 3]][:, [2, 0, 1]]) == pytest.approx(completeness_score(r), abs=1e-12)


@pytest.mark.parametrize("model", ["gbt", "rf"])
def test_dci_perfect_code_is_high_and_random_code_is_low(model):
    sizes = (2, 5, 10)
    factors = uniform_factors(1200, sizes, seed=10)
    rng = np.random.default_rng(11)
    perfect = np.concatenate([factors[:, [2, 0, 1]] * 0.5, rng.normal(size=(1200, 2))], axis=1)
    good = dci(perfect, factors, model=model)
    # Trees split only on the latent that carries a factor; noise latents get ≈ no importance.
    assert good["disentanglement"] >= 0.95 and good["completeness"] >= 0.95
    assert good["informativeness"] >= 0.98
    bad = dci(rng.normal(size=(1200, 5)), factors, model=model)
    # Random codes: importances are noise spread over all latents; D and C stay well below the perfect code.
    assert bad["disentanglement"] <= 0.2 and bad["completeness"] <= 0.2
    chance = np.mean([1 / s for s in sizes])
    # Accuracy on 400 test points near chance: ±0.1 is > 4 standard errors.
    assert bad["informativeness"] <= chance + 0.1


def test_dci_refuses_bad_arguments(small):
    factors, perfect, _ = small
    with pytest.raises(GbenchError, match="unknown DCI model"):
        dci(perfect, factors, model="lasso")
    with pytest.raises(GbenchError, match="at least 2 factors"):
        dci(perfect, factors[:, :1])


# ---------------------------------------------------------------- FactorVAE


def identity_code(factors):
    return factors.astype(np.float64)


def test_factorvae_identity_code_on_dsprites_factors_scores_one():
    result = factorvae_score(
        identity_code, dsprites.FACTOR_SIZES, np.random.default_rng(0), num_train=200, num_eval=100,
        num_variance_estimate=2000, sample_factors=dsprites.sample_factors,
        sample_fixed_factor=dsprites.sample_fixed_factor,
    )
    # The fixed factor's latent has in-batch variance exactly 0, every other latent > 0: every vote is right.
    assert result == {"eval_accuracy": 1.0, "train_accuracy": 1.0, "num_active_dims": 5}


def test_factorvae_ignores_order_scale_and_collapsed_latents():
    rng_noise = np.random.default_rng(1)

    def represent(f):
        n = len(f)
        collapsed = np.zeros((n, 1))  # a latent stuck at the prior mean
        tiny = 0.01 * rng_noise.normal(size=(n, 1))  # std 0.01 < 0.05: pruned like a collapsed latent
        return np.concatenate([tiny, f[:, [3, 0, 4, 2, 1]] * np.array([2.0, -1.0, 0.1, 30.0, 1.0]), collapsed], 1)

    result = factorvae_score(represent, dsprites.FACTOR_SIZES, 0, num_train=200, num_eval=100,
                             num_variance_estimate=2000)
    assert result == {"eval_accuracy": 1.0, "train_accuracy": 1.0, "num_active_dims": 5}


def test_factorvae_random_code_is_at_chance():
    rng_noise = np.random.default_rng(2)
    result = factorvae_score(lambda f: rng_noise.normal(size=(len(f), 10)), dsprites.FACTOR_SIZES, 0,
                             num_train=400, num_eval=400, num_variance_estimate=2000)
    # Votes are independent of the fixed factor, so the expected eval accuracy is 1/5 exactly;
    # ±0.1 is 5 standard errors of an accuracy on 400 votes (σ = 0.02).
    assert result["eval_accuracy"] == pytest.approx(0.2, abs=0.1)
    assert result["num_active_dims"] == 10


def test_factorvae_generic_sampler_equals_dsprites_sampler():
    weights = np.random.default_rng(3).normal(size=(5, 6))

    def represent(f):  # entangled: every latent mixes every factor
        return f @ weights

    kwargs = dict(num_train=100, num_eval=100, num_variance_estimate=1000)
    generic = factorvae_score(represent, dsprites.FACTOR_SIZES, 4, **kwargs)
    specific = factorvae_score(represent, dsprites.FACTOR_SIZES, 4, sample_factors=dsprites.sample_factors,
                               sample_fixed_factor=dsprites.sample_fixed_factor, **kwargs)
    assert generic == specific
    # Batching the calls to represent differently draws the same votes.
    assert factorvae_score(represent, dsprites.FACTOR_SIZES, 4, rows_per_call=64, **kwargs) == generic


def test_factorvae_majority_vote_and_all_collapsed():
    train = np.array([[5, 0, 1], [1, 4, 0]])  # latent 0 → factor 0, latent 1 → factor 1, latent 2 → factor 0
    evaluation = np.array([[2, 1, 0], [3, 2, 2]])
    train_acc, eval_acc = majority_vote_accuracy(train, evaluation)
    assert train_acc == pytest.approx((5 + 4 + 1) / 11)
    assert eval_acc == pytest.approx((2 + 2 + 0) / 10)
    result = factorvae_score(lambda f: np.zeros((len(f), 3)), (3, 4), 0, num_train=10, num_eval=10,
                             num_variance_estimate=100)
    assert result == {"eval_accuracy": 0.0, "train_accuracy": 0.0, "num_active_dims": 0}
    with pytest.raises(GbenchError, match="one code per factor row"):
        factorvae_score(lambda f: np.zeros((3, 2)), (3, 4), 0, num_variance_estimate=100)


# ---------------------------------------------------------------- rendered dSprites end to end


def image_features(factors):
    """A hand-made "encoder" of rendered dSprites: centroid column, centroid row, lit area."""
    mask = dsprites.render(factors)[:, 0].numpy() > 0
    area = mask.sum(axis=(1, 2))
    centroid_x = (mask.sum(axis=1) * np.arange(64)).sum(1) / area
    centroid_y = (mask.sum(axis=2) * np.arange(64)).sum(1) / area
    return np.stack([centroid_x, centroid_y, area], axis=1).astype(np.float64)


def test_metrics_on_features_of_rendered_dsprites():
    factors = dsprites.sample_factors(3000, np.random.default_rng(12))
    codes = np.concatenate([image_features(factors), np.random.default_rng(13).normal(size=(3000, 1))], 1)
    gaps = mig_per_factor(codes, factors)
    # Centroids determine posX / posY up to < 0.5 px of rasterisation jitter; 20 bins over 32 positions
    # cap the normalized MI at ≈ 0.85, and the runner-up latent knows ≈ nothing: gap ≥ 0.6.
    assert gaps[3] >= 0.6 and gaps[4] >= 0.6
    # No feature sees orientation (area changes by a few rasterised pixels at most).
    assert gaps[2] <= 0.05
    result = factorvae_score(image_features, dsprites.FACTOR_SIZES, 0, num_train=200, num_eval=200,
                             num_variance_estimate=2000, sample_factors=dsprites.sample_factors,
                             sample_fixed_factor=dsprites.sample_fixed_factor)
    # Three latents can each be assigned one factor, so at most 3 of 5 factors' votes (≈ 0.6) are right;
    # posX and posY votes always are (≈ 0.4). ±0.1 ≈ 3 standard errors on 200 votes.
    assert 0.3 <= result["eval_accuracy"] <= 0.7
