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
   PSNR and SSIM (the registered ``psnr`` / ``ssim``: MATLAB's rounded Y, as
   the published tables; a grayscale image on its own levels), LPIPS (AlexNet, when
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

Grayscale test images stay grayscale through degradation, upscaling and
scoring (:mod:`gbench.suites.sr_scoring` says how an RGB network upscales
them).

Records are emitted per (model, set) as soon as they are scored; models are
trained (or resumed) through :func:`gbench.fit.fit`, keyed by the training
pool (``natural`` or ``div2k``). A comparison figure (the same crop of each
test image, titled columns bicubic | SRResNet | SRGAN | HR) is saved per set
as PNG and embedded in the leaderboard, under the paper's findings checked on
the records.

Where things live: test sets and training patches in
:mod:`gbench.data.sr_sets`; upscaling and scoring in
:mod:`gbench.suites.sr_scoring`; the figure in :mod:`gbench.suites.sr_figures`;
the paper's findings in :mod:`gbench.suites.sr_checks`.
"""

from __future__ import annotations

import time

from gbench.data.sr_sets import load_test_set, training_patches
from gbench.fit import fit
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.suites.base import RunContext, Suite
from gbench.suites.sr_checks import paper_section
from gbench.suites.sr_figures import comparison_section, save_crops, save_figure
from gbench.suites.sr_scoring import (SCALE, bicubic_upscaler, count_parameters, grayscale_note, load_lpips,
                                      network_upscaler, score_set)
from zoo.models import MODELS as ZOO_MODELS
from zoo.models.srresnet import patch_shape

MODELS = ("bicubic", "srresnet", "srgan")
SETS_BY_PROFILE = {"embedded": ("natural",), "paper": ("set5", "set14", "bsd100")}
# Size of the fixed pool of random HR training patches the trainer draws minibatches from.
TRAIN_PATCHES = {"smoke": 32, "quick": 4096, "full": 16384}
SR_METRICS = ("psnr", "ssim", "lpips", "hf_ratio", "params", "ms_per_image")

register_metric(
    MetricSpec("params", "parameters", None, "number of model parameters (generator only)", decimals=0),
    MetricSpec("ms_per_image", "ms / image", None,
               "mean inference wall time per test image on the run's device", decimals=1),
)


def _paper(model: str) -> dict:
    """The model's paper settings: its zoo preset ``full``."""
    return ZOO_MODELS.get(model).presets["full"]


def describe_srresnet(config) -> str:
    """The run's SRResNet settings next to the paper's (record ``extra``: the leaderboard notes)."""
    paper = _paper("srresnet")
    t, p = config.train, paper["train"]
    decay = f" (÷10 from step {config.lr_decay_step})" if config.lr_decay_step else ""
    return (f"{config.num_blocks} blocks × {config.channels} channels{'' if config.batch_norm else ' without BN'}, "
            f"{config.image_shape[1]}² HR patches, {t.steps} steps × batch {t.batch_size}, Adam lr {t.lr:g}{decay}, "
            f"{config.loss} (paper: {paper['num_blocks']} × {paper['channels']} with BN, {paper['patch']}², "
            f"{p.steps:,} × {p.batch_size}, lr {p.lr:g}, mse)")


def describe_srgan(config) -> str:
    """The run's SRGAN settings next to the paper's."""
    t, p = config.train, _paper("srgan")
    return (f"D width {config.d_channels}, dense {config.d_hidden}, {t.steps} steps × batch {t.batch_size}, "
            f"Adam lr {t.lr:g}, adversarial weight {config.adversarial_weight:g} "
            f"(paper: {p['d_channels']}, {p['d_hidden']}, {p['train'].steps:,} steps, lr 1e-4 then 1e-5)")


DESCRIBE = {"srresnet": describe_srresnet, "srgan": describe_srgan}


def _test_sets(ctx: RunContext) -> dict[str, list]:
    """The profile's test sets that load; an "unavailable" record for each that does not."""
    sets = {}
    for name in SETS_BY_PROFILE[ctx.profile]:
        hrs, why = load_test_set(name, ctx.data_root, SCALE)
        if hrs is None:
            ctx.emit([ctx.record("all", name, "all", None, reason=why)])
        else:
            sets[name] = hrs
    return sets


def _network(ctx: RunContext, model: str, train):
    """(upscaler, parameter count, record extra) of a trained ``srresnet`` or ``srgan``.

    SRGAN starts from the trained SRResNet: :func:`gbench.fit.fit` trains (or
    resumes) SRResNet on the same pool first and keeps it for the run.
    """
    fitted = fit(ctx, model, train.name, train.images)
    extra = {"train_data": train.note, **fitted.facts, model: DESCRIBE[model](fitted.config)}
    return network_upscaler(fitted.model, ctx.device), count_parameters(fitted.model.generator), extra


def run(ctx: RunContext) -> None:
    test_sets = _test_sets(ctx)
    if not test_sets:
        return
    lpips, lpips_reason = load_lpips(ctx)
    train = None  # drawn once, when the first network needs it
    for model in ctx.selected(MODELS):
        t0 = time.perf_counter()
        if model == "bicubic":
            upscale, params, extra = bicubic_upscaler, 0, {"method": "gbench.imresize ×4 of the LR (MATLAB bicubic)"}
        else:
            if train is None:
                train = training_patches(TRAIN_PATCHES[ctx.preset], patch_shape(ctx.preset)[1], ctx.seed,
                                         div2k_root=ctx.data_root if ctx.profile == "paper" else None)
            upscale, params, extra = _network(ctx, model, train)
        ctx.say(f"{model}: ready in {time.perf_counter() - t0:.1f} s; scoring")
        for dataset, hrs in test_sets.items():
            figure, rel = ctx.figure_path(f"{dataset}_{ctx.preset}_comparison.png")
            gray = grayscale_note(hrs, network=model != "bicubic")
            records, srs = score_set(ctx, model, dataset, hrs, upscale, params, lpips, lpips_reason,
                                     {**extra, "grayscale": gray} if gray else extra, {"comparison": rel})
            save_crops(ctx.work_dir(dataset), model, hrs, srs)
            save_figure(figure, ctx.work_dir(dataset), MODELS, hrs)
            ctx.emit(records)


def sections(records) -> list[str]:
    """After the main table: the paper's findings, then the comparison figure."""
    return paper_section(records) + comparison_section(records, MODELS)


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
    main_models=("bicubic", "srresnet"),  # the headline: SRResNet against bicubic
    sections=sections,
)
