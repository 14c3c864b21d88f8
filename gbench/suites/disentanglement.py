"""`disentanglement`: train the zoo's dSprites VAEs and score their codes against the true factors.

For each model (``burgess-vae``, ``burgess-beta-vae``, ``beta-tcvae``) at
the preset:

1. train (or resume) on the dSprites ``train`` split (20,000 procedurally
   rendered images, uint8 0/255; the trainer maps each batch to [-1, 1])
   through :func:`gbench.fit.fit`;
   β-TCVAE's minibatch-weighted TC estimate uses N = 20,000;
2. draw fresh factor combinations uniformly from all 737,280
   (``numpy.random.default_rng(seed)``, the same draws for every model),
   render them and encode them to posterior means μ(x) — the codes;
3. score the codes: MIG (20 equal-width bins, on all codes), SAP (discrete
   factors, LinearSVC C = 0.01) and DCI (gradient-boosted trees) on a seeded
   2/3 train · 1/3 test split of the same codes, and the FactorVAE score
   (majority vote over batches of 64 with one factor fixed, rendered and
   encoded on demand, its own ``default_rng(seed)``);
4. on the dSprites ``test`` split: reconstruction error as the Bernoulli
   negative log-likelihood −log p(x | z = μ(x)) in nats per image (the binary
   cross-entropy summed over the 4,096 pixels; not pixel MSE) and the ELBO
   (β = 1, one posterior sample per image, seeded);
5. save a latent-traversal grid: rows are the 10 latents, sorted by their
   mean KL(q(z_d|x) ‖ N(0, 1)) over the test images (informative latents
   first, collapsed ones last), columns set that latent to −2.5 … 2.5 (11
   values) in the code of test image 0, the other latents kept.

Records: one per model × metric; ``n_real`` is the number of codes (or test
images) behind the number. Evaluation sizes per preset are in
:data:`PROTOCOLS` (``full`` follows disentanglement_lib: 10,000 codes,
FactorVAE 10,000 / 5,000 votes, DCI with 100 trees).

On the CPU the suite runs torch on one thread: float32 sums then have one
order whatever the core count (the same records on any CPU), and these small
networks train as fast on one core as on two, much faster when cores are shared.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass

import numpy as np
import torch

from gbench.claims import mean_value, section, verdict
from gbench.data import dsprites
from gbench.data.base import ImageSet
from gbench.figures import save_grid
from gbench.fit import fit
from gbench.images import float_to_uint8, uint8_to_float
from gbench.metrics.disentanglement import dci, factorvae_score, mig, sap
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.suites.base import RunContext, Suite

MODELS = ("burgess-vae", "burgess-beta-vae", "beta-tcvae")
DATASET = "dsprites"
METRIC_NAMES = ("mig", "sap", "dci_disentanglement", "dci_completeness", "dci_informativeness",
                "factorvae_score", "recon_nll", "elbo")
MIG_BINS = 20  # Locatello et al. 2019's protocol
TRAVERSAL_VALUES = torch.linspace(-2.5, 2.5, 11)
ENCODE_CHUNK = 1000

register_metric(
    MetricSpec("recon_nll", "recon. NLL (nats)", False, "Bernoulli −log p(x|z=μ(x)) per test image (summed BCE)",
               decimals=1, spread="std over test images"),
    MetricSpec("elbo", "ELBO (nats)", True, "evidence lower bound on the test split, per image", decimals=1,
               spread="std over test images"),
)


@dataclass(frozen=True)
class Protocol:
    """How much evaluation a preset buys.

    Attributes:
        num_codes: fresh images encoded for MIG, SAP and DCI (SAP and DCI
            fit on 2/3 of them and test on 1/3).
        dci_trees: boosting stages of DCI's GradientBoostingClassifier.
        factorvae_train, factorvae_eval: FactorVAE votes (batches of 64).
        factorvae_variance: images for FactorVAE's per-latent scales.
        num_test: test-split images for reconstruction NLL, ELBO and the KL order.
    """

    num_codes: int
    dci_trees: int
    factorvae_train: int
    factorvae_eval: int
    factorvae_variance: int
    num_test: int


PROTOCOLS = {
    "smoke": Protocol(num_codes=300, dci_trees=2, factorvae_train=10, factorvae_eval=5, factorvae_variance=256,
                      num_test=64),
    # quick: FactorVAE's standard error is ≈ 0.04 at 150 eval votes (0.025 · √(400/150)).
    "quick": Protocol(num_codes=4000, dci_trees=10, factorvae_train=250, factorvae_eval=150,
                      factorvae_variance=4000, num_test=2000),
    # full: disentanglement_lib's sizes (Locatello et al. 2019).
    "full": Protocol(num_codes=10_000, dci_trees=100, factorvae_train=10_000, factorvae_eval=5000,
                     factorvae_variance=10_000, num_test=5000),
}
FACTORVAE_BATCH = 64


@contextlib.contextmanager
def _one_thread_on_cpu(device: torch.device):
    """torch on one thread while the suite runs on the CPU (see the module docstring)."""
    if device.type != "cpu":
        yield
        return
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def _encoder(model, device):
    """factor indices int (n, 5) → float64 numpy codes (n, L): render, encode the posterior means."""
    def represent(factors: np.ndarray) -> np.ndarray:
        out = []
        for i in range(0, len(factors), ENCODE_CHUNK):
            x = uint8_to_float(dsprites.render(factors[i:i + ENCODE_CHUNK])).to(device)
            out.append(model.encode_mean(x).double().cpu().numpy())
        return np.concatenate(out)
    return represent


def run(ctx: RunContext) -> None:
    protocol = PROTOCOLS[ctx.preset]
    with _one_thread_on_cpu(ctx.device):
        train = dsprites.load("train")
        test_images = uint8_to_float(dsprites.load("test").images[:protocol.num_test])
        for name in ctx.selected(MODELS):
            _run_model(ctx, name, protocol, train, test_images)


def _run_model(ctx: RunContext, name: str, protocol: Protocol, train: ImageSet, test_images) -> None:
    t0 = time.perf_counter()
    model = fit(ctx, name, DATASET, train).model  # β-TCVAE's MWS estimate gets N = len(train) (ModelSpec.needs)
    represent = _encoder(model, ctx.device)

    def record(metric, value, n, std=None, protocol=None, artifacts=None):
        return ctx.record(name, DATASET, metric, value, std=std, n_real=n, wall_seconds=time.perf_counter() - t0,
                          protocol=protocol, artifacts=artifacts)

    # The same factor draws for every model: their codes describe the same images.
    factors = dsprites.sample_factors(protocol.num_codes, np.random.default_rng(ctx.seed))
    codes = represent(factors)
    n = protocol.num_codes
    ctx.emit([record("mig", mig(codes, factors, num_bins=MIG_BINS), n, protocol={"mig_bins": MIG_BINS})])
    ctx.emit([record("sap", sap(codes, factors, seed=ctx.seed), n, protocol={"sap_svm_c": 0.01})])
    scores = dci(codes, factors, model="gbt", n_estimators=protocol.dci_trees, seed=ctx.seed)
    ctx.emit([record(f"dci_{k}", scores[k], n, protocol={"dci_trees": protocol.dci_trees})
              for k in ("disentanglement", "completeness", "informativeness")])

    fv = factorvae_score(represent, dsprites.FACTOR_SIZES, np.random.default_rng(ctx.seed),
                         batch_size=FACTORVAE_BATCH, num_train=protocol.factorvae_train,
                         num_eval=protocol.factorvae_eval, num_variance_estimate=protocol.factorvae_variance,
                         sample_factors=dsprites.sample_factors, sample_fixed_factor=dsprites.sample_fixed_factor)
    fv_codes = protocol.factorvae_variance + (protocol.factorvae_train + protocol.factorvae_eval) * FACTORVAE_BATCH
    ctx.emit([record("factorvae_score", fv["eval_accuracy"], fv_codes,
                     protocol={"factorvae_batch": FACTORVAE_BATCH,
                               "factorvae_votes": f"{protocol.factorvae_train}/{protocol.factorvae_eval}"})])

    g = torch.Generator().manual_seed(ctx.seed)
    nll, elbo, kl = [], [], []
    for i in range(0, len(test_images), ENCODE_CHUNK):
        x = test_images[i:i + ENCODE_CHUNK].to(ctx.device)
        nll.append(model.reconstruction_nll(x).cpu())
        elbo.append(model.elbo(x, generator=g).cpu())
        kl.append(model.latent_kl(x).cpu())
    nll, elbo, kl = torch.cat(nll), torch.cat(elbo), torch.cat(kl).mean(0)
    artifacts = {"latent traversal": _traversal_figure(ctx, name, model, test_images[:1], kl)}
    m = len(test_images)
    ctx.emit([record("recon_nll", nll.mean().item(), m, std=nll.std().item(), artifacts=artifacts),
              record("elbo", elbo.mean().item(), m, std=elbo.std().item(), artifacts=artifacts)])
    ctx.say(f"{name}: done in {time.perf_counter() - t0:.1f} s; latent KL (nats) "
            + " ".join(f"{v:.2f}" for v in kl.sort(descending=True).values.tolist()))


def _traversal_figure(ctx: RunContext, name: str, model, x: torch.Tensor, kl: torch.Tensor) -> str:
    """Rows: latents by decreasing mean KL; columns: TRAVERSAL_VALUES around μ(x). Returns the relative path."""
    from zoo.models.btcvae import latent_traversal

    order = torch.argsort(kl, descending=True, stable=True).tolist()
    grid = latent_traversal(model, x.to(ctx.device), order, TRAVERSAL_VALUES)
    path, rel = ctx.figure_path(f"{DATASET}_{name}_{ctx.preset}_traversal.png")
    save_grid(float_to_uint8(grid).cpu(), path, nrow=len(TRAVERSAL_VALUES),
              title=f"{name}: one latent per row (by decreasing KL), swept −2.5 … 2.5 around a test image's code")
    return rel


def claims(group) -> list[str]:
    """Chen et al. 2018 (Fig. 4, Table 1) checked on one table's records (Suite.sections):
    at equal training, β-TCVAE ≥ β-VAE > VAE on MIG (so also β-TCVAE > VAE)."""
    mig = {m: mean_value(group, m, "mig") for m in MODELS}
    vae, beta, tc = mig["burgess-vae"], mig["burgess-beta-vae"], mig["beta-tcvae"]
    lines = []
    if vae is not None and beta is not None:
        lines.append(f"- β-VAE disentangles more than the VAE (MIG): {beta:.3f} vs {vae:.3f} — {verdict(beta > vae)}.")
    if beta is not None and tc is not None:
        lines.append(f"- β-TCVAE disentangles at least as much as β-VAE (MIG): {tc:.3f} vs {beta:.3f} — "
                     f"{verdict(tc >= beta)}.")
    if vae is not None and tc is not None:  # the main job's pair (its main_models)
        lines.append(f"- β-TCVAE disentangles more than the VAE (MIG): {tc:.3f} vs {vae:.3f} — {verdict(tc > vae)}.")
    return section("Chen et al. 2018", lines)


SUITE = Suite(
    name="disentanglement",
    title="Disentanglement: VAE, β-VAE and β-TCVAE on dSprites",
    description=(
        "Each model (the 64×64 conv network of the β-VAE papers, 10 latents, Bernoulli decoder; narrower at "
        "`quick`) is trained on the procedural dSprites train split (20,000 images) at the preset. Its posterior "
        "means on freshly rendered images with known factors are scored with MIG (20 bins), SAP, DCI (gradient-"
        "boosted trees; D, C and I = test accuracy) and the FactorVAE score; `n_real` is the number of codes "
        "(quick 4,000, full 10,000; FactorVAE renders its own batches). Reconstruction NLL is the Bernoulli "
        "−log p(x|z=μ(x)) per test image in nats (summed binary cross-entropy, not MSE); ELBO is per test image. "
        "Chen et al. (2018) report β-TCVAE ≥ β-VAE > VAE on MIG at equal training; the table shows what this run "
        "measured. The traversal grids put one latent per row, sorted by its KL (most informative first), "
        "swept from −2.5 to 2.5 around a test image's code."
    ),
    leaderboard="disentanglement.md",
    datasets={"embedded": (DATASET,), "paper": (DATASET,)},
    models=MODELS,
    metrics=METRIC_NAMES,
    run=run,
    main_models=("burgess-vae", "beta-tcvae"),  # the headline pair: β-TCVAE against the VAE it regularizes
    sections=claims,
)
