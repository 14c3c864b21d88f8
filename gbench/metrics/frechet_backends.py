"""The Fréchet distance's two alternative backends (:func:`gbench.frechet_distance`'s
``backend="scipy"`` and ``"newton-schulz"``); the default ``"eigh"`` and the
shared validation, classification and regularization live in
:mod:`gbench.metrics.frechet`.

* ``scipy``: pytorch-fid's ``calculate_frechet_distance`` operation for
  operation (``scipy.linalg.sqrtm`` of Σ₁Σ₂), with gbench's policy of
  regularizing only indefinite covariances;
* ``newton-schulz``: the square root of M = Lᵀ Σ₂ L (L the Cholesky factor of
  Σ₁) by coupled Newton–Schulz iterations — matrix products only, batched,
  fast on GPUs — verified, and falling back to eigh when it does not converge.
"""

from __future__ import annotations

import math
import warnings

import numpy as np
import scipy.linalg
import torch

from gbench.errors import GbenchError
from gbench.metrics._arrays import to_numpy
from gbench.metrics.frechet import (
    _DEFINITE, _SINGULAR, _add_eye, _assemble, _classify, _product_tol, _psd_factor, _regularize_if_indefinite,
    _symmetrize, _trace_sqrt_psd,
)
from gbench.metrics.stats import SingularCovarianceWarning

# pytorch-fid's test for a significant imaginary part of sqrtm(Σ₁Σ₂): |Im| of
# the diagonal above 1e-3 (np.allclose(..., 0, atol=1e-3)).
IMAG_ATOL = 1e-3

# Newton–Schulz: at most this many iterations (each three d×d products). From
# M / ‖M‖_F an eigenvalue λ needs about log(1/λ)/log(2.25) iterations to enter
# the quadratic phase, ~45 for a condition number of 1e12 at d = 2048.
NS_MAX_ITER = 100
# Stop once ‖I − Z Y‖_F / √d is this small (quadratic convergence: the step
# before was ~1e-7), or once it stops decreasing below 1e-6 (rounding floor).
NS_TOL = 1e-13
# Accept the root when ‖Y² − M‖_F / ‖M‖_F is below this; the rounding floor
# is ~d · ε₆₄ ≈ 1e-13 at d = 2048.
NS_VERIFY_RTOL = 1e-10



def frechet_scipy(mu1, sigma1, mu2, sigma2, eps: float) -> float:
    """pytorch-fid's calculate_frechet_distance, with gbench's regularization policy."""
    regularize = _regularize_if_indefinite(_classify(sigma1, "sigma1", eps), _classify(sigma2, "sigma2", eps),
                                           "sigma1", "sigma2", eps)
    # From here on every operation is pytorch-fid's (symmetrizing an exactly
    # symmetric matrix, as np.cov returns, changes no bit).
    m1, s1, m2, s2 = (to_numpy(t) for t in (mu1, sigma1, mu2, sigma2))
    while True:
        if regularize:
            offset = np.eye(s1.shape[0]) * eps
            s1r, s2r = s1 + offset, s2 + offset
        else:
            s1r, s2r = s1, s2
        covmean = scipy.linalg.sqrtm(s1r.dot(s2r))
        problem = None
        if not np.isfinite(covmean).all():
            problem = "a non-finite square root"
        elif np.iscomplexobj(covmean) and not np.allclose(np.diagonal(covmean).imag, 0, atol=IMAG_ATOL):
            problem = f"an imaginary component of {np.max(np.abs(covmean.imag)):.3g}"
        if problem is None:
            break
        if regularize:
            raise GbenchError(f"scipy.linalg.sqrtm gave {problem} even with eps={eps} on the diagonal: "
                              "the covariances are too ill-conditioned for this backend; use backend='eigh'")
        warnings.warn(SingularCovarianceWarning(
            f"scipy.linalg.sqrtm(sigma1 @ sigma2) gave {problem}: adding eps={eps} to the diagonal of both "
            "covariances and retrying, as pytorch-fid does (backend='eigh' needs no offset)"), stacklevel=3)
        regularize = True
    # What is left of the imaginary part is rounding (|Im| ≤ 1e-3 on the diagonal): drop it as pytorch-fid does.
    covmean = covmean.real
    diff = m1 - m2
    return float(diff.dot(diff) + np.trace(s1r) + np.trace(s2r) - 2 * np.trace(covmean))


def frechet_newton_schulz(mu1, sigma1, mu2, sigma2, eps: float) -> float:
    kind1, kind2 = _classify(sigma1, "sigma1", eps), _classify(sigma2, "sigma2", eps)
    if _regularize_if_indefinite(kind1, kind2, "sigma1", "sigma2", eps):
        sigma1, sigma2 = _add_eye(sigma1, eps), _add_eye(sigma2, eps)
    elif _SINGULAR in (kind1, kind2):
        # M is singular: the iteration's Z = M^(-1/2) diverges on its null
        # space. The eigh route is exact there.
        f = _psd_factor(sigma1, definite=kind1 == _DEFINITE)
        tr_sqrt = _trace_sqrt_psd(f.T @ sigma2 @ f, _product_tol(sigma1, sigma2))
        return _assemble(mu1, sigma1, mu2, sigma2, tr_sqrt)
    f = torch.linalg.cholesky(sigma1)
    m = _symmetrize(f.T @ sigma2 @ f)
    root, converged, residual = sqrtm_newton_schulz(m)
    if bool(converged.all()):
        tr_sqrt = float(torch.diagonal(root, dim1=-2, dim2=-1).sum())
    else:
        warnings.warn(f"Newton–Schulz did not converge (‖Y² − M‖ / ‖M‖ = {float(residual.max()):.2g} after at most "
                      f"{NS_MAX_ITER} iterations): falling back to backend='eigh'", RuntimeWarning, stacklevel=3)
        tr_sqrt = _trace_sqrt_psd(m)
    return _assemble(mu1, sigma1, mu2, sigma2, tr_sqrt)


def sqrtm_newton_schulz(a: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Square root of symmetric positive definite matrices by coupled Newton–Schulz.

    Higham, "Functions of Matrices" (2008), Ch. 6: with Y₀ = A / c, Z₀ = I,
        T = (3I − Zₖ Yₖ) / 2,   Yₖ₊₁ = Yₖ T,   Zₖ₊₁ = T Zₖ
    Yₖ → √(A / c) and Zₖ → (A / c)^(-1/2) quadratically once ‖I − A / c‖ < 1,
    which c = ‖A‖_F ≥ λ_max guarantees for positive definite A. Only matrix
    products, batched over leading dimensions: any device.

    Args:
        a: float64 (..., d, d), symmetric positive definite.

    Returns:
        (root, converged, residual): root (..., d, d) = √a; converged (...,)
        bool; residual (...,) = ‖root² − a‖_F / ‖a‖_F.
    """
    d = a.shape[-1]
    norm = torch.linalg.matrix_norm(a, keepdim=True)  # (..., 1, 1)
    y = a / norm
    eye = torch.eye(d, dtype=a.dtype, device=a.device).expand_as(a)
    z = eye.clone()
    previous = math.inf
    for _ in range(NS_MAX_ITER):
        zy = z @ y
        step = float((torch.linalg.matrix_norm(eye - zy) / math.sqrt(d)).max())
        if step <= NS_TOL or (step < 1e-6 and step >= previous):
            break
        previous = step
        t = 0.5 * (3.0 * eye - zy)
        y, z = y @ t, t @ z
    root = y * norm.sqrt()
    residual = torch.linalg.matrix_norm(root @ root - a) / torch.linalg.matrix_norm(a)
    return root, residual <= NS_VERIFY_RTOL, residual
