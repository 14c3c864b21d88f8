"""Fréchet distance: closed forms, parity with pytorch-fid, backend agreement, singular and indefinite input."""

import warnings

import numpy as np
import pytest
import scipy.linalg
import torch
from pytorch_fid.fid_score import calculate_frechet_distance

from gbench.errors import GbenchError
from gbench.metrics import frechet
from gbench.metrics import frechet_backends
from gbench.metrics.frechet import BACKENDS, FrechetReference, frechet_distance
from gbench.metrics.stats import SingularCovarianceWarning

# pytorch-fid passes scipy's deprecated `disp`; not our concern here.
pytestmark = pytest.mark.filterwarnings("ignore:The `disp` argument:DeprecationWarning")

# The contract: backends agree to 1e-8 relative on well-conditioned statistics.
# (Measured: ~1e-14; the three differ only in float64 rounding.)
RTOL_BACKENDS = 1e-8


def _gaussian_stats(rng, n, d, shift=0.0, scale=1.0):
    """Sample statistics of n correlated Gaussian features (mean `shift`)."""
    mixing = np.eye(d) + 0.3 * rng.standard_normal((d, d)) / np.sqrt(d)
    x = (rng.standard_normal((n, d)) @ mixing) * scale + shift
    return x.mean(axis=0), np.cov(x, rowvar=False)


@pytest.fixture
def two_gaussians(rng):
    d = 48
    return (*_gaussian_stats(rng, 400, d), *_gaussian_stats(rng, 300, d, shift=0.2, scale=1.3))


# --- what the distance means ----------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_one_dimension_closed_form(backend):
    # 1-D: FD = (m1 − m2)² + (s1 − s2)² for standard deviations s1, s2
    fd = frechet_distance(np.array([1.0]), np.array([[4.0]]), np.array([-0.5]), np.array([[9.0]]), backend=backend)
    assert fd == pytest.approx(1.5**2 + (2.0 - 3.0) ** 2, rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
def test_commuting_covariances_closed_form(backend, rng):
    # Σ1 = Q diag(a) Qᵀ, Σ2 = Q diag(b) Qᵀ ⇒ Tr√(Σ1Σ2) = Σ √(ab): FD = ‖Δμ‖² + Σ (√a − √b)²
    d = 16
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0.5, 4.0, d), rng.uniform(0.5, 4.0, d)
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    fd = frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T, backend=backend)
    assert fd == pytest.approx(expected, rel=1e-10)  # Q is orthogonal to ~1e-15


@pytest.mark.parametrize("backend", BACKENDS)
def test_identical_statistics_give_zero(backend, two_gaussians):
    mu, sigma = two_gaussians[:2]
    fd = frechet_distance(mu, sigma, mu, sigma, backend=backend)
    # cancellation of Tr Σ1 + Tr Σ2 − 2 Tr √(Σ1Σ2) ≈ 2·50: rounding ~1e-13 × that
    assert abs(fd) < 1e-9 * np.trace(sigma)


def test_symmetric_in_its_two_gaussians(two_gaussians):
    mu1, s1, mu2, s2 = two_gaussians
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(frechet_distance(mu2, s2, mu1, s1), rel=1e-12)


# --- parity and agreement ---------------------------------------------------------


def test_scipy_backend_is_pytorch_fid(two_gaussians):
    reference = calculate_frechet_distance(*two_gaussians)
    # the same numpy/scipy operations in the same order
    assert frechet_distance(*two_gaussians, backend="scipy") == pytest.approx(reference, rel=1e-14)


@pytest.mark.parametrize("backend", ["eigh", "newton-schulz"])
def test_backends_agree_with_reference(backend, two_gaussians):
    reference = frechet_distance(*two_gaussians, backend="scipy")
    assert frechet_distance(*two_gaussians, backend=backend) == pytest.approx(reference, rel=RTOL_BACKENDS)


def test_torch_and_numpy_inputs_agree(two_gaussians):
    as_torch = [torch.from_numpy(a) for a in two_gaussians]
    for backend in BACKENDS:
        assert frechet_distance(*as_torch, backend=backend) == pytest.approx(
            frechet_distance(*two_gaussians, backend=backend), rel=1e-14)
    # float32 statistics are accepted (converted to float64 before any arithmetic)
    as_f32 = [a.float() for a in as_torch]
    assert frechet_distance(*as_f32) == pytest.approx(frechet_distance(*two_gaussians), rel=1e-5)


@pytest.mark.parametrize("n_reference", [300, 20])  # full rank; singular (rank 19 < 32)
def test_cached_reference_equals_frechet_distance(rng, monkeypatch, n_reference):
    d = 32
    mu_r, sigma_r = _gaussian_stats(rng, n_reference, d)
    models = [_gaussian_stats(rng, 200, d, shift=s, scale=1 + s) for s in (0.0, 0.1, 0.5)]
    calls = []
    real_factor = frechet._psd_factor
    monkeypatch.setattr(frechet, "_psd_factor", lambda *a, **k: calls.append(1) or real_factor(*a, **k))
    reference = FrechetReference(mu_r, sigma_r)
    for mu, sigma in models:
        expected = frechet_distance(mu_r, sigma_r, mu, sigma)
        assert reference.distance(mu, sigma) == pytest.approx(expected, rel=1e-14)  # the same arithmetic
        assert expected == pytest.approx(calculate_frechet_distance(mu_r, sigma_r, mu, sigma),
                                         abs=_pytorch_fid_noise(sigma_r, sigma), rel=RTOL_BACKENDS)
    assert len(calls) == 1 + len(models)  # the reference was factored once, not once per model


# --- singular covariances: exact, no regularization --------------------------------


def _pytorch_fid_noise(sigma1, sigma2):
    """Bound on pytorch-fid's own error when Σ1Σ2 is singular (0 when it is not).

    Each of the k zero eigenvalues of Σ1Σ2 leaves sqrtm a rounding residue of
    size ≲ ε‖Σ1‖‖Σ2‖ whose square root (~1e-8 ‖Σ‖ each) enters its trace, and
    FD holds the trace twice: |error| ≤ 2k √(ε ‖Σ1‖_F ‖Σ2‖_F). Measured: ≤ 0.15
    of this bound (d = 16..128), i.e. up to ~3e-8 relative; gbench is exact to
    ~1e-15 (checked against 35-digit arithmetic below).
    """
    k = len(sigma1) - min(np.linalg.matrix_rank(sigma1), np.linalg.matrix_rank(sigma2))
    eps = np.finfo(np.float64).eps
    return 2 * k * np.sqrt(eps * np.linalg.norm(sigma1) * np.linalg.norm(sigma2))


def _pytorch_fid_regularizes(sigma1, sigma2):
    """Whether pytorch-fid takes its offset branch: sqrtm(Σ1Σ2) not finite, as it tests."""
    return not np.isfinite(scipy.linalg.sqrtm(sigma1.dot(sigma2))).all()


def _collinear_stats(rng, n, d, rank):
    """Statistics of n samples whose d features are linear combinations of `rank` of them."""
    z = rng.standard_normal((n, rank))
    x = np.concatenate([z, z @ rng.standard_normal((rank, d - rank)) / np.sqrt(rank)], axis=1) * 1.5 + 0.3
    return x.mean(axis=0), np.cov(x, rowvar=False)


SINGULAR_CASES = {
    # name: (statistics 1, statistics 2) as functions of rng, at d = 64
    "fewer samples than dimensions": lambda rng: (_gaussian_stats(rng, 50, 64),
                                                  _gaussian_stats(rng, 300, 64, shift=0.2, scale=1.2)),
    "model singular, reference full rank": lambda rng: (_gaussian_stats(rng, 300, 64),
                                                        _gaussian_stats(rng, 40, 64, shift=0.1)),
    "both fewer samples than dimensions": lambda rng: (_gaussian_stats(rng, 50, 64),
                                                       _gaussian_stats(rng, 30, 64, shift=0.2, scale=1.3)),
    "collinear features": lambda rng: (_collinear_stats(rng, 500, 64, 32),
                                       _gaussian_stats(rng, 300, 64, scale=1.1)),
}


@pytest.mark.parametrize("case", SINGULAR_CASES)
def test_singular_covariances_match_pytorch_fid_without_regularization(case, rng):
    (mu1, s1), (mu2, s2) = SINGULAR_CASES[case](rng)
    assert min(np.linalg.matrix_rank(s1), np.linalg.matrix_rank(s2)) < 64  # the case is singular
    if _pytorch_fid_regularizes(s1, s2):
        pytest.skip("pytorch-fid adds its offset here: nothing unregularized to compare with")
    reference = calculate_frechet_distance(mu1, s1, mu2, s2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no SingularCovarianceWarning, no Newton–Schulz fallback warning
        values = {backend: frechet_distance(mu1, s1, mu2, s2, backend=backend) for backend in ("eigh", "newton-schulz")}
        values["eigh, swapped"] = frechet_distance(mu2, s2, mu1, s1)
    for name, value in values.items():
        # pytorch-fid's sqrt of rounding residues is the whole difference (see _pytorch_fid_noise)
        assert value == pytest.approx(reference, abs=_pytorch_fid_noise(s1, s2), rel=1e-14), name
        assert value == pytest.approx(values["eigh"], rel=1e-12), name  # gbench's routes agree exactly
    # the scipy backend is pytorch-fid itself where pytorch-fid needs no offset
    assert frechet_distance(mu1, s1, mu2, s2, backend="scipy") == pytest.approx(reference, rel=1e-14)


def test_singular_covariances_are_exact(rng):
    """Against 35-digit arithmetic (mpmath): Tr √(√Σ1 Σ2 √Σ1) from the exact covariances."""
    mp = pytest.importorskip("mpmath")
    d = 12
    x = rng.standard_normal((7, d))  # rank 6 < 12
    z = rng.standard_normal((40, 5))
    y = np.concatenate([z, z @ rng.standard_normal((5, d - 5))], axis=1) + 0.5  # collinear: rank 5

    with mp.workdps(35):
        def exact_stats(a):
            rows = [[mp.mpf(float(v)) for v in row] for row in a]
            mu = [mp.fsum(col) / len(rows) for col in zip(*rows)]
            centred = mp.matrix([[v - m for v, m in zip(row, mu)] for row in rows])
            return mu, centred.T * centred / (len(rows) - 1)

        (m1, c1), (m2, c2) = exact_stats(x), exact_stats(y)
        w, q = mp.eigsy(c1)
        root = q * mp.diag([mp.sqrt(max(v, 0)) for v in w]) * q.T
        lam, _ = mp.eigsy(root * c2 * root)
        expected = float(mp.fsum((a - b) ** 2 for a, b in zip(m1, m2)) + sum(c1[i, i] + c2[i, i] for i in range(d))
                         - 2 * mp.fsum(mp.sqrt(max(v, 0)) for v in lam))

    mu1, s1, mu2, s2 = x.mean(axis=0), np.cov(x, rowvar=False), y.mean(axis=0), np.cov(y, rowvar=False)
    for backend in ("eigh", "newton-schulz"):
        # rounding of np.cov and of the eigensolvers only: ~1e-15 (a clamp at 0 alone left ~1e-8)
        assert frechet_distance(mu1, s1, mu2, s2, backend=backend) == pytest.approx(expected, rel=1e-12)
        assert frechet_distance(mu2, s2, mu1, s1, backend=backend) == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("backend", ["eigh", "newton-schulz"])
def test_singular_commuting_covariances_closed_form(backend, rng):
    # Σ1 = Q diag(a) Qᵀ, Σ2 = Q diag(b) Qᵀ with zeros in a and b: FD = ‖Δμ‖² + Σ (√a − √b)².
    # Rounding of Q turns the zeros into ±1e-16, whose square roots (1e-8) would show.
    d = 16
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    a, b = rng.uniform(0.5, 4.0, d), rng.uniform(0.5, 4.0, d)
    a[:5], b[3:9] = 0.0, 0.0  # rank 11 and 10, partly shared null space
    mu1, mu2 = rng.standard_normal(d), rng.standard_normal(d)
    expected = np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fd = frechet_distance(mu1, (q * a) @ q.T, mu2, (q * b) @ q.T, backend=backend)
    assert fd == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.filterwarnings("ignore:Matrix is singular:scipy.linalg.LinAlgWarning")  # scipy's sqrtm says so
def test_zero_covariance(backend, rng):
    # constant features: Σ2 = 0, Tr √(Σ1 Σ2) = 0, FD = ‖Δμ‖² + Tr Σ1
    mu1, s1 = _gaussian_stats(rng, 4, 10)  # singular too
    mu2 = mu1 + 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("error", SingularCovarianceWarning)
        fd = frechet_distance(mu1, s1, mu2, np.zeros((10, 10)), backend=backend)
    assert fd == pytest.approx(10.0 + np.trace(s1), rel=1e-12)


# --- indefinite covariances: regularized ---------------------------------------------


def _regularized_fd(mu1, s1, mu2, s2, eps=1e-6):
    """Independent route: FD of N(μ1, Σ1 + εI), N(μ2, Σ2 + εI) via numpy eigh of √Σ1."""
    d = len(mu1)
    s1, s2 = s1 + eps * np.eye(d), s2 + eps * np.eye(d)
    w, v = np.linalg.eigh(s1)
    root1 = (v * np.sqrt(w)) @ v.T
    tr_sqrt = np.sqrt(np.clip(np.linalg.eigvalsh(root1 @ s2 @ root1), 0, None)).sum()
    return np.sum((mu1 - mu2) ** 2) + np.trace(s1) + np.trace(s2) - 2 * tr_sqrt


def test_slightly_indefinite_covariance_needs_a_larger_eps(rng):
    # A covariance with eigenvalue −1e-4, as float32 accumulation can leave:
    # eps = 1e-6 cannot make it positive definite, eps = 1e-3 can.
    d = 8
    q, _ = np.linalg.qr(rng.standard_normal((d, d)))
    sigma = (q * np.r_[-1e-4, np.linspace(0.5, 2.0, d - 1)]) @ q.T
    mu = np.zeros(d)
    for backend in BACKENDS:
        with pytest.raises(GbenchError, match="larger than its negative eigenvalues"):
            frechet_distance(mu, sigma, mu, np.eye(d), backend=backend)
        with pytest.warns(SingularCovarianceWarning):
            fd = frechet_distance(mu, sigma, mu, np.eye(d), backend=backend, eps=1e-3)
        assert fd == pytest.approx(_regularized_fd(mu, sigma, mu, np.eye(d), eps=1e-3), rel=1e-10)


def test_well_conditioned_input_does_not_warn(two_gaussians):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        for backend in BACKENDS:
            frechet_distance(*two_gaussians, backend=backend)


def test_scipy_significant_imaginary_part_is_retried_then_refused(two_gaussians, monkeypatch):
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def sqrtm_with_imaginary_part(a):
        calls.append(1)
        return real_sqrtm(a) + 0.1j * np.eye(a.shape[0])  # |Im| on the diagonal ≫ 1e-3

    monkeypatch.setattr(scipy.linalg, "sqrtm", sqrtm_with_imaginary_part)
    with pytest.warns(SingularCovarianceWarning, match="imaginary component"):
        with pytest.raises(GbenchError, match="backend='eigh'"):
            frechet_distance(*two_gaussians, backend="scipy")
    assert len(calls) == 2  # once as given, once regularized


def test_scipy_non_finite_root_is_retried_with_regularization(two_gaussians, monkeypatch):
    """pytorch-fid's retry: a non-finite sqrtm is recomputed with eps·I on both diagonals."""
    real_sqrtm = scipy.linalg.sqrtm
    calls = []

    def non_finite_first(a):
        calls.append(1)
        return np.full(a.shape, np.inf) if len(calls) == 1 else real_sqrtm(a)

    monkeypatch.setattr(scipy.linalg, "sqrtm", non_finite_first)
    with pytest.warns(SingularCovarianceWarning, match="non-finite"):
        fd = frechet_distance(*two_gaussians, backend="scipy")
    assert len(calls) == 2
    assert fd == pytest.approx(_regularized_fd(*two_gaussians), rel=1e-10)


def test_newton_schulz_falls_back_to_eigh_when_not_converged(two_gaussians, monkeypatch):
    monkeypatch.setattr(frechet_backends, "NS_MAX_ITER", 2)
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fd = frechet_distance(*two_gaussians, backend="newton-schulz")
    assert fd == pytest.approx(frechet_distance(*two_gaussians, backend="eigh"), rel=1e-14)


def test_newton_schulz_square_root_is_batched(rng):
    a = torch.stack([torch.from_numpy(_gaussian_stats(rng, 100, 12)[1]) for _ in range(3)])
    root, converged, residual = frechet_backends.sqrtm_newton_schulz(a)
    assert root.shape == (3, 12, 12) and bool(converged.all())
    assert float((root @ root - a).abs().max()) < 1e-12 * float(a.abs().max())


# --- bad input --------------------------------------------------------------------


def test_bad_inputs_are_errors(two_gaussians):
    mu1, s1, mu2, s2 = two_gaussians
    cases = [
        ((mu1[:5], s1, mu2, s2), "shape"),
        ((mu1, s1[:, :5], mu2, s2), "shape"),
        ((mu1, s1, mu2[:5], s2[:5, :5]), "dimension"),
        ((mu1, np.where(np.eye(48) > 0, np.nan, s1), mu2, s2), "NaN"),
        ((mu1, s1 + np.triu(np.ones((48, 48)), 1), mu2, s2), "not symmetric"),
        ((mu1, -s1, mu2, s2), "not a covariance"),
        ((mu1, s1, "mu2", s2), "numpy array or a torch tensor"),
    ]
    for args, match in cases:
        with pytest.raises(GbenchError, match=match):
            frechet_distance(*args)
    with pytest.raises(GbenchError, match="unknown Fréchet distance backend"):
        frechet_distance(*two_gaussians, backend="sqrtm")
    with pytest.raises(GbenchError, match="eps"):
        frechet_distance(*two_gaussians, eps=0)
