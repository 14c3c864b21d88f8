"""The probe's L2-SVM solver against scikit-learn's LinearSVC (liblinear) run to its optimum."""

import warnings

import numpy as np
import pytest
import torch

from gbench.metrics.l2svm import L2SVMProblem, LinearSVM, _restricted_solve


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


def _row_span_liblinear(x, y, c):
    """LinearSVC's weights w̃ (d + 1, K), fitted on the rows' coordinates in an orthonormal basis of
    their span (X̃ = U S Vᵀ, thin; rows z_i of US, no intercept, w̃ = V v): the same problem, as its
    optimum lies in that span and margins and ‖w̃‖ are kept, with N features in place of d + 1
    (liblinear's primal took 32 s at 200 × 1,801, C = 1; this way 4 s)."""
    from sklearn.svm import LinearSVC

    u, s, vt = np.linalg.svd(np.hstack([x, np.ones((len(x), 1))]), full_matrices=False)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        svm = LinearSVC(C=c, loss="squared_hinge", penalty="l2", dual=False, fit_intercept=False, tol=1e-12,
                        max_iter=1_000_000).fit(u * s, y)
    return vt.T @ svm.coef_.T


def _objective(x, y, weights, c):
    """f_k of every class k (columns of ``weights``, classes 0..K−1)."""
    signs = np.where(y[:, None] == np.arange(weights.shape[1]), 1.0, -1.0)
    hinge = np.maximum(0.0, 1.0 - signs * (x @ weights[:-1] + weights[-1]))
    return 0.5 * (weights ** 2).sum(0) + c * (hinge ** 2).sum(0)


SHAPES = [  # (n, d, k, c)
    (300, 20, 3, 0.1),    # w-space: Cholesky of the (d + 1)² preconditioner
    (300, 20, 2, 1.0),    # two classes: the OvR pair is ±(liblinear's one weight vector)
    (200, 400, 4, 0.01),  # more features than examples: Newton on coefficients, N × N kernel matrix
    (60, 3000, 3, 0.1),   # ... far more features than examples (2C‖x̃‖² ≫ 1)
    (500, 50, 5, 10.0),   # large C: few examples inside the margin
]


# Both solver spaces wherever w-space applies (d + 1 ≤ N); coefficients alone past it.
@pytest.mark.parametrize("n, d, k, c, space", [(*shape, space) for shape in SHAPES
                                               for space in ("coefficients", "weights")[:1 + (shape[1] < shape[0])]])
def test_optimum_matches_liblinear(rng, n, d, k, c, space):
    """Both solve the same strongly convex problem, whose optimum is unique: liblinear run to
    tol 1e-12 and ours to a 1e-10 relative gradient agree to ~1e-8 (measured 2e-8 at worst);
    the bound 1e-6 of the weights' scale leaves room for other BLAS. Predictions are equal."""
    x, y = _data(rng, n, d, k)
    ours = L2SVMProblem(x, y, space).solve(c, tol=1e-10)
    svm, weights = _liblinear(x, y, c)
    assert ours.converged
    np.testing.assert_allclose(ours.weights, weights, rtol=0, atol=1e-6 * np.abs(weights).max())
    assert np.array_equal(ours.predict(x), svm.predict(x))
    x_new = rng.standard_normal((200, d))
    assert np.array_equal(ours.predict(x_new), svm.predict(x_new))


@pytest.mark.parametrize("c", [1e-4, 1e-2, 1.0])
def test_kernel_path_matches_liblinear_at_the_few_label_shape(rng, c):
    """The few-label probe's shape (more features than examples: Newton on coefficients)."""
    x, y = _data(rng, 200, 1800, 10)
    problem = L2SVMProblem(x, y)
    assert not problem.primal
    ours = problem.solve(c, tol=1e-10)
    weights = _row_span_liblinear(x, y, c)
    assert ours.converged
    # f is flat to second order at its optimum: weights ~1e-8 relative apart (liblinear's accuracy
    # at tol 1e-12) agree in f to ≤ 5e-15 relative (measured); 1e-12 leaves room for other BLAS.
    np.testing.assert_allclose(_objective(x, y, ours.weights, c), _objective(x, y, weights, c),
                               rtol=1e-12)
    reference = LinearSVM(weights, ours.classes, True)
    for points in (x, rng.standard_normal((500, 1800))):
        assert np.array_equal(ours.predict(points), reference.predict(points))


def test_kernel_path_converges_over_the_probes_warm_started_grid(rng):
    """As :func:`gbench.metrics.linear_probe.select_c` solves it: increasing C, default tolerance."""
    x, y = _data(rng, 200, 1800, 10)
    problem, svm = L2SVMProblem(x, y), None
    for c in (1e-4, 1e-3, 1e-2, 1e-1, 1.0):
        svm = problem.solve(c, start=svm)
        assert svm.converged


@pytest.mark.parametrize("n_active", [0, 3, 27, 30])
def test_restricted_solve_by_either_block(rng, n_active):
    """(M_AA)⁻¹ rhs_A, 0 off A: by a Cholesky of M_AA (|A| ≤ |B|) or through M⁻¹ (|A| > |B|)."""
    a = rng.standard_normal((30, 30))
    m = torch.as_tensor(a @ a.T + np.eye(30))
    mask = torch.zeros(30, dtype=torch.bool)
    mask[torch.as_tensor(rng.permutation(30)[:n_active])] = True
    rhs = torch.as_tensor(rng.standard_normal((30, 2))) * mask[:, None]
    z = _restricted_solve(m, lambda: torch.linalg.inv(m), mask, rhs)
    expected = torch.zeros_like(rhs)
    expected[mask] = torch.linalg.solve(m[mask][:, mask], rhs[mask])
    assert bool((z[~mask] == 0).all())
    np.testing.assert_allclose(z.numpy(), expected.numpy(), rtol=0,
                               atol=1e-10 * (1.0 + expected.abs().max().item()))


@pytest.mark.parametrize("n, d, space", [(400, 30, "weights"), (400, 30, "coefficients"),
                                         (100, 500, "coefficients")])  # coefficients: start projected on the row span
def test_warm_start_reaches_the_same_optimum(rng, n, d, space):
    x, y = _data(rng, n, d, 4)
    problem = L2SVMProblem(x, y, space)
    cold = problem.solve(1.0, tol=1e-10)
    warm = problem.solve(1.0, tol=1e-10, start=problem.solve(0.01))
    np.testing.assert_allclose(warm.weights, cold.weights, rtol=0, atol=1e-8 * np.abs(cold.weights).max())


@pytest.mark.parametrize("space", ["weights", "coefficients"])
def test_iteration_cap_is_reported(rng, space):
    x, y = _data(rng, 300, 20, 3)
    assert not L2SVMProblem(x, y, space).solve(1.0, tol=1e-14, max_iter=1).converged


def test_the_solver_space_follows_the_shape():
    """auto: coefficients up to KERNEL_MAX_ROWS examples or with more features than examples."""
    from gbench.metrics.l2svm import KERNEL_MAX_ROWS

    labels = np.arange(KERNEL_MAX_ROWS + 1) % 2
    assert L2SVMProblem(np.ones((KERNEL_MAX_ROWS + 1, 3)), labels).primal
    assert not L2SVMProblem(np.ones((KERNEL_MAX_ROWS, 3)), labels[:-1]).primal
    assert not L2SVMProblem(np.ones((KERNEL_MAX_ROWS + 1, KERNEL_MAX_ROWS + 1)), labels).primal
    with pytest.raises(ValueError, match="d \+ 1 ≤ N"):
        L2SVMProblem(np.ones((4, 4)), labels[:4], "weights")


def test_labels_keep_their_values_and_one_class_is_refused(rng):
    x, y = _data(rng, 200, 10, 3)
    labels = np.array([7, 3, 9])[y]
    svm = L2SVMProblem(x, labels).solve(0.1)
    assert set(svm.predict(x)) <= {3, 7, 9} and svm.classes.tolist() == [3, 7, 9]
    with pytest.raises(ValueError, match="at least two classes"):
        L2SVMProblem(x, np.zeros(len(x), dtype=int))
