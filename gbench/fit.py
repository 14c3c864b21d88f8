"""One fit path: a suite asks for a zoo model trained on a dataset, and gets it.

    fitted = fit(ctx, "dcgan", "digits", train_split)            # trained (or resumed)
    start = fit(ctx, "dcgan", "digits", train_split, trained=False)  # the weights training starts from

Every suite gets its models here, so that

* a model's directory is keyed by (model, dataset, profile, preset, seed) —
  ``<runs>/models/<model>/<dataset>/<profile>/<preset>/seed<k>`` — and shared
  between suites: the ``features`` suite probes the very DCGAN that
  ``generation`` trained when the keys match, and a run over two datasets
  never finds the other dataset's checkpoint;
* seeding is one rule: the zoo's :func:`zoo.train.init_weights` gives the
  starting weights of a seed, used by the trainer and by every ``@init`` row;
* what a model needs besides its config (the training split's size, the
  weights of the model it starts from, VGG-19 for a perceptual loss) is
  provided by name (``ModelSpec.needs``; see :mod:`zoo.models.base`).

Training data are uint8 (N, C, H, W) images or a lazy uint8 source; the
trainer converts each batch to float, so a large split never exists in float.
"""

from __future__ import annotations

import contextlib
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import torch

from gbench.data import ImageSet
from gbench.errors import GbenchError
from gbench.records import locked

VGG19_FILE = "vgg19-dcbb9e9d.pth"  # torchvision's ImageNet VGG-19 (SRGAN's φ5,4 content loss)


@dataclass
class Fitted:
    """A zoo model ready to evaluate.

    Attributes:
        spec: its :class:`zoo.models.ModelSpec`.
        model: the module on the run's device, in eval mode.
        config: its frozen config.
        trained: False for the starting weights (an ``@init`` row).
        facts: what records of this model should carry in ``extra`` (e.g.
            which content loss ran when VGG-19 weights were missing).
    """

    spec: Any
    model: torch.nn.Module
    config: Any
    trained: bool
    facts: dict[str, Any] = field(default_factory=dict)


def model_dir(ctx, model: str, dataset: str, variant: str = "") -> Path:
    """Where ``model`` trained on ``dataset`` lives for this run's profile, preset and seed;
    a variant (an ablation) lives beside it in ``seed<k>-<variant>``."""
    leaf = f"seed{ctx.seed}" + (f"-{variant}" if variant else "")
    return ctx.runs_dir / "models" / model / dataset / ctx.profile / ctx.preset / leaf


def fit(ctx, model: str, dataset: str, train: ImageSet, *, trained: bool = True, variant: str = "",
        overrides: Mapping[str, Any] | None = None, conditions: torch.Tensor | None = None,
        num_conditions: int | None = None, averaged: bool = True) -> Fitted:
    """The zoo model ``model`` trained (or resumed) on ``train``, or its starting weights.

    Args:
        ctx: the run (profile, preset, seed, device, runs folder).
        model: a name registered in ``zoo.models.MODELS``.
        dataset: the name the training data go by in the model's directory
            (and in a checkpoint mismatch message).
        train: the training split; uint8 images (or a lazy uint8 source) and,
            for class-conditional models, labels.
        conditions, num_conditions: for models conditioned on captions or layouts
            (``ModelSpec.condition`` "tokens" / "layout"): the training images'
            conditions (int64 (N, L) token ids, uint8/int64 (N, H, W) label maps) and
            the size of their alphabet (vocabulary, label classes).
        trained: False returns the weights training starts from for this seed.
        variant, overrides: an ablation — the preset's config with ``overrides``
            (:func:`zoo.models.with_overrides`) in its own directory named by
            ``variant`` (both or neither).
        averaged: False returns the trained run's live weights, those its EMA of
            G (``TrainConfig.ema_decay``) was averaging, read from its final
            checkpoint. They are what the same run with the EMA off trains: the
            average reads the training weights and never feeds back into them
            (bit-identical, tested), so the no-EMA ablation needs no training.

    Raises:
        GbenchError: a conditional model on unlabelled data, or a checkpoint in
            the model's directory that does not match (config, seed or data).
    """
    from zoo.models import MODELS, with_overrides
    from zoo.train import CHECKPOINT, CheckpointMismatch, init_weights, load_state
    from zoo.train import train as run_trainer
    from zoo.train.distributed import rank_and_world

    if bool(variant) != bool(overrides):
        raise GbenchError(f"{model}: a variant needs overrides and overrides need a variant name")
    if not averaged and (variant or not trained):
        raise GbenchError(f"{model}: live (un-averaged) weights exist only for the trained preset run")
    key = (model, dataset, trained, variant, averaged)
    if key in ctx.fitted:
        return ctx.fitted[key]
    spec = MODELS.get(model)
    labels, num_classes = _conditions(spec, dataset, train, conditions, num_conditions)
    needs, facts = _needs(ctx, spec, dataset, train, conditions, num_conditions)
    shape = tuple(int(s) for s in train.images.shape[1:])
    config = spec.make_config(ctx.preset, shape, num_classes, **needs)
    if overrides:
        try:
            config = with_overrides(config, overrides)
        except ValueError as e:
            raise GbenchError(f"{model} {variant}: {e}") from None
    net = spec.build(config, **needs)
    name = model + (f" ({variant})" if variant else "")
    if trained:
        where = model_dir(ctx, model, dataset, variant)
        ctx.say(f"{name} on {dataset}: training (or resuming) at preset {ctx.preset} in {where}")
        t0 = time.perf_counter()
        try:
            # One trainer per directory: a concurrent process (a main-job lane, a second run) that asks
            # for the same model waits here, then resumes the finished checkpoint instead of training it again.
            # Not under torchrun: there every rank trains this model together (one rank alone would deadlock).
            with locked(where / "training") if rank_and_world()[1] == 1 else contextlib.nullcontext():
                history = run_trainer(net, config, train.images, labels, where,
                                      ctx.device, ctx.seed, progress=ctx.progress and sys.stderr.isatty())
        except CheckpointMismatch as e:
            raise GbenchError(f"{name} on {dataset}: {e}") from None
        last = ", ".join(f"{k} {v:.3g}" for k, v in (history[-1] if history else {}).items() if k.endswith("loss"))
        ctx.say(f"{name} on {dataset}: {config.train.steps} steps ready in {time.perf_counter() - t0:.1f} s"
                + (f" ({last})" if last else ""))
        if not averaged:  # the final checkpoint keeps the live weights; the trainer ended on the average
            net.load_state_dict(load_state(where / CHECKPOINT)["model"])
    else:
        init_weights(net.to(ctx.device), ctx.seed)
    net.to(ctx.device).eval()
    fitted = Fitted(spec, net, config, trained, facts)
    ctx.fitted[key] = fitted
    return fitted


def _conditions(spec, dataset: str, train: ImageSet, conditions, num_conditions) -> tuple[Any, int | None]:
    """(what the trainer gets as labels, make_config's num_classes) for ``spec``'s kind of condition."""
    if not spec.conditional:
        return None, None
    if spec.condition == "class":
        if train.labels is None:
            raise GbenchError(f"{spec.name} is class-conditional but {dataset} has no labels: choose a labelled dataset")
        return train.labels, train.num_classes
    if conditions is None or num_conditions is None:
        raise GbenchError(f"{spec.name} is conditioned on {spec.condition}: its suite must pass the training images' "
                          "conditions and their alphabet size")
    if len(conditions) != len(train):
        raise GbenchError(f"{spec.name}: {len(conditions)} conditions for {len(train)} training images of {dataset}")
    return conditions, int(num_conditions)


def _needs(ctx, spec, dataset: str, train: ImageSet, conditions=None,
           num_conditions: int | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """The keyword inputs ``spec.needs`` asks for, and the facts records should carry about them."""
    values: dict[str, Any] = {}
    facts: dict[str, Any] = {}
    for need in spec.needs:
        if need == "num_images":
            values[need] = len(train)
        elif need == "generator_state":
            parent = fit(ctx, spec.init_from, dataset, train, conditions=conditions, num_conditions=num_conditions)
            values[need] = {k: v.detach().cpu() for k, v in parent.model.generator.state_dict().items()}
        elif need == "vgg19_state":
            values[need], facts = vgg19_state(ctx)
        else:  # ModelSpec validates names against zoo.models.base.NEEDS
            raise GbenchError(f"{spec.name} needs {need!r}, which gbench.fit does not provide")
    return values, facts


def vgg19_state(ctx) -> tuple[dict | None, dict[str, Any]]:
    """torchvision's ImageNet VGG-19 through gbench's weights resolver.

    Returns (state dict or None, facts for the records): without the file the
    model falls back to what its config does without it (SRGAN: the pixel
    MSE, the paper's SRGAN-MSE) and the facts say which file was missing.
    """
    from gbench.features.weights import WeightsNotFoundError, load_state_dict, resolve_known, sha256_file

    try:
        path, verified = resolve_known(VGG19_FILE, explicit_path=ctx.weights, allow_download=ctx.download,
                                       allow_unverified=ctx.allow_unverified)
    except WeightsNotFoundError:
        return None, {"content_loss": f"mse (VGG-19 weights not found: {VGG19_FILE})"}
    except GbenchError as e:
        return None, {"content_loss": f"mse (VGG-19 weights refused: {e})"}
    facts = {"content_loss": "vgg19-54", "vgg19_sha256": sha256_file(path)[:12]}
    if not verified:
        facts["vgg19_verified"] = False
    return load_state_dict(path), facts
