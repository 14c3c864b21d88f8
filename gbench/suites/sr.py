"""`sr`: ×4 single-image super-resolution — bicubic, SRResNet, SRGAN.

Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network". For each test set of the profile:

1. HR images are mod-cropped to multiples of 4 and their LR inputs made with
   ``gbench.imresize(hr, 1/4)`` (MATLAB bicubic, as the benchmark sets were);
2. ``bicubic`` upscales the LR with ``gbench.imresize(lr, 4)``; ``srresnet``
   is trained (or resumed) on random HR patches with the pixel MSE;
   ``srgan`` starts from the trained SRResNet and is fine-tuned with a
   discriminator and the VGG-19 φ5,4 content loss when torchvision's
   ImageNet VGG-19 weights resolve, else with the pixel MSE (the paper's
   SRGAN-MSE) — its records say which ran (``extra.content_loss``);
3. scored per image on the BT.601 luma Y with 4 border pixels cropped:
   PSNR and SSIM (``gbench.psnr`` / ``gbench.ssim``), LPIPS (AlexNet, when
   its ImageNet backbone resolves; otherwise an "unavailable" record that
   names the missing file), and the high-frequency energy ratio SR/HR above
   the LR Nyquist frequency (:mod:`gbench.metrics.sharpness`); plus model size
   (parameters) and inference time per image.

Profiles:
  * ``embedded``: trains on random patches of the ``natural`` train
    photographs; tests on the held-out ``natural`` photographs (chelsea,
    coffee, rocket).
  * ``paper``: tests on Set5, Set14 and BSD100 read from ``--data-root DIR``
    (``DIR/Set5``, ``DIR/Set14``, ``DIR/BSD100``: folders of HR images; a
    missing folder gives an "unavailable" record that names it). Trains on
    ``DIR/DIV2K`` (a folder of HR images) when present, else on the
    ``natural`` train photographs; the records say which (``extra.train_data``).
    (The paper trained on 350 thousand ImageNet images.)

Records are emitted per (model, set) as soon as they are scored; training
resumes from the checkpoints under the run directory. A comparison figure
(the same crop of each test image: bicubic | SRResNet | SRGAN | HR) is saved
per set as PNG and linked from the leaderboard.
"""

from __future__ import annotations

import statistics
import time
from collections import defaultdict
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch

from gbench.data.folder import image_files, read_image
from gbench.data.natural import full_images, random_patches
from gbench.errors import GbenchError
from gbench.features.weights import WeightsNotFoundError, load_state_dict, resolve_known, sha256_file
from gbench.figures import save_grid
from gbench.images import float_to_uint8, to_rgb, uint8_to_float
from gbench.metrics.info import METRICS, MetricInfo
from gbench.transforms.resize import imresize, mod_crop
from gbench.metrics.sharpness import high_frequency_ratio
from gbench.metrics.sr import psnr, rgb_to_y, ssim
from gbench.suites.base import RunContext, Suite
from zoo.models import srgan as zoo_srgan
from zoo.models import srresnet as zoo_srresnet
from zoo.train import train

SCALE = 4
MODELS = ("bicubic", "srresnet", "srgan")
SETS_BY_PROFILE = {"embedded": ("natural",), "paper": ("set5", "set14", "bsd100")}
SET_FOLDERS = {"set5": "Set5", "set14": "Set14", "bsd100": "BSD100"}
TRAIN_FOLDER = "DIV2K"
LPIPS_NET = "alex"  # the LPIPS paper's default backbone
VGG19_FILE = "vgg19-dcbb9e9d.pth"
# Size of the fixed pool of random HR training patches the trainer draws minibatches from.
TRAIN_PATCHES = {"smoke": 32, "quick": 4096, "full": 16384}
# Patches whose luma std is below this (gray levels) are flat: they hold no detail to learn, and
# 30 % of the `natural` train crops are (dark sky, retina background). Measured (SRResNet at
# `quick`, PSNR-Y on the natural test photos): 29.75 dB after 800 steps with them dropped,
# 29.38 dB without (29.80 dB after 1,400).
MIN_PATCH_STD = 4.0
FIGURE_CROP = 128         # HR pixels per side of each comparison tile
FIGURE_IMAGES = 3         # test images shown per set
SR_METRICS = ("psnr", "ssim", "lpips", "hf_ratio", "params", "ms_per_image")

for _info in (
    MetricInfo("psnr", "PSNR-Y (dB)", True, "PSNR on BT.601 luma, 4-pixel border cropped, mean over images", 2),
    MetricInfo("ssim", "SSIM-Y", True, "SSIM (Wang et al. 2004) on BT.601 luma, 4-pixel border cropped", 4),
    MetricInfo("lpips", "LPIPS", False, "learned perceptual distance (Zhang et al. 2018), AlexNet v0.1", 4),
    MetricInfo("hf_ratio", "HF energy SR/HR (→1)", None,
               "power above the LR Nyquist frequency, SR / HR, on luma (1 = as much detail as HR)", 3),
    MetricInfo("params", "parameters", None, "number of model parameters (generator only)", 0),
    MetricInfo("ms_per_image", "ms / image", None, "mean inference wall time per test image on the run's device", 1),
):
    if _info.name not in METRICS:
        METRICS.register(_info.name, _info)


# --- data ----------------------------------------------------------------------------------------

def load_test_set(ctx: RunContext, name: str) -> tuple[list[torch.Tensor] | None, str]:
    """HR test images of a set as uint8 (1, 3, H, W), mod-cropped to multiples of SCALE; or (None, why)."""
    if name == "natural":
        return [mod_crop(x, SCALE) for x in full_images("test")], ""
    folder = SET_FOLDERS[name]
    if ctx.data_root is None:
        return None, f"needs --data-root DIR with DIR/{folder} (a folder of the {folder} HR images)"
    path = Path(ctx.data_root) / folder
    if not path.is_dir() or not image_files(path):
        return None, f"unavailable: {path} not found or holds no images: put the {folder} HR images there"
    return [mod_crop(to_rgb(torch.tensor(read_image(p))[None]), SCALE) for p in image_files(path)], ""


def folder_patches(files: list[Path], n: int, size: int, seed: int) -> torch.Tensor:
    """``n`` random ``size``×``size`` RGB crops from image files, uint8 (n, 3, size, size).

    Like :func:`gbench.data.natural.random_patches`: every crop position of
    every image is equally likely. Image sizes are read from file headers and
    each image is decoded once, so a large folder (DIV2K) is never held in
    memory whole.
    """
    from PIL import Image

    sizes = []
    for p in files:
        with Image.open(p) as im:
            sizes.append(im.size[::-1])  # (H, W)
    counts = np.array([max(0, h - size + 1) * max(0, w - size + 1) for h, w in sizes], dtype=np.float64)
    if counts.sum() == 0:
        raise GbenchError(f"every training image is smaller than the {size}×{size} patch size: use larger images")
    rng = np.random.default_rng(seed)
    which = rng.choice(len(files), size=n, p=counts / counts.sum())
    out = torch.empty((n, 3, size, size), dtype=torch.uint8)
    for k in np.unique(which):
        img = to_rgb(torch.tensor(read_image(files[k]))[None])[0]
        for i in np.flatnonzero(which == k):
            y = rng.integers(0, img.shape[1] - size + 1)
            x = rng.integers(0, img.shape[2] - size + 1)
            out[i] = img[:, y:y + size, x:x + size]
    return out


def drop_flat(patches: torch.Tensor, n: int, min_std: float = MIN_PATCH_STD) -> torch.Tensor:
    """The first ``n`` patches (in draw order) whose luma std is ≥ ``min_std`` gray levels,
    topped up with flat ones (in draw order) if fewer qualify. uint8 (M, 3, s, s) → (n, 3, s, s)."""
    textured = rgb_to_y(patches).flatten(1).std(dim=1) >= min_std
    order = torch.cat([torch.nonzero(textured).flatten(), torch.nonzero(~textured).flatten()])
    return patches[order[:n]]


def training_patches(ctx: RunContext, size: int) -> tuple[torch.Tensor, str]:
    """The pool of HR training patches, float (N, 3, size, size) in [-1, 1], and a note saying what it is.

    Twice as many random crops as needed are drawn and the flat ones dropped (:func:`drop_flat`).
    """
    n = TRAIN_PATCHES[ctx.preset]
    folder = Path(ctx.data_root) / TRAIN_FOLDER if ctx.profile == "paper" and ctx.data_root is not None else None
    if folder is not None and folder.is_dir() and image_files(folder):
        files = image_files(folder)
        patches = folder_patches(files, 2 * n, size, ctx.seed)
        source = f"{TRAIN_FOLDER} ({len(files)} HR images)"
    else:
        patches = random_patches("train", 2 * n, size, seed=ctx.seed)
        source = "natural train photos (6)"
        if ctx.profile == "paper":
            source += f"; no {TRAIN_FOLDER} folder under --data-root"
    note = (f"{source}: {n} random {size}×{size} patches (seed {ctx.seed}), "
            f"luma std ≥ {MIN_PATCH_STD:g} (flat crops dropped)")
    return uint8_to_float(drop_flat(patches, n)), note


# --- models --------------------------------------------------------------------------------------

def train_srresnet(ctx: RunContext, config, patches: torch.Tensor):
    """Train (or resume) SRResNet on the HR patches; returns the model in eval mode."""
    torch.manual_seed(ctx.seed)
    model = zoo_srresnet.build(config)
    train(model, config, patches, None, ctx.run_dir / "srresnet", ctx.device, ctx.seed, progress=ctx.progress)
    return model.eval()


def vgg19_weights(ctx: RunContext) -> tuple[dict | None, str, dict]:
    """torchvision's ImageNet VGG-19 for SRGAN's content loss, through gbench's resolver.

    Returns (state dict or None, the content loss that will run, extra facts for records).
    """
    try:
        path, verified = resolve_known(VGG19_FILE, explicit_path=ctx.weights, allow_download=ctx.download,
                                       allow_unverified=ctx.allow_unverified)
    except WeightsNotFoundError:
        return None, f"mse (VGG-19 weights not found: {VGG19_FILE})", {}
    except GbenchError as e:
        return None, f"mse (VGG-19 weights refused: {e})", {}
    facts = {"vgg19_sha256": sha256_file(path)[:12]}
    if not verified:
        facts["vgg19_verified"] = False
    return load_state_dict(path), "vgg19-54", facts


def train_srgan(ctx: RunContext, patches: torch.Tensor, srresnet_model):
    """Fine-tune SRGAN from the trained SRResNet (Ledig et al. Sec. 3.2); returns (model, extra facts)."""
    vgg_state, content, facts = vgg19_weights(ctx)
    g_state = {k: v.detach().cpu() for k, v in srresnet_model.generator.state_dict().items()}
    config = zoo_srgan.make_config(ctx.preset, content_loss="vgg54" if vgg_state is not None else "mse",
                                   scale=SCALE, generator_init=zoo_srgan.state_digest(g_state))
    torch.manual_seed(ctx.seed)
    model = zoo_srgan.build(config, vgg_state, g_state)
    train(model, config, patches, None, ctx.run_dir / "srgan", ctx.device, ctx.seed, progress=ctx.progress)
    return model.eval(), {"content_loss": content, **facts}


def network(ctx: RunContext, name: str, cache: dict):
    """The trained ``srresnet`` or ``srgan`` and the facts its records carry.

    SRGAN starts from the trained SRResNet, so SRResNet is trained (or
    resumed) first either way; ``cache`` keeps it and its patches for the run.
    """
    if "srresnet" not in cache:
        config = zoo_srresnet.make_config(ctx.preset, scale=SCALE)
        patches, note = training_patches(ctx, config.image_shape[1])
        cache["srresnet"] = (train_srresnet(ctx, config, patches), patches, note)
    srresnet_model, patches, note = cache["srresnet"]
    if name == "srresnet":
        return srresnet_model, {"train_data": note, "srresnet": describe_srresnet(srresnet_model.config)}
    model, facts = train_srgan(ctx, patches, srresnet_model)
    return model, {"train_data": note, **facts, "srgan": describe_srgan(model.config)}


def describe_srresnet(config) -> str:
    """The run's SRResNet settings next to the paper's (record ``extra``: the leaderboard notes)."""
    paper = zoo_srresnet.PAPER
    t, p = config.train, paper["train"]
    decay = f" (÷10 from step {config.lr_decay_step})" if config.lr_decay_step else ""
    return (f"{config.num_blocks} blocks × {config.channels} channels{'' if config.batch_norm else ' without BN'}, "
            f"{config.image_shape[1]}² HR patches, {t.steps} steps × batch {t.batch_size}, Adam lr {t.lr:g}{decay}, "
            f"{config.loss} (paper: {paper['num_blocks']} × {paper['channels']} with BN, {paper['patch']}², "
            f"{p.steps:,} × {p.batch_size}, lr {p.lr:g}, mse)")


def describe_srgan(config) -> str:
    """The run's SRGAN settings next to the paper's."""
    t, p = config.train, zoo_srgan.PRESETS["full"]
    return (f"D width {config.d_channels}, dense {config.d_hidden}, {t.steps} steps × batch {t.batch_size}, "
            f"Adam lr {t.lr:g}, adversarial weight {config.adversarial_weight:g} "
            f"(paper: {p['d_channels']}, {p['d_hidden']}, {p['train'].steps:,} steps, lr 1e-4 then 1e-5)")


def network_upscaler(model, device):
    """uint8 LR (1, 3, h, w) → uint8 SR (1, 3, 4h, 4w) on the CPU, through the model on ``device``."""
    def upscale(lr: torch.Tensor) -> torch.Tensor:
        return float_to_uint8(model.upscale(uint8_to_float(lr).to(device))).cpu()
    return upscale


def bicubic_upscaler(lr: torch.Tensor) -> torch.Tensor:
    return imresize(lr, SCALE, exact=True)


# --- scoring -------------------------------------------------------------------------------------

def lpips_model(ctx: RunContext):
    """(LoadedLPIPS, None) when the LPIPS backbone resolves, else (None, the reason for the records)."""
    from gbench.features.lpips_net import BACKBONE_FILES, load_lpips
    from gbench.features.weights import find_weights

    filename = BACKBONE_FILES[LPIPS_NET]
    if not ctx.download and find_weights(filename, ctx.weights) is None:
        return None, (f"unavailable: {filename} not found (LPIPS-{LPIPS_NET} ImageNet backbone; put it in "
                      "--weights DIR, $GBENCH_WEIGHTS or the torch hub cache, or pass --download)")
    try:
        return load_lpips(LPIPS_NET, ctx.device, weights_path=ctx.weights, allow_download=ctx.download,
                          allow_unverified=ctx.allow_unverified), None
    except GbenchError as e:
        return None, f"unavailable: {e}"


def score_set(ctx: RunContext, model: str, dataset: str, hrs: list[torch.Tensor], upscale, params: int,
              lpips, lpips_reason: str | None, extra: dict, artifacts: dict) -> tuple[list, list[torch.Tensor]]:
    """Upscale every LR image of a set, score it, and build the records; returns (records, SR images)."""
    t0 = time.perf_counter()
    lrs = [imresize(hr, 1 / SCALE, exact=True) for hr in hrs]
    upscale(lrs[0])  # warm-up: the first call pays for allocations, not the method
    srs, times = [], []
    for lr in lrs:
        t = time.perf_counter()
        srs.append(upscale(lr))
        times.append(time.perf_counter() - t)
    per_image = defaultdict(list)
    for sr, hr in zip(srs, hrs):
        per_image["psnr"].append(psnr(sr, hr, crop_border=SCALE, y_channel=True).item())
        per_image["ssim"].append(ssim(sr, hr, crop_border=SCALE, y_channel=True).item())
        per_image["hf_ratio"].append(high_frequency_ratio(sr, hr, SCALE, crop_border=SCALE).item())
        if lpips is not None:
            c = SCALE
            a, b = (uint8_to_float(x[:, :, c:-c, c:-c]).to(ctx.device) for x in (sr, hr))
            with torch.no_grad():
                per_image["lpips"].append(lpips.model(a, b).item())
    wall = time.perf_counter() - t0
    common = dict(n_real=len(hrs), wall_seconds=wall, extra=extra, artifacts=artifacts)
    records = [ctx.record(model, dataset, metric, statistics.fmean(v),
                          std=statistics.stdev(v) if len(v) > 1 else None,
                          extractor=_lpips_extractor(lpips) if metric == "lpips" else None, **common)
               for metric, v in per_image.items()]
    if lpips is None:
        records.append(ctx.record(model, dataset, "lpips", None, reason=lpips_reason, **common))
    records.append(ctx.record(model, dataset, "params", params, **common))
    records.append(ctx.record(model, dataset, "ms_per_image", 1000 * statistics.fmean(times), **common))
    return records, srs


def _lpips_extractor(lpips):
    return SimpleNamespace(name=f"lpips-{lpips.net}-v0.1", weights_sha256=lpips.weights_sha256,
                           verified=lpips.verified)


# --- figure --------------------------------------------------------------------------------------

def detail_crop_box(hr: torch.Tensor, size: int) -> tuple[int, int, int]:
    """(top, left, side) of the size×size window (on a 16-pixel grid) with the most luma gradient energy."""
    side = min(size, hr.shape[2], hr.shape[3])
    y = rgb_to_y(hr)[0, 0]
    g = (y[1:, :-1] - y[:-1, :-1]).square() + (y[:-1, 1:] - y[:-1, :-1]).square()
    best, box = -1.0, (0, 0, side)
    for top in range(0, g.shape[0] - side + 2, 16):
        for left in range(0, g.shape[1] - side + 2, 16):
            e = g[top:top + side, left:left + side].sum().item()
            if e > best:
                best, box = e, (top, left, side)
    return box


def crops_path(ctx: RunContext, dataset: str, model: str) -> Path:
    return ctx.run_dir / "crops" / f"{dataset}_{model}.png"


def save_figure(ctx: RunContext, dataset: str, hrs: list[torch.Tensor]) -> None:
    """Compose bicubic | srresnet | srgan | HR tiles from the crops saved so far (by this or an earlier run)."""
    shown = hrs[:FIGURE_IMAGES]
    boxes = [detail_crop_box(hr, FIGURE_CROP) for hr in shown]
    side = min(b[2] for b in boxes)
    columns = []
    for model in MODELS:
        path = crops_path(ctx, dataset, model)
        if path.is_file():
            strip = torch.tensor(read_image(path))  # (3, len(shown)·side, side): the tiles stacked vertically
            columns.append(strip.view(3, len(shown), side, side).permute(1, 0, 2, 3))
    columns.append(torch.stack([hr[0, :, t:t + side, l:l + side] for hr, (t, l, _) in zip(shown, boxes)]))
    tiles = torch.stack(columns, dim=1).reshape(-1, 3, side, side)  # row-major: one test image per row
    path, _ = ctx.figure_path(f"{dataset}_{ctx.preset}_comparison.png")
    save_grid(tiles, path, nrow=len(columns))


def save_crops(ctx: RunContext, dataset: str, model: str, hrs: list[torch.Tensor], srs: list[torch.Tensor]) -> None:
    from PIL import Image

    boxes = [detail_crop_box(hr, FIGURE_CROP) for hr in hrs[:FIGURE_IMAGES]]
    side = min(b[2] for b in boxes)
    strip = torch.cat([sr[0, :, t:t + side, l:l + side] for sr, (t, l, _) in zip(srs, boxes)], dim=1)
    path = crops_path(ctx, dataset, model)
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(strip.permute(1, 2, 0).numpy()).save(path)


# --- the suite -----------------------------------------------------------------------------------

def run(ctx: RunContext) -> None:
    test_sets = {}
    for name in SETS_BY_PROFILE[ctx.profile]:
        hrs, why = load_test_set(ctx, name)
        if hrs is None:
            ctx.emit([ctx.record("all", name, "all", None, reason=why)])
        else:
            test_sets[name] = hrs
    if not test_sets:
        return
    lpips, lpips_reason = lpips_model(ctx)
    cache: dict = {}
    for model in ctx.selected(MODELS):
        t0 = time.perf_counter()
        if model == "bicubic":
            upscale, params, extra = bicubic_upscaler, 0, {"method": "gbench.imresize ×4 of the LR (MATLAB bicubic)"}
        else:
            net, extra = network(ctx, model, cache)
            upscale, params = network_upscaler(net, ctx.device), zoo_srresnet.count_parameters(net.generator)
        if ctx.progress:
            print(f"[sr] {model}: ready in {time.perf_counter() - t0:.1f} s; scoring")
        for dataset, hrs in test_sets.items():
            _, rel = ctx.figure_path(f"{dataset}_{ctx.preset}_comparison.png")
            records, srs = score_set(ctx, model, dataset, hrs, upscale, params, lpips, lpips_reason, extra,
                                     {"comparison": rel})
            save_crops(ctx, dataset, model, hrs, srs)
            save_figure(ctx, dataset, hrs)
            ctx.emit(records)


# --- leaderboard ---------------------------------------------------------------------------------

def _mean(records, model: str, metric: str) -> float | None:
    values = [r.value for r in records if r.model == model and r.metric == metric and r.status == "ok"]
    return statistics.fmean(values) if values else None


def orderings(records) -> list[str]:
    """The paper's qualitative findings, checked on these records (Ledig et al. 2017, Table 2 and Fig. 2)."""
    def verdict(ok: bool) -> str:
        return "holds" if ok else "does NOT hold"

    lines = []
    p = {m: _mean(records, m, "psnr") for m in MODELS}
    s = {m: _mean(records, m, "ssim") for m in MODELS}
    hf = {m: _mean(records, m, "hf_ratio") for m in MODELS}
    lp = {m: _mean(records, m, "lpips") for m in MODELS}
    if p["srresnet"] is not None and p["bicubic"] is not None:
        ok = p["srresnet"] > p["bicubic"] and s["srresnet"] > s["bicubic"]
        lines.append(f"- SRResNet beats bicubic on PSNR/SSIM: {p['srresnet'] - p['bicubic']:+.2f} dB, "
                     f"SSIM {s['srresnet'] - s['bicubic']:+.4f} — {verdict(ok)}.")
    if p["srgan"] is not None and p["srresnet"] is not None:
        lines.append(f"- SRGAN scores lower PSNR than SRResNet: {p['srgan'] - p['srresnet']:+.2f} dB — "
                     f"{verdict(p['srgan'] < p['srresnet'])}.")
        if hf["srgan"] is not None and hf["srresnet"] is not None:
            lines.append(f"- SRGAN keeps more high-frequency detail than SRResNet (HF energy SR/HR): "
                         f"{hf['srgan']:.3f} vs {hf['srresnet']:.3f} — "
                         f"{verdict(abs(1 - hf['srgan']) < abs(1 - hf['srresnet']))}.")
        if lp["srgan"] is not None and lp["srresnet"] is not None:
            lines.append(f"- SRGAN is perceptually closer to HR than SRResNet (LPIPS): {lp['srgan']:.4f} vs "
                         f"{lp['srresnet']:.4f} — {verdict(lp['srgan'] < lp['srresnet'])}.")
    return lines


def render(suite: Suite, records) -> str:
    from gbench.leaderboard import HEADER_NOTE, notes, provenance_line, render_table

    out = [f"# {suite.title}", "", suite.description, "", HEADER_NOTE.format(suite=suite.name), ""]
    groups = defaultdict(list)
    for r in records:
        groups[(r.profile, r.preset, r.dataset)].append(r)
    for (profile, preset, dataset), group in sorted(groups.items()):
        out += [f"## {dataset} · {profile} profile · preset `{preset}`", ""]
        out += [render_table(group, suite.models, suite.metrics), ""]
        checks = orderings(group)
        if checks:
            out += ["Expected as in the paper (Ledig et al. 2017):", "", *checks, ""]
        out += [provenance_line(group), ""]
        if notes(group):
            out += ["Notes:", "", *notes(group), ""]
        for path in sorted({r.artifacts["comparison"] for r in group if "comparison" in r.artifacts}):
            models = {r.model for r in group if r.artifacts.get("comparison") == path}
            columns = " | ".join([m for m in MODELS if m in models] + ["HR"])
            out += [f"Comparison (the most detailed {FIGURE_CROP}×{FIGURE_CROP} HR crop of each image; "
                    f"columns {columns}):", "", f"![{columns}]({path})", ""]
    return "\n".join(out).rstrip("\n") + "\n"


SUITE = Suite(
    name="sr",
    title="Super-resolution ×4: bicubic, SRResNet, SRGAN",
    description=("×4 single-image super-resolution (Ledig et al. 2017). LR inputs are `gbench.imresize(hr, 1/4)` "
                 "of the mod-cropped HR images; PSNR and SSIM on BT.601 luma with a 4-pixel border cropped; "
                 "LPIPS (AlexNet) where its ImageNet weights resolve; `HF energy SR/HR` is the spectral power "
                 "above the LR Nyquist frequency relative to HR (1 = as much fine detail as HR, bicubic ≪ 1); "
                 "`parameters` counts the generator; `ms / image` is inference time on the run's device."),
    leaderboard="super_resolution.md",
    datasets=SETS_BY_PROFILE,
    models=MODELS,
    metrics=SR_METRICS,
    run=run,
    quick_models=("bicubic",),  # SRResNet at `quick` needs ~4-5 CPU minutes, over the meta-suite budget
    render=render,
)
