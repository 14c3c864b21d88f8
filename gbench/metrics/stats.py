"""Streaming metric states: Gaussian feature statistics and feature banks.

Every metric in gbench is a pure function plus a state with ``update(batch)``,
``merge(other)`` and ``compute()``. Two states cover all of them:

* :class:`FeatureStats` — mean and covariance of features (FID), kept as float64
  sums so that shards merge by addition and a distributed evaluation is one
  all-reduce (:func:`gbench.metrics.distributed.all_reduce_stats`). Saved as
  ``.npz`` with pytorch-fid's ``mu`` / ``sigma`` keys, so either tool reads the
  other's files.
* :class:`FeatureBank` — the rows themselves, for metrics that need the samples
  (KID, precision/recall, density/coverage) or the logits (Inception Score).
"""

from __future__ import annotations

import os
import tempfile
import warnings
import zipfile
from pathlib import Path

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.metrics._arrays import as_features, to_numpy


class SingularCovarianceWarning(UserWarning):
    """A covariance matrix is singular (fewer samples than dimensions, or collinear features).

    Statistics from N < d samples have rank ≤ N − 1 < d. The Fréchet distance is
    still defined, but gbench regularizes it with eps·I as pytorch-fid does and
    the number is biased: use at least d + 1 samples (FID's protocol uses 50k).
    """


# Keys of the .npz format. ``mu`` and ``sigma`` are pytorch-fid's; the raw sums
# make a loaded file mergeable again, bit for bit.
_MERGEABLE_KEYS = ("n", "sum", "sum_outer")


class FeatureStats:
    """Streaming mean and covariance of features, as float64 sums.

    State: the sample count n, S1 = Σ xᵢ (d,) and S2 = Σ xᵢ xᵢᵀ (d, d), all
    float64 on one device (the ``device`` argument, else the first batch's).
    ``compute()`` returns μ = S1 / n and the unbiased covariance
    Σ = (S2 − S1 μᵀ) / (n − 1), exactly what ``numpy.cov(x, rowvar=False)``
    (ddof=1) and pytorch-fid compute.

    Numerics: raw sums rather than Chan et al.'s pairwise (n, mean, M2) update,
    because sums merge by plain addition: merging shards and the distributed
    all-reduce are additions, and batch size or order change only the float64
    rounding of the sums (~1e-16 relative). The price is cancellation in
    S2 − n μμᵀ: entry (i, j) of Σ carries an absolute error of a few
    ε₆₄ · (|Σᵢⱼ| + |μᵢ μⱼ|). For CNN features, whose means and standard
    deviations are of the same order, that is ~1e-15 of the entries, far below
    anything an FID resolves; features whose mean exceeds their spread by many
    orders of magnitude should be centred before they reach this class.

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
        x = x.to(self._sum.device)
        self._n += x.shape[0]
        self._sum += x.sum(dim=0)
        self._sum_outer.addmm_(x.T, x)
        return self

    def merge(self, other: "FeatureStats") -> "FeatureStats":
        """Add another state's samples to this one (in place; ``other`` is unchanged).

        Merging the shards of a dataset equals one pass over all of it (the sums
        are added), whatever the order or the batch sizes.
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
        self._n += other._n.to(dev)
        self._sum += other._sum.to(dev)
        self._sum_outer += other._sum_outer.to(dev)
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
        mu = self._sum / n
        sigma = (self._sum_outer - torch.outer(self._sum, mu)) / (n - 1)
        # S2 is symmetric in exact arithmetic; a blocked matmul may round its two
        # triangles differently, and eigensolvers read only one triangle.
        sigma = 0.5 * (sigma + sigma.T)
        return to_numpy(mu), to_numpy(sigma)

    # --- raw state (for the distributed all-reduce) -------------------------

    def state_dict(self) -> dict[str, torch.Tensor]:
        """The float64 state tensors themselves (not copies): n (0-d), sum (d,), sum_outer (d, d).

        Summing these over shards and loading the result is a merge; an
        all-reduce may modify them in place.
        """
        self._require_mergeable("export its state")
        if self._n is None:
            if self._dim is None:
                raise GbenchError("FeatureStats has no state yet: update it first, or construct it with dim=d")
            self._allocate(self._dim, self._device or torch.device("cpu"))
        return {"n": self._n, "sum": self._sum, "sum_outer": self._sum_outer}

    def load_state_dict(self, state: dict) -> "FeatureStats":
        """Replace the state by ``state`` (as returned by :meth:`state_dict`; tensors or arrays)."""
        missing = [k for k in _MERGEABLE_KEYS if k not in state]
        if missing:
            raise GbenchError(f"FeatureStats state is missing {missing}: pass a dict from FeatureStats.state_dict()")
        device = self._device
        n = torch.as_tensor(state["n"], dtype=torch.float64, device=device).reshape(())
        s1 = torch.as_tensor(state["sum"], dtype=torch.float64, device=device)
        s2 = torch.as_tensor(state["sum_outer"], dtype=torch.float64, device=device)
        d = s1.shape[0] if s1.ndim == 1 else -1
        if s1.ndim != 1 or s2.shape != (d, d) or float(n) < 0 or float(n) != round(float(n)):
            raise GbenchError(f"FeatureStats state has inconsistent shapes (sum {tuple(s1.shape)}, "
                              f"sum_outer {tuple(s2.shape)}) or a bad count {float(n)}")
        self._check_dim(d)
        self._dim, self._fixed = d, None
        self._n, self._sum, self._sum_outer = n.clone(), s1.clone(), s2.clone()
        return self

    # --- files --------------------------------------------------------------

    def save(self, path: str | os.PathLike) -> None:
        """Write ``mu``, ``sigma`` (pytorch-fid's keys) and the raw sums to an .npz, atomically.

        pytorch-fid (``fid_score.py``) reads such a file directly; :meth:`load`
        restores a mergeable state from it. The file is written to a temporary
        name in the same directory and moved into place with ``os.replace``, so
        a crash never leaves a half-written file under ``path``.
        """
        mu, sigma = self.compute()
        arrays = {"mu": mu, "sigma": sigma}
        if self._fixed is None:
            arrays.update(n=np.float64(self.n), sum=to_numpy(self._sum), sum_outer=to_numpy(self._sum_outer))
        _atomic_savez(Path(path), arrays)

    @classmethod
    def load(cls, path: str | os.PathLike) -> "FeatureStats":
        """Read statistics written by :meth:`save` or by pytorch-fid (``--save-stats``).

        A file with the raw sums gives a mergeable state; a file with only
        ``mu`` and ``sigma`` gives compute-only statistics.
        """
        path = Path(path)
        try:
            with np.load(path, allow_pickle=False) as f:
                arrays = {k: f[k] for k in f.files}
        except FileNotFoundError:
            raise GbenchError(f"statistics file {path} does not exist: "
                              "check the path or compute the statistics first") from None
        except (OSError, ValueError, zipfile.BadZipFile) as e:
            raise GbenchError(f"cannot read {path} as an .npz statistics file ({e}): "
                              "pass a file written by FeatureStats.save or pytorch-fid") from None
        if "mu" not in arrays or "sigma" not in arrays:
            raise GbenchError(f"{path} has keys {sorted(arrays)} but no 'mu' and 'sigma': "
                              "pass a file written by FeatureStats.save or pytorch-fid")
        mu = np.asarray(arrays["mu"], dtype=np.float64)
        sigma = np.asarray(arrays["sigma"], dtype=np.float64)
        d = mu.shape[0] if mu.ndim == 1 else -1
        if mu.ndim != 1 or sigma.shape != (d, d):
            raise GbenchError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (d,) and (d, d)")
        if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
            raise GbenchError(f"{path}: mu or sigma contains NaN or Inf: recompute the statistics")
        stats = cls(dim=d)
        if all(k in arrays for k in _MERGEABLE_KEYS):
            stats.load_state_dict({k: arrays[k] for k in _MERGEABLE_KEYS})
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
        """Create zero sums on first use (on self._device if set, else ``device``)."""
        self._check_dim(d)
        if self._n is not None:
            return
        dev = self._device or device
        self._dim = d
        self._n = torch.zeros((), dtype=torch.float64, device=dev)
        self._sum = torch.zeros(d, dtype=torch.float64, device=dev)
        self._sum_outer = torch.zeros(d, d, dtype=torch.float64, device=dev)


class FeatureBank:
    """Streaming store of feature rows (or logits) for metrics that need the samples.

    KID, precision/recall and density/coverage compare individual samples, and the
    Inception Score needs every logit row, so sums are not enough: this state
    keeps the rows. ``merge`` appends the other bank's rows after its own, so
    merging shards in rank order reproduces the single-process row order (and
    therefore the same seeded subsets).

    Rows are stored as float32 unless the bank (or its first batch) is float64:
    extractor features are float32 already, and 50k × 2048 float32 is 400 MB.
    """

    def __init__(self, dtype: torch.dtype | None = None, device: torch.device | str | None = None):
        """
        Args:
            dtype: torch.float32 or torch.float64; None: float64 if the first
                batch is float64, else float32.
            device: where rows are kept (default: the first batch's device).
        """
        if dtype not in (None, torch.float32, torch.float64):
            raise GbenchError(f"FeatureBank dtype must be torch.float32 or torch.float64, got {dtype}")
        self._dtype = dtype
        self._device = None if device is None else torch.device(device)
        self._chunks: list[torch.Tensor] = []
        self._dim: int | None = None

    @property
    def n(self) -> int:
        """Number of rows stored."""
        return sum(c.shape[0] for c in self._chunks)

    @property
    def dim(self) -> int | None:
        """Row length d (None while empty)."""
        return self._dim

    @property
    def dtype(self) -> torch.dtype | None:
        return self._dtype

    def __repr__(self) -> str:
        return f"FeatureBank(n={self.n}, dim={self._dim}, dtype={self._dtype})"

    def update(self, features) -> "FeatureBank":
        """Append rows: numpy array or torch tensor (N, d), any real dtype and device."""
        x = as_features(features, "features", min_rows=0, float64=False)
        if self._dim is not None and x.shape[1] != self._dim:
            raise GbenchError(f"features have {x.shape[1]} dimensions but this FeatureBank holds {self._dim}: "
                              "use one feature extractor and layer per FeatureBank")
        if self._dtype is None:
            self._dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
        if self._device is None:
            self._device = x.device
        self._dim = x.shape[1]
        self._chunks.append(x.to(device=self._device, dtype=self._dtype, copy=True))
        return self

    def merge(self, other: "FeatureBank") -> "FeatureBank":
        """Append ``other``'s rows after this bank's (in place; ``other`` is unchanged)."""
        if not isinstance(other, FeatureBank):
            raise GbenchError(f"FeatureBank.merge expects a FeatureBank, got {type(other).__name__}")
        for chunk in other._chunks:
            self.update(chunk)
        return self

    def compute(self) -> torch.Tensor:
        """All rows in insertion order: a torch tensor (N, d) on the bank's device."""
        if not self._chunks:
            raise GbenchError("FeatureBank is empty: update it with features before computing a metric")
        if len(self._chunks) > 1:
            self._chunks = [torch.cat(self._chunks)]
        return self._chunks[0]

    def _replace(self, rows: torch.Tensor) -> None:
        """Set the contents to ``rows`` (used by the distributed all-gather)."""
        self._chunks = [rows] if rows.shape[0] else []
        self._dim, self._dtype = rows.shape[1], rows.dtype


def _atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez to a temporary file in path's directory, fsync, then os.replace."""
    directory = path.parent if str(path.parent) else Path(".")
    if not directory.is_dir():
        raise GbenchError(f"cannot save statistics to {path}: directory {directory} does not exist; create it first")
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)  # a file object: np.savez appends no ".npz"
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
