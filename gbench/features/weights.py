"""The one resolver for every pretrained weights file gbench uses.

Search order (the first hit wins; a later location is never consulted to work
around a bad file found earlier):

  1. an explicit path: a file (then the only candidate) or a directory
     (``--weights DIR``) searched for ``<filename>``;
  2. ``$GBENCH_WEIGHTS/<filename>``;
  3. the torch hub cache, ``<torch.hub.get_dir()>/checkpoints/<filename>``
     (where torchvision and pytorch-fid put what they download);
  4. a download into that hub cache — only when ``allow_download=True``.

A domain evaluator that gbench ships passes its package file as ``search``,
which replaces steps 2–3 (and it has no URL, so no step 4).

A found file is verified by its sha256 (streamed; the digest of a path with a
given size and mtime is cached in memory so that a second load does not rehash
95 MB). A file whose digest does not match is refused unless the caller passes
``allow_unverified=True``; then ``verified=False`` is returned so that the
record marks the extractor as unverified.

Known digests may be full (64 hex digits) or a prefix of at least 8 hex
digits. A prefix is the torch hub convention: a file named ``name-<8 hex>.pth``
carries the first hex digits of its sha256, and ``torch.hub.
load_state_dict_from_url(check_hash=True)`` checks exactly that prefix. It is
weaker than a full digest, so use it only where no full digest is published.

Weights are read only with safetensors or ``torch.load(..., weights_only=True)``
— never with plain unpickling, which can run arbitrary code.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import torch

from gbench.errors import GbenchError

ENV_VAR = "GBENCH_WEIGHTS"
MIN_PREFIX = 8  # hex digits: torch hub's file-name convention


@dataclass(frozen=True)
class KnownWeights:
    """A pretrained file gbench knows: its expected sha256 (full or a prefix
    of ≥ 8 hex digits) and where it can be downloaded from."""

    sha256: str
    url: str | None = None


# Every third-party weights file gbench uses, by file name. Tests monkeypatch
# this table to describe small fake files.
KNOWN_WEIGHTS: dict[str, KnownWeights] = {
    # pytorch-fid's port of the TF FID Inception (inception-2015-12-05). No
    # full digest is published with pytorch-fid; its file name carries the
    # sha256 prefix "6726825d" (torch hub convention), which is what
    # `torch.hub.load_state_dict_from_url(check_hash=True)` would check too.
    "pt_inception-2015-12-05-6726825d.pth": KnownWeights(
        sha256="6726825d",
        url="https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
            "pt_inception-2015-12-05-6726825d.pth",
    ),
    # torchvision's ImageNet backbones (LPIPS, perceptual losses). torchvision
    # publishes no full digests either; it checks the prefix in the file name.
    "alexnet-owt-7be5be79.pth": KnownWeights(
        sha256="7be5be79", url="https://download.pytorch.org/models/alexnet-owt-7be5be79.pth"),
    "vgg16-397923af.pth": KnownWeights(
        sha256="397923af", url="https://download.pytorch.org/models/vgg16-397923af.pth"),
    "vgg19-dcbb9e9d.pth": KnownWeights(
        sha256="dcbb9e9d", url="https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"),
}

class WeightsNotFoundError(GbenchError):
    """No candidate file exists (and downloading was not allowed).

    Attributes: ``filename``, ``searched`` (the paths tried, in order), ``url``.
    """

    def __init__(self, message: str, filename: str, searched: list[Path], url: str | None):
        super().__init__(message)
        self.filename, self.searched, self.url = filename, searched, url


# (resolved path, size, mtime_ns) -> hex digest
_HASH_CACHE: dict[tuple[str, int, int], str] = {}


def sha256_file(path: str | Path) -> str:
    """The sha256 hex digest of a file, streamed in 1 MiB chunks.

    Cached in memory under (path, size, mtime): an unchanged file is hashed
    once per process; a rewritten one (new size or mtime) is hashed again.
    """
    path = Path(path).resolve()
    st = path.stat()
    key = (str(path), st.st_size, st.st_mtime_ns)
    digest = _HASH_CACHE.get(key)
    if digest is None:
        h = hashlib.sha256()
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        digest = h.hexdigest()
        _HASH_CACHE[key] = digest
    return digest


def hub_checkpoints_dir() -> Path:
    """``<torch hub dir>/checkpoints``: where torchvision and pytorch-fid cache downloads."""
    return Path(torch.hub.get_dir()) / "checkpoints"


def default_search(filename: str) -> list[Path]:
    """The places searched after an explicit path: $GBENCH_WEIGHTS, then the hub cache."""
    paths = []
    env = os.environ.get(ENV_VAR)
    if env:
        paths.append(Path(env).expanduser() / filename)
    paths.append(hub_checkpoints_dir() / filename)
    return paths


def digest_matches(actual: str, expected: str) -> bool:
    """Does the file digest ``actual`` match the known ``expected`` (full or prefix)?"""
    expected = expected.lower()
    if len(expected) < MIN_PREFIX:
        # A bug in a known-weights table, not a user error: refuse loudly.
        raise ValueError(f"known sha256 {expected!r} is shorter than {MIN_PREFIX} hex digits")
    return actual.startswith(expected)


def _candidates(filename: str, explicit_path, search: list[Path] | None) -> list[Path]:
    """Paths to try in order. An explicit *file* is the only candidate — it
    must exist, since silently using some other file would hide the user's
    mistake; an explicit *directory* (``--weights DIR``) is searched first."""
    search = default_search(filename) if search is None else [Path(p) for p in search]
    if explicit_path is None:
        return search
    p = Path(explicit_path).expanduser()
    if p.is_dir():
        return [p / filename] + search
    if not p.is_file():
        raise GbenchError(f"weights file {p} does not exist: check the path given for {filename}")
    return [p]


def find_weights(filename: str, explicit_path: str | Path | None = None,
                 search: list[Path] | None = None) -> Path | None:
    """The first existing candidate for ``filename``, or None (no download, no hashing)."""
    for p in _candidates(filename, explicit_path, search):
        if p.is_file():
            return p
    return None


def _missing_message(filename: str, searched: list[Path], url: str | None) -> str:
    places = [str(p) for p in searched]
    if not os.environ.get(ENV_VAR):
        places.insert(-1, f"${ENV_VAR}/{filename} (${ENV_VAR} is not set)")
    fetch = f", download it from {url}, or pass --download to let gbench fetch it" if url else ""
    return f"weights file {filename} not found: put it at one of {'; '.join(places)}{fetch}"


def resolve_weights(
    filename: str,
    sha256: str | None,
    explicit_path: str | Path | None = None,
    allow_download: bool = False,
    url: str | None = None,
    allow_unverified: bool = False,
    search: list[Path] | None = None,
) -> tuple[Path, bool]:
    """Find (or, if allowed, download) a weights file and verify it.

    Args:
        filename: the file's canonical name, e.g. ``pt_inception-2015-12-05-6726825d.pth``.
        sha256: the known digest — 64 hex digits, or a prefix of ≥ 8 (torch hub
            convention) — or None when no digest is known (the file can then
            only be used unverified).
        explicit_path: a file, which is then the only candidate, or a
            directory (``--weights DIR``), searched for ``filename`` before
            the other places.
        allow_download: fetch ``url`` into the hub cache if nothing is found.
        url: where the file can be downloaded from (named in the error message).
        allow_unverified: accept a file whose digest does not match (or cannot
            be checked); the caller must then record the extractor as unverified.
        search: the places after ``explicit_path``; default
            ``[$GBENCH_WEIGHTS/filename, <hub>/checkpoints/filename]``. A shipped
            domain evaluator passes its package file instead.

    Returns:
        (path, verified): the file to load and whether its digest matched.

    Raises:
        GbenchError: not found (the message names the file, the paths
            searched, the URL and ``--download``); digest mismatch without
            ``allow_unverified``; a failed download.
    """
    candidates = _candidates(filename, explicit_path, search)
    path = next((p for p in candidates if p.is_file()), None)
    downloaded = False
    if path is None:
        if not (allow_download and url):
            raise WeightsNotFoundError(_missing_message(filename, candidates, url), filename, candidates, url)
        path = hub_checkpoints_dir() / filename
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            # Writes to a temporary file and moves it into place when complete,
            # so an interrupted download never leaves a truncated cache entry.
            torch.hub.download_url_to_file(url, str(path), progress=True)
        except Exception as e:  # network errors come in many types
            raise GbenchError(f"could not download {filename} from {url} ({e}): "
                              f"fetch it by hand and put it at {path}") from None
        downloaded = True

    actual = sha256_file(path)
    verified = sha256 is not None and digest_matches(actual, sha256)
    if verified or allow_unverified:
        return path, verified
    if downloaded:
        # Do not leave a bad download in the cache where it would be found next time.
        path.unlink(missing_ok=True)
    expected = "no known digest" if sha256 is None else f"expected sha256 {sha256}…"
    raise GbenchError(f"weights file {path} has sha256 {actual}, {expected}: replace it with the original "
                      f"file, or pass --allow-unverified-weights to use it anyway (results are then marked unverified)")


def resolve_known(
    filename: str,
    explicit_path: str | Path | None = None,
    allow_download: bool = False,
    allow_unverified: bool = False,
) -> tuple[Path, bool]:
    """:func:`resolve_weights` for a file in :data:`KNOWN_WEIGHTS` (digest and URL from the table)."""
    known = KNOWN_WEIGHTS[filename]
    return resolve_weights(filename, known.sha256, explicit_path=explicit_path,
                           allow_download=allow_download, url=known.url,
                           allow_unverified=allow_unverified)


def load_state_dict(path: str | Path) -> dict[str, torch.Tensor]:
    """Read a state dict safely: safetensors, or ``torch.load(weights_only=True)``.

    ``weights_only=True`` restricts unpickling to tensors and plain containers,
    so a malicious ``.pth`` cannot execute code.
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            return load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError) as e:
            raise GbenchError(f"could not read weights file {path} as safetensors ({_first_line(e)}): "
                              "use the original file", details=str(e)) from None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:
        # torch's refusal opens with advice to retry with weights_only=False, which gbench never takes
        reason = ("torch.load(weights_only=True) refused it: it is not a file of tensors only"
                  if "weights only load failed" in str(e).lower() else _first_line(e))
        raise GbenchError(f"could not read weights file {path} as a plain state dict ({reason}): "
                          "use the original file (pickled code is refused for safety)", details=str(e)) from None
    if not isinstance(state, dict):
        raise GbenchError(f"weights file {path} does not hold a state dict: use the original file")
    return state


def _first_line(error: Exception) -> str:
    """The first line of an exception's message: torch's weights_only refusal explains itself over
    6–8 lines, and gbench's errors are one line (the rest is the error's details: `--verbose`)."""
    lines = str(error).strip().splitlines()
    return lines[0].strip() if lines else type(error).__name__
