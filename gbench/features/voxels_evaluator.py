"""`voxels-evaluator`: a small 3-D CNN classifier that reads the class of a `voxels` occupancy grid.

Generated shapes have no Inception: their class distribution (``class_tv``) is read
with this network's logits, and their Fréchet distance (the ``fid`` metric with
extractor ``voxels-evaluator``; also KID, precision/recall) is measured in its
pooled features — the role 3D-GAN's own discriminator features and ModelNet
classifiers play in the 3-D generation literature.

Network (input uint8 (N, 1, S, S, S) occupancy, 0 = empty, 255 = occupied, axes
(x, y, z) z up as in `voxels`; scaled to [-1, 1]; every conv is conv → BatchNorm3d →
ReLU):

    S = 64 only: 2×2×2 blocks → one cell, occupied iff ≥ 4 of its 8 voxels are  → 1 × 32³
    conv 4³ 1→8, stride 2                    → 8 × 16³
    conv 3³ 8→32, stride 2                   → 32 × 8³
    conv 3³ 32→64, stride 2                  → 64 × 4³
    conv 3³ 64→64                            → 64 × 4³
    conv 1³ 64→128, global mean              → 128    = features (post-ReLU)
    dropout 0.2 (training only), linear 128→10         = logits (CLASSES of `voxels`)

183k parameters (0.74 MB as float32 safetensors). The 64³ path is an approximation
of rendering at 32³ (block majority instead of cell-centre sampling); its accuracy on
the `voxels-64` test split is recorded beside the 32³ one.

Training (:func:`train_voxels_evaluator`, recipe in :class:`TrainRecipe`): freshly
sampled solids every step, ``voxels.sample_params(64, rng)`` with ``rng =
numpy.random.default_rng([3, 2, seed])`` — a stream disjoint from the split streams
``[3, 0]`` (train) and ``[3, 1]`` (test), so the test split is never seen — rendered
at 32³ (the renderer is ~100× faster than a step); each grid's voxels are flipped with
a probability drawn from U[0, 0.02] per grid, so that speckled samples of a generator
are still read by their shape. AdamW, linear warm-up then cosine decay, cross-entropy.
One CPU thread inside :func:`~gbench.features.shipped.seeded_training`: the weights
are bitwise reproducible for a torch version and CPU architecture.

The trained weights ship in ``gbench/features/weights/voxels-evaluator.safetensors``
with their sha256, recipe and test-split accuracies in ``manifest.json``; loading
verifies the digest.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gbench.errors import GbenchError
from gbench.features.base import ExtractorSpec
from gbench.features.shipped import EvaluatorSpec, save_evaluator, seeded_training, warmup_cosine
from gbench.images import uint8_to_float

NAME = "voxels-evaluator"
VERSION = "1"
FILENAME = "voxels-evaluator.safetensors"
GRID = 32
FEATURE_DIM = 128
NUM_CLASSES = 10
TRAIN_STREAM = (3, 2)  # numpy seed words of the training solids: (voxels.SPLIT_SEED, 2), never a split's


def _block(cin: int, cout: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    return [nn.Conv3d(cin, cout, kernel, stride=stride, padding=(kernel - 1) // 2 if kernel % 2 else 1, bias=False),
            nn.BatchNorm3d(cout), nn.ReLU(inplace=True)]


class VoxelsEvaluator(nn.Module):
    """The 3-D CNN above. ``forward(uint8 (N, 1, S, S, S), S ∈ {32, 64}) -> (features (N, 128), logits (N, 10))``."""

    def __init__(self):
        super().__init__()
        self.body = nn.Sequential(
            *_block(1, 8, 4, 2), *_block(8, 32, 3, 2), *_block(32, 64, 3, 2), *_block(64, 64, 3),
            *_block(64, FEATURE_DIM, 1),
        )
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward_float(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float (N, 1, 32, 32, 32) in [-1, 1] → (features (N, 128), logits (N, 10))."""
        feats = self.body(x).mean(dim=(2, 3, 4))
        return feats, self.fc(self.dropout(feats))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if x.dtype != torch.uint8 or x.ndim != 5 or x.shape[1] != 1 or len(set(x.shape[2:])) != 1 \
                or x.shape[2] not in (GRID, 2 * GRID):
            raise GbenchError(f"{NAME} takes uint8 occupancy grids (N, 1, S, S, S) with S = 32 or 64, got "
                              f"{x.dtype} {tuple(x.shape)}")
        if x.shape[2] == 2 * GRID:  # majority of each 2×2×2 block: ≥ 4 of 8 voxels occupied (> 127)
            occupied = F.avg_pool3d((x > 127).float(), 2) >= 0.5
            x = occupied.to(torch.uint8) * 255
        return self.forward_float(uint8_to_float(x))


def voxel_features(vox, device: str | torch.device = "cpu", batch_size: int = 128) -> tuple[np.ndarray, np.ndarray]:
    """Features and logits of occupancy grids with the shipped, verified evaluator.

    Args:
        vox: uint8 (N, 1, S, S, S), S = 32 or 64 (0/255; occupied = value > 127), a tensor or a lazy
            source such as ``voxels``' RenderedVoxels.
        device: where the network runs.

    Returns:
        (features float64 (N, 128), logits float64 (N, 10)) as numpy — the same numbers as
        ``EXTRACTORS.get("voxels-evaluator").load(device).extract(vox)``, which is what FID/KID use.
    """
    from gbench.features import EXTRACTORS

    out = EXTRACTORS.get(NAME).load(device=device).extract(vox, batch_size=batch_size)
    return out["features"].double().numpy(), out["logits"].double().numpy()


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that determines the trained weights (recorded in the manifest)."""

    seed: int = 0
    epochs: int = 3                 # an "epoch" is steps_per_epoch fresh batches
    steps_per_epoch: int = 200
    batch_size: int = 64
    lr: float = 3e-3                # AdamW peak learning rate, linear warm-up then cosine to 0
    warmup_steps: int = 50
    weight_decay: float = 1e-4
    max_flip: float = 0.02          # each grid's voxels flip with probability U[0, max_flip]

    @property
    def shapes(self) -> int:
        return self.epochs * self.steps_per_epoch * self.batch_size


def training_batch(rng: np.random.Generator, recipe: TrainRecipe) -> tuple[torch.Tensor, torch.Tensor]:
    """One batch of fresh solids: float (B, 1, 32, 32, 32) in {−1, 1} with flipped voxels, labels int64 (B,)."""
    from gbench.data import voxels

    p = voxels.sample_params(recipe.batch_size, rng)
    x = voxels.render(p, GRID) > 127
    rate = rng.random(recipe.batch_size) * recipe.max_flip
    flip = rng.random(x.shape, dtype=np.float32) < rate[:, None, None, None, None].astype(np.float32)
    x = x ^ torch.from_numpy(flip)
    return x.float() * 2 - 1, torch.from_numpy(p.labels.copy())


def accuracy(net: nn.Module, grids, labels: torch.Tensor, batch_size: int = 250) -> float:
    """Top-1 accuracy of ``net`` (eval mode) on uint8 grids (N, 1, S, S, S), a tensor or lazy source."""
    net.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(grids), batch_size):
            _, logits = net(grids[i:i + batch_size])
            correct += int((logits.argmax(1) == labels[i:i + batch_size]).sum())
    return correct / len(grids)


def fit(recipe: TrainRecipe, log: Callable[[str], None] | None = print) -> VoxelsEvaluator:
    """The training loop (inside :func:`seeded_training`: the global RNG drives init and dropout)."""
    from gbench.data import voxels

    rng = np.random.default_rng([*TRAIN_STREAM, recipe.seed])
    net = VoxelsEvaluator()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    total = recipe.epochs * recipe.steps_per_epoch
    sched = warmup_cosine(opt, recipe.warmup_steps, total)
    check = voxels.load_split("test", GRID, slice(0, 500))  # progress only; the manifest's numbers use all 2,000
    for epoch in range(recipe.epochs):
        net.train()
        loss_sum, start = 0.0, time.perf_counter()
        for _ in range(recipe.steps_per_epoch):
            x, y = training_batch(rng, recipe)
            _, logits = net.forward_float(x)
            loss = F.cross_entropy(logits, y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += float(loss.detach())
        if log is not None:
            log(f"epoch {epoch + 1}/{recipe.epochs}  loss {loss_sum / recipe.steps_per_epoch:.4f}  "
                f"test[:500] accuracy {accuracy(net, check.occupancy, check.labels):.4f}  "
                f"({time.perf_counter() - start:.0f} s)")
    return net.eval()


def train_voxels_evaluator(out_dir: str | Path, seed: int = 0, epochs: int | None = None,
                           log: Callable[[str], None] | None = print) -> dict:
    """Train the voxels evaluator and write its weights and manifest entry.

    Args:
        out_dir: where to write ``voxels-evaluator.safetensors`` and update ``manifest.json``
            (other entries are kept; the package's own folder is refused).
        seed: seeds the training-solid stream, initialization and dropout.
        epochs: epochs of ``steps_per_epoch`` fresh batches (None: the recipe's).
        log: one progress line per epoch; None for silence.

    Returns:
        The manifest entry written: name, version, file, sha256, bytes, num_params, feature_dim,
        num_logits, test_accuracy (full 2,000-shape test split at 32³), test_accuracy_64 (the same
        shapes at 64³), per-class test accuracies, data, recipe, command, train seconds.
    """
    from gbench.data import voxels

    recipe = TrainRecipe(seed=seed) if epochs is None else TrainRecipe(seed=seed, epochs=epochs)
    start, cpu_start = time.perf_counter(), time.process_time()
    with seeded_training(seed):
        net = fit(recipe, log)
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        test = voxels.load("test")
        pred = torch.cat([net(test.images[i:i + 250])[1].argmax(1) for i in range(0, len(test), 250)])
        per_class = {c: float((pred[test.labels == k] == k).double().mean()) for k, c in enumerate(voxels.CLASSES)}
        acc64 = accuracy(net, voxels.load("test", size=64).images, test.labels)
    entry = save_evaluator(out_dir, NAME, VERSION, FILENAME, net, {
        "feature_dim": FEATURE_DIM,
        "num_logits": NUM_CLASSES,
        "classes": list(voxels.CLASSES),
        "test_accuracy": float((pred == test.labels).double().mean()),
        "test_accuracy_64": acc64,
        "test_accuracy_per_class": per_class,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "data": (f"{recipe.shapes:,} freshly sampled voxels solids at 32³ (numpy.random.default_rng([3, 2, seed]), "
                 "disjoint from the split streams [3, 0] / [3, 1]); accuracies on the full voxels test split "
                 "(2,000 shapes) at 32³ and at 64³"),
        "recipe": asdict(recipe) | {"optimizer": "AdamW", "schedule": "linear warm-up, cosine per step to 0",
                                    "loss": "cross-entropy", "dropout": 0.2,
                                    "augmentation": "voxel flips, rate U[0, max_flip] per grid", "cpu_threads": 1},
        "command": f"gbench evaluators train voxels-evaluator --seed {seed} --epochs {recipe.epochs}",
    })
    if log is not None:
        log(f"test accuracy {entry['test_accuracy']:.4f} (64³: {acc64:.4f}); {seconds:.0f} s")
    return entry


# --------------------------------------------------------------------------- registration


EVALUATOR = EvaluatorSpec(
    name=NAME,
    version=VERSION,
    group="voxels",
    description="voxels classifier (10 solid classes, 3-D CNN); its 128-d pooled features are the voxels "
                "FID/KID/PR space, its logits the class distribution",
    filename=FILENAME,
    build=VoxelsEvaluator,
    train=lambda out_dir, seed=0, epochs=None, log=print: train_voxels_evaluator(out_dir, seed, epochs, log),
    quality=lambda entry: f"test accuracy {entry['test_accuracy']:.3f}",
)


SPEC = ExtractorSpec(
    name=NAME,
    version=VERSION,
    description="3-D CNN trained on sampled voxels solids; 128-d pooled features, 10 class logits",
    profile="embedded",
    feature_dim=FEATURE_DIM,
    num_logits=NUM_CLASSES,
    input="uint8 (N, 1, S, S, S) occupancy grids (0/255), S = 32 or 64, z up",
    channels=1,
    image_size=None,  # 32³, or 64³ reduced to 32³ by block majority inside the network
    build=VoxelsEvaluator,
    weights=EVALUATOR.weights,
    spatial_dims=3,
)
