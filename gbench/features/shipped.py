"""Shipped domain evaluators: the package's weights folder, its manifest, and how they are retrained.

gbench ships small networks it trained itself (``digits-evaluator``,
``scenes-evaluator``, ``scenes-segmenter``, ``scenes-matcher``, ``voxels-evaluator``) in
``gbench/features/weights/`` beside ``manifest.json``, which holds, per
evaluator, its file's sha256, size, parameter count, the seeded recipe, the
test-split quality and the command that reproduces it. This module is the
one place that reads and writes that pair of files:

* :class:`EvaluatorSpec` — a registered evaluator (``EVALUATORS`` in
  :mod:`gbench.features`): how to build it, how to train it, which group
  ``gbench evaluators train GROUP`` trains it with, and how to summarize its
  quality for ``gbench list``;
* :meth:`EvaluatorSpec.load` — resolve the file (package folder, or an
  explicit path), verify its sha256 against the manifest, build, load → a
  :class:`LoadedEvaluator` in eval mode with the digest a record cites;
* :func:`save_evaluator` — write retrained weights (safetensors) and merge
  their manifest entry, both atomically;
* :func:`seeded_training` — one CPU thread and a forked, seeded global RNG, so
  retraining is bitwise reproducible for a torch version and CPU architecture
  and leaves the caller's random state alone.

The CLI never writes into the package folder (``WEIGHTS_DIR``): a retrained
file goes to a folder of the user's, and the maintainers copy it in after review.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import torch
from torch import nn

from gbench.errors import GbenchError
from gbench.features.base import WeightsInfo
from gbench.features.weights import load_state_dict, resolve_weights, sha256_file
from gbench.records import atomic_write, atomic_write_text

WEIGHTS_DIR = Path(__file__).parent / "weights"
MANIFEST = "manifest.json"


def read_manifest(folder: Path | str = WEIGHTS_DIR) -> dict:
    """The manifest of a weights folder ({} when it has none)."""
    path = Path(folder) / MANIFEST
    if not path.is_file():
        return {}
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except ValueError as e:
        raise GbenchError(f"{path} is not valid JSON ({e}): reinstall gbench or restore the file") from None


@dataclass(frozen=True)
class LoadedEvaluator:
    """A shipped evaluator ready to run: ``net`` in eval mode without gradients on ``device``;
    ``weights_sha256`` of the file loaded; ``verified`` iff it matched the manifest."""

    name: str
    version: str
    net: nn.Module
    weights_sha256: str
    verified: bool
    device: torch.device


@dataclass(frozen=True)
class EvaluatorSpec:
    """A domain evaluator gbench trains and ships.

    Attributes:
        name: registry name and manifest key, e.g. ``scenes-segmenter``.
        version: bumped whenever the network, its preprocessing or its recipe change.
        group: ``gbench evaluators train GROUP`` retrains every evaluator of the group
            (``digits``, ``scenes``); the name alone retrains one.
        description: one line for ``gbench list``.
        filename: the safetensors file in the weights folder.
        build: ``build() -> nn.Module`` with random weights, no I/O.
        train: ``train(out_dir, seed=0, epochs=None, log=print) -> dict`` — trains with
            the seeded recipe (``epochs=None``: the recipe's own), writes the weights and
            the manifest entry with :func:`save_evaluator`, returns the entry.
        quality: ``quality(entry) -> str``, the test-split numbers of a manifest entry
            in a few words ("test accuracy 0.989").
    """

    name: str
    version: str
    group: str
    description: str
    filename: str
    build: Callable[[], nn.Module]
    train: Callable[..., dict]
    quality: Callable[[dict], str]

    @property
    def hint(self) -> str:
        return f"reinstall gbench, or retrain it with `gbench evaluators train {self.name}`"

    def entry(self) -> dict | None:
        """The shipped manifest entry, or None when the manifest lacks it."""
        return read_manifest().get(self.name)

    def weights(self) -> WeightsInfo:
        """The package file and its digest from the shipped manifest (read on demand)."""
        entry = self.entry()
        if entry is None or "sha256" not in entry:
            raise GbenchError(f"{self.name}: no sha256 for it in {WEIGHTS_DIR / MANIFEST}: {self.hint}")
        return WeightsInfo(filename=self.filename, sha256=entry["sha256"], url=None,
                           default_path=WEIGHTS_DIR / self.filename, hint=self.hint)

    def resolve(self, weights_path=None, allow_unverified: bool = False) -> tuple[Path, bool]:
        """(path, verified): an explicit file or folder, else the package file; sha256 checked."""
        info = self.weights()
        if weights_path is None and not Path(info.default_path).is_file():
            raise GbenchError(f"{self.name}: shipped weights file {info.default_path} is missing: {self.hint}")
        return resolve_weights(info.filename, info.sha256, explicit_path=weights_path, allow_download=False,
                               url=None, allow_unverified=allow_unverified, search=[Path(info.default_path)])

    def availability(self) -> tuple[bool, str]:
        try:
            self.resolve()
        except GbenchError as e:
            return False, str(e)
        return True, ""

    def load(self, device: str | torch.device = "cpu", weights_path=None,
             allow_unverified: bool = False) -> LoadedEvaluator:
        """Resolve and verify the weights, build the network, load them (eval mode, no gradients)."""
        path, verified = self.resolve(weights_path, allow_unverified)
        net = self.build()
        try:
            net.load_state_dict(load_state_dict(path))
        except RuntimeError as e:
            first = str(e).strip().splitlines()[0]
            raise GbenchError(f"weights file {path} does not fit {self.name} ({first}): "
                              f"use the file {self.filename}") from None
        device = torch.device(device)
        net = net.eval().requires_grad_(False).to(device)
        return LoadedEvaluator(self.name, self.version, net, sha256_file(path), verified, device)


def save_evaluator(out_dir: Path | str, name: str, version: str, filename: str, net: nn.Module,
                   entry: dict) -> dict:
    """Write ``net``'s weights to ``out_dir/filename`` and its manifest entry, atomically.

    ``entry`` holds what the trainer knows (recipe, data, test quality, command);
    this adds name, version, file, sha256, bytes, num_params and torch_version,
    merges it into ``out_dir/manifest.json`` (other evaluators' entries are kept)
    and returns the full entry. Refuses the package's own folder.
    """
    from safetensors.torch import save_file

    out_dir = Path(out_dir)
    if out_dir.resolve() == WEIGHTS_DIR.resolve():
        raise GbenchError(f"{out_dir} is the package's shipped weights folder, which gbench never rewrites: "
                          "write the retrained evaluator to a folder of yours")
    state = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    path = out_dir / filename
    # One metadata key only: safetensors writes metadata in hash-map order, so with
    # several keys the bytes (and the sha256) would change from run to run.
    atomic_write(path, lambda tmp: save_file(state, str(tmp), metadata={"gbench": f"{name} v{version}"}))
    full = {"name": name, "version": version, "file": filename, "sha256": sha256_file(path),
            "bytes": path.stat().st_size, "num_params": sum(p.numel() for p in net.parameters()),
            "torch_version": torch.__version__, **entry}
    manifest = read_manifest(out_dir)
    manifest[name] = full
    atomic_write_text(out_dir / MANIFEST, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return full


def warmup_cosine(opt: torch.optim.Optimizer, warmup_steps: int, total_steps: int):
    """A per-step schedule: the learning rate rises linearly over ``warmup_steps`` (step + 1) / warmup,
    then decays by a half cosine to 0 at ``total_steps``."""
    import math

    def factor(step: int) -> float:
        if step < warmup_steps:
            return (step + 1) / warmup_steps
        return 0.5 * (1 + math.cos(math.pi * (step - warmup_steps) / max(1, total_steps - warmup_steps)))

    return torch.optim.lr_scheduler.LambdaLR(opt, factor)


@contextlib.contextmanager
def seeded_training(seed: int) -> Iterator[None]:
    """Train on one CPU thread with the global RNG seeded, restoring both afterwards.

    One thread: float32 sums have a fixed order whatever the machine's core count
    (bitwise-reproducible weights), and for networks this small one thread is about
    as fast as two, and much faster when the cores are shared. The global RNG is
    forked because initialization and dropout draw from it and the caller's random
    state must not change because an evaluator was trained.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            yield
    finally:
        torch.set_num_threads(threads)
