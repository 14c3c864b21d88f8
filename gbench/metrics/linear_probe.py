"""Linear-probe accuracy: how linearly separable a representation makes the classes.

The protocol of Radford, Metz & Chintala 2016 (DCGAN, Sec. 5.1, Table 1),
which follows Coates, Lee & Ng 2011 (Sec. 4): features of a frozen network
are standardized and a regularized linear L2-SVM (squared hinge loss,
one-vs-rest) is trained on them; its test accuracy measures the features.

* :func:`max_pool_grid` turns a network's per-layer activations into one
  vector: each layer's map is max-pooled to a 4×4 spatial grid (adaptive max
  pooling), flattened, and the layers are concatenated (DCGAN Sec. 5.1: "use
  the discriminator's convolutional features from all layers, maxpooling each
  layers representation to produce a 4 × 4 spatial grid").
* :func:`fit_standardizer` / :func:`standardize`: per-feature z-scores whose
  mean and scale come from the training features only (Coates' code does the
  same before its SVM).
* :func:`select_c` picks the SVM's C on a validation split carved out of the
  training data (:func:`stratified_split`); :func:`linear_probe` then refits
  on the whole training data with that C and scores the test data.
* :func:`few_label_probe` repeats :func:`linear_probe` on ``n`` labelled
  examples per class drawn from the training data (:func:`per_class_subset`),
  as in Table 1's "400 per class" column, and reports mean ± std over draws.

Everything takes numpy arrays (or torch tensors) and a seed; nothing here
touches files or global state.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from gbench.errors import GbenchError
from gbench.metrics.l2svm import L2SVMProblem

GRID = 4  # DCGAN Sec. 5.1: every layer max-pooled to 4 × 4


@dataclass(frozen=True)
class ProbeConfig:
    """Settings of the linear L2-SVM probe.

    Attributes:
        cs: candidate values of the SVM's C (inverse regularization strength),
            tried in increasing order; ties go to the smaller C.
        val_fraction: fraction of each class held out of the training data to
            choose C (at least one example per class is held out and one kept).
        max_iter: Newton iterations of the solver (:mod:`gbench.metrics.l2svm`); a fit
            that stops here is reported, not hidden (``ProbeResult.converged``).
        tol: stopping rule: every class's gradient norm at most ``tol`` × its norm at
            w = 0. 1e-6 puts the weights within ~1e-8 of scikit-learn's LinearSVC run
            to 1e-12 (the parity tests); liblinear's default stops well short of that.
    """

    cs: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    val_fraction: float = 0.2
    max_iter: int = 100
    tol: float = 1e-6

    def __post_init__(self):
        if not self.cs or any(not (c > 0) for c in self.cs):
            raise ValueError(f"ProbeConfig.cs must be positive numbers, got {self.cs}")
        if not 0.0 < self.val_fraction < 1.0:
            raise ValueError(f"ProbeConfig.val_fraction must be in (0, 1), got {self.val_fraction}")


@dataclass(frozen=True)
class ProbeResult:
    """Outcome of one :func:`linear_probe`.

    Attributes:
        accuracy: test accuracy in [0, 1] of the SVM refitted on all training data.
        c: the chosen C.
        val_accuracy: {C: validation accuracy} of the selection step.
        converged: False when any SVM fit hit ``max_iter``.
    """

    accuracy: float
    c: float
    val_accuracy: dict[float, float]
    converged: bool


def _as_2d(x, name: str) -> np.ndarray:
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    if a.ndim != 2:
        raise GbenchError(f"{name} must be features of shape (N, d), got {a.shape}")
    if not np.isfinite(a).all():
        raise GbenchError(f"{name} contain NaN or Inf: check the feature extractor")
    return a.astype(np.float64, copy=False)


def _as_labels(y, n: int, name: str) -> np.ndarray:
    a = y.detach().cpu().numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if a.shape != (n,) or not np.issubdtype(a.dtype, np.integer):
        raise GbenchError(f"{name} must be integer class labels of shape ({n},), got {a.dtype} {a.shape}")
    return a.astype(np.int64, copy=False)


def max_pool_grid(layers: list[torch.Tensor], grid: int = GRID) -> torch.Tensor:
    """Concatenate every layer's activations, each max-pooled to a ``grid × grid`` map.

    Radford et al. 2016, Sec. 5.1. Adaptive max pooling
    (:func:`torch.nn.functional.adaptive_max_pool2d`) splits an H×W map into
    grid×grid nearly equal cells and keeps each cell's maximum; a map already
    grid×grid passes unchanged.

    Args:
        layers: float tensors (N, C_l, H_l, W_l), H_l, W_l ≥ 1 (a map smaller than
            the grid is upsampled by repetition, as adaptive pooling does).

    Returns:
        float (N, Σ_l C_l·grid²), layer by layer in the given order, each layer
        flattened channel-major (c, row, col).
    """
    if not layers:
        raise GbenchError("max_pool_grid needs at least one layer of activations")
    n = layers[0].shape[0]
    for i, t in enumerate(layers):
        if t.ndim != 4 or t.shape[0] != n:
            raise GbenchError(f"layer {i} must be (N={n}, C, H, W) activations, got {tuple(t.shape)}")
    return torch.cat([F.adaptive_max_pool2d(t, grid).flatten(1) for t in layers], dim=1)


def fit_standardizer(x_train) -> tuple[np.ndarray, np.ndarray]:
    """Per-feature mean and scale of the training features (Coates et al. 2011).

    Args:
        x_train: (N, d) training features, N ≥ 1.

    Returns:
        (mean (d,), scale (d,)), float64; scale is the population std, or 1
        for a feature that is constant on the training data (scikit-learn's
        StandardScaler rule: it stays 0 on train, so an L2-regularized SVM
        gives it no weight, and a test value there cannot be blown up).
    """
    x = _as_2d(x_train, "training features")
    mean = x.mean(axis=0)
    scale = x.std(axis=0)
    scale[scale == 0] = 1.0
    return mean, scale


def standardize(x, mean: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """``(x − mean) / scale`` with statistics from :func:`fit_standardizer`: (N, d) → float64 (N, d)."""
    a = _as_2d(x, "features")
    if a.shape[1] != mean.shape[0]:
        raise GbenchError(f"features have {a.shape[1]} dimensions, the standardizer was fitted on {mean.shape[0]}")
    return (a - mean) / scale


def stratified_split(labels, fraction: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Hold out ``fraction`` of each class: (kept indices, held-out indices), each sorted.

    Per class with n examples, ``clip(round(fraction · n), 1, n − 1)`` are held
    out (a seeded permutation per class), so both parts see every class.

    Raises:
        GbenchError: a class has fewer than 2 examples.
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    kept, held = [], []
    for c in np.unique(y):
        idx = rng.permutation(np.flatnonzero(y == c))
        if len(idx) < 2:
            raise GbenchError(f"class {c} has {len(idx)} training example(s): "
                              "a validation split needs at least 2 per class")
        m = int(np.clip(round(fraction * len(idx)), 1, len(idx) - 1))
        held.append(idx[:m])
        kept.append(idx[m:])
    return np.sort(np.concatenate(kept)), np.sort(np.concatenate(held))


def per_class_subset(labels, n_per_class: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n_per_class`` examples of every class, drawn without replacement (sorted).

    Raises:
        GbenchError: a class has fewer than ``n_per_class`` examples.
    """
    y = np.asarray(labels)
    rng = np.random.default_rng(seed)
    out = []
    for c in np.unique(y):
        idx = np.flatnonzero(y == c)
        if len(idx) < n_per_class:
            raise GbenchError(f"class {c} has {len(idx)} training examples, fewer than the {n_per_class} per class "
                              "asked for: use a smaller number of labels per class")
        out.append(rng.choice(idx, size=n_per_class, replace=False))
    return np.sort(np.concatenate(out))


def fit_svm(x, y, c: float, config: ProbeConfig = ProbeConfig(), seed: int = 0, start=None):
    """A linear L2-SVM (squared hinge, L2 penalty, one-vs-rest) fitted on standardized features.

    Minimizes ½‖w̃‖² + C Σ_i max(0, 1 − y_i w̃ᵀx̃_i)² per class (Coates et al.
    2011's L2-SVM; x̃ = [x, 1], the bias regularized as liblinear does): scikit-learn's
    ``LinearSVC(loss="squared_hinge", penalty="l2")``, solved to its optimum by
    :class:`gbench.metrics.l2svm.L2SVMProblem` (Newton–CG, all classes at once;
    that module says why not liblinear). ``seed`` is unused — the solver draws
    nothing — and kept so that every probe function takes one. ``start``: a fit of
    the same data at another C to begin from (same optimum, fewer steps).

    Returns:
        (fitted :class:`gbench.metrics.l2svm.LinearSVM`, converged: bool).
    """
    svm = L2SVMProblem(x, y).solve(c, tol=config.tol, max_iter=config.max_iter, start=start)
    return svm, svm.converged


def _accuracy(svm, x: np.ndarray, y: np.ndarray) -> float:
    return float((svm.predict(x) == y).mean())


def select_c(x_fit, y_fit, x_val, y_val, config: ProbeConfig = ProbeConfig(),
             seed: int = 0) -> tuple[float, dict[float, float], bool]:
    """Choose C by validation accuracy.

    The features are standardized with statistics of ``x_fit`` only; each C of
    ``config.cs`` is fitted on (x_fit, y_fit) and scored on (x_val, y_val).

    Returns:
        (best C — the smallest C among the best validation accuracies,
        {C: validation accuracy}, all fits converged).
    """
    xf, xv = _as_2d(x_fit, "fit features"), _as_2d(x_val, "validation features")
    yf, yv = _as_labels(y_fit, len(xf), "fit labels"), _as_labels(y_val, len(xv), "validation labels")
    mean, scale = fit_standardizer(xf)
    xf, xv = standardize(xf, mean, scale), standardize(xv, mean, scale)
    scores, converged = {}, True
    problem, svm = L2SVMProblem(xf, yf), None  # one Gram matrix for the whole grid
    for c in sorted(config.cs):  # increasing C, each fit starting from the previous optimum
        svm = problem.solve(c, tol=config.tol, max_iter=config.max_iter, start=svm)
        scores[c] = _accuracy(svm, xv, yv)
        converged &= svm.converged
    best = max(scores.values())
    return min(c for c, s in scores.items() if s == best), scores, converged


def linear_probe(x_train, y_train, x_test, y_test, config: ProbeConfig = ProbeConfig(),
                 seed: int = 0) -> ProbeResult:
    """Test accuracy of a linear L2-SVM on frozen features (Radford et al. 2016, Table 1).

    1. split the training data per class into fit / validation
       (``config.val_fraction`` held out, :func:`stratified_split` with ``seed``);
    2. choose C on it (:func:`select_c`; standardized with the fit part's statistics);
    3. standardize with the statistics of all training features, refit with
       that C on all training data, and score the test data.

    Args:
        x_train, x_test: features (N, d) and (M, d); y_train, y_test: int labels.

    Returns:
        :class:`ProbeResult`; ``accuracy`` in [0, 1].
    """
    xtr, xte = _as_2d(x_train, "training features"), _as_2d(x_test, "test features")
    ytr, yte = _as_labels(y_train, len(xtr), "training labels"), _as_labels(y_test, len(xte), "test labels")
    if xtr.shape[1] != xte.shape[1]:
        raise GbenchError(f"training features have {xtr.shape[1]} dimensions, test features {xte.shape[1]}")
    fit, val = stratified_split(ytr, config.val_fraction, seed)
    c, scores, converged = select_c(xtr[fit], ytr[fit], xtr[val], ytr[val], config, seed)
    mean, scale = fit_standardizer(xtr)
    svm, ok = fit_svm(standardize(xtr, mean, scale), ytr, c, config, seed)
    return ProbeResult(_accuracy(svm, standardize(xte, mean, scale), yte), c, scores, converged and ok)


def few_label_probe(x_train, y_train, x_test, y_test, n_per_class: int, draws: int,
                    config: ProbeConfig = ProbeConfig(), seed: int = 0) -> tuple[float, float, list[ProbeResult]]:
    """:func:`linear_probe` with ``n_per_class`` labelled examples per class, over ``draws`` draws.

    Draw ``k`` takes :func:`per_class_subset` of the training labels with seed
    ``seed + k`` (C is chosen inside each draw, on a validation split of the
    drawn examples); the indices depend only on the labels and the seed, so
    every representation probed with the same labels and seed gets the same
    examples. Radford et al. 2016, Table 1, "400 per class".

    Returns:
        (mean accuracy, sample std over draws (ddof = 1; 0 for one draw), the
        per-draw results).
    """
    if draws < 1:
        raise GbenchError(f"few_label_probe needs at least one draw, got {draws}")
    xtr = _as_2d(x_train, "training features")
    ytr = _as_labels(y_train, len(xtr), "training labels")
    results = []
    for k in range(draws):
        idx = per_class_subset(ytr, n_per_class, seed + k)
        results.append(linear_probe(xtr[idx], ytr[idx], x_test, y_test, config, seed + k))
    acc = np.array([r.accuracy for r in results])
    return float(acc.mean()), float(acc.std(ddof=1)) if draws > 1 else 0.0, results
