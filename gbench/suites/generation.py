"""`generation`: train, sample and score the zoo's image generators.

For each dataset of the profile and each model at the preset:

1. train (or resume) the model on the dataset's train split (:func:`gbench.fit.fit`:
   one model directory per (model, dataset, profile, preset, seed), shared
   with the other suites);
2. sample exactly as many images as the reference — the test split — holds
   (FID is biased in N, so every row of a table uses the same reference set
   and the same number of generated samples); conditional models get the
   reference's own labels, shuffled;
3. score FID, KID, IS, precision/recall and density/coverage with the
   dataset's extractor (embedded: `digits-evaluator` on digits, `scenes-evaluator`
   on scenes; paper: `inception-v3-fid`).

Datasets: digits (every model) and `scenes` (3×64×64 colour; DCGAN, which
Radford et al. trained at 64×64) in the embedded profile.

Extra rows: ``real-data`` (the floor: as many train images as the test split
holds, scored the same way; on scenes also with their own captions and label
maps: caption consistency, layout mIoU, R-precision — what the shipped scenes
evaluators reach on real data) and ``<model>@init`` (the same model, seed and
sampling with the exact weights its training starts from,
:func:`zoo.train.init_weights`). Extra columns: VAEs add the test-split ELBO
and IWAE negative log-likelihood (nats and bits/dim); conditional models add
the evaluator's class accuracy on their samples; IcGAN adds edit accuracy and
reconstruction error. Sample grids, DCGAN's latent interpolation and its
vector arithmetic (Radford et al. 2016, Figs. 4 and 7) are saved as titled PNGs
under leaderboards/figures/generation/.
"""

from __future__ import annotations

import math
import time

import numpy as np
import torch

from gbench.claims import mean_value, section, verdict
from gbench.evaluate import (
    Reference, conditioned_records, load_profile_extractor, records_for, sample_metrics, score_images,
)
from gbench.figures import save_grid
from gbench.fit import fit
from gbench.images import float_to_uint8, uint8_to_float
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.suites.base import RunContext, Suite
from gbench.sharding import extract, sample_images

MODELS = ("gan", "dcgan", "vae", "cvae", "beta-vae", "cgan", "icgan", "progan", "stylegan", "sagan", "biggan",
          "pixelcnn")
DATASETS_BY_PROFILE = {"embedded": ("digits", "scenes"), "paper": ("mnist", "cifar10", "celeba")}
# 3×64×64 colour scenes: the convolutional GANs of the curriculum (Radford et al. trained DCGAN at
# 64×64); the MLP models and the small VAEs were designed for 28–32 px digits.
MODELS_BY_DATASET = {"scenes": ("dcgan", "progan", "stylegan", "sagan", "biggan")}
FLOOR = "real-data"
IWAE_K = {"smoke": 4, "quick": 64, "full": 5000}  # Burda et al. report k = 5000
SMOKE_REFERENCE = 128  # tests: a small reference keeps every metric defined and fast (at least d + 1 images)

register_metric(
    MetricSpec("elbo", "ELBO (nats)", True, "evidence lower bound on the test split, per image", decimals=1,
               spread="std over test images"),
    MetricSpec("nll_iwae", "NLL IWAE (nats)", False, "−log p(x) from the IWAE bound (Burda et al. 2016), per image",
               decimals=1, spread="std over test images"),
    MetricSpec("bits_per_dim", "bits/dim", False, "negative log-likelihood in bits per dimension: the IWAE bound "
               "for VAEs, exact for PixelCNN and independent pixels", decimals=3),
    MetricSpec("class_acc", "class acc.", True, "evaluator accuracy on class-conditional samples (requested class)",
               decimals=3),
    MetricSpec("edit_acc", "edit acc.", True, "IcGAN: evaluator accuracy on images edited to a new class",
               decimals=3),
    MetricSpec("recon_mse", "recon. MSE", False, "IcGAN: mean squared reconstruction error on [0, 1] pixels",
               decimals=4),
)


def sample(model, n: int, seed: int, labels: torch.Tensor | None, device) -> torch.Tensor:
    """n samples of a zoo model as uint8 (n, C, H, W), in chunks of 256 from CPU generators seeded
    by (seed, chunk) — the same samples whatever the device and however many processes draw them
    (:func:`gbench.sharding.sample_images`); ``labels`` (n,) for conditional models."""
    return sample_images(model, n, seed, labels, device)


def smoke_reference(ctx: RunContext, test, extractor):
    """The test split as the reference; at the smoke preset its first images only — at least
    SMOKE_REFERENCE and feature_dim + 1, so the covariance FID needs is full rank."""
    if ctx.preset != "smoke":
        return test
    n = max(SMOKE_REFERENCE, extractor.feature_dim + 1)
    return type(test)(test.images[:n], None if test.labels is None else test.labels[:n], test.classes)


def reference_labels(ctx: RunContext, test) -> torch.Tensor:
    """Labels for a conditional model's samples: the reference's own, shuffled with the run's seed
    (the test split's class balance, the same labels in every suite)."""
    return test.labels[torch.randperm(len(test), generator=torch.Generator().manual_seed(ctx.seed))]


def references(ctx: RunContext, datasets):
    """(dataset, train, test, extractor, reference) for each dataset that loads and whose
    extractor resolves (otherwise a record says why); the reference is extracted once."""
    for dataset, train, test in ctx.splits(datasets):
        extractor = load_profile_extractor(ctx, dataset)
        if extractor is None:
            continue
        test = smoke_reference(ctx, test, extractor)
        ctx.say(f"{dataset}: extracting the reference ({len(test)} test images, {extractor.name})")
        yield dataset, train, test, extractor, Reference.from_images(extractor, test.images)


def run(ctx: RunContext) -> None:
    for dataset, train, test, extractor, reference in references(ctx, DATASETS_BY_PROFILE[ctx.profile]):
        gen = torch.Generator().manual_seed(ctx.seed)

        t0 = time.perf_counter()
        rows = torch.randperm(len(train), generator=gen)[:len(test)]
        floor = train.images[rows]
        records = _score_rows(ctx, dataset, FLOOR, floor, reference, extractor, t0)
        if dataset == "scenes":  # real images with their own captions and label maps: the evaluators' floor
            records += _scenes_floor(ctx, rows.numpy(), t0)
        ctx.emit(records)

        for name in ctx.selected(MODELS_BY_DATASET.get(dataset, MODELS)):
            _run_model(ctx, dataset, name, train, test, reference, extractor)


def _scenes_floor(ctx, rows, t0):
    """Caption consistency, layout mIoU and R-precision of real train scenes with their own conditions."""
    from gbench.data.scenes import load_split
    from gbench.metrics.conditioned import ConditionedInputs

    real = load_split("train", index=rows)
    inputs = ConditionedInputs(real.images, captions=real.captions, label_maps=real.label_maps, device=ctx.device,
                               seed=ctx.seed)
    return conditioned_records(ctx, FLOOR, "scenes", inputs, t0)


def _score_rows(ctx, dataset, row, fake, reference, extractor, t0, artifacts=None):
    scores = score_images(extractor, reference, fake, sample_metrics(), seed=ctx.seed)
    return records_for(ctx, row, dataset, scores, n_real=reference.n, n_fake=fake.shape[0], extractor=extractor,
                       wall_seconds=time.perf_counter() - t0, artifacts=artifacts)


def _run_model(ctx, dataset, name, train, test, reference, extractor):
    from zoo.models import MODELS as ZOO

    spec = ZOO.get(name)
    if spec.conditional and test.labels is None:
        ctx.emit([ctx.record(name, dataset, "all", None, reason=f"{dataset} has no labels for a conditional model")])
        return
    labels = reference_labels(ctx, test) if spec.conditional else None
    for trained in (False, True):
        t0 = time.perf_counter()
        model = fit(ctx, name, dataset, train, trained=trained).model
        fake = sample(model, len(test), ctx.seed, labels, ctx.device)
        row = name if trained else f"{name}@init"
        artifacts = _figures(ctx, dataset, name, model, fake, extractor) if trained else {}
        rows = _score_rows(ctx, dataset, row, fake, reference, extractor, t0, artifacts=artifacts)
        if spec.conditional and extractor.num_logits == train.num_classes:
            rows.append(ctx.record(row, dataset, "class_acc", _accuracy(extractor, fake, labels), n_fake=len(fake),
                                   extractor=extractor, wall_seconds=time.perf_counter() - t0))
        if spec.family == "vae":
            rows += _vae_rows(ctx, dataset, row, model, test, spec.conditional, t0)
        if spec.family == "icgan" and extractor.num_logits == train.num_classes:
            rows += _icgan_rows(ctx, dataset, row, model, test, extractor, t0)
        ctx.emit(rows)
        ctx.say(f"{row} on {dataset}: scored in {time.perf_counter() - t0:.1f} s")


def _vae_rows(ctx, dataset, name, model, test, conditional, t0):
    """Test-split ELBO and IWAE NLL per image (nats) and NLL in bits/dim
    (:func:`gbench.suites.likelihood.vae_bounds`)."""
    from gbench.suites.likelihood import vae_bounds

    k = IWAE_K[ctx.preset]
    elbo, bound = vae_bounds(model, test.images[:], test.labels if conditional else None, k,
                             torch.Generator().manual_seed(ctx.seed), ctx.device)
    bpd = model.bits_per_dim(bound)
    common = dict(n_real=len(test), wall_seconds=time.perf_counter() - t0, protocol={"iwae_k": k})
    return [ctx.record(name, dataset, "elbo", elbo.mean().item(), std=elbo.std().item(), **common),
            ctx.record(name, dataset, "nll_iwae", (-bound).mean().item(), std=bound.std().item(), **common),
            ctx.record(name, dataset, "bits_per_dim", bpd.mean().item(), **common)]


def _accuracy(extractor, images: torch.Tensor, labels: torch.Tensor) -> float:
    logits = extract(extractor, images, want=("logits",))["logits"]
    return (logits.argmax(1).cpu() == labels.cpu()).double().mean().item()


def _icgan_rows(ctx, dataset, row, model, test, extractor, t0):
    x = uint8_to_float(test.images[:]).to(ctx.device)
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


def _figures(ctx, dataset, name, model, fake, extractor) -> dict[str, str]:
    """A titled sample grid; for DCGAN also its latent walks. Returns {label: path relative to leaderboards/}."""
    path, rel = ctx.figure_path(f"{dataset}_{name}_{ctx.preset}_samples.png")
    save_grid(fake[:64], path, nrow=8, title=f"{name} on {dataset}: 64 samples (preset {ctx.preset}, seed {ctx.seed})")
    out = {"samples": rel}
    if name == "dcgan":
        out.update(_dcgan_figures(ctx, dataset, model, extractor))
    if name == "stylegan":
        out.update(_style_mixing_figures(ctx, dataset, model))
    if name == "progan":
        out.update(_growing_figure(ctx, dataset, model))
    return out


def _style_mixing_figures(ctx, dataset, model) -> dict[str, str]:
    """Karras et al. 2019, Fig. 3: one grid per style group that exists at the model's resolution —
    rows are source A, columns source B, each mix takes B's w in that group's layers."""
    from zoo.models.stylegan import CROSSOVERS, style_mixing_grid

    out = {}
    size = model.image_shape[-1]
    for group, (lo, hi) in CROSSOVERS.items():
        if lo > size:  # e.g. no 64²+ "fine" layers in a 32×32 model
            continue
        g = torch.Generator().manual_seed(ctx.seed)  # the same sources in every group's grid
        grid = float_to_uint8(style_mixing_grid(model, rows=4, cols=6, crossover=group, generator=g)).cpu()
        path, rel = ctx.figure_path(f"{dataset}_stylegan_{ctx.preset}_mixing_{group}.png")
        save_grid(grid, path, nrow=7, title=f"StyleGAN style mixing, {group} styles ({lo}²–{min(hi, size)}²) "
                                            "from the top row, the rest from the left column")
        out[f"style mixing ({group})"] = rel
    return out


def _growing_figure(ctx, dataset, model) -> dict[str, str]:
    """ProGAN's growth (Karras et al. 2018, Fig. 1 in spirit): the first row of the trainer's sample grid
    (fixed noise, EMA weights) after every phase — stable 4×4, fade-in to 8×8, stable 8×8, … — each
    stage nearest-upsampled to the data size. Presets without grids (smoke) get no figure."""
    from PIL import Image

    from gbench.fit import model_dir

    cfg = model.config
    every = cfg.train.sample_every
    if not every or cfg.stage_steps % every or not cfg.progressive:
        return {}
    where = model_dir(ctx, "progan", dataset)
    c, h, w = model.image_shape
    columns = min(8, math.ceil(math.sqrt(cfg.train.grid_size)))
    rows, names = [], []
    for step in range(cfg.stage_steps, cfg.train.steps + 1, cfg.stage_steps):
        png = where / f"samples_{step:06d}.png"
        if not png.is_file():
            return {}
        grid = torch.from_numpy(np.array(Image.open(png).convert("RGB"))).permute(2, 0, 1)
        # the trainer's grid (torchvision's save_image): h×w cells, 2-pixel padding, ⌈√grid_size⌉ per row
        cells = [grid[:, 2:2 + h, 2 + k * (w + 2):2 + k * (w + 2) + w] for k in range(columns)]
        rows.append(torch.stack(cells)[:, :c])
        level, alpha = model.growth(step - 1)
        names.append(f"{step}: {4 * 2 ** level}²" + (" fade-in" if alpha < 1 else ""))
    path, rel = ctx.figure_path(f"{dataset}_progan_{ctx.preset}_growing.png")
    save_grid(torch.cat(rows), path, nrow=columns, title="ProGAN growing (fixed z, one row per phase, after step): "
                                                    + ", ".join(names))
    return {"growing": rel}


def _dcgan_figures(ctx, dataset, model, extractor) -> dict[str, str]:
    """Latent interpolation and vector arithmetic grids (Radford et al. 2016, Figs. 4 and 7).

    Vector arithmetic needs exemplars "with" and "without" a concept. Radford
    et al. picked three each by hand (smiling woman, neutral woman, …); here
    the concepts are the two classes the evaluator finds most probable on
    average over 512 samples, a and b: z_A are the 3 latents whose samples it
    reads as a with the highest probability, z_B likewise for b, and each row
    adds α·(mean z_A − mean z_B) to the same base latents.
    """
    from zoo.models.dcgan import interpolation_grid, vector_arithmetic

    g = torch.Generator().manual_seed(ctx.seed)
    grid = float_to_uint8(interpolation_grid(model, rows=6, steps=8, generator=g)).cpu()
    path, rel = ctx.figure_path(f"{dataset}_dcgan_{ctx.preset}_interpolation.png")
    save_grid(grid, path, nrow=8, title="DCGAN latent walks: slerp between random z (one walk per row)")
    out = {"latent interpolation": rel}

    z = torch.randn((512, model.latent_dim), generator=g)
    with torch.no_grad():
        images = float_to_uint8(model.generate(z.to(ctx.device))).cpu()
    probs = extractor.extract(images, want=("logits",))["logits"].softmax(1).cpu()
    class_a, class_b = probs.mean(0).argsort(descending=True, stable=True)[:2].tolist()
    z_a = z[probs[:, class_a].argsort(descending=True, stable=True)[:3]]
    z_b = z[probs[:, class_b].argsort(descending=True, stable=True)[:3]]
    base = torch.randn((8, model.latent_dim), generator=g)
    alphas = (0.0, 0.5, 1.0, 1.5)
    grid = float_to_uint8(vector_arithmetic(model, z_a, z_b, base, alphas=alphas)).cpu()
    path, rel = ctx.figure_path(f"{dataset}_dcgan_{ctx.preset}_arithmetic.png")
    save_grid(grid, path, nrow=8, title=f"DCGAN vector arithmetic: z + α·(mean z[reads as {class_a}] − "
                                        f"mean z[reads as {class_b}]), rows α = " + ", ".join(f"{x:g}" for x in alphas))
    out["vector arithmetic"] = rel
    return out


def claims(group) -> list[str]:
    """Findings the curriculum's papers report, checked on one table's records (Suite.sections)."""
    fid = {r.model: mean_value(group, r.model, "fid") for r in group if r.metric == "fid"}
    lines = []
    trained = [m for m in MODELS if fid.get(m) is not None and fid.get(f"{m}@init") is not None]
    if trained:
        worse = [m for m in trained if fid[m] >= fid[f"{m}@init"]]
        lines.append("- Training lowers FID below the same network's initialization: "
                     + ", ".join(f"`{m}` {fid[f'{m}@init']:.1f} → {fid[m]:.1f}" for m in trained)
                     + f" — {verdict(not worse)}" + (f" (not for {', '.join(worse)})." if worse else "."))
    if fid.get(FLOOR) is not None and trained:
        best = min(trained, key=lambda m: fid[m])
        lines.append(f"- Real held-out data is the floor: FID {fid[FLOOR]:.2f} vs the best model (`{best}`) "
                     f"{fid[best]:.2f} — {verdict(fid[FLOOR] < fid[best])}.")
    if fid.get("dcgan") is not None and fid.get("gan") is not None:
        lines.append(f"- A convolutional GAN beats the MLP GAN (Radford et al. 2016): FID {fid['dcgan']:.2f} vs "
                     f"{fid['gan']:.2f} — {verdict(fid['dcgan'] < fid['gan'])}.")
    budget = _budget_text(group)
    if fid.get("dcgan") is not None and fid.get("progan") is not None:
        lines.append(f"- Progressive growing beats a DCGAN trained at full resolution (Karras et al. 2018): FID "
                     f"`progan` {fid['progan']:.2f} vs `dcgan` {fid['dcgan']:.2f} — "
                     f"{verdict(fid['progan'] < fid['dcgan'])} ({budget('progan')}).")
    for m, paper in (("sagan", "Zhang et al. 2019"), ("biggan", "Brock et al. 2019"), ("stylegan", "Karras et al. 2019")):
        if fid.get("dcgan") is not None and fid.get(m) is not None:
            lines.append(f"- `{m}` improves over DCGAN ({paper}): FID {fid[m]:.2f} vs {fid['dcgan']:.2f} — "
                         f"{verdict(fid[m] < fid['dcgan'])} ({budget(m)}).")
    for m in ("vae", "cvae", "beta-vae"):
        nll, elbo = mean_value(group, m, "nll_iwae"), mean_value(group, m, "elbo")
        if nll is not None and elbo is not None:
            lines.append(f"- `{m}`: the IWAE bound is at least as tight as the ELBO (Burda et al. 2016): "
                         f"NLL {nll:.1f} ≤ −ELBO {-elbo:.1f} nats — {verdict(nll <= -elbo)}.")
    return section("Goodfellow et al. 2014, Radford et al. 2016, Burda et al. 2016, Karras et al. 2018/2019, "
                   "Zhang et al. 2019, Brock et al. 2019", lines)


def _budget_text(group):
    """``budget(model) -> str``: the training budgets of ``model`` and DCGAN at the records' preset, as
    real images the discriminator saw (steps × batch × D steps per step, from the zoo's presets), so
    a comparison at unequal budgets says so."""
    from zoo.models import MODELS as ZOO

    preset = group[0].preset if group else "quick"

    def images(name):
        train = ZOO.get(name).presets[preset]["train"]
        return train.steps * train.batch_size * train.k_d_steps

    def budget(name):
        ratio = images("dcgan") / images(name)
        return (f"budgets at preset {preset}: `{name}` {images(name):,} real images seen by D, `dcgan` "
                f"{images('dcgan'):,}" + (f", {ratio:.1f}× more" if ratio > 1.05 else ""))
    return budget


SUITE = Suite(
    name="generation",
    title="Generation: the zoo's GANs and VAEs",
    description=("Each model is trained on the train split at the preset, then as many samples as the test split "
                 "holds are scored against the test split with the profile's extractor. `real-data` is the floor "
                 "(train images scored the same way); `<model>@init` is the same model with the exact weights its "
                 "training starts from."),
    leaderboard="generation.md",
    datasets=DATASETS_BY_PROFILE,
    models=MODELS,
    rows=(FLOOR, *MODELS, *(f"{m}@init" for m in MODELS)),
    metrics=("fid", "kid", "is", "precision", "recall", "density", "coverage",
             "class_acc", "edit_acc", "recon_mse", "elbo", "nll_iwae", "bits_per_dim",
             "caption_consistency", "layout_miou", "r_precision"),
    run=run,
    main_models=("gan", "dcgan", "vae"),
    main_datasets={"embedded": ("digits",)},  # the 64×64 scenes models train for minutes each
    sections=claims,
)
