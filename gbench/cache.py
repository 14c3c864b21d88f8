"""A content-keyed cache of reference features, so a reference set is extracted once.

Suites score every model against one test split, and users run ``gbench fid``
against one reference folder again and again; the reference's features do not
change between those runs. As in clean-fid and torch-fidelity, they are stored
under a key that names everything they depend on:

* the images — sha256 of the uint8 bytes with their dtype and shape; for a
  lazy source (``gbench.data.lazy.LazyImages``) the file paths, sizes and
  modification times, the decoder's name and the first image's decoded bytes
  (decoding every image would cost as much as extracting it);
* the extractor — name, version, feature dimension and the sha256 of the
  weights file actually loaded;
* how it ran — device type (``cpu``/``cuda``), channels-last layout and
  batch size: float32 features differ by rounding between kernels (on the
  CPU, batch size 1 runs matrix-vector products and differs from batch 128 by
  up to 2e-5 relative on digits-evaluator features), and a record must not
  depend on whether the cache was warm (same inputs ⇒ same record, on the
  same device type);
* :data:`FEATURE_CODE_VERSION`, gbench's own version of that path.

What is stored is the float32 feature rows (N, d), not only their statistics:
KID and precision/recall need the rows; FID takes :class:`FeatureStats` of them.

Where: ``$GBENCH_CACHE`` if set, else ``~/.cache/gbench/reference/``; one
``<key>.npz`` per reference set. ``GBENCH_NO_CACHE=1`` turns the cache off.
The folder is safe to delete at any time. Files are written atomically
(temporary file + ``os.replace``), read with ``allow_pickle=False``, and a
file is trusted only if the key stored inside it equals the key asked for and
its features have the expected shape, dtype and finite values; anything else
(a truncated, foreign or corrupt file) is ignored and rewritten.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import tempfile
import zipfile
from pathlib import Path

import numpy as np
import torch

# Bump when gbench changes anything between the images and the stored features
# that the key does not already name (the file layout, a lazy decoder, the
# extraction path): old entries then simply stop matching.
FEATURE_CODE_VERSION = 1

ENV_DIR = "GBENCH_CACHE"
ENV_OFF = "GBENCH_NO_CACHE"
_CHUNK = 1 << 24  # bytes hashed per call: large enough for hashlib's speed, small enough for memory


def cache_dir() -> Path | None:
    """The cache folder (``$GBENCH_CACHE`` or ``~/.cache/gbench/reference``), or None when
    ``GBENCH_NO_CACHE`` is set to anything but ``""``/``0``. Not created here."""
    if os.environ.get(ENV_OFF, "") not in ("", "0"):
        return None
    custom = os.environ.get(ENV_DIR)
    return Path(custom).expanduser() if custom else Path.home() / ".cache" / "gbench" / "reference"


def _hash_array(h, x: torch.Tensor | np.ndarray) -> None:
    """Feed dtype, shape and the C-order bytes of ``x`` to ``h``, a chunk at a time
    (no full copy of a non-contiguous or GPU tensor; hashlib releases the GIL)."""
    dtype = str(x.dtype).removeprefix("torch.")  # one key for the same bytes as torch or numpy
    h.update(f"{dtype}|{tuple(x.shape)}|".encode())
    if x.ndim == 0 or x.shape[0] == 0:
        h.update(np.asarray(x.cpu() if isinstance(x, torch.Tensor) else x).tobytes())
        return
    row = x[0].numel() * x.element_size() if isinstance(x, torch.Tensor) else x[0].nbytes
    step = max(1, _CHUNK // max(row, 1))
    for start in range(0, x.shape[0], step):
        part = x[start:start + step]
        if isinstance(part, torch.Tensor):
            part = part.detach().cpu().contiguous().numpy()
        h.update(memoryview(np.ascontiguousarray(part)).cast("B"))


def _decoder_name(decode) -> str | None:
    """A stable name for a lazy source's decoder, or None when its behaviour may hang on state
    that a name does not capture (a lambda or closure: such a source is not cached)."""
    if isinstance(decode, functools.partial):
        inner = _decoder_name(decode.func)
        return None if inner is None else f"{inner}(*{decode.args!r}, **{sorted(decode.keywords.items())!r})"
    module, qualname = getattr(decode, "__module__", None), getattr(decode, "__qualname__", None)
    if not module or not qualname or "<" in qualname:  # <lambda>, <locals>
        return None
    return f"{module}.{qualname}"


def content_digest(images) -> str | None:
    """sha256 (hex) naming an image set's content, or None when it cannot be named safely.

    Args:
        images: uint8 (N, C, H, W) torch tensor (any device) or numpy array —
            hashed byte for byte with dtype and shape — or a lazy source with
            ``.files``, ``.decode`` and ``.image_shape`` (``LazyImages``), keyed
            on each file's path, size and mtime (ns), the decoder's name and the
            first image's decoded bytes, so nothing else is decoded.

    Returns None for another kind of source, a decoder without a stable name,
    or a file that cannot be stat-ed (extraction then reports it).
    """
    h = hashlib.sha256()
    if isinstance(images, (torch.Tensor, np.ndarray)):
        h.update(b"array|")
        try:
            _hash_array(h, images)
        except TypeError:  # a dtype numpy cannot view (e.g. bfloat16): not images, extraction refuses it
            return None
        return h.hexdigest()
    files, decode = getattr(images, "files", None), getattr(images, "decode", None)
    if files is None or decode is None:
        return None
    name = _decoder_name(decode)
    if name is None:
        return None
    h.update(f"lazy|{name}|{tuple(getattr(images, 'image_shape', ()))}|{len(files)}|".encode())
    try:
        for f in files:
            st = os.stat(f)
            h.update(f"{os.path.abspath(f)}|{st.st_size}|{st.st_mtime_ns}\n".encode())
        if len(files):
            # a guard against a changed decoder under the same name: one decode
            _hash_array(h, torch.as_tensor(np.asarray(images[0])))
    except OSError:
        return None
    return h.hexdigest()


def cache_key(extractor, images, batch_size: int) -> str | None:
    """sha256 (hex) of everything ``extractor``'s features of ``images`` extracted ``batch_size``
    at a time depend on, or None when they must not be cached.

    Not cached: weights whose sha256 gbench could not verify (``extractor.verified``
    false) or unknown weights (random, no ``weights_sha256``). Accepting an
    unverified file is a per-run opt-in that records mark as such; a cache
    entry would outlive that run and sit, indistinguishable by its file,
    beside features of verified networks that every later run trusts.
    """
    if not getattr(extractor, "verified", False) or not getattr(extractor, "weights_sha256", None):
        return None
    content = content_digest(images)
    if content is None:
        return None
    device = getattr(extractor, "device", torch.device("cpu"))
    parts = {"code": FEATURE_CODE_VERSION, "content": content, "extractor": extractor.name,
             "version": str(extractor.version), "feature_dim": int(extractor.feature_dim),
             "weights_sha256": extractor.weights_sha256, "device_type": torch.device(device).type,
             "channels_last": bool(getattr(extractor, "channels_last", False)), "batch_size": int(batch_size)}
    if getattr(extractor, "tf32", False):  # only when on: keys of float32 entries stay as they were
        parts["tf32"] = True
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()


def load_features(key: str, n: int, dim: int, directory: Path | None = None) -> torch.Tensor | None:
    """The cached float32 (n, dim) features under ``key``, or None if there is no trustworthy entry.

    The key stored in the file must equal ``key``, and the features must be
    float32 (n, dim) and finite; an unreadable or mismatching file is ignored
    (and rewritten by the next :func:`save_features`), never trusted.
    """
    directory = cache_dir() if directory is None else directory
    if directory is None:
        return None
    path = Path(directory) / f"{key}.npz"
    try:
        with np.load(path, allow_pickle=False) as z:
            if str(z["key"][()]) != key:
                return None
            feats = z["features"]
    # a member without the .npy header comes back as bytes: TypeError/IndexError/AttributeError below
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, TypeError, IndexError):
        return None
    if not isinstance(feats, np.ndarray) or feats.dtype != np.float32 or feats.shape != (n, dim) or not np.isfinite(feats).all():
        return None
    return torch.from_numpy(feats)


def save_features(key: str, features: torch.Tensor, meta: dict | None = None,
                  directory: Path | None = None) -> Path | None:
    """Write float32 (N, d) ``features`` under ``key`` atomically; returns the path, or None
    when the cache is off or its folder cannot be written (a cache never fails a run).

    ``meta`` (JSON-serializable) is stored beside the features, for people
    inspecting the folder; only ``key`` is checked on load.
    """
    directory = cache_dir() if directory is None else directory
    if directory is None:
        return None
    directory = Path(directory)
    path = directory / f"{key}.npz"
    tmp = None
    try:
        directory.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=directory)
        with os.fdopen(fd, "wb") as f:
            np.savez(f, key=np.array(key), features=features.detach().cpu().numpy().astype(np.float32, copy=False),
                     meta=np.array(json.dumps(meta or {}, sort_keys=True)))
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        return path
    except OSError:
        if tmp is not None and os.path.exists(tmp):
            os.unlink(tmp)
        return None


def cached_features(extractor, images, batch_size: int, cache: bool = True) -> tuple[torch.Tensor, bool]:
    """(float32 (N, d) features of ``images``, whether they came from the cache).

    Args:
        extractor: a loaded ``gbench.features.base.Extractor``.
        images: uint8 (N, C, H, W) tensor / numpy array, or a lazy uint8 source.
        batch_size: images per forward pass on a miss (speed and memory only).
        cache: False extracts without reading or writing the cache.

    Equal to ``extractor.extract(images, batch_size, want=("features",))["features"]``
    on a miss (under torchrun each rank extracts its shard: :func:`gbench.sharding.extract`), and bit for bit equal to that miss on a later hit with the same
    batch size (another batch size is another key).
    """
    from gbench.metrics.distributed import all_true
    from gbench.sharding import extract

    key = cache_key(extractor, images, batch_size) if cache and cache_dir() is not None else None
    if key is not None:
        hit = load_features(key, len(images), int(extractor.feature_dim))
        if all_true(hit is not None):  # under torchrun all ranks read, or all extract their shards
            return hit, True
    feats = extract(extractor, images, want=("features",), batch_size=batch_size)["features"]
    if key is not None:
        save_features(key, feats, meta={"extractor": extractor.name, "version": str(extractor.version),
                                        "weights_sha256": extractor.weights_sha256, "n": int(feats.shape[0]),
                                        "image_shape": list(images.shape[1:]), "code": FEATURE_CODE_VERSION})
    return feats, False
