"""One trainer for every zoo model.

A model declares its optimization phases (:class:`zoo.train.Phase`) and a loss
per phase; the trainer runs Goodfellow et al. 2014, Algorithm 1, generalized:

    for step in range(steps):                       # one training iteration
        for phase in model.phases(...) active at step:   # e.g. "d" then "g"
            for _ in range(phase.updates):          # e.g. k discriminator updates
                batch = next minibatch (seeded order)
                loss = model.loss(phase.name, batch, noise_generator)
                Adam step on the phase's parameters only

A GAN has phases "d" (k updates) and "g"; a VAE one phase; IcGAN "d", "g"
for its first iterations, then "enc_z", "enc_y". A phase may run only every
k-th iteration and step another phase's optimizer (lazy R1 on D), and scale
its learning rate by a schedule of the step; a model with ``on_step(step)``
is told the iteration before its phases run (ProGAN's growth and fade-in);
the EMA of G may start late and ramp up (``TrainConfig.ema_start``,
``ema_rampup``). Every schedule is a function of the step alone, so resuming
follows it exactly. A phase may skip an update when its loss says so
(``Phase.skip_if``: 3D-GAN's adaptive discriminator update); the batch and the
noise are drawn all the same, so skipping changes no later draw. Losses, sample
grids and checkpoints are written to ``run_dir``:

    run_dir/checkpoint.safetensors   model, EMA, optimizers, RNG states, history
    run_dir/log.jsonl                one JSON line per logged iteration
    run_dir/samples_<step>.png       grids of samples from fixed noise

Data: a float tensor in [-1, 1], a uint8 tensor, or a lazy uint8 source that
decodes on access (e.g. gbench's ``LazyImages``); only each minibatch is read
and converted to float, on the device (:class:`zoo.train.sampler.Minibatches`),
so the data set never needs to fit in memory as float. Images are (N, C, H, W);
a voxel model (``image_shape`` (C, D, H, W)) takes volumes (N, C, D, H, W), and
its sample grids show ``model.preview(samples)``, a 2-D rendering.

Determinism and resume: the model is re-initialized from ``seed`` when a run
starts (:func:`zoo.train.init_weights`), the minibatch order is a function of
(seed, batch counter), the noise comes from a ``torch.Generator`` seeded with
``seed``, and dropout uses the global RNG, seeded from ``seed`` inside
``torch.random.fork_rng`` (the caller's RNG is left as it was). All three
states are in the checkpoint, so on CPU a killed run that is started again
reaches bit-identical weights. A uint8 data set and its float conversion
``x / 127.5 - 1`` train to bit-identical weights and share checkpoints.

Data-parallel (:mod:`zoo.train.distributed`): when the caller (torchrun, a
test) has initialized torch.distributed, W processes train one model.
``batch_size`` stays the global batch B (a multiple of W); rank r takes rows
[r·B/W, (r+1)·B/W) of each one-process batch and of each noise draw, batch
norm takes its statistics over all ranks (:mod:`zoo.layers.sync_bn`, for the
duration of the call), each phase's gradients are averaged over ranks
after its backward, and buffers that track batch statistics (StyleGAN's w̄)
after each update. So with models whose losses are batch means of per-image
terms, W processes reach the one-process weights up to float32 reduction
order. Rank 0 alone writes checkpoints, the log and grids; every rank resumes
from the same checkpoint, which holds nothing that depends on W (a run may
resume on another world size). Dropout draws from the global RNG, seeded per
rank from (seed, rank, resume step): a model with dropout (the MLP GAN) is
not bit-identical across world sizes. Losses that are not batch means of per-image
terms see the rank's shard only: minibatch standard deviation (ProGAN,
StyleGAN: per shard, as in the authors' multi-GPU code), β-TCVAE's
minibatch-weighted TC estimate, captions mismatched within the batch
(GAN-INT-CLS, StackGAN), the inpainting loss weighted over the batch's holes,
3D-GAN's gate (a skip when any rank's shard is too accurate). ProGAN's
WGAN-GP interpolation weights (``zoo.losses.gradient_penalty``) are drawn
unsharded: every rank draws the same b = B/W of them.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from tqdm.auto import tqdm

from zoo.layers.conditioning import check_condition
from zoo.layers.sync_bn import convert_sync_batchnorm, revert_sync_batchnorm
from zoo.train.checkpoint import CheckpointMismatch, load_state, save_state
from zoo.train.config import Phase, TrainConfig
from zoo.train.distributed import (
    RankSlice, average_buffers, average_gradients, batch_shard, broadcast_module, mean_over_ranks, rank_and_world,
)
from zoo.train.ema import EMA
from zoo.train.init import init_weights
from zoo.train.sampler import BatchSampler, Minibatches, is_uint8_source, uint8_to_model

CHECKPOINT = "checkpoint.safetensors"
LOG = "log.jsonl"
# TrainConfig fields added after checkpoints existed: left out of the fingerprint at their default,
# so a run started before they existed still resumes (and still refuses a changed value).
_LATER_TRAIN_FIELDS = {"ema_start": 0, "ema_rampup": 0.0}
_DROPOUT_STREAM = 1  # the global RNG's seed for a run is derived from (seed, this): not the init's stream


def train(model: nn.Module, config: Any, images: Any, labels: torch.Tensor | None,
          run_dir: Path | str, device: torch.device | str, seed: int, progress: bool = True) -> list[dict]:
    """Train ``model`` (built from ``config``) on ``images``, resuming from ``run_dir``.

    Args:
        model: a zoo model (``phases``, ``loss``, ``sample``, ``ema_module``).
        config: its frozen config; ``config.train`` is a :class:`TrainConfig`.
        images: (N, C, H, W) — (N, C, D, H, W) volumes for a model whose
            ``image_shape`` has four entries (a voxel model) — on any device, one of: a uint8 tensor (0..255);
            a lazy uint8 source (anything with ``len``, ``shape``,
            ``dtype == torch.uint8``, ``ndim == 4`` and ``__getitem__``
            taking an int64 1-D tensor, returning uint8 tensors — it is read
            one minibatch at a time, one batch ahead in a background thread);
            or a float tensor in [-1, 1]. Minibatches are moved to ``device``
            one at a time and uint8 is converted there to ``x / 127.5 - 1``.
        labels: what a conditional model is conditioned on (its ``condition``): int64 (N,)
            class indices, int64 (N, L) caption tokens or uint8/int64 (N, H, W) label maps.
        run_dir: where checkpoints, logs and grids go (created if missing).
        device: where to train; CUDA enables ``config.train.amp``.
        seed: ≥ 0; the result depends only on (config, data, seed, device type).
        progress: show a tqdm bar with the latest losses.

    Returns:
        The history: one dict per logged iteration, ``{"step": s,
        "<phase>/loss": float, "<phase>/<name>": float, ...}``. A run that
        already finished in ``run_dir`` returns its history at once (after
        loading its weights into ``model``). After training, ``model`` is on
        ``device`` and, with EMA on, holds the averaged generator weights.

    Raises:
        ValueError: bad images/labels, a checkpoint in ``run_dir`` from a
            different config, seed or dataset, or (data-parallel) a batch size
            that the world size does not divide.
        FloatingPointError: a loss became NaN or infinite.
    """
    tc: TrainConfig = config.train
    device = torch.device(device)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    _check_data(model, images, labels)
    if seed < 0:
        raise ValueError(f"seed must be ≥ 0, got {seed}")
    rank, world = rank_and_world()
    sampler = BatchSampler(len(images), tc.batch_size, seed)
    shard = RankSlice(sampler, tc.batch_size, rank, world) if world > 1 else sampler

    model.to(device)
    phases: list[Phase] = model.phases(tc)
    owners = {p.name: p for p in phases if p.optimizer is None}
    for p in phases:
        if p.optimizer_name not in owners:
            raise ValueError(f"phase {p.name!r} shares the optimizer of {p.optimizer!r}, which is not a phase "
                             f"with its own optimizer ({', '.join(owners)})")
    optimizers = {n: torch.optim.Adam(p.parameters(), lr=p.lr, betas=p.betas) for n, p in owners.items()}
    amp_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}.get(tc.amp) if device.type == "cuda" else None
    scalers = {n: torch.amp.GradScaler("cuda", enabled=amp_dtype == torch.float16) for n in owners}
    if tc.ema_decay > 0 and model.ema_module is None:
        raise ValueError(f"{type(model).__name__} has no generator to average: set ema_decay=0")
    noise = torch.Generator().manual_seed(seed)  # the same on every rank: batch_shard slices its draws
    fingerprint = _fingerprint(config, seed, images, labels)
    ckpt_path, log_path = run_dir / CHECKPOINT, run_dir / LOG

    cuda_devices = [device] if device.type == "cuda" else []
    # Batch norm over the global batch, for this call only (one process: untouched, bit-identical).
    synced = convert_sync_batchnorm(model) if world > 1 else {}
    with torch.random.fork_rng(devices=cuda_devices), Minibatches(images, labels, shard, device) as batches, \
            contextlib.ExitStack() as undo:
        undo.callback(revert_sync_batchnorm, synced)
        state = load_state(ckpt_path) if ckpt_path.exists() else None
        if state is not None and not (isinstance(state, dict) and {"fingerprint", "step", "model"} <= set(state)):
            raise CheckpointMismatch(f"{ckpt_path} holds no training state: delete it to start the run over")
        if state is None:  # a fresh run: weights from the seed, whatever the model was built with
            init_weights(model, seed)
            torch.manual_seed(int(np.random.SeedSequence([seed, _DROPOUT_STREAM]).generate_state(1)[0]))
            step, batch_counter, history, skipped = 0, 0, [], {}
        else:
            if state["fingerprint"] != fingerprint:
                raise CheckpointMismatch(f"{ckpt_path} was written by a different config, seed or dataset: "
                                 "use a new run directory (or delete this one)")
            if state["step"] > tc.steps:
                raise CheckpointMismatch(f"{ckpt_path} has {state['step']} steps, more than config.train.steps = "
                                 f"{tc.steps}: use a new run directory")
            model.load_state_dict(state["model"])
            for name, opt in optimizers.items():
                opt.load_state_dict(state["optimizers"][name])
                scalers[name].load_state_dict(state["scalers"][name])
            noise.set_state(state["rng"]["noise"])
            torch.set_rng_state(state["rng"]["torch"])
            if cuda_devices and "cuda" in state["rng"]:
                torch.cuda.set_rng_state(state["rng"]["cuda"], device)
            step, batch_counter, history = state["step"], state["batch_counter"], state["history"]
            skipped = dict(state.get("skipped", {}))  # updates skipped by Phase.skip_if (absent in older checkpoints)
        if world > 1:
            broadcast_module(model)  # identical starting weights whatever each rank's init or file read did
            # Dropout (the global RNG) draws per rank: decorrelated across ranks, a function of (seed, rank,
            # resume step). So a model with dropout is not bit-identical across world sizes.
            torch.manual_seed(int(np.random.SeedSequence([seed, _DROPOUT_STREAM, rank, step]).generate_state(1)[0]))
        if device.type == "cpu" and getattr(model, "channels_last_on_cpu", False):
            # NHWC for this run (GenerativeModel.channels_last_on_cpu), after the weights are set: an
            # initializer fills memory in order, so initializing in NHWC would give other starting weights.
            model.to(memory_format=torch.channels_last)
            undo.callback(model.to, memory_format=torch.contiguous_format)
        ema = EMA(model.ema_module, tc.ema_decay) if tc.ema_decay > 0 else None
        if ema is not None and state is not None:
            ema.load_state_dict(state["ema"])
        if rank == 0:
            _write_log(log_path, history)  # on resume, drops the lines logged after the checkpoint

        autocast = (lambda: torch.autocast("cuda", dtype=amp_dtype)) if amp_dtype else contextlib.nullcontext
        trainable_params = {p.name: p.parameters() for p in phases}
        trainable = {name: {id(q) for q in params} for name, params in trainable_params.items()}
        model.train()
        bar = tqdm(total=tc.steps, initial=step, disable=not progress or rank > 0, desc=type(model).__name__,
                   leave=False)
        t0 = time.perf_counter()
        while step < tc.steps:
            latest: dict[str, torch.Tensor] = {}
            if hasattr(model, "on_step"):  # a schedule that is a function of the step (ProGAN's growth)
                model.on_step(step)
            for phase in phases:
                if not phase.active(step):
                    continue
                for q in model.parameters():  # no grads for the other networks: faster, and no mixing
                    q.requires_grad_(id(q) in trainable[phase.name])
                opt, scaler = optimizers[phase.optimizer_name], scalers[phase.optimizer_name]
                if phase.lr_schedule is not None:
                    owner = owners[phase.optimizer_name]
                    for group in opt.param_groups:
                        group["lr"] = owner.lr * phase.lr_schedule(step)
                for _ in range(phase.updates):
                    x, y = batches(batch_counter)
                    batch_counter += 1
                    opt.zero_grad(set_to_none=True)
                    with autocast(), batch_shard(rank, world):
                        loss, logs = model.loss(phase.name, (x, y), noise)
                    if phase.skip_if is not None and _skips(phase, logs, world):
                        # no backward, no optimizer step: weights and Adam state unchanged
                        skipped[phase.name] = skipped.get(phase.name, 0) + 1
                    else:
                        scaler.scale(loss).backward()
                        if world > 1:  # the mean over ranks of the shards' gradients = the global batch's gradient
                            average_gradients(trainable_params[phase.name], world)
                        scaler.step(opt)
                        scaler.update()
                    if world > 1:  # after the backward: it may still read the buffers the forward used
                        average_buffers(model, world)
                latest[f"{phase.name}/loss"] = loss.detach()
                latest.update({f"{phase.name}/{k}": torch.as_tensor(v).detach() for k, v in logs.items()})
                if phase.skip_if is not None:
                    latest[f"{phase.name}/skipped"] = torch.tensor(float(skipped.get(phase.name, 0)))
            for q in model.parameters():
                q.requires_grad_(True)
            if ema is not None:
                ema.update(tc.ema_decay_at(step))
            step += 1
            bar.update(1)

            if step % tc.log_every == 0 or step == tc.steps:
                if world > 1:  # here only, not per update: one collective per logged step
                    latest = mean_over_ranks(latest)
                entry = {"step": step, **{k: float(v) for k, v in latest.items()}}
                bad = [k for k, v in entry.items() if not math.isfinite(v)]
                if bad:
                    raise FloatingPointError(f"training diverged at step {step}: {', '.join(bad)} not finite; "
                                             "lower the learning rate or check the data")
                history.append(entry)
                if rank == 0:
                    with open(log_path, "a") as f:
                        f.write(json.dumps(entry) + "\n")
                bar.set_postfix({k: f"{v:.3g}" for k, v in entry.items() if k.endswith("loss")})
            if rank == 0 and tc.sample_every and (step % tc.sample_every == 0 or step == tc.steps):
                with ema.applied() if ema is not None else contextlib.nullcontext():
                    _save_grid(model, run_dir / f"samples_{step:06d}.png", tc.grid_size, seed, labels)
            if (tc.checkpoint_every and step % tc.checkpoint_every == 0) or step == tc.steps:
                state = {
                    "fingerprint": fingerprint, "step": step, "batch_counter": batch_counter, "history": history,
                    "skipped": skipped,
                    "model": model.state_dict(), "ema": ema.state_dict() if ema is not None else {},
                    "optimizers": {k: o.state_dict() for k, o in optimizers.items()},
                    "scalers": {k: s.state_dict() for k, s in scalers.items()},
                    "rng": {"noise": noise.get_state(), "torch": torch.get_rng_state(),
                            **({"cuda": torch.cuda.get_rng_state(device)} if cuda_devices else {})},
                }
                if rank == 0:
                    save_state(ckpt_path, state)
                if world > 1:
                    dist.barrier()  # no rank goes on (or returns) before the checkpoint is complete
        bar.close()

    if ema is not None:
        ema.copy_to_module()
    if progress and history and rank == 0:
        print(f"{type(model).__name__}: {tc.steps} steps, {time.perf_counter() - t0:.1f} s this session, "
              + ", ".join(f"{k} {v:.3g}" for k, v in history[-1].items() if k != "step"))
    return history


def _check_data(model: nn.Module, images: Any, labels: torch.Tensor | None) -> None:
    """Shapes, dtypes, ranges. A uint8 source is always in range, so only its
    dtype and shape are checked: a lazy one is not read here."""
    ndim = len(model.image_shape) + 1  # 4: images (N, C, H, W); 5: volumes (N, C, D, H, W) of a voxel model
    is_float = isinstance(images, torch.Tensor) and images.is_floating_point() and images.ndim == ndim
    if not (is_float or is_uint8_source(images, ndim)):
        got = f"{type(images).__name__} {getattr(images, 'dtype', '')} {tuple(getattr(images, 'shape', ()))}"
        if ndim == 4:
            raise ValueError(f"images must be uint8 (N, C, H, W) (a tensor or a lazy source) or a float tensor in "
                             f"[-1, 1], got {got}")
        raise ValueError(f"{type(model).__name__} is a voxel model built for volumes of shape "
                         f"{tuple(model.image_shape)}: the data must be uint8 (N, C, D, H, W) (a tensor or a lazy "
                         f"source; occupancy 0 or 255) or a float tensor in [-1, 1], got {got}")
    if tuple(images.shape[1:]) != tuple(model.image_shape):
        what = "images" if ndim == 4 else "volumes"
        raise ValueError(f"{what} have shape {tuple(images.shape[1:])} per {what[:-1]}, the model was built for "
                         f"{tuple(model.image_shape)}: build the config with image_shape={tuple(images.shape[1:])}")
    if is_float:
        lo, hi = float(images.min()), float(images.max())
        if not (math.isfinite(lo) and math.isfinite(hi)) or lo < -1.0 - 1e-4 or hi > 1.0 + 1e-4:
            raise ValueError(f"images must be finite and in [-1, 1], got values in [{lo:.4g}, {hi:.4g}]: "
                             "pass uint8 images (0..255) or convert them with x / 127.5 - 1")
    if model.conditional:
        kind = getattr(model, "condition", "class")
        if labels is None:
            raise ValueError(f"{type(model).__name__} is {kind}-conditional: pass its conditions as labels")
        check_condition(kind, labels, model.num_classes, images.shape[0], model.image_shape[-1])
    elif labels is not None and (labels.dtype != torch.int64 or labels.shape != (images.shape[0],)):
        raise ValueError(f"labels must be int64 of shape ({images.shape[0]},), got {labels.dtype} {tuple(labels.shape)}")


def _skips(phase: Phase, logs: dict, world: int) -> bool:
    """Whether the loss's logs ask to skip this update of ``phase`` (``Phase.skip_if``).
    Data-parallel: the value's mean over ranks decides, so every rank decides alike
    (for a bool: skip when any rank's shard asks to)."""
    if phase.skip_if not in logs:
        raise ValueError(f"phase {phase.name!r} skips updates on the logged value {phase.skip_if!r}, but the "
                         f"model's loss logs only {sorted(logs)}")
    value = torch.as_tensor(logs[phase.skip_if]).detach()  # one value: a bool, or a 0-d tensor
    if world > 1:
        value = mean_over_ranks({phase.skip_if: value})[phase.skip_if]
    return bool(value)


def _fingerprint(config: Any, seed: int, images: Any, labels: torch.Tensor | None) -> dict:
    """What a checkpoint must match to be resumed: everything but the step count,
    and a digest of a strided subset of the data (64 to 127 images, as float32
    in [-1, 1]: a uint8 set and its float conversion x / 127.5 - 1 match)."""
    n = len(images)
    every = max(1, n // 64)
    subset = images[::every].detach().cpu()
    if subset.dtype == torch.uint8:
        subset = uint8_to_model(subset)
    digest = hashlib.sha256(subset.float().numpy().tobytes())
    if labels is not None:
        digest.update(labels.detach().cpu().numpy().tobytes())
    described = asdict(config)
    described["train"]["steps"] = None  # a finished run may be extended with more steps
    for name, default in _LATER_TRAIN_FIELDS.items():  # older checkpoints do not know these fields
        if described["train"].get(name) == default:
            del described["train"][name]
    return {"config": f"{type(config).__name__}{described!r}", "seed": seed,
            "num_images": n, "data_sha256": digest.hexdigest()}


def _write_log(path: Path, history: list[dict]) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text("".join(json.dumps(e) + "\n" for e in history))
    os.replace(tmp, path)


def _save_grid(model: nn.Module, path: Path, n: int, seed: int, conditions: Any = None) -> None:
    """Samples from fixed noise (a fresh generator seeded with ``seed``), saved as
    a PNG grid; draws nothing from the training RNGs. Class-conditional models
    cycle through the classes; caption and layout models take the first ``n``
    training conditions. Volumes (N, C, D, H, W) are drawn as ``model.preview(x)``."""
    from torchvision.utils import save_image

    labels = None
    if model.conditional:
        if getattr(model, "condition", "class") == "class":
            labels = torch.arange(n) % model.num_classes
        else:
            n = min(n, len(conditions))
            labels = conditions[:n]
    x = model.sample(n, generator=torch.Generator().manual_seed(seed), labels=labels)
    if x.ndim == 5:  # volumes: the model's own 2-D rendering, (N, C, H, W) in [-1, 1]
        preview = getattr(model, "preview", None)
        if preview is None:
            raise ValueError(f"{type(model).__name__} samples volumes but has no preview(x) to draw them in a "
                             "grid: set sample_every=0")
        x = preview(x)
    save_image(x.float().cpu() * 0.5 + 0.5, str(path), nrow=int(math.ceil(math.sqrt(n))))
