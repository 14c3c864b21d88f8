"""Hole-aware image-completion metrics: PSNR, SSIM and L1 inside and outside the hole.

Inpainting papers (Pathak et al. 2016, Iizuka et al. 2017, Demir & Ünal 2018)
report L1, PSNR and SSIM of the completed image against the real one; what is
interesting is how well the *hole* is filled, so each metric is given for the
hole (mask True) and for the valid region (mask False) separately:

* ``masked_l1``: mean absolute difference over the region's pixels and
  channels, in [0, 1] units (uint8 levels / 255);
* ``masked_psnr``: 10 · log10(255² / MSE) with the MSE over the region's
  pixels and channels (:data:`gbench.metrics.sr.PEAK`); ``+inf`` where the
  region is identical (the project's convention, :func:`gbench.metrics.sr.psnr`);
* ``masked_ssim``: the SSIM map of :func:`gbench.metrics.sr.ssim_map` (Wang et
  al. 2004; 11×11 Gaussian window, σ = 1.5, 'valid' positions) averaged over
  the windows whose centre pixel lies in the region, per channel then over the
  channels. Hole pixels within 5 pixels of the image border centre no full
  window and are left out (as :func:`gbench.metrics.sr.ssim` leaves out the
  whole border); windows centred in the valid region near the hole see the
  seam, so SSIM-valid < 1 even when the known pixels are pasted back.

All three take uint8 images (N, C, H, W), C in {1, 3}, and a bool mask
(N, 1, H, W) (True = hole) and return float64 (N,): one value per image, on
RGB (no luma conversion, no border crop — the inpainting convention).

They are registered for the records (``l1_hole``, ``l1_valid``,
``psnr_hole``, ``psnr_valid``, ``ssim_hole``, ``ssim_valid``) as a suite's
own measurement (``consumes="run"``: they need the masks, which the
``pairs`` contract does not carry); :func:`score_completions` computes all
six as mean ± std over images.
"""

from __future__ import annotations

import math
import statistics

import torch

from gbench.errors import GbenchError
from gbench.images import check_images
from gbench.metrics.spec import MetricSpec, Score, register_metric
from gbench.metrics.sr import PEAK, SSIM_WINDOW, ssim_map

REGIONS = ("hole", "valid")
_BLOCK = 2 ** 20  # float64 pixel values per block of SSIM moment maps
INPAINT_PROTOCOL = {"channels": "rgb", "crop_border": 0}
SSIM_PROTOCOL = {**INPAINT_PROTOCOL, "ssim_window": SSIM_WINDOW, "ssim_region": "window centre"}


def _prepare(fn: str, a, b, mask, region: str) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Validate (completed, real, mask, region) → float64 a, b (N, C, H, W) and the region's bool (N, 1, H, W)."""
    if region not in REGIONS:
        raise GbenchError(f"{fn}: unknown region {region!r}: choose 'hole' (mask True) or 'valid' (mask False)")
    ta, tb = check_images(a, name=f"{fn} input a"), check_images(b, name=f"{fn} input b")
    if ta.shape != tb.shape:
        raise GbenchError(f"{fn}: a has shape {tuple(ta.shape)} but b has {tuple(tb.shape)}: compare each "
                          "completed image with its real image")
    m = torch.as_tensor(mask)
    if m.dtype != torch.bool or m.shape != (ta.shape[0], 1, *ta.shape[2:]):
        raise GbenchError(f"{fn}: the mask must be bool (N, 1, H, W) = {(ta.shape[0], 1, *ta.shape[2:])} with "
                          f"True = hole, got {m.dtype} {tuple(m.shape)}")
    m = m.to(ta.device)
    keep = m if region == "hole" else ~m
    return ta.to(torch.float64), tb.to(torch.float64), keep


def _region_mean(values: torch.Tensor, keep: torch.Tensor, fn: str, region: str) -> torch.Tensor:
    """Mean of values (N, C, h, w) over the positions where keep (N, 1, h, w) is True, per image → (N,)."""
    count = keep.flatten(1).sum(dim=1) * values.shape[1]
    if bool((count == 0).any()):
        i = int(torch.nonzero(count == 0)[0])
        raise GbenchError(f"{fn}: image {i} has an empty {region} region"
                          + (" (for SSIM: no hole pixel at least 5 pixels from the border)" if fn == "masked_ssim"
                             else "") + ": check the mask (True = hole)")
    return (values * keep).flatten(1).sum(dim=1) / count


def masked_l1(a, b, mask, region: str = "hole") -> torch.Tensor:
    """Mean absolute error per image inside (``"hole"``) or outside (``"valid"``) the hole, in [0, 1] units.

    L1 = Σ_region |a − b| / (255 · C · |region|) — the L1 that Pathak et al.
    2016 (Table 1) and Demir & Ünal 2018 report, on 0..255 levels scaled to [0, 1].

    Args:
        a, b: uint8 (N, C, H, W), completed and real; symmetric.
        mask: bool (N, 1, H, W), True = hole.
        region: ``"hole"`` or ``"valid"``.

    Returns:
        float64 (N,) in [0, 1]; 0 where the region is identical.
    """
    x, y, keep = _prepare("masked_l1", a, b, mask, region)
    return _region_mean((x - y).abs() / PEAK, keep, "masked_l1", region)


def masked_psnr(a, b, mask, region: str = "hole") -> torch.Tensor:
    """PSNR per image over the region: 10 · log10(255² / MSE_region), in dB, ``+inf`` for an identical region.

    Args and returns as :func:`masked_l1` (float64 (N,) in dB).
    """
    x, y, keep = _prepare("masked_psnr", a, b, mask, region)
    mse = _region_mean((x - y).square(), keep, "masked_psnr", region)
    return 10.0 * torch.log10(PEAK ** 2 / mse)


def masked_ssim(a, b, mask, region: str = "hole") -> torch.Tensor:
    """SSIM per image averaged over the windows centred in the region (the module docstring says which).

    The map is :func:`gbench.metrics.sr.ssim_map` (Wang et al. 2004, Eq. 13), per
    channel; the mask is cropped by the window's half-width (5 pixels each side)
    to the map's positions.

    Args and returns as :func:`masked_l1` (float64 (N,) in [-1, 1]; 1 for an identical image).
    Images must be at least 11×11.
    """
    x, y, keep = _prepare("masked_ssim", a, b, mask, region)
    return _region_mean(_ssim_map(x, y), _centres(keep), "masked_ssim", region)


def _ssim_map(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """The SSIM map of float64 (N, C, H, W) images, computed in blocks of images → (N, C, H − 10, W − 10)."""
    h, w = x.shape[-2:]
    if h < SSIM_WINDOW or w < SSIM_WINDOW:
        raise GbenchError(f"masked_ssim: images are {h}×{w}, need at least {SSIM_WINDOW}×{SSIM_WINDOW} (the window)")
    # blocks of images keep the five float64 moment maps small (64 RGB 64×64 images: ~30 MB)
    step = max(1, _BLOCK // (x.shape[1] * h * w))
    return torch.cat([ssim_map(x[i:i + step], y[i:i + step]) for i in range(0, x.shape[0], step)])


def _centres(keep: torch.Tensor) -> torch.Tensor:
    """A region (N, 1, H, W) → the SSIM map positions whose window centre lies in it (N, 1, H − 10, W − 10)."""
    r = SSIM_WINDOW // 2
    return keep[:, :, r:keep.shape[2] - r, r:keep.shape[3] - r]


PER_IMAGE = {"l1": masked_l1, "psnr": masked_psnr, "ssim": masked_ssim}
METRIC_NAMES = tuple(f"{m}_{region}" for m in PER_IMAGE for region in REGIONS)


def score_completions(completed, real, masks) -> dict[str, Score]:
    """Every registered hole metric of a batch of completions: {``l1_hole`` …: Score(mean, std over images)}.

    Args:
        completed, real: uint8 (N, C, H, W).
        masks: bool (N, 1, H, W), True = hole.

    A mean over images that contains ``+inf`` (PSNR of a region left exactly as
    it was: known pixels pasted back) is ``+inf`` with no std.
    """
    values = {f"{m}_{region}": fn(completed, real, masks, region) for m, fn in PER_IMAGE.items() if m != "ssim"
              for region in REGIONS}
    x, y, hole = _prepare("masked_ssim", completed, real, masks, "hole")
    maps = _ssim_map(x, y)  # one map serves both regions
    for region, keep in zip(REGIONS, (hole, ~hole)):
        values[f"ssim_{region}"] = _region_mean(maps, _centres(keep), "masked_ssim", region)
    out = {}
    for name in METRIC_NAMES:
        v = values[name].tolist()
        # statistics.stdev fails on inf; a spread of values that include +inf is not defined
        spread = len(v) > 1 and all(math.isfinite(e) for e in v)
        protocol = SSIM_PROTOCOL if name.startswith("ssim") else INPAINT_PROTOCOL
        out[name] = Score(statistics.fmean(v), statistics.stdev(v) if spread else None, dict(protocol))
    return out


_WHERE = {"hole": "inside the hole", "valid": "outside the hole (known pixels)"}
register_metric(*(spec for region in REGIONS for spec in (
    MetricSpec(f"psnr_{region}", f"PSNR {region} (dB)", True, f"PSNR on RGB {_WHERE[region]}, mean over images",
               decimals=2, protocol=INPAINT_PROTOCOL, spread="std over the test images"),
    MetricSpec(f"ssim_{region}", f"SSIM {region}", True,
               f"SSIM map (Wang et al. 2004) averaged over windows centred {_WHERE[region]}", decimals=4,
               protocol=SSIM_PROTOCOL, spread="std over the test images"),
    MetricSpec(f"l1_{region}", f"L1 {region}", False, f"mean absolute error in [0, 1] units {_WHERE[region]}",
               decimals=4, protocol=INPAINT_PROTOCOL, spread="std over the test images"),
)))


__all__ = ["METRIC_NAMES", "REGIONS", "INPAINT_PROTOCOL", "SSIM_PROTOCOL", "masked_l1", "masked_psnr", "masked_ssim",
           "score_completions"]
