"""`digits-evaluator`: a small CNN classifier that stands in for Inception on `digits`.

Inception's ImageNet features do not fit 32×32 grayscale handwriting (and its
weights are not on an offline machine), so the `embedded` profile measures
FID/KID/precision-recall in this network's feature space and the Inception
Score with its class logits, as is customary for MNIST-like data.

Network (input uint8 (N, 1, 32, 32), scaled to [-1, 1]):

    conv3×3 1→32,            BN, ReLU, maxpool 2   → 32 × 16 × 16
    conv3×3 32→64, stride 2, BN, ReLU              → 64 × 8 × 8
    conv3×3 64→64,           BN, ReLU, global mean → 64    = features (post-ReLU)
    dropout 0.2 (training only), linear 64→10           = logits

The features are the global average of the last ReLU maps, like Inception's
pool3: 64 dimensions, so the covariance of a few hundred samples is full rank
(tests check this on the 359-image test split).

Training (:func:`train_digits_evaluator`, recipe in :class:`TrainRecipe`):
only the digits TRAIN split (1,438 images); AdamW, cosine learning-rate decay,
cross-entropy; every batch randomly rotated, scaled and shifted (a little)
so that the evaluator generalizes and does not reject a generated digit for
being slightly off-centre. All randomness comes from ``seed`` and training runs
on one CPU thread, so the weights are bitwise reproducible for a given torch
version and CPU architecture.

The trained weights ship in ``gbench/features/weights/digits-evaluator.safetensors``
with their sha256, test accuracy and recipe in ``manifest.json``; loading
verifies the digest, so a tampered or stale file is refused.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from gbench.features.base import ExtractorSpec
from gbench.features.shipped import EvaluatorSpec, save_evaluator, seeded_training
from gbench.images import uint8_to_float

NAME = "digits-evaluator"
VERSION = "1"
FILENAME = "digits-evaluator.safetensors"
FEATURE_DIM = 64
NUM_CLASSES = 10


class DigitsEvaluator(nn.Module):
    """The CNN above. ``forward(uint8 (N, 1, 32, 32)) -> (features (N, 64), logits (N, 10))``."""

    def __init__(self):
        super().__init__()

        def block(cin: int, cout: int, stride: int = 1) -> list[nn.Module]:
            # BN makes training fast and insensitive to the learning rate; in
            # eval mode it is a fixed affine map, so outputs stay per-image.
            return [nn.Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False),
                    nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

        # A strided second conv rather than conv + maxpool: 4× fewer
        # multiply-adds at 16×16, which keeps CPU training to a few minutes.
        self.body = nn.Sequential(
            *block(1, 32), nn.MaxPool2d(2),
            *block(32, 64, stride=2),
            *block(64, FEATURE_DIM),
        )
        self.dropout = nn.Dropout(0.2)
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def forward_float(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """float (N, 1, 32, 32) in [-1, 1] → (features (N, 64), logits (N, 10))."""
        feats = self.body(x).mean(dim=(2, 3))
        return feats, self.fc(self.dropout(feats))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.forward_float(uint8_to_float(x))


# --------------------------------------------------------------------------- training


@dataclass(frozen=True)
class TrainRecipe:
    """Everything that determines the trained weights (recorded in the manifest)."""

    seed: int = 0
    epochs: int = 30
    batch_size: int = 64
    lr: float = 3e-3               # AdamW peak learning rate, cosine-decayed to 0 per step
    weight_decay: float = 1e-4
    max_rotation_deg: float = 12.0  # augmentation: uniform in ±max
    max_scale: float = 0.10         # uniform zoom in 1 ± max
    max_shift_px: float = 2.0       # uniform shift in ±max pixels per axis


def augment(x: torch.Tensor, recipe: TrainRecipe, gen: torch.Generator) -> torch.Tensor:
    """Random rotation, zoom and shift of float images (N, 1, H, W) in [-1, 1].

    Sampled with bilinear interpolation; pixels that come from outside the
    image are background (-1, i.e. no ink).
    """
    n, _, h, w = x.shape
    u = torch.rand(n, 4, generator=gen) * 2 - 1  # uniform in [-1, 1]
    angle = u[:, 0] * math.radians(recipe.max_rotation_deg)
    scale = 1 + u[:, 1] * recipe.max_scale
    # affine_grid works in normalized coordinates where the image spans [-1, 1].
    tx, ty = u[:, 2] * recipe.max_shift_px * 2 / w, u[:, 3] * recipe.max_shift_px * 2 / h
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, tx], 1), torch.stack([sin, cos, ty], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    # grid_sample pads with 0; shift so that 0 is the background value.
    return F.grid_sample(x + 1, grid, mode="bilinear", padding_mode="zeros", align_corners=False) - 1


def accuracy(net: nn.Module, images: torch.Tensor, labels: torch.Tensor, batch_size: int = 256) -> float:
    """Top-1 accuracy of ``net`` (eval mode) on uint8 images (N, 1, 32, 32)."""
    net.eval()
    correct = 0
    with torch.inference_mode():
        for i in range(0, len(images), batch_size):
            _, logits = net(images[i:i + batch_size])
            correct += int((logits.argmax(1) == labels[i:i + batch_size]).sum())
    return correct / len(images)


def _fit(recipe: TrainRecipe, train, test, log: Callable[[str], None] | None) -> DigitsEvaluator:
    """The training loop (global RNG already seeded: it drives init and dropout)."""
    gen = torch.Generator().manual_seed(recipe.seed)  # batch order and augmentation
    net = DigitsEvaluator()
    opt = torch.optim.AdamW(net.parameters(), lr=recipe.lr, weight_decay=recipe.weight_decay)
    n = len(train)
    steps_per_epoch = math.ceil(n / recipe.batch_size)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=recipe.epochs * steps_per_epoch)
    x_all = uint8_to_float(train.images)
    for epoch in range(recipe.epochs):
        net.train()
        perm = torch.randperm(n, generator=gen)
        total = 0.0
        for i in range(0, n, recipe.batch_size):
            idx = perm[i:i + recipe.batch_size]
            _, logits = net.forward_float(augment(x_all[idx], recipe, gen))
            loss = F.cross_entropy(logits, train.labels[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            total += float(loss.detach()) * len(idx)
        if log is not None:
            log(f"epoch {epoch + 1}/{recipe.epochs}  loss {total / n:.4f}  "
                f"test accuracy {accuracy(net, test.images, test.labels):.4f}")
    return net.eval()


def train_digits_evaluator(out_dir: str | Path, seed: int = 0, epochs: int = 30,
                           log: Callable[[str], None] | None = print) -> dict:
    """Train the digits evaluator and write its weights and manifest entry.

    Args:
        seed: seeds weight initialization, batch order, augmentation and dropout.
        epochs: passes over the 1,438 training images.
        out_dir: where to write ``digits-evaluator.safetensors`` and update
            ``manifest.json`` (other entries are kept). The package's shipped
            files are the maintainers' to replace by hand (copy the file and
            its manifest entry after review); the CLI refuses that folder.
        log: called with one progress line per epoch; None for silence.

    Returns:
        The manifest entry written: name, version, file, sha256, bytes,
        test_accuracy, train_accuracy, recipe, torch_version, ...

    Both files are written atomically (temporary file + ``os.replace``).
    """
    from gbench.data import digits

    recipe = TrainRecipe(seed=seed, epochs=epochs)
    train, test = digits.load("train"), digits.load("test")
    with seeded_training(seed):
        net = _fit(recipe, train, test, log)
    entry = save_evaluator(out_dir, NAME, VERSION, FILENAME, net, {
        "feature_dim": FEATURE_DIM,
        "num_logits": NUM_CLASSES,
        "train_accuracy": accuracy(net, train.images, train.labels),
        "test_accuracy": accuracy(net, test.images, test.labels),
        "data": "digits train split (1,438 images); accuracy on the digits test split (359 images)",
        "recipe": asdict(recipe) | {"optimizer": "AdamW", "schedule": "cosine per step to 0",
                                    "loss": "cross-entropy", "dropout": 0.2,
                                    "augmentation": "random rotation, zoom, shift (bilinear)",
                                    "cpu_threads": 1},
        "command": f"gbench evaluators train digits --seed {seed} --epochs {epochs}",
    })
    return entry


# --------------------------------------------------------------------------- registration


EVALUATOR = EvaluatorSpec(
    name=NAME,
    version=VERSION,
    group="digits",
    description="digits classifier (10 classes); its 64-d pooled features are the digits FID/KID/PR space",
    filename=FILENAME,
    build=DigitsEvaluator,
    train=lambda out_dir, seed=0, epochs=None, log=print: train_digits_evaluator(
        out_dir, seed=seed, log=log, **({} if epochs is None else {"epochs": epochs})),
    quality=lambda entry: f"test accuracy {entry['test_accuracy']:.3f}",
)


SPEC = ExtractorSpec(
    name=NAME,
    version=VERSION,
    description="small CNN trained on the digits train split; 64-d pooled features, 10 class logits",
    profile="embedded",
    feature_dim=FEATURE_DIM,
    num_logits=NUM_CLASSES,
    input="uint8 (N, 1, 32, 32) grayscale digits, ink bright on a dark background",
    channels=1,
    image_size=(32, 32),
    build=DigitsEvaluator,
    weights=EVALUATOR.weights,
)
