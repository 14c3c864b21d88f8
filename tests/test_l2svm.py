"""The probe's L2-SVM solver against scikit-learn's LinearSVC (liblinear) run to its optimum."""

import warnings

import numpy as np
import pytest

from gbench.metrics.l2svm import L2SVMProblem


def _data(rng, n, d, k):
    x = rng.standard_normal((n, d))
    y = (x[:, :k] + 0.8 * rng.standard_normal((n, k))).argmax(1)  # overlapping classes: some hinges stay active
    return x, y


def _liblinear(x, y, c):
    from sklearn.svm import LinearSVC

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the tight tolerance may warn on iterations; it is reached
        # the primal solver for every shape: the optimum is the same, and the dual crawls at this tolerance
        svm = LinearSVC(C=c, loss="squared_hinge", penalty="l2", dual=False, tol=1e-12,
                        max_iter=1_000_000).fit(x, y)
    weights = np.vstack([svm.coef_.T, svm.intercept_[None]])
    if weights.shape[1] == 1:  # two classes: liblinear fits class 1 against class 0 only
        weights = np.hstack([-weights, weights])
    return svm, weights


@pytest.mark.parametrize("n, d, k, c", [
    (300, 20, 3, 0.1),    # primal: Cholesky of the (d + 1)² preconditioner
    (300, 20, 2, 1.0),    # two classes: the OvR pair is ±(liblinear's one weight vector)
    (200, 400, 4, 0.01),  # more features than examples: Woodbury with the N × N Gram matrix
    (60, 3000, 3, 0.1),   # ... far more features than examples (2C‖x̃‖² ≫ 1): Woodbury stays float64
    (500, 50, 5, 10.0),   # large C: few examples inside the margin
])
def test_optimum_matches_liblinear(rng, n, d, k, c):
    """Both solve the same strongly convex problem, whose optimum is unique: liblinear run to
    tol 1e-12 and ours to a 1e-10 relative gradient agree to ~1e-8 (measured 2e-8 at worst);
    the bound 1e-6 of the weights' scale leaves room for other BLAS. Predictions are equal."""
    x, y = _data(rng, n, d, k)
    ours = L2SVMProblem(x, y).solve(c, tol=1e-10)
    svm, weights = _liblinear(x, y, c)
    assert ours.converged
    np.testing.assert_allclose(ours.weights, weights, rtol=0, atol=1e-6 * np.abs(weights).max())
    assert np.array_equal(ours.predict(x), svm.predict(x))
    x_new = rng.standard_normal((200, d))
    assert np.array_equal(ours.predict(x_new), svm.predict(x_new))


def test_warm_start_reaches_the_same_optimum(rng):
    x, y = _data(rng, 400, 30, 4)
    problem = L2SVMProblem(x, y)
    cold = problem.solve(1.0, tol=1e-10)
    warm = problem.solve(1.0, tol=1e-10, start=problem.solve(0.01))
    np.testing.assert_allclose(warm.weights, cold.weights, rtol=0, atol=1e-8 * np.abs(cold.weights).max())


def test_iteration_cap_is_reported(rng):
    x, y = _data(rng, 300, 20, 3)
    assert not L2SVMProblem(x, y).solve(1.0, tol=1e-14, max_iter=1).converged


def test_labels_keep_their_values_and_one_class_is_refused(rng):
    x, y = _data(rng, 200, 10, 3)
    labels = np.array([7, 3, 9])[y]
    svm = L2SVMProblem(x, labels).solve(0.1)
    assert set(svm.predict(x)) <= {3, 7, 9} and svm.classes.tolist() == [3, 7, 9]
    with pytest.raises(ValueError, match="at least two classes"):
        L2SVMProblem(x, np.zeros(len(x), dtype=int))
