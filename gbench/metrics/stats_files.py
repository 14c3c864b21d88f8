"""Statistics files: reading and checking an .npz of FeatureStats, writing one atomically.

:meth:`gbench.FeatureStats.load` and :meth:`~gbench.FeatureStats.save` call these; every
way a file can be wrong (missing, not a zip, a .npy under an .npz name, members that are
raw pickles, strings, complex numbers, wrong shapes, NaN, sums that disagree with their
mu/sigma) is one :class:`GbenchError` naming the file.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from pathlib import Path

import numpy as np

from gbench.errors import GbenchError
from gbench.metrics.stats import FeatureStats, SingularCovarianceWarning


def read_npz_statistics(path: Path) -> tuple[dict[str, np.ndarray], np.ndarray, np.ndarray]:
    """(every array of the file, mu float64 (d,), sigma float64 (d, d)), checked as above."""
    try:
        loaded = np.load(path, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):  # a .npy array saved under an .npz name
            raise GbenchError(f"{path} holds one .npy array, not an .npz of statistics: pass a file written by "
                              "FeatureStats.save or pytorch-fid (keys mu and sigma)")
        with loaded as f:
            arrays = {k: f[k] for k in f.files}
    except FileNotFoundError:
        raise GbenchError(f"statistics file {path} does not exist: "
                          "check the path or compute the statistics first") from None
    except (OSError, ValueError, zipfile.BadZipFile) as e:
        raise GbenchError(f"cannot read {path} as an .npz statistics file ({e}): "
                          "pass a file written by FeatureStats.save or pytorch-fid") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # NpzFile hands back a member without the .npy header as bytes
            raise GbenchError(f"{path}: member {key!r} is not an .npy array (a raw pickle or other bytes): "
                              "pass a file written by FeatureStats.save or pytorch-fid")
    if "mu" not in arrays or "sigma" not in arrays:
        raise GbenchError(f"{path} has keys {sorted(arrays)}, but statistics need both 'mu' and 'sigma': "
                          "pass a file written by FeatureStats.save or pytorch-fid")
    for key in ("mu", "sigma"):
        if arrays[key].dtype.kind not in "fiu":  # strings, complex numbers, objects: not statistics
            raise GbenchError(f"{path}: {key} holds {arrays[key].dtype} values, not real numbers: "
                              "pass a file written by FeatureStats.save or pytorch-fid")
    mu = np.asarray(arrays["mu"], dtype=np.float64)
    sigma = np.asarray(arrays["sigma"], dtype=np.float64)
    d = mu.shape[0] if mu.ndim == 1 else -1
    if mu.ndim != 1 or sigma.shape != (d, d):
        raise GbenchError(f"{path}: mu has shape {mu.shape} and sigma {sigma.shape}; expected (d,) and (d, d)")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise GbenchError(f"{path}: mu or sigma contains NaN or Inf: recompute the statistics")
    return arrays, mu, sigma


def check_sums_match(path: Path, stats: FeatureStats, mu: np.ndarray, sigma: np.ndarray) -> None:
    """Refuse a file whose sums and (mu, sigma) describe different features.

    :meth:`FeatureStats.save` writes both from one state, so they agree to
    rounding; legacy raw sums reproduce their (mu, sigma) to ~1e-10 relative.
    A mismatch means the file was edited or stitched together, and the sums
    (used for merging) and mu/sigma (read by pytorch-fid) would give two FIDs.
    Tolerance 1e-6 of the features' scale: far above either rounding, far
    below any real difference between two feature sets.
    """
    if stats.n < 2:
        raise GbenchError(f"{path}: the sums count {stats.n} sample(s); a covariance needs at least 2: "
                          "recompute the statistics")
    with warnings.catch_warnings():  # a singular covariance is warned about where it is used, not here
        warnings.simplefilter("ignore", SingularCovarianceWarning)
        mu_sums, sigma_sums = stats.compute()
    scale = max(float(np.abs(mu).max(initial=0.0)), float(np.sqrt(np.abs(np.diag(sigma)).max(initial=0.0))), 1e-12)
    if not (np.allclose(mu_sums, mu, rtol=0, atol=1e-6 * scale)
            and np.allclose(sigma_sums, sigma, rtol=0, atol=1e-6 * scale * scale)):
        raise GbenchError(f"{path}: its sums and its mu/sigma disagree (the file was edited or combined from two "
                          "sets): recompute the statistics")


def atomic_savez(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """np.savez through :func:`gbench.records.atomic_write` (a fresh temporary file in path's
    directory, fsync, ``os.replace``; the file gets the user's umask, not mkstemp's 0600)."""
    from gbench.records import atomic_write

    directory = path.parent if str(path.parent) else Path(".")
    if path.is_dir():
        raise GbenchError(f"cannot save statistics to {path}: it is a folder; name a file, e.g. {path / 'stats.npz'}")
    if not directory.is_dir():
        raise GbenchError(f"cannot save statistics to {path}: directory {directory} does not exist; create it first")

    def write(tmp: Path) -> None:
        with open(tmp, "wb") as f:
            np.savez(f, **arrays)  # a file object: np.savez appends no ".npz"
            f.flush()
            os.fsync(f.fileno())

    atomic_write(path, write)


__all__ = ["atomic_savez", "check_sums_match", "read_npz_statistics"]
