"""`generation`: train, sample and score the zoo's image generators.

For each dataset of the profile and each model at the preset:

1. train (or resume) the model on the dataset's train split (``zoo.train.train``);
2. sample exactly as many images as the reference — the test split — holds
   (FID is biased in N, so every row of a table uses the same reference set
   and the same number of generated samples); conditional models get the
   reference's own labels, shuffled;
3. score FID, KID, IS, precision/recall and density/coverage with the
   profile's extractor (`digits-evaluator` embedded, `inception-v3-fid` paper).

Extra rows: ``real-data`` (the floor: as many train images as the test split
holds, scored the same way) and ``<model>@init`` (the same model, seed and
sampling before any training). Extra columns: VAEs add the test-split ELBO
and IWAE negative log-likelihood (nats and bits/dim); conditional models add
the evaluator's class accuracy on their samples; IcGAN adds edit accuracy and
reconstruction error. Sample grids and the DCGAN interpolation grid are saved
as PNG under leaderboards/figures/generation/.
"""

from __future__ import annotations

import time

import torch

from gbench.evaluate import GENERATION_METRICS, Reference, load_profile_extractor, score_images
from gbench.figures import save_grid
from gbench.images import float_to_uint8, uint8_to_float
from gbench.metrics.info import MetricInfo, register_metrics
from gbench.suites.base import RunContext, Suite

MODELS = ("gan", "dcgan", "vae", "cvae", "beta-vae", "cgan", "icgan")
DATASETS_BY_PROFILE = {"embedded": ("digits",), "paper": ("mnist", "cifar10", "celeba")}
FLOOR = "real-data"
IWAE_K = {"smoke": 4, "quick": 64, "full": 5000}  # Burda et al. report k = 5000

register_metrics(
    MetricInfo("elbo", "ELBO (nats)", True, "evidence lower bound on the test split, per image", 1),
    MetricInfo("nll_iwae", "NLL IWAE (nats)", False, "−log p(x) from the IWAE bound (Burda et al. 2016), per image", 1),
    MetricInfo("bits_per_dim", "bits/dim", False, "IWAE negative log-likelihood in bits per dimension", 3),
    MetricInfo("class_acc", "class acc.", True, "evaluator accuracy on class-conditional samples (requested class)", 3),
    MetricInfo("edit_acc", "edit acc.", True, "IcGAN: evaluator accuracy on images edited to a new class", 3),
    MetricInfo("recon_mse", "recon. MSE", False, "IcGAN: mean squared reconstruction error on [0, 1] pixels", 4),
)


def _train_model(ctx: RunContext, name: str, train, num_classes: int | None, shape, trained: bool = True):
    from zoo.models import MODELS as ZOO
    from zoo.train import train as fit

    spec = ZOO.get(name)
    config = spec.make_config(ctx.preset, shape, num_classes)
    torch.manual_seed(ctx.seed)  # parameter init is part of the seeded run
    model = spec.build(config).to(ctx.device)
    if trained:
        labels = train.labels if spec.conditional else None
        fit(model, config, uint8_to_float(train.images), labels, ctx.run_dir / name,
            ctx.device, ctx.seed, progress=ctx.progress)
    model.eval()
    return spec, model


def _sample(model, n: int, seed: int, labels: torch.Tensor | None, device) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)  # CPU noise: the same samples whatever the device
    out = []
    with torch.no_grad():
        for i in range(0, n, 256):
            y = None if labels is None else labels[i:i + 256].to(device)
            out.append(float_to_uint8(model.sample(min(256, n - i), generator=g, labels=y)).cpu())
    return torch.cat(out)


def _score_rows(ctx, dataset, model_name, fake, reference, extractor, t0, artifacts=None, extra=None):
    values = score_images(extractor, reference, fake, GENERATION_METRICS, seed=ctx.seed)
    wall = time.perf_counter() - t0
    return [ctx.record(model_name, dataset, metric, v, std=s, n_real=reference.n, n_fake=fake.shape[0],
                       extractor=extractor, wall_seconds=wall, artifacts=artifacts, extra=extra)
            for metric, (v, s) in values.items()]


def _vae_rows(ctx, dataset, name, model, test, conditional, t0):
    """Test-split ELBO and IWAE NLL per image (nats) and NLL in bits/dim.

    A Gaussian decoder is a density, so it is evaluated on dequantized images
    (``zoo.losses.dequantize_uint8``) and ``model.bits_per_dim`` adds the bin
    width; the Bernoulli decoder takes the images as they are.
    """
    from zoo.losses import dequantize_uint8

    g = torch.Generator().manual_seed(ctx.seed)
    if model.config.decoder == "gaussian":
        x = dequantize_uint8(test.images, g)
    else:
        x = uint8_to_float(test.images)
    y = test.labels if conditional else None
    k = IWAE_K[ctx.preset]
    with torch.no_grad():
        elbo = torch.cat([model.elbo(x[i:i + 128], None if y is None else y[i:i + 128], generator=g).cpu()
                          for i in range(0, len(x), 128)])
        bound = torch.cat([model.iwae_bound(x[i:i + 32], None if y is None else y[i:i + 32], k=k, generator=g).cpu()
                           for i in range(0, len(x), 32)])
    bpd = model.bits_per_dim(bound)
    common = dict(n_real=len(test), wall_seconds=time.perf_counter() - t0, extra={"iwae_k": k})
    return [ctx.record(name, dataset, "elbo", elbo.mean().item(), std=elbo.std().item(), **common),
            ctx.record(name, dataset, "nll_iwae", (-bound).mean().item(), std=bound.std().item(), **common),
            ctx.record(name, dataset, "bits_per_dim", bpd.mean().item(), **common)]


def _accuracy(extractor, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = extractor.extract(images, want=("logits",))["logits"]
    return (logits.argmax(1).cpu() == labels.cpu()).double().mean().item()


def run(ctx: RunContext) -> None:
    extractor = load_profile_extractor(ctx)
    if extractor is None:
        return
    for dataset, spec in ctx.available_datasets(DATASETS_BY_PROFILE[ctx.profile]):
        train, test = spec("train", ctx.data_root, ctx.download), spec("test", ctx.data_root, ctx.download)
        if ctx.preset == "smoke":  # tests: a small reference keeps every metric defined and fast
            test = type(test)(test.images[:128], None if test.labels is None else test.labels[:128], test.classes)
        reference = Reference.from_images(extractor, test.images)
        n = len(test)
        gen = torch.Generator().manual_seed(ctx.seed)

        t0 = time.perf_counter()
        floor = train.images[torch.randperm(len(train), generator=gen)[:n]]
        ctx.emit(_score_rows(ctx, dataset, FLOOR, floor, reference, extractor, t0))

        for name in ctx.selected(MODELS):
            _run_model(ctx, dataset, name, train, test, reference, extractor)


def _run_model(ctx, dataset, name, train, test, reference, extractor):
    num_classes = train.num_classes
    labels = None
    for trained in (False, True):
        t0 = time.perf_counter()
        spec, model = _train_model(ctx, name, train, num_classes, tuple(train.images.shape[1:]), trained)
        if spec.conditional and test.labels is None:
            ctx.emit([ctx.record(name, dataset, "all", None, reason=f"{dataset} has no labels for a conditional model")])
            return
        if spec.conditional:
            labels = test.labels[torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))]
        fake = _sample(model, len(test), ctx.seed, labels, ctx.device)
        row = name if trained else f"{name}@init"
        artifacts = {}
        if trained:
            path, rel = ctx.figure_path(f"{dataset}_{name}_{ctx.preset}_samples.png")
            save_grid(fake[:64], path, nrow=8)
            artifacts["samples"] = rel
            if name == "dcgan":
                artifacts.update(_dcgan_figures(ctx, dataset, model, extractor))
        rows = _score_rows(ctx, dataset, row, fake, reference, extractor, t0, artifacts=artifacts)
        if spec.conditional and extractor.num_logits == num_classes:
            rows.append(ctx.record(row, dataset, "class_acc", _accuracy(extractor, fake, labels), n_fake=len(fake),
                                   extractor=extractor, wall_seconds=time.perf_counter() - t0))
        if spec.family == "vae":
            rows += _vae_rows(ctx, dataset, row, model, test, spec.conditional, t0)
        if spec.family == "icgan" and extractor.num_logits == num_classes:
            rows += _icgan_rows(ctx, dataset, row, model, test, extractor, t0)
        ctx.emit(rows)


def _icgan_rows(ctx, dataset, row, model, test, extractor, t0):
    x = uint8_to_float(test.images).to(ctx.device)
    g = torch.Generator().manual_seed(ctx.seed + 1)
    new = (test.labels + torch.randint(1, test.num_classes, test.labels.shape, generator=g)) % test.num_classes
    with torch.no_grad():
        edited = torch.cat([float_to_uint8(model.edit(x[i:i + 256], new[i:i + 256].to(ctx.device))).cpu()
                            for i in range(0, len(x), 256)])
        recon = torch.cat([model.reconstruct(x[i:i + 256]).cpu() for i in range(0, len(x), 256)])
    mse = ((recon.clamp(-1, 1) - x.cpu()) / 2).pow(2).mean().item()
    wall = time.perf_counter() - t0
    return [ctx.record(row, dataset, "edit_acc", _accuracy(extractor, edited, new), n_fake=len(edited),
                       extractor=extractor, wall_seconds=wall),
            ctx.record(row, dataset, "recon_mse", mse, n_real=len(x), wall_seconds=wall)]


def _dcgan_figures(ctx, dataset, model, extractor) -> dict[str, str]:
    """Latent interpolation and vector arithmetic grids (Radford et al. 2016, Figs. 4, 7).

    Returns {label: path relative to the leaderboards folder}.
    """
    from zoo.models.dcgan import interpolation_grid

    g = torch.Generator().manual_seed(ctx.seed)
    grid = float_to_uint8(interpolation_grid(model, rows=6, steps=8, generator=g)).cpu()
    path, rel = ctx.figure_path(f"{dataset}_dcgan_{ctx.preset}_interpolation.png")
    save_grid(grid, path, nrow=8)
    return {"latent interpolation": rel}


SUITE = Suite(
    name="generation",
    title="Generation: the zoo's GANs and VAEs",
    description=("Each model is trained on the train split at the preset, then as many samples as the test split "
                 "holds are scored against the test split with the profile's extractor. `real-data` is the floor "
                 "(train images scored the same way); `<model>@init` is the same model before training."),
    leaderboard="generation.md",
    datasets=DATASETS_BY_PROFILE,
    models=(FLOOR, *MODELS, *(f"{m}@init" for m in MODELS)),
    metrics=(*GENERATION_METRICS, "class_acc", "edit_acc", "recon_mse", "elbo", "nll_iwae", "bits_per_dim"),
    run=run,
    quick_models=("gan", "dcgan", "vae"),
)
