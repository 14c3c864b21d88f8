"""What a feature extractor is in gbench.

An :class:`ExtractorSpec` is the registered, frozen description of a named,
versioned extractor: what it outputs, what input it takes and which weights
file it needs. It does no I/O until :meth:`ExtractorSpec.load`, which resolves
and verifies the weights (:mod:`gbench.features.weights`), builds the network
and returns an :class:`Extractor`.

An :class:`Extractor` maps a uint8 image batch (N, C, H, W) to float32
features (N, feature_dim) and logits (N, num_logits), batched under
``torch.inference_mode()`` in eval mode. Its outputs do not depend on the batch
size beyond float32 rounding (see :meth:`Extractor.extract`).

A network plugged in here is an ``nn.Module`` whose ``forward`` takes a uint8
batch (already on its device, channels as the spec requires) and returns
``(features, logits)``: its preprocessing (resizing, scaling) lives inside the
module so that it is versioned together with the weights.
"""

from __future__ import annotations

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch
from torch import nn

from gbench.errors import GbenchError
from gbench.features.weights import ENV_VAR, WeightsNotFoundError, load_state_dict, resolve_weights, sha256_file
from gbench.images import check_images, to_rgb

OUTPUTS = ("features", "logits")


@dataclass(frozen=True)
class WeightsInfo:
    """Where an extractor's weights come from.

    Attributes:
        filename: canonical file name (searched for by the resolver).
        sha256: known digest (64 hex digits, or a ≥ 8-digit prefix), or None.
        url: download URL, or None for files that ship with gbench.
        default_path: for a shipped domain evaluator, its package file,
            searched after an explicit directory instead of ``$GBENCH_WEIGHTS``
            and the torch hub cache; None for third-party files.
        hint: how to obtain the file when it is missing (appended to errors).
    """

    filename: str
    sha256: str | None
    url: str | None = None
    default_path: Path | None = None
    hint: str = ""


@dataclass(frozen=True)
class ExtractorSpec:
    """A registered feature extractor (no weights loaded).

    Attributes:
        name: registry name, e.g. ``inception-v3-fid``.
        version: bumped whenever outputs change (weights, preprocessing, layer).
        description: one line for ``gbench list``.
        profile: ``embedded`` (works offline with gbench alone) or ``paper``
            (needs third-party pretrained weights).
        feature_dim: d of ``features`` (N, d).
        num_logits: K of ``logits`` (N, K).
        input: human-readable description of the accepted images.
        channels: 3 → RGB network (1-channel input is repeated to 3);
            1 → grayscale network (3-channel input is an error).
        image_size: required (H, W), or None when the network resizes itself.
        build: ``build() -> nn.Module`` with random weights and no I/O.
        weights: ``weights() -> WeightsInfo``; a function so that a shipped
            manifest is read only when needed, never at import time.
        load_weights: ``load_weights(net, state_dict)``, for networks whose
            parameter names are not the file's (default: ``net.load_state_dict``).
        spatial_dims: 2 for images (N, C, H, W); 3 for volumes (N, C, D, H, W)
            (``image_size`` is then (D, H, W), and channels_last means channels_last_3d).
    """

    name: str
    version: str
    description: str
    profile: str
    feature_dim: int
    num_logits: int
    input: str
    channels: int
    image_size: tuple[int, int] | None
    build: Callable[[], nn.Module]
    weights: Callable[[], WeightsInfo]
    load_weights: Callable[[nn.Module, dict], None] | None = None
    spatial_dims: int = 2

    @property
    def weights_sha256(self) -> str | None:
        """The known digest of the weights file (full or prefix), or None."""
        return self.weights().sha256

    def resolve(self, weights_path=None, allow_download: bool = False,
                allow_unverified: bool = False) -> tuple[Path, bool]:
        """(path, verified) of the weights file; see :func:`resolve_weights`."""
        info = self.weights()
        search = None
        if info.default_path is not None:  # a shipped evaluator: its package file, not the hub cache
            search = [Path(info.default_path)]
            if weights_path is None and not search[0].is_file():
                raise GbenchError(f"{self.name}: shipped weights file {search[0]} is missing: {info.hint}")
        return resolve_weights(info.filename, info.sha256, explicit_path=weights_path,
                               allow_download=allow_download, url=info.url,
                               allow_unverified=allow_unverified, search=search)

    def availability(self) -> tuple[bool, str]:
        """Can this extractor load here without downloading? (ok, reason-if-not).

        Hashes the weights file (cached in memory), so ``gbench list`` reports
        a corrupt or foreign file as unavailable rather than as ready.
        """
        try:
            self.resolve(allow_download=False, allow_unverified=False)
        except WeightsNotFoundError as e:  # the common case: say it in a table cell's worth
            dirs = [str(p.parent) for p in e.searched]
            if self.weights().default_path is None and not os.environ.get(ENV_VAR):
                dirs.insert(0, f"${ENV_VAR}")
            dirs = " or ".join(dirs)
            fetch = " (or pass --download)" if e.url else ""
            return False, f"needs {e.filename} in {dirs}{fetch}"
        except GbenchError as e:
            return False, str(e)
        return True, ""

    def load(self, device: str | torch.device = "cpu", weights_path=None, allow_download: bool = False,
             allow_unverified: bool = False, channels_last: bool = False, tf32: bool = False) -> "Extractor":
        """Resolve and verify the weights, build the network, return an :class:`Extractor`.

        Args:
            device: where the network runs.
            weights_path: an explicit weights file (the only candidate then),
                or a directory searched first (``--weights DIR``).
            allow_download: fetch a missing file into the torch hub cache.
            allow_unverified: accept a file whose sha256 does not match (the
                extractor then reports ``verified=False``).
            channels_last: CUDA-only speed option (see :class:`Extractor`); runs
                ask for it on CUDA devices.
            tf32: CUDA-only speed option: TF32 matmuls and convolutions during
                extraction (see :class:`Extractor` for its tolerance); runs ask for it on CUDA.

        Raises:
            GbenchError: weights missing or refused, or options the device does not support.
        """
        path, verified = self.resolve(weights_path, allow_download, allow_unverified)
        state = load_state_dict(path)
        net = self.build()
        try:
            if self.load_weights is not None:
                self.load_weights(net, state)
            else:
                net.load_state_dict(state)
        except RuntimeError as e:  # missing/unexpected keys or shape mismatch
            first = str(e).strip().splitlines()[0]
            raise GbenchError(f"weights file {path} does not fit {self.name} ({first}): "
                              f"use the file {self.weights().filename}") from None
        return Extractor(self, net, weights_sha256=sha256_file(path), verified=verified,
                         device=device, channels_last=channels_last, tf32=tf32)


@contextmanager
def _tf32(on: bool):
    """TF32 matmuls and cuDNN convolutions inside, when ``on``; the global flags restored after."""
    if not on:
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = True
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


class Extractor:
    """A loaded extractor: uint8 images → float32 features and logits.

    Attributes:
        spec: the :class:`ExtractorSpec` it was built from.
        name, version, feature_dim, num_logits: from the spec.
        weights_sha256: sha256 of the weights file actually loaded (also when
            unverified, so a record can say exactly which file it used), or
            None for random weights.
        verified: True iff that digest matched the known one.
        device: where the network runs.
        channels_last, tf32: the CUDA speed options. ``channels_last`` changes the
            memory layout only (cuDNN picks NHWC kernels: the same maths, other
            summation orders, float32 rounding apart). ``tf32`` lets matmuls and
            convolutions round their inputs to TF32's 10-bit mantissa (products
            still accumulate in float32) inside :meth:`extract` only, restoring the
            global flags after: features move by ~1e-3 relative, which tests on CUDA
            bound at 1e-2 of the feature scale (and FID at 1 % of its value) against
            the float32 path. Both are in the feature cache's key, so a cached
            reference never mixes with features of the other path.
    """

    def __init__(self, spec: ExtractorSpec, net: nn.Module, *, weights_sha256: str | None, verified: bool,
                 device: str | torch.device = "cpu", channels_last: bool = False, tf32: bool = False):
        self.spec = spec
        self.device = torch.device(device)
        for option, on in (("channels_last", channels_last), ("tf32", tf32)):
            if on and self.device.type != "cuda":
                raise GbenchError(f"{option} is a CUDA-only option, but the device is {self.device}: "
                                  "drop it or run on a CUDA device")
        self.channels_last, self.tf32 = channels_last, tf32
        self.weights_sha256 = weights_sha256
        self.verified = verified
        net = net.eval().requires_grad_(False).to(self.device)
        self.memory_format = torch.channels_last if spec.spatial_dims == 2 else torch.channels_last_3d
        if channels_last:
            net = net.to(memory_format=self.memory_format)
        self.net = net

    name = property(lambda self: self.spec.name)
    version = property(lambda self: self.spec.version)
    feature_dim = property(lambda self: self.spec.feature_dim)
    num_logits = property(lambda self: self.spec.num_logits)

    def prepare(self, images) -> torch.Tensor:
        """Validate a batch and give it the channels the network needs.

        Returns uint8 (N, spec.channels, H, W) ((N, C, D, H, W) for a volume
        extractor). Raises GbenchError for anything but uint8 (N, C, H, W) with C
        in {1, 3}, for RGB input to a grayscale network and for a size the
        network cannot take.
        """
        x = check_images(images, spatial_dims=self.spec.spatial_dims)  # float input is refused, never guessed
        if self.spec.channels == 3:
            x = to_rgb(x)
        elif x.shape[1] != self.spec.channels:
            raise GbenchError(f"{self.name} takes {self.spec.input}, got {x.shape[1]} channels: "
                              "convert the images to grayscale first")
        if self.spec.image_size is not None and tuple(x.shape[2:]) != tuple(self.spec.image_size):
            raise GbenchError(f"{self.name} takes {self.spec.input}, got {tuple(x.shape[2:])} pixels: "
                              f"use images of size {'×'.join(map(str, self.spec.image_size))}")
        return x

    def extract(self, images, batch_size: int = 64, want: Sequence[str] = OUTPUTS) -> dict[str, torch.Tensor]:
        """Features and/or logits of an image batch.

        Args:
            images: uint8 (N, C, H, W), numpy or torch, any device, or a lazy
                uint8 source (``gbench.data``): read one batch at a time.
            batch_size: images per forward pass; affects speed and memory only.
            want: any of ``"features"`` (N, feature_dim) and ``"logits"`` (N, num_logits).

        Returns:
            {name: float32 CPU tensor} for each name in ``want``. float32 is the
            network's own precision; metric states accumulate in float64.

        Batch-size independence: every image is processed independently (eval
        mode, no batch statistics), so results differ at most by float32
        rounding, where a backend picks a different kernel for a different
        batch size and so reorders sums. Observed on CPU (torch 2.14): features
        bitwise equal; Inception's logits within 2e-7 relative (a 1-row
        product runs as matrix-vector, a batch as matrix-matrix). Tests allow
        1e-5 relative, which also covers other CPUs' kernel choices.
        """
        want = tuple(want)
        bad = [w for w in want if w not in OUTPUTS]
        if bad or not want:
            raise GbenchError(f"unknown extractor output(s) {bad or want}: choose from {', '.join(OUTPUTS)}")
        if batch_size < 1:
            raise GbenchError(f"batch_size must be ≥ 1, got {batch_size}")
        lazy = not isinstance(images, (torch.Tensor, np.ndarray))  # decoded batch by batch
        x = images if lazy else self.prepare(images)
        n = len(x)
        out: dict[str, list[torch.Tensor]] = {w: [] for w in want}
        pin = self.device.type == "cuda"  # page-locked host memory: the copy to the GPU is asynchronous
        with _tf32(self.tf32):
            for start in range(0, n, batch_size):
                # A lazy source decodes (in its own threads) outside inference mode: tensors it fills must
                # be ordinary tensors, not inference tensors.
                batch = x[start:start + batch_size]
                batch = self.prepare(batch) if lazy else batch
                if pin and batch.device.type == "cpu":
                    batch = batch.pin_memory()
                batch = batch.to(self.device, non_blocking=True)
                if self.channels_last:
                    batch = batch.contiguous(memory_format=self.memory_format)
                with torch.inference_mode():
                    feats, logits = self.net(batch)
                got = {"features": feats, "logits": logits}
                for w in want:
                    out[w].append(got[w].float().cpu())
        if n == 0:
            raise GbenchError("no images to extract features from: pass at least one image")
        result = {w: torch.cat(v) for w, v in out.items()}
        dims = {"features": self.feature_dim, "logits": self.num_logits}
        for w, t in result.items():  # a network that disagrees with its spec is a bug
            assert t.shape == (n, dims[w]), f"{self.name} {w}: {tuple(t.shape)}"
        return result

    def features(self, images, batch_size: int = 64) -> torch.Tensor:
        """float32 (N, feature_dim) features of uint8 images (N, C, H, W)."""
        return self.extract(images, batch_size, want=("features",))["features"]

    def logits(self, images, batch_size: int = 64) -> torch.Tensor:
        """float32 (N, num_logits) logits of uint8 images (N, C, H, W)."""
        return self.extract(images, batch_size, want=("logits",))["logits"]

    def __repr__(self) -> str:
        state = "verified" if self.verified else "UNVERIFIED"
        return f"Extractor({self.name} v{self.version}, {state}, device={self.device})"
