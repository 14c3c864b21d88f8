"""Separated Attribute Predictability (SAP) score.

Kumar, Sattigeri & Balakrishnan, "Variational Inference of Disentangled Latent
Concepts from Unlabeled Observations", ICLR 2018, Sec. 3: build a score
matrix S (L × F) whose entry S_jk says how well latent j alone predicts
factor k; SAP is the mean over factors of the difference between the top two
entries of column k:

    SAP = 1/F · Σ_k ( S_{(1)k} − S_{(2)k} ).

S as in disentanglement_lib's ``_compute_score_matrix``:
  * discrete factors (``continuous=False``, the default, what
    disentanglement_lib's published configs use for dSprites): S_jk is the
    test accuracy of ``LinearSVC(C=0.01, class_weight="balanced")`` trained
    on the single latent j (unstandardized, as disentanglement_lib) to
    predict factor k. Training and test sets are either passed explicitly
    (``codes_test``, ``factors_test``) or made by a seeded split of the input
    (``test_fraction`` of the rows, ``numpy.random.default_rng(seed)``);
  * continuous factors (``continuous=True``): S_jk = Cov(z_j, v_k)² /
    (Var z_j · Var v_k) (squared Pearson correlation, ddof 1) on all rows;
    0 where Var z_j ≤ 1e-12. No split is used.

Meaning: a code that is the factors scores high — how high depends on how
well a linear classifier on one number can separate the factor's classes
(an ordered factor like position is not linearly separable into 32 classes
by one threshold, so the top score of such a factor stays well below 1).
A random or constant code scores ≈ 0; a duplicated latent gives its factor
a gap ≈ 0.
"""

from __future__ import annotations

import numpy as np

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.metrics.disentanglement._common import as_codes, as_factors, check_pair, resolve_split


def sap_score_matrix_discrete(codes_train, factors_train, codes_test, factors_test, svm_c: float = 0.01,
                              seed: int = 0) -> np.ndarray:
    """S_jk = test accuracy of a linear SVM on latent j alone predicting factor k.

    Args:
        codes_train, codes_test: float64 (N, L), (M, L).
        factors_train, factors_test: int64 (N, F), (M, F).
        svm_c: LinearSVC regularization (disentanglement_lib: 0.01).
        seed: ``random_state`` of LinearSVC (only used by its dual solver's
            coordinate shuffling).

    Returns:
        float64 (L, F) accuracies in [0, 1].
    """
    from sklearn.svm import LinearSVC  # on use: sklearn takes ~1 s to import

    num_latents, num_factors = codes_train.shape[1], factors_train.shape[1]
    s = np.zeros((num_latents, num_factors))
    for j in range(num_latents):
        for k in range(num_factors):
            y = factors_train[:, k]
            if np.unique(y).size < 2:
                # One class in training: every classifier predicts it; sklearn refuses to fit.
                pred = np.full(codes_test.shape[0], y[0])
            else:
                clf = LinearSVC(C=svm_c, class_weight="balanced", random_state=seed)
                clf.fit(codes_train[:, j:j + 1], y)
                pred = clf.predict(codes_test[:, j:j + 1])
            s[j, k] = np.mean(pred == factors_test[:, k])
    return s


def sap_score_matrix_continuous(codes: np.ndarray, factors: np.ndarray) -> np.ndarray:
    """S_jk = Cov(z_j, v_k)² / (Var z_j Var v_k) (ddof 1); 0 where Var z_j ≤ 1e-12. float64 (L, F)."""
    s = np.zeros((codes.shape[1], factors.shape[1]))
    for j in range(codes.shape[1]):
        for k in range(factors.shape[1]):
            cov = np.cov(codes[:, j], factors[:, k].astype(np.float64), ddof=1)
            if cov[0, 0] > 1e-12 and cov[1, 1] > 0.0:
                s[j, k] = cov[0, 1] ** 2 / (cov[0, 0] * cov[1, 1])
    return s


def top_two_gap(score_matrix: np.ndarray) -> float:
    """Mean over columns of (largest − second largest) entry. score_matrix (L ≥ 2, F)."""
    ordered = np.sort(score_matrix, axis=0)
    return float(np.mean(ordered[-1] - ordered[-2]))


def sap(codes, factors, codes_test=None, factors_test=None, *, continuous: bool = False,
        test_fraction: float = 1 / 3, seed: int = 0, svm_c: float = 0.01) -> float:
    """SAP score (Kumar et al. 2018, Sec. 3), disentanglement_lib's estimator.

    Args:
        codes: float (N, L) mean codes, L ≥ 2, numpy or torch.
        factors: int (N, F) ground-truth factor indices.
        codes_test, factors_test: an explicit held-out set (M, L), (M, F) for
            discrete factors; if omitted, (codes, factors) is split with
            ``test_fraction`` and ``seed`` (default 1/3 test, matching
            disentanglement_lib's 10,000 train / 5,000 test).
        continuous: score factors as continuous (squared correlation) instead
            of discrete (SVM accuracy).
        test_fraction, seed: the seeded split; seed also seeds the SVMs.
        svm_c: LinearSVC C (disentanglement_lib: 0.01).

    Returns:
        SAP in [0, 1].
    """
    if continuous:
        if codes_test is not None or factors_test is not None:
            raise GbenchError("continuous SAP uses no test set: drop codes_test/factors_test or set continuous=False")
        codes, factors = as_codes(codes), as_factors(factors)
        check_pair(codes, factors, min_latents=2)
        return top_two_gap(sap_score_matrix_continuous(codes, factors))
    c_tr, f_tr, c_te, f_te = resolve_split(codes, factors, codes_test, factors_test, test_fraction, seed, min_latents=2)
    return top_two_gap(sap_score_matrix_discrete(c_tr, f_tr, c_te, f_te, svm_c, seed))


register_metric(MetricSpec(
    "sap", "SAP", True, "Separated Attribute Predictability, linear SVM per latent (Kumar et al. 2018)", decimals=3,
    consumes="codes", protocol={"sap_svm_c": 0.01}))
