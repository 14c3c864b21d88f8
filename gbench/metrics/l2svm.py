"""The linear L2-SVM of the feature probe: solved to its optimum, all classes at once.

The problem is scikit-learn's ``LinearSVC(loss="squared_hinge", penalty="l2",
fit_intercept=True, intercept_scaling=1)`` — liblinear's L2R_L2LOSS_SVC,
one-vs-rest — for every class k with y_ik = +1 if example i is of class k,
else −1:

    min_{w̃_k}  f_k(w̃_k) = ½ ‖w̃_k‖² + C Σ_i max(0, 1 − y_ik w̃_kᵀ x̃_i)²,    x̃_i = [x_i, 1]

(Coates et al. 2011's L2-SVM; the bias is the last weight and, as in
liblinear, is regularized like the others). f_k is strongly convex and
piecewise quadratic, so the optimum is unique; a prediction is the class of
the largest decision value w̃_kᵀ x̃.

Solver in w-space (N > KERNEL_MAX_ROWS and d + 1 ≤ N): Newton's method on the
generalized Hessian H_k = I + 2C X̃_{A_k}ᵀ X̃_{A_k} (A_k: examples with a
positive hinge), each Newton system solved by conjugate gradients
preconditioned with P = I + 2C X̃ᵀ X̃ (every example active, so H_k ≼ P; at the
small C of feature probes nearly every example is inside its margin and
P ≈ H_k), then an exact line search along the Newton direction (the
restriction of f_k to a line is a 1-D piecewise quadratic). The classes
advance together: every product is a matrix product with K columns. P is
factored once per C from the Gram matrix X̃ᵀX̃, which one problem computes once
for every C.

Solver in coefficient space (N ≤ KERNEL_MAX_ROWS, or d + 1 > N): Newton in
coefficient space (Chapelle 2007, "Training a support vector machine in the
primal", Sec. 4). From w̃ = 0 every iterate stays in the row span, w̃ = X̃ᵀβ
with β (N, K), since the gradient and the Newton step below do. With the kernel matrix G = X̃X̃ᵀ
(h = max(0, 1 − y ⊙ X̃w̃), per class; A = {i : h_i > 0}):

    margins    X̃w̃ = Gβ
    gradient   ∇f = w̃ − 2C X̃ᵀ(y ⊙ h) = X̃ᵀg,   g = β − 2C y ⊙ h,   ‖∇f‖ = √(gᵀGg)
    Newton     on A, y ⊙ h = y − X̃w̃, so ∇f = H w̃ − 2C X̃_Aᵀ y_A and the full step lands at
               w̃⁺ = w̃ − H⁻¹∇f = 2C H⁻¹ X̃_Aᵀ y_A = X̃_Aᵀ (G_AA + I/(2C))⁻¹ y_A
               (push-through: (I + 2C X̃_AᵀX̃_A)⁻¹ X̃_Aᵀ = X̃_Aᵀ (I + 2C X̃_A X̃_Aᵀ)⁻¹), i.e.
               β⁺_A = (G_AA + I/(2C))⁻¹ y_A and β⁺ = 0 off A, whatever the current β.

The step δ = β⁺ − β is the exact Newton direction s = X̃ᵀδ, taken with the
same exact line search (w̃·s = (Gβ)·δ, s·s = δᵀGδ, X̃s = Gδ) because a full
step can cycle between active sets. Everything inside the loop is N × N
algebra: one factorization per class and Newton step (classes with equal
active sets share it) of G_AA + I/(2C) or, when fewer examples are inactive
than active, of the complement's block of (G + I/(2C))⁻¹. Why: this replaced
CG in w-space preconditioned through the Woodbury identity, whose every
product cost O(N·d) per class and which needed ~430 CG products at C = 0.1 and
~1,200 at C = 1 (digits, 50 labels per class, 500 × 1,025: the C grid 1e-4…1
took 23 s, now 0.6–0.9 s, one thread). A warm start is projected onto the row
span (Gβ = X̃w̃: margins kept, ‖w̃‖ not increased); from the previous C's
optimum it saved ~1/3 of the Newton steps of a C grid (measured).

Why not liblinear: on a CIFAR-10-sized probe (8,000 standardized 3,072-pixel
rows, 10 classes) one LinearSVC fit took 122 s at C = 1e-4 and 248 s at
C = 1e-3 on one core (measured), and the protocol fits ~45 per row; the
`features` suite's paper-profile run never got past its first row. Stopping:
every class's gradient norm at most ``tol`` × its norm at w̃ = 0 (liblinear
stops at its own 1e-3-relative criterion, short of the optimum; this solver
goes to the optimum, and the parity tests compare with LinearSVC run to
tol 1e-12).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
import torch

NEWTON_MAX_ITER = 100
CG_MAX_ITER = 200
# Up to this many examples the coefficient-space solver runs whatever d: its N × N algebra is cheap, and
# on digits' all-label probe (1,151 × 1,025, C 1e-4…1) it took 2.4 s against 11.6 s for Newton-CG in
# w-space (measured, one thread). Beyond it the N × N kernel matrix and its factorizations grow as N², N³.
KERNEL_MAX_ROWS = 2048
LINE_SEARCH_ITER = 30


@dataclass(frozen=True)
class LinearSVM:
    """A fitted one-vs-rest linear SVM.

    Attributes:
        weights: float64 (d + 1, K): column k is [w_k, b_k] of class ``classes[k]``.
        classes: the K class labels, sorted.
        converged: every class reached the tolerance within the Newton iterations.
    """

    weights: np.ndarray
    classes: np.ndarray
    converged: bool

    def decision_function(self, x) -> np.ndarray:
        """(N, K) decision values w̃_kᵀ x̃ of features (N, d)."""
        x = np.asarray(x, dtype=np.float64)
        return x @ self.weights[:-1] + self.weights[-1]

    def predict(self, x) -> np.ndarray:
        """The class of the largest decision value (ties: the first class, as scikit-learn's argmax)."""
        return self.classes[np.argmax(self.decision_function(x), axis=1)]


class L2SVMProblem:
    """Features and labels with their Gram matrix, ready to be solved for any C.

    Args:
        x: float (N, d) features (standardized by the caller).
        labels: int (N,) class labels, at least two classes.
        space: where Newton runs — "weights" (w-space CG; needs d + 1 ≤ N), "coefficients"
            (β, the N × N kernel matrix) or "auto": coefficients when N ≤ KERNEL_MAX_ROWS or
            d + 1 > N, else weights. Both reach the same optimum (the parity tests run both).
    """

    def __init__(self, x, labels, space: str = "auto"):
        x = torch.as_tensor(np.asarray(x, dtype=np.float64))
        self.x = torch.cat([x, torch.ones(len(x), 1, dtype=torch.float64)], dim=1)  # x̃ = [x, 1]
        # X̃ᵀ as its own contiguous matrix: X̃ᵀ·(N × K) through a transposed view ran ~7× slower
        # (measured, 8,000 × 3,073 on 2 threads), and CG multiplies by it every iteration.
        self.xt = self.x.T.contiguous()
        self.classes, index = np.unique(np.asarray(labels), return_inverse=True)
        if len(self.classes) < 2:
            raise ValueError(f"an SVM needs at least two classes, got {self.classes.tolist()}")
        y = -torch.ones(len(x), len(self.classes), dtype=torch.float64)
        y[torch.arange(len(x)), torch.as_tensor(index)] = 1.0
        self.y = y
        n, d1 = self.x.shape
        # Newton in w-space with the (d + 1)² Gram matrix X̃ᵀX̃ for its preconditioner, or in
        # coefficient space with the N × N kernel matrix X̃X̃ᵀ (see KERNEL_MAX_ROWS for the choice).
        if space not in ("auto", "weights", "coefficients"):
            raise ValueError(f"space must be 'auto', 'weights' or 'coefficients', got {space!r}")
        if space == "weights" and d1 > n:
            raise ValueError(f"w-space Newton needs d + 1 ≤ N, got d + 1 = {d1} > N = {n}")
        self.primal = space == "weights" or (space == "auto" and n > max(KERNEL_MAX_ROWS, d1 - 1))
        self.gram = self.xt @ self.x if self.primal else self.x @ self.xt
        # Primal case: CG's products in float32. A Newton direction need only be as accurate as its
        # forcing term (≥ ~1e-3 relative at tol = 1e-6); gradient, line search and stopping rule stay
        # float64, so the optimum reached is float64's (the parity tests). Digits' all-label probe
        # (1,438 × 1,025): 1.5× faster.
        self.x32, self.xt32 = (self.x.float(), self.xt.float()) if self.primal else (None, None)

    def solve(self, c: float, tol: float = 1e-6, max_iter: int = NEWTON_MAX_ITER,
              start: LinearSVM | None = None) -> LinearSVM:
        """The optimum for ``c`` > 0 to gradient norm ≤ ``tol`` × its value at 0, per class.

        ``start``: a solution of the same problem for another C to begin from (a C grid solved in
        increasing order needs fewer Newton steps); the optimum, being unique, does not depend on it.
        """
        solve = self._solve_primal if self.primal else self._solve_kernel
        w, converged = solve(c, tol, max_iter, None if start is None else
                             torch.as_tensor(start.weights, dtype=torch.float64).clone())
        return LinearSVM(w.numpy(), self.classes, converged)

    def _solve_primal(self, c, tol, max_iter, start):
        """(w̃ (d + 1, K), converged) by inexact Newton–CG on the weights."""
        x, xt, y = self.x, self.xt, self.y
        x32, xt32 = self.x32, self.xt32
        precondition = self._preconditioner(c)

        def gradient(w, margin):
            grad = _gradient(w, xt, y, margin, c)
            return grad, _norms(grad)

        def newton_step(w, margin, grad, progress):
            active_t = (y * margin < 1.0).T.float()
            # Inexact Newton (Eisenstat & Walker 1996): solve the system only as far as the gradient
            # is from zero — loosely far from the optimum, ever tighter near it (superlinear).
            forcing = torch.clamp(torch.sqrt(progress), max=0.1)
            # Hv through (K, ·) row blocks: MKL multiplies K rows by a matrix ~2.5× faster than a
            # matrix by K columns (measured, float32, K = 10, 1,438 × 1,025).
            step = _pcg(lambda v: v + 2.0 * c * (((v.T @ xt32) * active_t) @ x32).T, -grad.float(),
                        precondition, forcing.float()).double()
            return step, x @ step, (w * step).sum(0), (step * step).sum(0)

        w = torch.zeros(x.shape[1], y.shape[1], dtype=torch.float64) if start is None else start
        return _newton(w, x @ w, gradient, newton_step, tol, max_iter, c, y)

    def _solve_kernel(self, c, tol, max_iter, start):
        """(w̃ = X̃ᵀβ (d + 1, K), converged) by exact Newton on the coefficients β (N, K)."""
        gram, y = self.gram, self.y
        system = gram + torch.eye(len(gram), dtype=gram.dtype) / (2.0 * c)  # M = G + I/(2C)
        # M⁻¹ on first use only: at large C every active set is the smaller block and none needs it.
        inverse = functools.cache(lambda: torch.cholesky_inverse(torch.linalg.cholesky(system)))

        def gradient(beta, margin):  # coefficients of ∇f = X̃ᵀg and their w-space norms √(gᵀGg)
            g = beta - 2.0 * c * y * torch.clamp(1.0 - y * margin, min=0.0)
            return g, torch.sqrt(torch.clamp((g * (gram @ g)).sum(0), min=0.0))

        def newton_step(beta, margin, g, progress):
            pending = progress > tol  # converged classes stay put: no factorization for them
            target = _active_set_solution(system, inverse, y[:, pending], (y * margin < 1.0)[:, pending])
            delta = torch.zeros_like(beta)
            delta[:, pending] = target - beta[:, pending]
            direction = gram @ delta  # X̃s for s = X̃ᵀδ; w·s = (Gβ)·δ = margin·δ, s·s = δ·Gδ
            return delta, direction, (margin * delta).sum(0), (delta * direction).sum(0)

        beta = torch.zeros_like(y) if start is None else _row_span_coefficients(gram, self.x @ start)
        beta, converged = _newton(beta, gram @ beta, gradient, newton_step, tol, max_iter, c, y)
        return self.xt @ beta, converged

    def _preconditioner(self, c: float):
        """v ↦ P⁻¹ v for P = I + 2C X̃ᵀX̃ (primal case) by Cholesky, applied in float32 (CG's precision
        there, see ``__init__``)."""
        eye = torch.eye(self.gram.shape[0], dtype=torch.float64)
        factor = torch.linalg.cholesky(eye + 2.0 * c * self.gram)
        # two triangular solves: ~2.5× faster than cholesky_solve here (measured)
        lower, upper = factor.float(), factor.T.float().contiguous()
        return lambda v: torch.linalg.solve_triangular(upper, torch.linalg.solve_triangular(
            lower, v, upper=False), upper=True)


def _newton(v, margin, gradient, newton_step, tol, max_iter, c, y):
    """Damped Newton from ``v`` (weights or coefficients, K columns) with ``margin`` = X̃w̃.

    ``gradient(v, margin)`` → (gradient in v's space, its w-space norms (K,));
    ``newton_step(v, margin, grad, progress)`` → (step in v's space, X̃s, w·s, s·s), s its w-space
    image, ``progress`` (K,) the norms relative to their values at w̃ = 0. Returns (v at the
    optimum, every class's progress ≤ ``tol``)."""
    g0 = gradient(torch.zeros_like(v), torch.zeros_like(margin))[1]  # the stopping rule's scale
    for _ in range(max_iter):
        grad, norms = gradient(v, margin)
        progress = norms / g0.clamp(min=1e-300)
        if bool((progress <= tol).all()):
            return v, True
        step, direction, ws, ss = newton_step(v, margin, grad, progress)
        t = _line_search(ws, ss, y, margin, direction, c)
        v = v + t * step
        margin = margin + t * direction
    return v, False


def _active_set_solution(system, inverse, y, active):
    """Per class k, the coefficients of the full Newton step from any w̃ with active set
    A = ``active[:, k]``: β_A = (M_AA)⁻¹ y_A, 0 off A, for ``system`` M = G + I/(2C) (see the
    module docstring); ``inverse()`` returns M⁻¹.

    Classes with the same active set share one solve (at w̃ = 0, and at the small C of probes, every
    example is active for every class: one solve instead of K)."""
    beta = torch.zeros_like(y)
    masks, which = torch.unique(active.T, dim=0, return_inverse=True)
    for u, mask in enumerate(masks):
        cols = (which == u).nonzero()[:, 0]
        beta[:, cols] = _restricted_solve(system, inverse, mask, y[:, cols] * mask[:, None])
    return beta


def _restricted_solve(system, inverse, mask, rhs):
    """z with z_B = 0 and (M z)_A = rhs_A (A = ``mask``, B its complement; rhs_B = 0), factoring
    the smaller of two blocks: M_AA directly, or, when B is the smaller, the Schur complement
    (M⁻¹)_BB: z = M⁻¹(rhs − E_B μ) with μ = ((M⁻¹)_BB)⁻¹ (M⁻¹ rhs)_B, which makes z_B = 0.

    Why both: at the small C of probes nearly every example is active (|B| ≪ N), and a |B|² block
    in place of ~K factorizations of ~N × N made the kernel path 1.5–2.4× faster (measured). M⁻¹ is
    accurate to ~cond(M) = 1 + 2C λ_max(G) ulps, small in that regime; an inaccurate step would cost
    Newton iterations, not accuracy: the stopping rule evaluates the exact gradient."""
    a, b = mask.nonzero()[:, 0], (~mask).nonzero()[:, 0]
    if len(a) <= len(b):
        z = torch.zeros_like(rhs)
        if len(a):  # (no hinge active: the minimizer is that of ½‖w̃‖² alone, w̃ = 0)
            z[a] = torch.cholesky_solve(rhs[a], torch.linalg.cholesky(system[a][:, a]))
        return z
    z = inverse() @ rhs
    if len(b):
        mu = torch.cholesky_solve(z[b], torch.linalg.cholesky(inverse()[b][:, b]))
        z = z - inverse()[:, b] @ mu
        z[b] = 0.0  # exactly, not to rounding
    return z


def _row_span_coefficients(gram, margin):
    """β with X̃ᵀβ the projection of w̃ onto the row span of X̃, from ``margin`` = X̃w̃: G β = X̃w̃.

    Projecting keeps every margin and shortens w̃, so f does not increase, and the optimum lies in
    the row span. The relative ridge 1e-10 keeps a rank-deficient G (repeated rows) factorable; the
    β it gives is a start only, represented exactly whatever it is."""
    ridge = 1e-10 * gram.diagonal().mean()
    factor = torch.linalg.cholesky(gram + ridge * torch.eye(len(gram), dtype=gram.dtype))
    return torch.cholesky_solve(margin, factor)


def _norms(t: torch.Tensor) -> torch.Tensor:
    return torch.linalg.vector_norm(t, dim=0)


def _gradient(w, xt, y, margin, c):
    """∇f per column: w − 2C X̃ᵀ (y ⊙ max(0, 1 − y ⊙ X̃w)); ``xt`` is X̃ᵀ, ``margin`` X̃w."""
    hinge = torch.clamp(1.0 - y * margin, min=0.0)
    return w - 2.0 * c * (xt @ (y * hinge))


def _pcg(apply, rhs, precondition, forcing):
    """Solve apply(s) = rhs column by column (each column its own SPD system) by preconditioned
    conjugate gradients, to a residual of ``forcing`` (K,) × the right-hand side's norm."""
    s = torch.zeros_like(rhs)
    r = rhs.clone()
    z = precondition(r)
    p = z.clone()
    rz = (r * z).sum(0)
    target = forcing * _norms(rhs)
    for _ in range(CG_MAX_ITER):
        if bool((_norms(r) <= target).all()):
            break
        hp = apply(p)
        curvature = (p * hp).sum(0)
        alpha = torch.where(curvature > 0, rz / curvature.clamp(min=1e-300), torch.zeros_like(rz))
        s += alpha * p
        r -= alpha * hp
        z = precondition(r)
        rz_new = (r * z).sum(0)
        beta = torch.where(rz > 0, rz_new / rz.clamp(min=1e-300), torch.zeros_like(rz))
        p = z + beta * p
        rz = rz_new
    return s


def _line_search(ws, ss, y, margin, direction, c):
    """Per column, the t ≥ 0 minimizing f(w + t·s): the root of the piecewise-linear increasing
    φ'(t) = w·s + t s·s − 2C Σ_i y_i d_i max(0, 1 − y_i (m_i + t d_i)), by safeguarded Newton;
    ``ws``, ``ss``: w·s and s·s (K,), ``direction``: d = X̃s."""

    def slope(t):
        hinge = torch.clamp(1.0 - y * (margin + t * direction), min=0.0)
        return ws + t * ss - 2.0 * c * (y * direction * hinge).sum(0), \
            ss + 2.0 * c * (direction * direction * (hinge > 0)).sum(0)

    lo, hi = torch.zeros_like(ws), torch.ones_like(ws)
    while bool((slope(hi)[0] < 0).any()):  # a Newton step can be short of the minimum: widen the bracket
        hi = torch.where(slope(hi)[0] < 0, 2.0 * hi, hi)
    t = torch.ones_like(ws)
    for _ in range(LINE_SEARCH_ITER):
        d1, d2 = slope(t)
        done = d1.abs() <= 1e-12 * (ws.abs() + ss * t + 1e-300)
        if bool(done.all()):
            break
        lo, hi = torch.where(d1 < 0, t, lo), torch.where(d1 >= 0, t, hi)
        newton = t - d1 / d2
        # A column at its root keeps its t; the bracket is closed because a Newton step below
        # rounding (newton == t, just made lo or hi) must not be thrown away for a bisection.
        t = torch.where(done, t, torch.where((newton >= lo) & (newton <= hi), newton, 0.5 * (lo + hi)))
    return t


__all__ = ["L2SVMProblem", "LinearSVM"]
