"""Training of `scenes-evaluator` (:mod:`gbench.features.scenes_evaluator`): targets, losses, recipe.

Data: freshly sampled scenes, ``sample_factors(batch_size, rng)`` per step with
``rng = numpy.random.default_rng([7, 3, seed])`` — a stream disjoint from the
fixed splits (``[7, 0]`` train, ``[7, 1]`` test, ``[7, split, 1, i]``
captions), rendered at 64×64 on the fly (the renderer is ~50× faster than a
training step). Every step sees new scenes, so there is no overfitting to a
fixed set and the test split is never seen.

Targets (CenterNet, at the 16×16 grid): an object with centre (x, y) lies in
cell (⌊16 y⌋, ⌊16 x⌋); the heatmap target is 1 there and a Gaussian
exp(−d² / 2σ²) of the cell distance d around it (σ = max(½, 16 · size / 3)
cells; the max over objects); shape, colour, size (circumradius in cells) and
sub-cell offset (16 x − column, 16 y − row) are supervised at centre cells
only. Losses: penalty-reduced focal loss for the heatmap (α = 2, β = 4,
normalized by the number of objects), cross-entropy for shape and colour,
L1 for size and offset, cross-entropy for layout and, where there is land, ground.

All randomness comes from ``seed`` (scene stream, initialization) and training
runs on one CPU thread inside :func:`seeded_training`, so the weights are
bitwise reproducible for a given torch version and CPU architecture.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F

from gbench.data.scenes_factors import GRASS, SEA, SceneFactors, sample_factors
from gbench.data.scenes_render import render
from gbench.features import scenes_evaluator as se
from gbench.features.shipped import save_evaluator, seeded_training, warmup_cosine
from gbench.images import uint8_to_float

TRAIN_STREAM = (7, 3)  # numpy seed words of the training scenes: (SPLIT_SEED, 3), never a split's


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that determines the trained weights (recorded in the manifest)."""

    seed: int = 0
    epochs: int = 6                 # an "epoch" is steps_per_epoch fresh batches
    steps_per_epoch: int = 250
    batch_size: int = 64
    lr: float = 3e-3                # AdamW peak learning rate, linear warm-up then cosine to 0
    warmup_steps: int = 100
    weight_decay: float = 1e-4
    size_weight: float = 1.0        # L1 on size in cells
    offset_weight: float = 1.0      # L1 on sub-cell offsets
    global_weight: float = 0.5      # layout + ground cross-entropies

    @property
    def scenes(self) -> int:
        return self.epochs * self.steps_per_epoch * self.batch_size


@dataclass(frozen=True)
class Targets:
    """Training targets of a batch (torch). heat (N, 16, 16) in [0, 1]; for the M present
    objects: image, cell (flat), shape, colour (int64 (M,)), size, dx, dy (float (M,));
    layout (N,), ground (N,) 0 grass / 1 sand, land bool (N,)."""

    heat: torch.Tensor
    image: torch.Tensor
    cell: torch.Tensor
    shape: torch.Tensor
    colour: torch.Tensor
    size: torch.Tensor
    dx: torch.Tensor
    dy: torch.Tensor
    layout: torch.Tensor
    ground: torch.Tensor
    land: torch.Tensor


def targets(f: SceneFactors) -> Targets:
    """The CenterNet targets of the module docstring for a batch of factor rows."""
    g = se.GRID
    img, slot = np.nonzero(f.present)
    cx, cy = f.x[img, slot] * g, f.y[img, slot] * g
    col, row = np.clip(np.floor(cx), 0, g - 1).astype(np.int64), np.clip(np.floor(cy), 0, g - 1).astype(np.int64)
    size = f.size[img, slot] * g
    sigma = np.maximum(0.5, size / 3)
    ii, jj = np.mgrid[0:g, 0:g]
    gauss = np.exp(-((ii[None] - row[:, None, None]) ** 2 + (jj[None] - col[:, None, None]) ** 2)
                   / (2 * sigma[:, None, None] ** 2))
    heat = np.zeros((len(f), g, g))
    np.maximum.at(heat, img, gauss)
    t = lambda a, dtype=torch.float32: torch.as_tensor(np.ascontiguousarray(a), dtype=dtype)  # noqa: E731
    return Targets(heat=t(heat), image=t(img, torch.int64), cell=t(row * g + col, torch.int64),
                   shape=t(f.shape[img, slot], torch.int64), colour=t(f.colour[img, slot], torch.int64),
                   size=t(size), dx=t(cx - col), dy=t(cy - row), layout=t(f.layout, torch.int64),
                   ground=t(f.ground != GRASS, torch.int64), land=t(f.layout != SEA, torch.bool))


def focal_loss(logit: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CenterNet's penalty-reduced focal loss (α = 2, β = 4), summed; target 1 marks centres."""
    p = torch.sigmoid(logit)
    pos = target >= 1
    # logsigmoid: log p and log(1 − p) without overflow for confident logits.
    pos_loss = ((1 - p) ** 2 * F.logsigmoid(logit))[pos].sum()
    neg_loss = ((1 - target) ** 4 * p ** 2 * F.logsigmoid(-logit))[~pos].sum()
    return -(pos_loss + neg_loss)


def loss_terms(out: se.SceneOutputs, t: Targets, recipe: TrainRecipe) -> dict[str, torch.Tensor]:
    """The weighted loss terms of a batch (their sum is minimized)."""
    m = max(len(t.cell), 1)
    flat = out.dense.flatten(2)                                 # (N, 17, 256)
    at = flat[t.image, :, t.cell]                               # (M, 17): the centre cells
    glob = out.global_logits
    ground = F.cross_entropy(glob[:, se.NUM_LAYOUTS:], t.ground, reduction="none")
    return {
        "heat": focal_loss(out.dense[:, 0], t.heat) / m,
        "shape": F.cross_entropy(at[:, se.SHAPE], t.shape),
        "colour": F.cross_entropy(at[:, se.COLOUR], t.colour),
        "size": recipe.size_weight * F.l1_loss(at[:, se.SIZE.start], t.size),
        "offset": recipe.offset_weight * (F.l1_loss(at[:, se.OFFSET.start], t.dx)
                                          + F.l1_loss(at[:, se.OFFSET.start + 1], t.dy)),
        "global": recipe.global_weight * (F.cross_entropy(glob[:, :se.NUM_LAYOUTS], t.layout)
                                          + (ground * t.land).sum() / t.land.sum().clamp(min=1)),
    }


def fit(recipe: TrainRecipe, log: Callable[[str], None] | None = None,
        check: Callable[[se.SceneEvaluator], str] | None = None) -> se.SceneEvaluator:
    """The training loop (global RNG already seeded: it drives initialization).

    ``check(net) -> str`` (optional) is logged after every epoch, e.g. test accuracies on a subset.
    """
    rng = np.random.default_rng([*TRAIN_STREAM, recipe.seed])
    net = se.SceneEvaluator()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    total_steps = recipe.epochs * recipe.steps_per_epoch
    sched = warmup_cosine(opt, recipe.warmup_steps, total_steps)
    start = time.perf_counter()
    for epoch in range(recipe.epochs):
        net.train()
        sums: dict[str, float] = {}
        for _ in range(recipe.steps_per_epoch):
            f = sample_factors(recipe.batch_size, rng)
            images, _ = render(f, se.IMAGE_SIZE)
            terms = loss_terms(net.outputs(uint8_to_float(images)), targets(f), recipe)
            loss = sum(terms.values())
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            for k, v in terms.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach())
        if log is not None:
            losses = "  ".join(f"{k} {v / recipe.steps_per_epoch:.3f}" for k, v in sums.items())
            extra = f"  |  {check(net.eval())}" if check is not None else ""
            log(f"epoch {epoch + 1}/{recipe.epochs}  {time.perf_counter() - start:.0f}s  {losses}{extra}")
    return net.eval()


def train_scenes_evaluator(out_dir: str | Path, seed: int = 0, epochs: int | None = None,
                           log: Callable[[str], None] | None = print,
                           check: Callable[[se.SceneEvaluator], str] | None = None) -> dict:
    """Train the scenes evaluator and write its weights and manifest entry.

    Args:
        out_dir: where to write ``scenes-evaluator.safetensors`` and update
            ``manifest.json`` (other entries are kept; the package folder is refused).
        seed: seeds the training-scene stream and weight initialization.
        epochs: epochs of ``steps_per_epoch`` fresh batches (None: the recipe's).
        log: called with one progress line per epoch and one at the end; None for silence.
        check: optional monitor logged after every epoch (see :func:`fit`); it reads the
            network in eval mode only, so the weights are the same with or without it.

    Returns:
        The manifest entry written: name, version, file, sha256, bytes, num_params,
        feature_dim, num_logits, test (per-factor accuracies on the full 5,000-image
        test split, :func:`scenes_evaluator.factor_accuracy`), data, recipe, command,
        train_seconds (wall), train_cpu_seconds, torch_version.
    """
    from gbench.data.scenes import load_split

    recipe = TrainRecipe(seed=seed) if epochs is None else TrainRecipe(seed=seed, epochs=epochs)
    start, cpu_start = time.perf_counter(), time.process_time()
    with seeded_training(seed):
        net = fit(recipe, log, check)
        # Wall time depends on what else runs on the machine; CPU time of the one thread less so.
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - cpu_start
        test = load_split("test")
        acc = se.factor_accuracy(se.read_scenes(net, test.images), test.factors)
    entry = save_evaluator(out_dir, se.NAME, se.VERSION, se.FILENAME, net, {
        "feature_dim": se.FEATURE_DIM,
        "num_logits": se.NUM_CLASSES,
        "test": acc,
        "train_seconds": round(seconds, 1),
        "train_cpu_seconds": round(cpu_seconds, 1),
        "data": (f"{recipe.scenes:,} freshly sampled scenes (numpy.random.default_rng([7, 3, seed]), disjoint "
                 "from the split streams [7, 0] / [7, 1]); accuracies on the full scenes test split (5,000 images)"),
        "recipe": asdict(recipe) | {"optimizer": "AdamW", "schedule": "linear warm-up, cosine per step to 0",
                                    "loss": "focal heatmap + CE shape/colour/layout/ground + L1 size/offset",
                                    "score_threshold": se.SCORE_THRESHOLD, "cpu_threads": 1},
        "command": f"gbench evaluators train scenes-evaluator --seed {seed} --epochs {recipe.epochs}",
    })
    return entry
