"""`inpainting`: hole filling — the patch-based inpainting GAN against classical fills.

Demir & Ünal 2018, "Patch-Based Image Inpainting with Generative Adversarial
Networks" (PGGAN; the zoo's ``patch-inpaint``). For each dataset of the
profile (:mod:`gbench.data.inpaint_sets`):

1. ``patch-inpaint`` (global + PatchGAN discriminator heads) and its ablation
   with the global head only (row ``patch-inpaint-global-d``: the same preset
   config with ``discriminator="global"``, trained through
   :func:`gbench.fit.fit` as variant ``global-d`` beside the full model) are
   trained (or resumed) on the training images with their own random holes;
2. every hole setting of the preset (record ``variant``: mask kind and hole
   ratio, e.g. ``center-0.25``, ``free-0.2``) gets one fixed set of test
   masks, drawn with :func:`zoo.layers.make_masks` from a seed that depends
   only on the variant's name (:func:`eval_masks`): every method fills the
   very same holes of the very same test images;
3. each row completes them: ``mean-fill`` (the floor: the valid pixels' mean),
   ``biharmonic`` (scikit-image), ``telea`` and ``navier-stokes`` (OpenCV,
   when ``cv2`` imports — otherwise one 'unavailable' record per row says how to
   add it), the ablation and the GAN (:mod:`gbench.transforms.inpaint`; the
   GAN's ``complete`` pastes the known pixels back, as the fills do);
4. scored per image against the real test images
   (:mod:`gbench.metrics.inpainting`): PSNR, SSIM and L1 inside the hole and in
   the valid region (pasting back makes valid L1 0 and PSNR ∞; SSIM-valid
   still sees the seam), FID of the completed images against the real ones
   with the dataset's extractor, LPIPS (AlexNet) when its ImageNet backbone
   resolves (else a record names the missing file), and the completion time
   per image.

Extractors: `scenes-evaluator` on scenes; on `natural` no shipped evaluator
fits (they read digits and procedural scenes), so FID needs
`inception-v3-fid` (``--extractor``, or the paper profile) and otherwise its
records are 'unavailable' and name the missing weights file. FID needs more
test images than feature dimensions, so the test set is enlarged to
``feature_dim + 1`` when the protocol's size is smaller.

Paper profile (``--data-root``): Places2, CelebA and Paris StreetView at 64×64
on the CPU presets (the paper: 256×256); a missing folder gives an
'unavailable' record naming it. One figure per dataset: masked inputs (holes
white), each row's completions, and the real images, two test images per hole
setting. The paper's claims are checked on the records: the patch
discriminator improves the hole over the global-only ablation, and the GAN
beats biharmonic in the hole.
"""

from __future__ import annotations

import statistics
import time
import zlib
from dataclasses import dataclass, replace
from functools import partial
from types import SimpleNamespace

import torch

from gbench.claims import mean_value, section, verdict
from gbench.evaluate import Reference, score_images, try_profile_extractor
from gbench.figures import save_grid
from gbench.fit import fit
from gbench.images import float_to_uint8, uint8_to_float
from gbench.leaderboard import format_number, header
from gbench.metrics.inpainting import score_completions
from gbench.metrics.spec import metric_spec
from gbench.suites.base import RunContext, Suite
from gbench.suites.sr_scoring import load_lpips
from gbench.transforms.inpaint import biharmonic_fill, mean_fill, opencv_fill, opencv_status

GAN = "patch-inpaint"
ABLATION = "patch-inpaint-global-d"      # the row of the global-only ablation
GLOBAL_D = ("global-d", {"discriminator": "global"})  # its fit variant and overrides
FILLS = {
    "mean-fill": mean_fill,
    "biharmonic": biharmonic_fill,
    "telea": partial(opencv_fill, method="telea"),
    "navier-stokes": partial(opencv_fill, method="ns"),
}
OPENCV_ROWS = ("telea", "navier-stokes")
MODELS = (*FILLS, ABLATION, GAN)
DATASETS_BY_PROFILE = {"embedded": ("natural", "scenes"), "paper": ("places2", "celeba", "paris-streetview")}
SIZE = 64                # image side: scenes and CelebA are 64×64; natural patches and paper folders are cut to it
MASK_SEED = 20180320     # base seed of the test masks (the paper's arXiv date); + CRC-32 of the variant name
EXAMPLES = 2             # test images per hole setting in the figure
LPIPS_PROTOCOL = {"lpips_net": "alex", "lpips_version": "0.1", "crop_border": 0}


@dataclass(frozen=True)
class Protocol:
    """How much each preset evaluates.

    Attributes:
        n_test: test images per hole setting (raised to the extractor's feature_dim + 1 for FID).
        natural_patches: size of the pool of textured `natural` training patches (the other data sets
            train on their whole train split, read lazily: only the batches the trainer draws are decoded).
        variants: hole settings, ``<kind>-<ratio>`` (:func:`variant_name`).
    """

    n_test: int
    natural_patches: int
    variants: tuple[str, ...]


PROTOCOLS = {
    "smoke": Protocol(n_test=16, natural_patches=64, variants=("center-0.25", "free-0.2")),
    # 256 test images: FID on the scenes evaluator's 136 features needs ≥ 137. Measured per 64×64 image on one
    # core (CPU time): biharmonic 14 ms, quick patch-inpaint completion 13 ms, the six hole metrics 3 ms — so
    # the evaluation of 2 datasets × 4 settings × 4 rows takes ~2 minutes; the 4 trainings take the rest.
    "quick": Protocol(n_test=256, natural_patches=4096,
                      variants=("center-0.25", "free-0.1", "free-0.2", "free-0.3")),
    "full": Protocol(n_test=2048, natural_patches=16384,
                     variants=("center-0.25", "free-0.1", "free-0.2", "free-0.3", "free-0.4", "free-0.5")),
}


def variant_name(kind: str, ratio: float) -> str:
    """``("free", 0.2) → "free-0.2"``."""
    return f"{kind}-{ratio:g}"


def parse_variant(variant: str) -> tuple[str, float]:
    """``"free-0.2" → ("free", 0.2)``."""
    kind, ratio = variant.rsplit("-", 1)
    return kind, float(ratio)


def mask_seed(variant: str) -> int:
    """The test masks' seed of a hole setting: fixed by its name, whatever the preset, dataset or run seed."""
    return MASK_SEED + zlib.crc32(variant.encode())


def eval_masks(variant: str, n: int, size: int) -> torch.Tensor:
    """The fixed test holes of a hole setting: bool (n, 1, size, size), True = hole."""
    from zoo.layers import make_masks

    kind, ratio = parse_variant(variant)
    return make_masks(kind, n, size, ratio, torch.Generator().manual_seed(mask_seed(variant)))


def network_fill(model, device: torch.device, images: torch.Tensor, masks: torch.Tensor) -> torch.Tensor:
    """A trained ``patch-inpaint``'s completions of uint8 images (N, C, H, W) → uint8, on the CPU."""
    return float_to_uint8(model.complete(uint8_to_float(images).to(device), masks.to(device))).cpu()


def run(ctx: RunContext) -> None:
    protocol = PROTOCOLS[ctx.preset]
    rows = ctx.selected(MODELS)
    if ctx.none_selected(MODELS):
        return
    lpips, lpips_reason = load_lpips(ctx)
    for dataset in ctx.selected_datasets(DATASETS_BY_PROFILE[ctx.profile]):
        extractor, fid_reason = _extractor(ctx, dataset)
        n_test = max(protocol.n_test, extractor.feature_dim + 1 if extractor is not None else 0)
        data = _data(ctx, dataset, protocol, n_test)
        if data is not None:
            _run_dataset(ctx, data, rows, protocol, extractor, fid_reason, lpips, lpips_reason)


def _extractor(ctx, dataset: str):
    """(the FID extractor of ``dataset``, "") or (None, why FID is unavailable)."""
    extractor, why = try_profile_extractor(ctx, dataset)
    if extractor is None and dataset == "natural" and not ctx.extractor:
        why += " (no shipped evaluator reads natural photographs: they are trained on digits and scenes)"
    return extractor, why


def _data(ctx, dataset: str, protocol: Protocol, n_test: int):
    """The dataset's :class:`~gbench.data.inpaint_sets.InpaintData`, or None after a record saying why not."""
    from gbench.data.inpaint_sets import FOLDERS, InpaintData, folder_data, natural

    if dataset == "natural":
        return natural(protocol.natural_patches, n_test, SIZE, ctx.seed)
    if dataset in FOLDERS:
        data, why = folder_data(dataset, ctx.data_root, n_test, SIZE)
        if data is None:
            ctx.emit([ctx.record("all", dataset, "all", None, reason=f"unavailable: {why}")])
        return data
    for name, train, test in ctx.splits([dataset]):  # registered sets (scenes, celeba): one or no split
        n = min(n_test, len(test))
        return InpaintData(name, train, test.images[:n],
                           f"{len(train)} train / first {n} test images of the registered {name} split")
    return None


def _completer(ctx, row: str, data):
    """(fill(images, masks) -> uint8, record extra, record protocol additions) of one row."""
    if row in FILLS:
        return FILLS[row], {}, {}
    variant, overrides = GLOBAL_D
    ablated = {"variant": variant, "overrides": overrides} if row == ABLATION else {}
    fitted = fit(ctx, GAN, data.name, data.train, **ablated)
    heads = "global only" if row == ABLATION else "global + patch"
    extra = {**fitted.facts, "discriminator": heads,
             "training": f"{fitted.config.train.steps} steps × batch {fitted.config.train.batch_size}"}
    return partial(network_fill, fitted.model, ctx.device), extra, ({"ablation": dict(overrides)} if ablated else {})


def _run_dataset(ctx, data, rows, protocol: Protocol, extractor, fid_reason, lpips, lpips_reason):
    real = data.test
    n, size = real.shape[0], real.shape[-1]
    masks = {v: eval_masks(v, n, size) for v in protocol.variants}
    if extractor is not None and n <= extractor.feature_dim:  # e.g. Paris StreetView's 100 test images, Inception
        fid_reason = (f"unavailable: FID needs more test images than {extractor.name} has features "
                      f"({n} ≤ {extractor.feature_dim}: a singular covariance)")
        extractor = None
    ctx.say(f"{data.name}: {len(data.train)} training images, {n} test images × {len(masks)} hole settings")
    reference = Reference.from_images(extractor, real) if extractor is not None else None
    opencv_ok, opencv_why = opencv_status()
    records, examples = [], {}
    for row in rows:
        if row in OPENCV_ROWS and not opencv_ok:
            records.append(ctx.record(row, data.name, "all", None, reason=f"unavailable: {opencv_why}"))
            continue
        t0 = time.perf_counter()
        fill, extra, protocol_extra = _completer(ctx, row, data)
        extra = {**extra, "data": data.note}
        first = next(iter(masks.values()))
        fill(real[:1], first[:1])  # warm-up: the first call pays for allocations, not the method
        for variant, mask in masks.items():
            t = time.perf_counter()
            completed = fill(real, mask)
            per_image = (time.perf_counter() - t) / n
            kind, ratio = parse_variant(variant)
            facts = {"mask": kind, "hole_ratio": ratio, "mask_seed": mask_seed(variant), **protocol_extra}
            new = _score(ctx, data.name, row, variant, completed, real, mask, extractor, reference, fid_reason,
                         lpips, lpips_reason)
            new.append(ctx.record(row, data.name, "ms_per_image", 1000 * per_image, variant=variant))
            records += [replace(r, protocol={**r.protocol, **facts}, extra=extra, n_real=n, n_fake=n,
                                wall_seconds=round(time.perf_counter() - t, 3)) for r in new]
            examples[(row, variant)] = completed[:EXAMPLES]
        ctx.say(f"{row} on {data.name}: scored in {time.perf_counter() - t0:.1f} s")
    links = _figure(ctx, data.name, real, masks, examples, rows)
    ctx.emit([replace(r, artifacts=links) if r.status == "ok" else r for r in records])


def _score(ctx, dataset, row, variant, completed, real, mask, extractor, reference, fid_reason, lpips, lpips_reason):
    """Records of one row × hole setting: the hole metrics, FID and LPIPS (or why each is unavailable)."""
    out = [ctx.record(row, dataset, name, s.value, std=s.std, protocol=dict(s.protocol), variant=variant)
           for name, s in score_completions(completed, real, mask).items()]
    if extractor is not None:
        fid = score_images(extractor, reference, completed, ("fid",), seed=ctx.seed)["fid"]
        out.append(ctx.record(row, dataset, "fid", fid.value, std=fid.std, protocol=dict(fid.protocol),
                              variant=variant, extractor=extractor))
    else:
        out.append(ctx.record(row, dataset, "fid", None, reason=fid_reason, variant=variant))
    if lpips is not None:
        values = lpips.distance(completed, real, ctx.device).double().cpu().tolist()
        net = SimpleNamespace(name=f"lpips-{lpips.net}-v0.1", weights_sha256=lpips.weights_sha256,
                              verified=lpips.verified)  # what the record says about the network
        out.append(ctx.record(row, dataset, "lpips", statistics.fmean(values), protocol=LPIPS_PROTOCOL,
                              std=statistics.stdev(values) if len(values) > 1 else None, variant=variant,
                              extractor=net))
    else:
        out.append(ctx.record(row, dataset, "lpips", None, reason=lpips_reason, variant=variant))
    return out


def _figure(ctx, dataset: str, real, masks: dict, examples: dict, rows) -> dict[str, str]:
    """One PNG per dataset: rows masked | each method | real, ``EXAMPLES`` test images per hole setting."""
    shown = [r for r in rows if any(k[0] == r for k in examples)]
    if not shown:
        return {}
    cols = [(v, i) for v in masks for i in range(min(EXAMPLES, real.shape[0]))]
    picks = torch.tensor([i for _, i in cols])
    holes = torch.stack([masks[v][i] for v, i in cols]).expand(-1, real.shape[1], -1, -1)
    masked = real[picks].masked_fill(holes, 255)
    lines = [masked] + [torch.stack([examples[(r, v)][i] for v, i in cols]) for r in shown] + [real[picks]]
    path, rel = ctx.figure_path(f"{dataset}_{ctx.preset}_completions.png")
    title = (f"{dataset} (preset {ctx.preset}, seed {ctx.seed}) — rows: masked (holes white), {', '.join(shown)}, "
             f"real; columns: {EXAMPLES} test images per hole setting ({', '.join(masks)})")
    save_grid(torch.cat(lines), path, nrow=len(cols), title=title)
    return {"completions": rel}


def _mean_over_variants(group, model: str, metric: str):
    """(mean over hole settings, {variant: value}) of one row × metric, or (None, {}) if some setting lacks it."""
    variants = sorted({r.variant for r in group if r.variant and r.metric == metric})
    values = {v: mean_value(group, model, metric, v) for v in variants}
    if not values or None in values.values():
        return None, {}
    return statistics.fmean(values.values()), values


def _compare(group, metric: str, a: str, b: str, claim: str) -> str | None:
    """One claim line: row ``a`` better than row ``b`` on ``metric`` (mean over the hole settings)."""
    mean_a, by_a = _mean_over_variants(group, a, metric)
    mean_b, by_b = _mean_over_variants(group, b, metric)
    if mean_a is None or mean_b is None or set(by_a) != set(by_b):
        return None
    up = metric_spec(metric).higher_is_better
    better = sum((by_a[v] > by_b[v]) if up else (by_a[v] < by_b[v]) for v in by_a)
    decimals = metric_spec(metric).decimals
    ok = mean_a > mean_b if up else mean_a < mean_b
    return (f"- {claim}: {header(metric)} `{a}` {format_number(mean_a, decimals)} vs `{b}` "
            f"{format_number(mean_b, decimals)} (mean over {len(by_a)} hole settings; better in {better} of "
            f"{len(by_a)}) — {verdict(ok)}.")


def claims(group) -> list[str]:
    """The paper's findings on one dataset's records (Suite.sections)."""
    lines = [_compare(group, m, GAN, ABLATION, "the patch discriminator improves the hole over the global-only "
                      "ablation") for m in ("psnr_hole", "ssim_hole", "fid")]
    lines += [_compare(group, m, GAN, "biharmonic", "the GAN beats biharmonic in the hole")
              for m in ("psnr_hole", "ssim_hole", "l1_hole", "fid")]
    return section("Demir & Ünal 2018: global + PatchGAN discriminator vs global only, and against a classical "
                   "fill; one seed at the preset", [line for line in lines if line])


SUITE = Suite(
    name="inpainting",
    title="Inpainting: the patch-based inpainting GAN (PGGAN) against classical fills",
    description=(
        "Demir & Ünal 2018: `patch-inpaint` (global + PatchGAN discriminator) and its global-only ablation fill "
        "fixed test holes (variant = mask kind and hole ratio: centre squares, free-form strokes) next to the "
        "mean-of-valid floor, scikit-image's biharmonic fill and OpenCV's Telea / Navier–Stokes (when installed). "
        "PSNR, SSIM and L1 (in [0, 1] units) inside the hole and in the valid region (known pixels are pasted "
        "back, so valid L1 is 0 and PSNR ∞; SSIM-valid sees the seam), FID of the completed images against the "
        "real test images with the dataset's extractor, LPIPS (AlexNet) where its weights resolve, and "
        "completion time per image."),
    leaderboard="inpainting.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    metrics=("psnr_hole", "ssim_hole", "l1_hole", "fid", "lpips", "psnr_valid", "ssim_valid", "l1_valid",
             "ms_per_image"),
    run=run,
    main_models=MODELS,  # the headline: the patch discriminator against the global-only ablation, and the fills
    main_datasets={"embedded": ("natural",)},  # where the claim is checked without an extractor; scenes: the suite
    variant_label="holes",
    side_metrics=("all",),
    sections=claims,
)
