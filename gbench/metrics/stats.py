"""Streaming Gaussian feature statistics: the metric state of FID.

Every metric in gbench is a pure function plus a state with ``update(batch)``,
``merge(other)`` and ``compute()``. :class:`FeatureStats` is the state of the
Fréchet distance: the mean and covariance of features, kept as float64 sums
around a fixed shift, so that shards merge exactly and a distributed
evaluation is one all-reduce (:func:`gbench.metrics.distributed.all_reduce_stats`).
Saved as ``.npz`` with pytorch-fid's ``mu`` / ``sigma`` keys, so either tool
reads the other's files. Metrics that need the samples themselves (KID,
precision/recall, Inception Score) take the feature rows directly; across
processes :func:`gbench.metrics.distributed.all_gather_rows` collects them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.metrics._arrays import as_features, to_numpy


class SingularCovarianceWarning(UserWarning):
    """A covariance is singular or, beyond rounding, indefinite.

    :meth:`FeatureStats.compute` issues it when there are fewer samples than
    dimensions (N < d): the covariance then has rank ≤ N − 1 < d. The Fréchet
    distance of such statistics is still computed exactly, but as an estimate
    of the population FID it is strongly biased: use at least d + 1 samples
    (FID's protocol uses 50k). :func:`gbench.frechet_distance` issues it when it
    adds eps·I to the covariances: a covariance with a negative eigenvalue
    beyond rounding (e.g. accumulated in float32), or scipy's ``sqrtm`` failing
    as in pytorch-fid.
    """


# Keys of the .npz format and of state_dict(). ``mu`` and ``sigma`` are
# pytorch-fid's; the shifted sums make a loaded file mergeable again, bit for
# bit. The sums have new names (not the raw ``sum`` / ``sum_outer`` of files
# written before the shift existed), so that older gbench code, which does not
# know the shift, reads a new file as compute-only mu/sigma instead of
# misreading its sums.
_STATE_KEYS = ("n", "shift", "shifted_sum", "shifted_sum_outer")
# Files written before the shift: raw sums Σ x and Σ x xᵀ (shift 0).
_LEGACY_KEYS = ("n", "sum", "sum_outer")


class FeatureStats:
    """Streaming mean and covariance of features, as float64 sums around a shift.

    State: the sample count n, a shift c (d,) and the sums of the shifted
    features S1 = Σ (xᵢ − c) (d,) and S2 = Σ (xᵢ − c)(xᵢ − c)ᵀ (d, d), all float64
    on one device (the ``device`` argument, else the first batch's).
    ``compute()`` returns μ = c + S1 / n and the unbiased covariance
    Σ = (S2 − S1 S1ᵀ / n) / (n − 1): ``numpy.cov(x, rowvar=False)`` (ddof=1),
    as pytorch-fid computes it.

    Numerics. Raw sums Σ x xᵀ lose ~2 log10(|μ| / σ) digits to cancellation in
    S2 − n μμᵀ (at |μ| / σ = 1e6 the covariance turns indefinite). The shift
    removes the cancellation: c is the mean of the first non-empty batch, so
    |μ − c| is of the order of the spread σ, and Σ carries a relative error of
    a few ε₆₄ · (1 + |μ − c|² / σ²) whatever the offset. (For features of
    the same float format as c and within a factor 2 of it, x − c is even
    exact: Sterbenz's lemma.) This is the shifted-data algorithm of Chan,
    Golub & LeVeque, "Algorithms for computing the sample variance" (1983),
    §3, kept as sums so that states still merge by addition: shards with
    different shifts are re-centred first (:meth:`recentre`, the pairwise
    update of Chan et al. 1979 written for sums), then added; the distributed
    all-reduce re-centres every rank on one rank's shift. Merging shards
    therefore equals one pass up to float64 rounding (~1e-16 relative),
    whatever the order or the batch sizes.

    A state loaded from a file holding only ``mu`` and ``sigma`` (as pytorch-fid
    writes) is compute-only: it cannot be updated or merged.

    Example::

        stats = FeatureStats()
        for batch in loader:
            stats.update(extractor(batch))      # (N, d) float features
        mu, sigma = stats.compute()             # float64 (d,), (d, d)
    """

    def __init__(self, dim: int | None = None, device: torch.device | str | None = None):
        """
        Args:
            dim: the feature dimension d, if known (else the first batch sets it).
                Knowing it lets an empty state take part in an all-reduce.
            device: where the float64 sums live (default: the first batch's device).
        """
        if dim is not None and (int(dim) != dim or dim < 1):
            raise GbenchError(f"FeatureStats dim must be a positive integer, got {dim!r}")
        self._dim = None if dim is None else int(dim)
        self._device = None if device is None else torch.device(device)
        self._n: torch.Tensor | None = None
        self._shift: torch.Tensor | None = None
        self._sum: torch.Tensor | None = None
        self._sum_outer: torch.Tensor | None = None
        self._fixed: tuple[np.ndarray, np.ndarray] | None = None  # compute-only (mu, sigma)

    # --- properties ---------------------------------------------------------

    @property
    def dim(self) -> int | None:
        """Feature dimension d (None before the first batch unless given)."""
        return self._dim

    @property
    def n(self) -> int | None:
        """Number of samples seen; None for compute-only stats loaded from mu/sigma."""
        if self._fixed is not None:
            return None
        return 0 if self._n is None else int(self._n.item())

    @property
    def mergeable(self) -> bool:
        """False for compute-only stats (loaded from a file with only mu and sigma)."""
        return self._fixed is None

    @property
    def shift(self) -> torch.Tensor | None:
        """The centre c (d,) of the sums (float64; a copy), None before any state exists.

        Zero until the first non-empty batch sets it; only the rounding of the
        statistics, never their value, depends on it.
        """
        return None if self._shift is None else self._shift.clone()

    def __repr__(self) -> str:
        return f"FeatureStats(n={self.n}, dim={self._dim}, mergeable={self.mergeable})"

    # --- streaming API ------------------------------------------------------

    def update(self, features) -> "FeatureStats":
        """Add a batch of features.

        Args:
            features: numpy array or torch tensor (N, d), any real dtype, any
                device; converted to float64 before any arithmetic (float32
                sums of 50k squares would lose ~4 digits).

        Returns:
            self, so that calls chain.
        """
        self._require_mergeable("update")
        x = as_features(features, "features", min_rows=0)
        self._allocate(x.shape[1], x.device)
        if x.shape[0] == 0:
            return self
        x = x.to(self._sum.device)
        if self.n == 0:
            # The shift is free while the sums are zero: centre on this batch,
            # so that |μ − c| is of the order of the features' spread.
            self._shift = x.mean(dim=0)
        x = x - self._shift
        self._n += x.shape[0]
        self._sum += x.sum(dim=0)
        self._sum_outer.addmm_(x.T, x)
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add another state's samples to this one (in place; ``other`` is unchanged).

        ``other``'s sums are re-centred on this state's shift, then added:
        merging the shards of a dataset equals one pass over all of it up to
        float64 rounding, whatever the order or the batch sizes.
        """
        if not isinstance(other, FeatureStats):
            raise GbenchError(f"FeatureStats.merge expects a FeatureStats, got {type(other).__name__}")
        self._require_mergeable("merge")
        other._require_mergeable("be merged")
        if other._n is None:  # nothing seen yet
            if other._dim is not None:
                self._check_dim(other._dim)
            return self
        self._allocate(other._dim, other._sum.device)
        dev = self._sum.device
        if self.n == 0:  # adopt the other state's shift: no re-centring at all
            self._shift = other._shift.to(dev, copy=True)
        n, s1, s2 = _recentred(other._n.to(dev), other._shift.to(dev), other._sum.to(dev),
                               other._sum_outer.to(dev), self._shift)
        self._n += n
        self._sum += s1
        self._sum_outer += s2
        return self

    def recentre(self, shift) -> "FeatureStats":
        """Express the sums around ``shift`` (d,) instead of the current shift, in place.

        The statistics do not change (up to float64 rounding); states with the
        same shift merge by adding their sums, which is how
        :func:`~gbench.metrics.distributed.all_reduce_stats` combines ranks.

        Args:
            shift: numpy array or torch tensor (d,), any real dtype and device.

        Returns:
            self, so that calls chain.
        """
        self._require_mergeable("be re-centred")
        if self._n is None:
            if self._dim is None:
                raise GbenchError("FeatureStats has no state yet: update it first, or construct it with dim=d")
            self._allocate(self._dim, self._device or torch.device("cpu"))
        c = torch.as_tensor(shift).detach().to(device=self._sum.device, dtype=torch.float64)
        if c.shape != (self._dim,):
            raise GbenchError(f"shift must have shape ({self._dim},), got {tuple(c.shape)}")
        if not bool(torch.isfinite(c).all()):
            raise GbenchError("shift contains NaN or Inf values")
        _, self._sum, self._sum_outer = _recentred(self._n, self._shift, self._sum, self._sum_outer, c)
        self._shift = c.clone()
        return self

    def compute(self) -> tuple[np.ndarray, np.ndarray]:
        """Mean and unbiased covariance (ddof=1) of all features seen.

        Returns:
            (mu, sigma): numpy float64 arrays of shape (d,) and (d, d), on the CPU.

        Raises:
            GbenchError: fewer than 2 samples (no covariance).

        Warns:
            SingularCovarianceWarning: n < d, so sigma has rank ≤ n − 1 < d.
        """
        if self._fixed is not None:
            mu, sigma = self._fixed
            return mu.copy(), sigma.copy()
        n = self.n
        if n < 2:
            raise GbenchError(f"FeatureStats has {n} sample(s): a covariance needs at least 2; "
                              "update it with more features")
        if n < self._dim:
            warnings.warn(SingularCovarianceWarning(
                f"{n} samples of {self._dim}-dimensional features: the covariance is singular "
                f"(rank ≤ {n - 1}); use at least {self._dim + 1} samples"), stacklevel=2)
        offset = self._sum / n  # μ − c: of the order of the spread, so no cancellation below
        mu = self._shift + offset
        sigma = (self._sum_outer - torch.outer(self._sum, offset)) / (n - 1)
        # S2 is symmetric in exact arithmetic; a blocked matmul may round its two
        # triangles differently, and eigensolvers read only one triangle.
        sigma = 0.5 * (sigma + sigma.T)
        return to_numpy(mu), to_numpy(sigma)

    # --- raw state (for the distributed all-reduce) -------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The float64 state tensors themselves (not copies).

        Keys: ``n`` (0-d), ``shift`` (d,), ``shifted_sum`` (d,) and
        ``shifted_sum_outer`` (d, d). States with equal shifts merge by adding
        their ``n`` and sums (:meth:`recentre` makes shifts equal); an
        all-reduce may modify the tensors in place.
        """
        self._require_mergeable("export its state")
        if self._n is None:
            if self._dim is None:
                raise GbenchError("FeatureStats has no state yet: update it first, or construct it with dim=d")
            self._allocate(self._dim, self._device or torch.device("cpu"))
        return {"n": self._n, "shift": self._shift, "shifted_sum": self._sum, "shifted_sum_outer": self._sum_outer}

    def load_state_dict(self, state: dict) -> "FeatureStats":
        """Replace the state by ``state`` (tensors or arrays).

        Accepts :meth:`state_dict`'s keys, or the raw sums ``n``, ``sum``
        (Σ x) and ``sum_outer`` (Σ x xᵀ) of files written before the shift
        existed; those are re-centred on their mean, with the same rounding as
        the covariance they were saved with (their precision cannot be
        recovered, but later updates and merges keep the shifted precision).
        """
        device = self._device

        def tensor(key):
            return torch.as_tensor(state[key], dtype=torch.float64, device=device)

        if all(k in state for k in _STATE_KEYS):
            n, c, s1, s2 = (tensor(k) for k in _STATE_KEYS)
        elif all(k in state for k in _LEGACY_KEYS):
            n, s1, s2 = (tensor(k) for k in _LEGACY_KEYS)
            c = torch.zeros_like(s1)
        else:
            raise GbenchError(f"FeatureStats state has keys {sorted(state)}, expected {list(_STATE_KEYS)}: "
                              "pass a dict from FeatureStats.state_dict()")
        n = n.reshape(())
        d = s1.shape[0] if s1.ndim == 1 else -1
        if (s1.ndim != 1 or c.shape != (d,) or s2.shape != (d, d)
                or float(n) < 0 or float(n) != round(float(n))):
            raise GbenchError(f"FeatureStats state has inconsistent shapes (shift {tuple(c.shape)}, "
                              f"sum {tuple(s1.shape)}, sum_outer {tuple(s2.shape)}) or a bad count {float(n)}")
        if not all(bool(torch.isfinite(t).all()) for t in (c, s1, s2)):
            raise GbenchError("FeatureStats state contains NaN or Inf values: recompute the statistics")
        self._check_dim(d)
        self._dim, self._fixed = d, None
        self._n, self._shift, self._sum, self._sum_outer = n.clone(), c.clone(), s1.clone(), s2.clone()
        if "shift" not in state and float(n) > 0:
            # Raw sums around 0: centre them on their mean, where S1 = 0 and
            # S2 = Σ xxᵀ − S1 μᵀ, the numerator the old compute() rounded.
            mu = s1 / n
            outer = s2 - torch.outer(s1, mu)
            self._shift, self._sum, self._sum_outer = mu, torch.zeros_like(s1), 0.5 * (outer + outer.T)
        return self

    # --- files --------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write ``mu``, ``sigma`` (pytorch-fid's keys) and the state to an .npz, atomically.

        pytorch-fid (``fid_score.py``) reads such a file directly; :meth:`load`
        restores a mergeable state from it. The file is written to a temporary
        name in the same directory and moved into place with ``os.replace``, so
        a crash never leaves a half-written file under ``path``.
        """
        from gbench.metrics.stats_files import atomic_savez  # which imports this module

        mu, sigma = self.compute()
        arrays = {"mu": mu, "sigma": sigma}
        if self._fixed is None:
            arrays.update({k: to_numpy(t) for k, t in self.state_dict().items()})
        atomic_savez(Path(path), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        """Read statistics written by :meth:`save` (any gbench version) or by pytorch-fid.

        A file with the sums (shifted, or the raw sums of files written before
        the shift existed) gives a mergeable state; a file with only ``mu`` and
        ``sigma`` (pytorch-fid's ``--save-stats``) gives compute-only statistics.
        """
        from gbench.metrics.stats_files import check_sums_match, read_npz_statistics

        path = Path(path)
        arrays, mu, sigma = read_npz_statistics(path)
        d = mu.shape[0]
        stats = cls(dim=d)
        if all(k in arrays for k in _STATE_KEYS) or all(k in arrays for k in _LEGACY_KEYS):
            try:
                stats.load_state_dict(arrays)
            except GbenchError as e:  # malformed sums: name the file they came from
                raise GbenchError(f"{path}: {e}") from None
            check_sums_match(path, stats, mu, sigma)
        else:
            stats._fixed = (mu, sigma)
        return stats

    # --- internals ----------------------------------------------------------

    def _require_mergeable(self, action: str) -> None:
        if self._fixed is not None:
            raise GbenchError(f"these FeatureStats were loaded from a file with only mu and sigma (as pytorch-fid "
                              f"writes) and cannot {action}: recompute them from features, "
                              "or save them with FeatureStats.save")

    def _check_dim(self, d: int) -> None:
        if self._dim is not None and d != self._dim:
            raise GbenchError(f"features have {d} dimensions but these FeatureStats hold {self._dim}: "
                              "use one feature extractor and layer per FeatureStats")

    def _allocate(self, d: int, device: torch.device) -> None:
        """Create a zero state on first use (on self._device if set, else ``device``)."""
        self._check_dim(d)
        if self._n is not None:
            return
        dev = self._device or device
        self._dim = d
        self._n = torch.zeros((), dtype=torch.float64, device=dev)
        self._shift = torch.zeros(d, dtype=torch.float64, device=dev)
        self._sum = torch.zeros(d, dtype=torch.float64, device=dev)
        self._sum_outer = torch.zeros(d, d, dtype=torch.float64, device=dev)


def _recentred(n: torch.Tensor, shift: torch.Tensor, s1: torch.Tensor, s2: torch.Tensor,
               new_shift: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Sums around ``shift`` → the same samples' sums around ``new_shift`` (new tensors).

    With δ = shift − new_shift, x − new_shift = (x − shift) + δ, hence
        S1' = S1 + n δ,    S2' = S2 + S1 δᵀ + δ S1ᵀ + n δδᵀ,
    an identity (no cancellation: every term is of the order of the final
    S2' when δ is of the order of the spread). Chan, Golub & LeVeque (1979)'s
    pairwise update of (n, mean, M2) is this identity written for means.
    """
    delta = shift - new_shift
    if not bool(delta.any()):  # same shift: bit-for-bit the same sums
        return n, s1.clone(), s2.clone()
    cross = torch.outer(s1, delta)
    return n, s1 + n * delta, s2 + cross + cross.T + n * torch.outer(delta, delta)
