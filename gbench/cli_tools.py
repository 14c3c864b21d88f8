"""`gbench stats` and `gbench sr`: a reference set's statistics, and your own SR outputs scored.

``gbench stats PATH OUT.npz`` is pytorch-fid's ``--save-stats``: the feature
mean and covariance of one image set (a folder or a ``.npz`` of uint8 images),
written with pytorch-fid's ``mu`` / ``sigma`` keys (+ gbench's mergeable sums).
The features come from the content-keyed reference cache (:mod:`gbench.cache`).

``gbench sr SR_DIR HR_DIR`` scores a folder of super-resolved images against
their ground truth under the protocol of SR tables (EDSR, RCAN, SwinIR;
BasicSR's and the MATLAB evaluation scripts):

* files are paired by name: an SR file's stem, less ``--suffix`` (BasicSR
  writes ``baby_x4.png``), equals its HR file's stem; every file must have a
  partner;
* each HR image is mod-cropped (its top-left part, H and W cut down to
  multiples of ``--scale``) — the image the LR input was made from — and the
  SR image must have exactly that size;
* PSNR and SSIM (:func:`gbench.psnr`, :func:`gbench.ssim`) on BT.601 luma Y,
  rounded to integer levels as MATLAB's ``rgb2ycbcr`` does (``--y``, the
  default; ``--y-convention float`` is BasicSR's unrounded Y; ``--rgb`` scores
  all channels), after cropping ``--crop`` pixels (default: the scale) from
  every side; a grayscale image is scored on its own levels;
* LPIPS (AlexNet, v0.1) on RGB with the same crop, when its ImageNet backbone
  is on this machine (or ``--download``); otherwise a one-line note names the
  missing file.

The mean over images is the number SR tables report.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

import numpy as np
import torch

from gbench.cli_score import add_extractor_options
from gbench.errors import GbenchError

LPIPS_NET = "alex"  # the LPIPS paper's default backbone, as the sr suite uses


def add_parsers(sub) -> None:
    p = sub.add_parser("stats", help="save an image set's feature statistics (mu, sigma) to OUT.npz",
                       description="Extract the features of PATH (a folder of images or a .npz of uint8 images) "
                                   "and save their mean and covariance to OUT.npz (keys mu, sigma: pytorch-fid "
                                   "reads it; `gbench fid`/`score` take it as a PATH). Features of a reference "
                                   "set are cached by content (see $GBENCH_CACHE).")
    p.add_argument("path", type=Path, metavar="PATH", help="folder of images or .npz of uint8 images")
    p.add_argument("out", type=Path, metavar="OUT.npz", help="file to write")
    add_extractor_options(p)  # unverified weights: the output line says so, and their features are never cached

    p = sub.add_parser("sr", help="PSNR/SSIM (and LPIPS) of your super-resolved images against their HR images",
                       description="Pair SR_DIR's images with HR_DIR's by file name and print per-image and mean "
                                   "PSNR/SSIM (and LPIPS when its weights are here) under the SR tables' "
                                   "protocol: HR mod-cropped to a multiple of --scale, --crop border pixels "
                                   "removed, luma Y as MATLAB's rgb2ycbcr computes it.")
    p.add_argument("sr_dir", type=Path, metavar="SR_DIR", help="folder of super-resolved images")
    p.add_argument("hr_dir", type=Path, metavar="HR_DIR", help="folder of ground-truth HR images (same stems)")
    p.add_argument("--scale", type=int, default=4, help="upscaling factor; HR is mod-cropped to a multiple [4]")
    p.add_argument("--crop", type=int, default=None, metavar="N",
                   help="border pixels removed from every side before scoring [the scale]")
    channel = p.add_mutually_exclusive_group()
    channel.add_argument("--y", dest="y_channel", action="store_true", default=True,
                         help="score BT.601 luma Y of RGB images (SR tables) [default]")
    channel.add_argument("--rgb", dest="y_channel", action="store_false", help="score all RGB channels")
    p.add_argument("--y-convention", default="matlab", choices=("matlab", "float"),
                   help="Y rounded to integer levels as MATLAB (published tables) or unrounded as BasicSR [matlab]")
    p.add_argument("--suffix", default="", metavar="STR",
                   help="strip STR from the end of SR file stems before pairing, e.g. _x4 or _SRGAN")
    p.add_argument("--no-lpips", action="store_true", help="do not compute LPIPS")
    p.add_argument("--device", default="auto", help="device for LPIPS: cpu, cuda, cuda:N or auto [auto]")
    p.add_argument("--weights", type=Path, default=None,
                   help="LPIPS backbone file (alexnet-owt-7be5be79.pth) or a folder holding it")
    p.add_argument("--download", action="store_true", help="allow downloading the LPIPS backbone")
    p.add_argument("--allow-unverified-weights", action="store_true",
                   help="accept an LPIPS backbone file whose sha256 is unknown")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")


# --- gbench stats ----------------------------------------------------------------------------------------------


def cmd_stats(args) -> int:
    from gbench.cache import cached_features
    from gbench.cli_score import _is_stats, _load_extractor, default_extractor
    from gbench.data.folder import check_input_path, load_images
    from gbench.features import EXTRACTORS
    from gbench.metrics.stats import FeatureStats

    if args.extractor is not None:  # a typo is reported before any file is read
        EXTRACTORS.get(args.extractor)
    path, out = args.path, args.out
    check_input_path(path, "a folder of images or a .npz of uint8 images")
    if _is_stats(path):
        raise GbenchError(f"{path} already holds statistics (mu, sigma): pass the images they came from")
    if out.suffix != ".npz":
        raise GbenchError(f"OUT {out} must end in .npz (pytorch-fid and `gbench fid` read .npz statistics)")
    if out.exists() and out.resolve() == path.resolve():
        raise GbenchError(f"OUT {out} is the input PATH: write the statistics to another file")
    if not (out.parent if str(out.parent) else Path(".")).is_dir():
        raise GbenchError(f"cannot write {out}: folder {out.parent} does not exist; create it first")
    images = load_images(path)
    extractor = _load_extractor(args, args.extractor or default_extractor([tuple(images.shape[1:])]))
    feats, hit = cached_features(extractor, images, batch_size=args.batch_size)
    stats = FeatureStats().update(feats)
    stats.save(out)
    sha = (extractor.weights_sha256 or "none")[:12]
    print(f"{out}: n = {stats.n}, {extractor.name} v{extractor.version} (weights sha256 {sha}"
          f"{'' if extractor.verified else ', UNVERIFIED'}), features {'from the cache' if hit else 'extracted'}")
    return 0


# --- gbench sr -------------------------------------------------------------------------------------------------


def _stems(folder: Path, role: str, suffix: str) -> dict[str, Path]:
    """{stem (less ``suffix`` where it ends with it): file} for the images in ``folder``."""
    from gbench.data.folder import IMAGE_SUFFIXES, image_files

    if not folder.is_dir():
        raise GbenchError(f"{role} folder {folder} does not exist or is not a folder: pass a folder of images")
    files = image_files(folder)
    if not files:
        raise GbenchError(f"{role} folder {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)})")
    out: dict[str, Path] = {}
    for f in files:
        stem = f.stem[:-len(suffix)] if suffix and f.stem.endswith(suffix) and f.stem != suffix else f.stem
        if stem in out:
            raise GbenchError(f"{role} files {out[stem].name} and {f.name} in {folder} both pair as {stem!r}: "
                              "keep one of them")
        out[stem] = f
    return out


def pair_files(sr_dir: Path, hr_dir: Path, suffix: str = "") -> list[tuple[str, Path, Path]]:
    """[(name, SR file, HR file)] sorted by name; an SR stem less ``suffix`` equals its HR stem.

    Raises GbenchError naming the first file without a partner (either way):
    a missing SR output must not shrink the mean silently.
    """
    sr, hr = _stems(sr_dir, "SR", suffix), _stems(hr_dir, "HR", "")
    stripped = f" (after stripping --suffix {suffix})" if suffix else ""
    for stem, f in sr.items():
        if stem not in hr:
            hint = "" if suffix else "; pass --suffix STR if SR names carry one (e.g. _x4)"
            raise GbenchError(f"SR file {f} has no HR image named {stem}.* in {hr_dir}{stripped}{hint}")
    for stem, f in hr.items():
        if stem not in sr:
            raise GbenchError(f"HR file {f} has no SR image named {stem}{suffix}.* in {sr_dir}: "
                              "super-resolve every HR image (or remove it from HR_DIR)")
    return [(stem, sr[stem], hr[stem]) for stem in sorted(hr)]


def _match_channels(sr: torch.Tensor, hr: torch.Tensor, sr_path: Path) -> tuple[torch.Tensor, torch.Tensor]:
    """Give a grayscale-vs-RGB pair one channel count, losslessly: an RGB image whose
    three channels are equal is that gray image (models often save gray outputs as RGB)."""
    if sr.shape[0] == hr.shape[0]:
        return sr, hr
    rgb, gray = (sr, hr) if sr.shape[0] == 3 else (hr, sr)
    if not (torch.equal(rgb[0], rgb[1]) and torch.equal(rgb[0], rgb[2])):
        which = "SR" if rgb is sr else "HR"
        raise GbenchError(f"{sr_path}: the {which} image is colour but its partner is grayscale: "
                          "save both as RGB or both as grayscale")
    return (rgb[:1], gray) if rgb is sr else (gray, rgb[:1])


def load_pair(sr_path: Path, hr_path: Path, scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(SR, mod-cropped HR), uint8 (1, C, H, W) each with one C in {1, 3}.

    HR is cut to its top-left H − H mod scale × W − W mod scale pixels (the SR
    protocol: the LR input was made from that image), and SR must be that size.
    """
    from gbench.data.folder import read_image
    from gbench.transforms.resize import mod_crop

    # np.require: PIL's buffer is read-only, a tensor wants it writable (copied only then)
    sr, hr_full = (torch.from_numpy(np.require(read_image(p), requirements="W")) for p in (sr_path, hr_path))
    try:
        hr = mod_crop(hr_full, scale)
    except GbenchError as e:
        raise GbenchError(f"{hr_path}: {e}") from None
    if sr.shape[1:] != hr.shape[1:]:
        h, w = hr_full.shape[1:]
        raise GbenchError(f"SR {sr_path} is {sr.shape[1]}×{sr.shape[2]} but HR {hr_path} "
                          f"({h}×{w}) mod-cropped to a multiple of {scale} is {hr.shape[1]}×{hr.shape[2]}: "
                          "SR must be ×scale the LR made from the mod-cropped HR; check --scale")
    sr, hr = _match_channels(sr, hr, sr_path)
    return sr[None], hr[None].contiguous()


def _load_lpips(args, device):
    """(LoadedLPIPS, "") when the backbone resolves (without download unless --download), else (None, a note)."""
    from gbench.features.lpips_net import try_load_lpips

    if args.no_lpips:
        return None, ""
    try:
        lp, why = try_load_lpips(LPIPS_NET, device, weights_path=args.weights, allow_download=args.download,
                                 allow_unverified=args.allow_unverified_weights)
        return lp, (f"LPIPS skipped: {why}" if lp is None else "")
    except ImportError:
        return None, "LPIPS skipped: the lpips package is not installed (pip install lpips)"


def cmd_sr(args) -> int:
    from gbench.metrics.sr import psnr, ssim
    from gbench.runner import resolve_device

    if args.scale < 1:
        raise GbenchError(f"--scale must be a positive integer (the SR factor, e.g. 4), got {args.scale}")
    crop = args.scale if args.crop is None else args.crop
    if crop < 0:
        raise GbenchError(f"--crop must be ≥ 0 (border pixels removed from each side), got {crop}")
    pairs = pair_files(args.sr_dir, args.hr_dir, args.suffix)
    device = resolve_device(args.device)
    lp, note = _load_lpips(args, device)
    protocol = {"scale": args.scale, "crop_border": crop, "y_channel": args.y_channel,
                "y_convention": args.y_convention, "hr": f"mod-cropped to a multiple of {args.scale}"}
    rows = []
    for name, sr_path, hr_path in pairs:
        sr, hr = load_pair(sr_path, hr_path, args.scale)
        kw = dict(crop_border=crop, y_channel=args.y_channel, y_convention=args.y_convention)
        try:
            row = {"name": name, "sr": str(sr_path), "hr": str(hr_path),
                   "psnr": float(psnr(sr, hr, **kw)[0]), "ssim": float(ssim(sr, hr, **kw)[0])}
        except GbenchError as e:  # e.g. a crop that leaves less than SSIM's 11×11 window
            raise GbenchError(f"{sr_path}: {e}") from None
        if lp is not None:
            row["lpips"] = float(lp.distance(sr, hr, device, crop=crop)[0])
        rows.append(row)
    metrics = ["psnr", "ssim"] + (["lpips"] if lp is not None else [])
    mean = {m: statistics.fmean(r[m] for r in rows) for m in metrics}
    if note:
        print(f"gbench: note: {note}", file=sys.stderr)
    if args.json:
        lpips_info = None if lp is None else {"net": lp.net, "version": "0.1", "weights_sha256": lp.weights_sha256,
                                              "verified": lp.verified}
        print(json.dumps({"images": rows, "mean": mean, "n": len(rows), "protocol": protocol,
                          "lpips": lpips_info, "lpips_note": note or None}))
        return 0
    from tabulate import tabulate

    on = "Y" if args.y_channel else "RGB"
    luma = {"matlab": "Y (BT.601, rounded as MATLAB)", "float": "Y (BT.601, unrounded)"}[args.y_convention]
    headers = ["image", f"PSNR-{on} (dB)", f"SSIM-{on}"] + (["LPIPS"] if lp else [])
    body = [[r["name"], *(f"{r[m]:.4f}" for m in metrics)] for r in rows]
    body.append(["mean", *(f"{mean[m]:.4f}" for m in metrics)])
    print(tabulate(body, headers=headers, disable_numparse=True))
    print(f"{len(rows)} pairs · ×{args.scale}, HR mod-cropped to a multiple of {args.scale}, {crop} px border "
          f"cropped, PSNR/SSIM on {luma if args.y_channel else 'RGB'}" + (f", LPIPS {lp.net} v0.1 on RGB"
                                             f"{'' if lp.verified else ' (UNVERIFIED weights)'}" if lp else ""))
    return 0


HANDLERS = {"stats": cmd_stats, "sr": cmd_sr}

__all__ = ["add_parsers", "cmd_stats", "cmd_sr", "pair_files", "load_pair", "HANDLERS"]
