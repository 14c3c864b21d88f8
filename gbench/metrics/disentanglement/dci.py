"""Disentanglement, Completeness and Informativeness (DCI).

Eastwood & Williams, "A Framework for the Quantitative Evaluation of
Disentangled Representations", ICLR 2018, Sec. 2-3. From an importance matrix
R (L × F), R_jk = importance of latent j for predicting factor k:

    P_jk = R_jk / Σ_k' R_jk'                     (latent j's importance over factors)
    D_j  = 1 − H_F(P_j·),  H_F = entropy in base F           (Eq. 1)
    D    = Σ_j ρ_j D_j,   ρ_j = Σ_k R_jk / Σ_jk R_jk          (Eq. 2)
    C_k  = 1 − H_L(P̃_·k),  P̃_jk = R_jk / Σ_j' R_j'k         (Eq. 3)
    C    = Σ_k ρ̃_k C_k,   ρ̃_k = Σ_j R_jk / Σ_jk R_jk         (weighted as disentanglement_lib)
    I    = mean over factors of the predictor's test accuracy.

As disentanglement_lib's ``compute_dci``: factors are discrete, one classifier
per factor predicts it from all latents, R_jk = |feature_importances_| of that
classifier, entropies get 1e-11 added to every entry, and informativeness is
classification accuracy (not the paper's regression error).

Predictors (``model``):
  * ``"gbt"`` (default, disentanglement_lib's choice):
    ``GradientBoostingClassifier(n_estimators, max_depth=3, random_state=seed)``.
    disentanglement_lib uses sklearn's default 100 trees; this is slow on CPU
    (one tree per class per stage: 113 trees a stage for dSprites), so the
    default here is ``n_estimators=10`` — importances from 10 stages already
    single out the latents that carry a factor; pass ``n_estimators=100`` to
    reproduce disentanglement_lib's numbers (expect minutes on CPU);
  * ``"rf"``: ``RandomForestClassifier(n_estimators, max_depth=8,
    max_features=None, random_state=seed)`` impurity importances — a faster
    alternative, not comparable with published numbers. Every split sees
    every latent (``max_features=None``): with sklearn's default random subset
    of √L latents, splits are forced onto uninformative latents and their
    importance dilutes D and C even for a perfect code.

Meaning: a code that is the factors (any latent order, any rescaling) has
D ≈ C ≈ 1; random codes have D and C near 0 (above 0 by the finite-sample
noise of the importances) and I ≈ chance; a duplicated latent spreads its
factor's importance over two latents and lowers that factor's completeness.
"""

from __future__ import annotations

import numpy as np

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.metrics.disentanglement._common import resolve_split

MODELS = ("gbt", "rf")


def importance_matrix(codes_train, factors_train, codes_test, factors_test, model: str = "gbt",
                      n_estimators: int = 10, seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Importance of each latent for each factor, with train and test accuracies.

    Args:
        codes_train, codes_test: float64 (N, L), (M, L).
        factors_train, factors_test: int64 (N, F), (M, F).
        model: ``"gbt"`` or ``"rf"`` (see the module docstring).
        n_estimators: boosting stages / trees.
        seed: ``random_state`` of the predictor.

    Returns:
        R float64 (L, F) ≥ 0 (each column sums to 1, or is 0 if the factor has a
        single value in training); train accuracy (F,); test accuracy (F,).
    """
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier  # on use: ~1 s import

    if model not in MODELS:
        raise GbenchError(f"unknown DCI model {model!r}: use one of {', '.join(MODELS)}")
    if int(n_estimators) != n_estimators or n_estimators < 1:
        raise GbenchError(f"n_estimators must be a positive integer, got {n_estimators!r}")
    num_latents, num_factors = codes_train.shape[1], factors_train.shape[1]
    r = np.zeros((num_latents, num_factors))
    acc_train, acc_test = np.zeros(num_factors), np.zeros(num_factors)
    for k in range(num_factors):
        y = factors_train[:, k]
        if np.unique(y).size < 2:
            # A factor constant in training carries no information to attribute; predict the constant.
            acc_train[k] = 1.0
            acc_test[k] = np.mean(factors_test[:, k] == y[0])
            continue
        if model == "gbt":
            clf = GradientBoostingClassifier(n_estimators=int(n_estimators), max_depth=3, random_state=seed)
        else:
            clf = RandomForestClassifier(
                n_estimators=int(n_estimators), max_depth=8, max_features=None, random_state=seed, n_jobs=1
            )
        clf.fit(codes_train, y)
        r[:, k] = np.abs(clf.feature_importances_)
        acc_train[k] = np.mean(clf.predict(codes_train) == y)
        acc_test[k] = np.mean(clf.predict(codes_test) == factors_test[:, k])
    return r, acc_train, acc_test


def disentanglement_score(r: np.ndarray) -> float:
    """D = Σ_j ρ_j (1 − H_F(P_j·)) (Eastwood & Williams 2018, Eqs. 1-2). r: (L, F) ≥ 0."""
    from scipy.stats import entropy  # on use: scipy.stats takes ~0.5 s to import

    per_latent = 1.0 - entropy(r.T + 1e-11, base=r.shape[1])
    weights = r if r.sum() > 0.0 else np.ones_like(r)
    rho = weights.sum(axis=1) / weights.sum()
    return float(np.sum(per_latent * rho))


def completeness_score(r: np.ndarray) -> float:
    """C = Σ_k ρ̃_k (1 − H_L(P̃_·k)) (Eastwood & Williams 2018, Eq. 3). r: (L, F) ≥ 0."""
    from scipy.stats import entropy

    per_factor = 1.0 - entropy(r + 1e-11, base=r.shape[0])
    weights = r if r.sum() > 0.0 else np.ones_like(r)
    rho = weights.sum(axis=0) / weights.sum()
    return float(np.sum(per_factor * rho))


def dci(codes, factors, codes_test=None, factors_test=None, *, model: str = "gbt", n_estimators: int = 10,
        test_fraction: float = 1 / 3, seed: int = 0) -> dict[str, float]:
    """DCI scores (Eastwood & Williams 2018), disentanglement_lib's estimator.

    Args:
        codes: float (N, L) mean codes, L ≥ 2, numpy or torch.
        factors: int (N, F) ground-truth factor indices.
        codes_test, factors_test: an explicit held-out set; if omitted,
            (codes, factors) is split with ``test_fraction`` and ``seed``
            (default 1/3 test: disentanglement_lib's 10,000 / 5,000).
        model: ``"gbt"`` (gradient boosted trees) or ``"rf"`` (random forest).
        n_estimators: trees / boosting stages (see module docstring: 10 by
            default for CPU speed; disentanglement_lib uses 100).
        seed: the split and the predictors' ``random_state``.

    Returns:
        dict with ``disentanglement``, ``completeness`` (in [0, 1]),
        ``informativeness`` (mean test accuracy over factors, in [0, 1]) and
        ``informativeness_train`` (mean training accuracy).
    """
    c_tr, f_tr, c_te, f_te = resolve_split(codes, factors, codes_test, factors_test, test_fraction, seed, min_latents=2)
    if f_tr.shape[1] < 2:
        # D_j is an entropy in base F: undefined for a single factor.
        raise GbenchError("DCI needs at least 2 factors (disentanglement is an entropy over factors), got 1")
    r, acc_train, acc_test = importance_matrix(c_tr, f_tr, c_te, f_te, model, n_estimators, seed)
    return {
        "disentanglement": disentanglement_score(r),
        "completeness": completeness_score(r),
        "informativeness": float(np.mean(acc_test)),
        "informativeness_train": float(np.mean(acc_train)),
    }


register_metric(
    MetricSpec("dci_disentanglement", "DCI-D", True, "DCI disentanglement, GBT importances (Eastwood & Williams 2018)",
               decimals=3, consumes="codes"),
    MetricSpec("dci_completeness", "DCI-C", True, "DCI completeness, GBT importances (Eastwood & Williams 2018)",
               decimals=3, consumes="codes"),
    MetricSpec("dci_informativeness", "DCI-I", True, "DCI informativeness: mean GBT test accuracy over factors",
               decimals=3, consumes="codes"),
)
