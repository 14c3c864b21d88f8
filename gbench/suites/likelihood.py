"""`likelihood`: exact likelihoods and bounds on one test split and one discretization.

The curriculum sorts generative models by what they do with p(x): fully
visible models factorize it and compute it exactly (PixelCNN, van den Oord
et al. 2016: p(x) = Π_i p(x_i | x_<i)); latent-variable models bound it (the
VAE's ELBO, Kingma & Welling 2014, and the importance-weighted bound L_k,
Burda et al. 2016: −ELBO ≥ −L_k ≥ −log p(x) in expectation); GANs give no
likelihood at all (the `generation` suite scores their samples). Numbers of
both kinds compare only on the same test images modelled as the same discrete
values, so each variant fixes the discretization for every row:

* ``binary``: pixels thresholded at level 128 (x01 > 0.5), one bit each.
  PixelCNN with ``binarized=True`` gives −log p(x) exactly; the VAE's
  Bernoulli decoder on the same bits gives exact log p(x|z), so its ELBO and
  L_k bound the same discrete log p(x).
* ``8-bit``: the 256 gray levels. PixelCNN's 256-way softmax is exact; the
  VAE with a Gaussian decoder is a density, evaluated on uniformly dequantized
  images (k + u)/128 − 1, u ~ U[0, 1), and its bound plus D·log(2/256) (the
  bin width on that scale) bounds the discrete log-likelihood (Theis et al.
  2016, Sec. 3.1); the records hold that discrete bound, so in bits/dim it is
  −L/(D ln 2) + 7.

Rows: ``pixelcnn`` (the zoo model; its 8-bit network is the one `generation`
trains, same directory), ``vae`` (its binary network in ``seed<k>-binary``,
the Gaussian decoder in ``seed<k>-gaussian``) and ``independent-pixels``, the
floor every model must beat: the train split's per-pixel marginals with
add-one smoothing, an exact likelihood of a model with no dependencies.
Metrics (nats per image; the spread is the std over test images):
``nll_exact`` for exact models, ``elbo`` and ``nll_iwae`` (k per preset) for
the VAE, and ``bits_per_dim`` of the tightest number a row has.

Deviations from the papers' protocol: van den Oord et al. (Table 4, 81.30
nats for PixelCNN) and Burda et al. (Table 1) use binarized MNIST with one
fixed stochastic binarization (Larochelle & Murray 2011); the threshold here
is deterministic, which gives a different (easier, less noisy) data set, and
the embedded profile uses scikit-learn's digits upscaled to 32×32 (1,024
dimensions, not 784), so the numbers are not on the papers' scale.
"""

from __future__ import annotations

import math
import time

import torch

from gbench.claims import mean_value, section, verdict
from gbench.data import ImageSet
from gbench.fit import fit
from gbench.images import uint8_to_float
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.suites.base import RunContext, Suite
from zoo.losses import DEQUANTIZED_BIN_WIDTH

MODELS = ("pixelcnn", "vae")
FLOOR = "independent-pixels"
DATASETS_BY_PROFILE = {"embedded": ("digits",), "paper": ("mnist",)}
VARIANTS = ("binary", "8-bit")
IWAE_K = {"smoke": 4, "quick": 256, "full": 5000}  # Burda et al. report k = 5000
SMOKE_TEST_IMAGES = 32
# variant → (model → its config overrides and model-directory variant); {} = the preset's own config
TRAINING = {
    "binary": {"pixelcnn": {"binarized": True}, "vae": {"decoder": "bernoulli"}},
    "8-bit": {"pixelcnn": {}, "vae": {"decoder": "gaussian"}},
}
DIRECTORY = {("pixelcnn", "binary"): "binary", ("vae", "binary"): "binary", ("vae", "8-bit"): "gaussian"}

register_metric(
    MetricSpec("nll_exact", "NLL exact (nats)", False, "−log p(x) computed exactly (autoregressive or "
               "independent pixels), per test image", decimals=1, spread="std over test images"),
)


def binarize(images: torch.Tensor) -> torch.Tensor:
    """uint8 (N, C, H, W) → uint8 {0, 255}: level ≥ 128, i.e. x01 = level/255 > 0.5 (the bits PixelCNN's
    binarized variant models, and exact Bernoulli targets for the VAE)."""
    return (images >= 128).to(torch.uint8) * 255


def independent_pixels_nll(train: torch.Tensor, test: torch.Tensor, levels: int) -> torch.Tensor:
    """Exact −log p(x) (nats, float64 (N_test,)) under independent per-pixel categoricals over
    ``levels`` values fitted on ``train`` with add-one (Laplace) smoothing:
    p_d(v) = (count_d(v) + 1) / (N_train + levels). Images uint8 (N, C, H, W); for levels = 2 the
    values are {0, 255} (``binarize``) and are mapped to {0, 1}."""
    def values(x):
        v = x.reshape(x.shape[0], -1).long()
        return (v > 0).long() if levels == 2 else v

    tr, te = values(train), values(test)
    counts = torch.zeros(tr.shape[1], levels, dtype=torch.float64)
    counts.scatter_add_(1, tr.t(), torch.ones_like(tr.t(), dtype=torch.float64))
    log_p = torch.log((counts + 1.0) / (tr.shape[0] + levels))  # (D, levels)
    return -log_p.gather(1, te.t()).sum(0)


def vae_bounds(model, images: torch.Tensor, labels: torch.Tensor | None, k: int,
               generator: torch.Generator, device) -> tuple[torch.Tensor, torch.Tensor]:
    """(ELBO, L_k) per image, float64 (N,) nats, of a zoo VAE on uint8 ``images``.

    A Gaussian decoder is a density, so it is evaluated on dequantized images
    (:func:`zoo.losses.dequantize_uint8`) and ``model.bits_per_dim`` adds the
    bin width; the Bernoulli decoder takes the images as they are.
    """
    from zoo.losses import dequantize_uint8

    x = dequantize_uint8(images, generator) if model.config.decoder == "gaussian" else uint8_to_float(images)
    x = x.to(device)
    with torch.no_grad():
        elbo = torch.cat([model.elbo(x[i:i + 128], None if labels is None else labels[i:i + 128],
                                     generator=generator).cpu() for i in range(0, len(x), 128)])
        bound = torch.cat([model.iwae_bound(x[i:i + 32], None if labels is None else labels[i:i + 32], k=k,
                                            generator=generator).cpu() for i in range(0, len(x), 32)])
    return elbo, bound


def run(ctx: RunContext) -> None:
    for dataset, train, test in ctx.splits(DATASETS_BY_PROFILE[ctx.profile]):
        test_images = test.images[:SMOKE_TEST_IMAGES] if ctx.preset == "smoke" else test.images[:]
        if test_images.shape[1] != 1:
            ctx.emit([ctx.record("all", dataset, "all", None, reason=f"{dataset} is not gray-level: PixelCNN "
                                 "models one channel (its R→G→B masking is left out)")])
            continue
        for variant in ctx.selected_variants(VARIANTS):
            binary = variant == "binary"
            train_v = ImageSet(binarize(train.images[:]) if binary else train.images, None, None)
            test_v = binarize(test_images) if binary else test_images
            t0 = time.perf_counter()
            nll = independent_pixels_nll(train_v.images[:], test_v, 2 if binary else 256)
            ctx.emit(_exact_records(ctx, FLOOR, dataset, variant, nll, test_v[0].numel(), t0,
                                     {"smoothing": "add-one"}))
            for name in ctx.selected(MODELS):
                ctx.emit(_model_records(ctx, name, dataset, variant, train_v, test_v))


def _model_records(ctx, name, dataset, variant, train, test):
    overrides = TRAINING[variant][name]
    directory = DIRECTORY.get((name, variant), "")
    t0 = time.perf_counter()
    model = fit(ctx, name, dataset, train, variant=directory, overrides=overrides or None).model
    if name == "pixelcnn":
        x = uint8_to_float(test).to(ctx.device)
        with torch.no_grad():
            nll = torch.cat([model.nll(x[i:i + 128]).double().cpu() for i in range(0, len(x), 128)])
        return _exact_records(ctx, name, dataset, variant, nll, test[0].numel(), t0, {})
    k = IWAE_K[ctx.preset]
    elbo, bound = vae_bounds(model, test, None, k, torch.Generator().manual_seed(ctx.seed), ctx.device)
    if model.config.decoder == "gaussian":  # density bounds → bounds on the discrete likelihood: + D·log(bin width)
        shift = test[0].numel() * math.log(DEQUANTIZED_BIN_WIDTH)
        elbo, bound = elbo + shift, bound + shift
    common = dict(variant=variant, n_real=len(test), protocol={"iwae_k": k, "decoder": model.config.decoder})
    wall = time.perf_counter() - t0
    return [ctx.record(name, dataset, "elbo", elbo.mean().item(), std=elbo.std().item(), wall_seconds=wall, **common),
            ctx.record(name, dataset, "nll_iwae", (-bound).mean().item(), std=bound.std().item(), wall_seconds=wall,
                       **common),
            ctx.record(name, dataset, "bits_per_dim", (-bound).mean().item() / (test[0].numel() * math.log(2.0)),
                       wall_seconds=wall, **common)]


def _exact_records(ctx, row, dataset, variant, nll, dims, t0, protocol):
    """``nll_exact`` (nats per image, std over images) and ``bits_per_dim`` = nll / (D ln 2)."""
    common = dict(variant=variant, n_real=len(nll), protocol=protocol, wall_seconds=time.perf_counter() - t0)
    return [ctx.record(row, dataset, "nll_exact", nll.mean().item(), std=nll.std().item(), **common),
            ctx.record(row, dataset, "bits_per_dim", nll.mean().item() / (dims * math.log(2.0)), **common)]


def claims(group) -> list[str]:
    """The taxonomy's findings, per variant, on one table's records (Suite.sections)."""
    lines = []
    for variant in VARIANTS:
        iwae, elbo = mean_value(group, "vae", "nll_iwae", variant), mean_value(group, "vae", "elbo", variant)
        bpd = {m: mean_value(group, m, "bits_per_dim", variant) for m in (*MODELS, FLOOR)}
        if iwae is not None and elbo is not None:
            lines.append(f"- {variant}: the IWAE bound is at least as tight as the ELBO (Burda et al. 2016): "
                         f"{iwae:.1f} ≤ {-elbo:.1f} nats — {verdict(iwae <= -elbo)}.")
        if bpd["pixelcnn"] is not None and bpd["vae"] is not None:
            lines.append(f"- {variant}: PixelCNN's exact NLL is below the VAE's IWAE bound (binarized MNIST: "
                         f"PixelCNN 81.30 nats, van den Oord et al. 2016 Table 4; VAE and IWAE ≥ 82.9 nats, Burda et "
                         f"al. 2016 Table 1): {bpd['pixelcnn']:.3f} vs "
                         f"{bpd['vae']:.3f} bits/dim — {verdict(bpd['pixelcnn'] < bpd['vae'])}.")
        for m in MODELS:
            if bpd[m] is not None and bpd[FLOOR] is not None:
                lines.append(f"- {variant}: `{m}` beats independent pixels: {bpd[m]:.3f} vs {bpd[FLOOR]:.3f} "
                             f"bits/dim — {verdict(bpd[m] < bpd[FLOOR])}.")
    return section("Kingma & Welling 2014, Burda et al. 2016, van den Oord et al. 2016, Theis et al. 2016", lines)


SUITE = Suite(
    name="likelihood",
    title="Likelihood: exact (PixelCNN) vs bounds (VAE, IWAE) on one discretization",
    description=("Negative log-likelihood of the test split in nats per image and bits/dim, per discretization "
                 "(`binary`: pixels thresholded at 128; `8-bit`: the gray levels, the VAE's Gaussian decoder on "
                 "dequantized images plus the bin width). PixelCNN and `independent-pixels` (the train split's "
                 "per-pixel marginals, add-one smoothed) are exact; the VAE gives its ELBO and IWAE bound."),
    leaderboard="likelihood.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    rows=(FLOOR, *MODELS),
    metrics=("nll_exact", "elbo", "nll_iwae", "bits_per_dim"),
    run=run,
    main_models=("vae",),
    # The main job: the binary VAE (its two claims hold on digits); the Gaussian 8-bit VAE trains as long
    # again and runs with the whole suite.
    main_variants=("binary",),
    variant_label="discretization",
    sections=claims,
)
