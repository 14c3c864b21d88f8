"""How the `sr` suite upscales a test set and scores it.

Every HR test image is degraded to its ×4 LR input with
``gbench.imresize(hr, 1/4)`` (MATLAB bicubic, as the benchmark sets' LR
images were made), upscaled by a method, and the (SR, HR) pairs are scored by
the registered pair metrics — PSNR-Y and SSIM-Y (:mod:`gbench.metrics.sr`),
the high-frequency energy ratio (:mod:`gbench.metrics.sharpness`) — and by
LPIPS (AlexNet, Zhang et al. 2018; registered here, since its scoring needs a
network loaded through gbench's weights resolver). The suite also measures
model size and inference time.

Grayscale test images (C = 1; Set14 and BSD100 have some) stay grayscale
from LR to score: bicubic upscales the one channel; an SR network trained on
RGB gets the LR replicated to 3 channels and its output's first channel is
kept (R = G = B at the input, so the three outputs differ only by the
network's colour noise; one fixed channel is the simplest rule to state and
reproduce); PSNR/SSIM/HF then score the gray levels as they are. Only LPIPS,
whose network takes RGB, sees the gray images replicated to 3 channels.
"""

from __future__ import annotations

import statistics
import time
from types import SimpleNamespace
from typing import Callable

import torch

from gbench.images import float_to_uint8, to_rgb, uint8_to_float
from gbench.metrics.spec import METRICS, MetricSpec, Score, register_metric
from gbench.metrics.sr import score_pairs
from gbench.transforms.resize import imresize

SCALE = 4
GRAY_CHANNEL = 0          # the channel of an RGB network's output kept for a grayscale image (see above)
PAIR_METRICS = ("psnr", "ssim", "hf_ratio")  # registered with a compute over (SR, HR) pairs
LPIPS_NET = "alex"        # the LPIPS paper's default backbone
LPIPS_PROTOCOL = {"crop_border": SCALE, "lpips_net": LPIPS_NET, "lpips_version": "0.1"}

register_metric(MetricSpec(
    "lpips", "LPIPS", False, "learned perceptual distance (Zhang et al. 2018), AlexNet v0.1", decimals=4,
    consumes="pairs", protocol=LPIPS_PROTOCOL, spread="std over the test images"))

Upscaler = Callable[[torch.Tensor], torch.Tensor]  # uint8 LR (1, C, h, w) → uint8 SR (1, C, 4h, 4w), on the CPU


def bicubic_upscaler(lr: torch.Tensor) -> torch.Tensor:
    """The baseline: ``gbench.imresize(lr, 4)`` (MATLAB bicubic), any number of channels."""
    return imresize(lr, SCALE, exact=True)


def network_upscaler(model, device: torch.device) -> Upscaler:
    """An SR network (``model.upscale``: float [-1, 1] LR → SR) as an :data:`Upscaler`.

    A grayscale LR image given to a network trained on RGB is replicated to 3
    channels and the output's channel ``GRAY_CHANNEL`` is kept.
    """
    channels = model.image_shape[0]

    def upscale(lr: torch.Tensor) -> torch.Tensor:
        gray = lr.shape[1] == 1 and channels == 3
        x = uint8_to_float(to_rgb(lr) if gray else lr).to(device)
        sr = float_to_uint8(model.upscale(x)).cpu()
        return sr[:, GRAY_CHANNEL:GRAY_CHANNEL + 1].contiguous() if gray else sr

    return upscale


def grayscale_note(hrs: list[torch.Tensor], network: bool) -> str | None:
    """What a set's records say about its grayscale images (``extra.grayscale``), None if it has none."""
    gray = sum(hr.shape[1] == 1 for hr in hrs)
    if not gray:
        return None
    how = (f"LR replicated to RGB for the network, output channel {GRAY_CHANNEL} kept" if network
           else "upscaled as one channel")
    return f"{gray} of {len(hrs)} images grayscale: {how}; PSNR/SSIM/HF on their gray levels, LPIPS on gray RGB"


def count_parameters(module: torch.nn.Module) -> int:
    """Number of scalar parameters (the model size SR tables report)."""
    return sum(p.numel() for p in module.parameters())


def load_lpips(ctx):
    """(LoadedLPIPS, "") when the LPIPS backbone resolves, else (None, the reason for the records)."""
    from gbench.features.lpips_net import try_load_lpips

    lpips, why = try_load_lpips(LPIPS_NET, ctx.device, weights_path=ctx.weights, allow_download=ctx.download,
                                allow_unverified=ctx.allow_unverified)
    return lpips, (f"unavailable: {why}" if lpips is None else "")


def lpips_score(lpips, pairs, device: torch.device) -> Score:
    """LPIPS over (SR, HR) pairs of uint8 (N, C, H, W): mean ± std over images, ``SCALE`` border
    pixels cropped; grayscale is replicated to RGB, the network's input."""
    c = SCALE

    return score_pairs(lambda sr, hr: lpips.distance(sr, hr, device, crop=c), pairs, LPIPS_PROTOCOL)


def upscale_set(hrs: list[torch.Tensor], upscale: Upscaler) -> tuple[list[torch.Tensor], list[float]]:
    """(SR images, seconds per image) for the ×4 LR images of ``hrs`` (uint8 (1, C, H, W) each)."""
    lrs = [imresize(hr, 1 / SCALE, exact=True) for hr in hrs]
    upscale(lrs[0])  # warm-up: the first call pays for allocations, not the method
    srs, times = [], []
    for lr in lrs:
        t = time.perf_counter()
        srs.append(upscale(lr))
        times.append(time.perf_counter() - t)
    return srs, times


def score_set(ctx, model: str, dataset: str, hrs: list[torch.Tensor], upscale: Upscaler, params: int,
              lpips, lpips_reason: str, extra: dict, artifacts: dict) -> tuple[list, list[torch.Tensor]]:
    """Upscale every LR image of a set and score it; returns (records, SR images).

    Records, in order: the pair metrics, LPIPS (or why it is unavailable),
    ``params`` and ``ms_per_image``; each with the set's size as ``n_real``,
    the whole set's wall time, ``extra`` and ``artifacts``.
    """
    t0 = time.perf_counter()
    srs, times = upscale_set(hrs, upscale)
    pairs = list(zip(srs, hrs))
    scores = {name: METRICS.get(name).compute(pairs) for name in PAIR_METRICS}
    if lpips is not None:
        scores["lpips"] = lpips_score(lpips, pairs, ctx.device)
    common = dict(n_real=len(hrs), wall_seconds=time.perf_counter() - t0, extra=extra, artifacts=artifacts)
    records = [ctx.record(model, dataset, name, s.value, std=s.std, protocol=dict(s.protocol),
                          extractor=_lpips_extractor(lpips) if name == "lpips" else None, **common)
               for name, s in scores.items()]
    if lpips is None:
        records.append(ctx.record(model, dataset, "lpips", None, reason=lpips_reason, **common))
    records.append(ctx.record(model, dataset, "params", params, **common))
    records.append(ctx.record(model, dataset, "ms_per_image", 1000 * statistics.fmean(times), **common))
    return records, srs


def _lpips_extractor(lpips):
    """What an LPIPS record says about its network (the record's extractor fields)."""
    return SimpleNamespace(name=f"lpips-{lpips.net}-v0.1", weights_sha256=lpips.weights_sha256,
                           verified=lpips.verified)
