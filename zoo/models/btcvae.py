"""`burgess-vae`, `burgess-beta-vae`, `beta-tcvae`: the VAE family of the disentanglement papers.

One model, :class:`BurgessVAE`, a :class:`zoo.models.vae.VAE` (same
posterior, reparametrization, Bernoulli decoder, ``elbo``, ``iwae_bound``,
``sample``) with the 64×64 convolutional network of the β-VAE papers
(:mod:`zoo.layers.burgess`: Conv 32-32-64-64 → FC 256 → 2×10 latents, and its
mirror) and one of two training objectives, per image x with
z ~ q(z|x) = N(μ(x), diag σ²(x)) and p(z) = N(0, I):

* ``objective="kl"`` — β-VAE (Higgins et al. 2017, Eq. 4):
  loss = −log p(x|z) + β · KL(q(z|x) ‖ p(z)).
  β = 1 is the VAE (Kingma & Welling 2014), β = 4 the β-VAE default here.
* ``objective="tc"`` — β-TCVAE (Chen et al. 2018, Eq. 4 with α = γ = 1):
  the KL splits into mutual information + total correlation + dimension-wise
  KL (Eq. 2) and β weighs only the total correlation, i.e.
  loss = −log p(x|z) + KL(q(z|x) ‖ p(z)) + (β − 1) · TC,
  with TC estimated on each minibatch by minibatch weighted sampling
  (:func:`zoo.losses.tc.total_correlation`; its training-set size N is
  ``dataset_size``). The closed-form KL replaces the authors' one-sample
  log q(z|x) − log p(z): the same expectation, less variance.

``elbo`` always reports the true ELBO (β = 1). For the disentanglement
metrics, ``encode_mean`` gives the posterior means μ(x) (the codes scored by
MIG, SAP, DCI and the FactorVAE score), ``reconstruct`` decodes them, and
:func:`latent_traversal` draws the classic traversal grids.

Registered presets (the same network shape at every preset; ``width`` w
scales it, w = 32 being the papers'):

  ======= ===== ====== ======= ======= =============================================
  preset    w   steps   batch    lr     why
  ======= ===== ====== ======= ======= =============================================
  smoke     4       4      8   1e-3    tests: seconds
  quick    16    1000     64   1e-3    CPU minutes: 3.2 epochs, a quarter of the FLOPs per step
  full     32  300000     64   1e-4    Locatello et al. 2019's shared settings (disentanglement_lib)
  ======= ===== ====== ======= ======= =============================================
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from zoo.layers.burgess import BurgessDecoder, BurgessEncoder
from zoo.losses import kl_normal_standard
from zoo.losses.tc import total_correlation
from zoo.models.base import ModelSpec, check_preset_args, evaluating, randn
from zoo.models.vae import VAE, VAEConfig
from zoo.train import TrainConfig

OBJECTIVES = ("kl", "tc")
DSPRITES_SIZE = 737_280  # every dSprites combination; set dataset_size to the training set actually used


@dataclass(frozen=True)
class BurgessVAEConfig(VAEConfig):
    """A :class:`VAEConfig` for the 64×64 network, plus the training objective.

    Attributes (beyond VAEConfig's; ``num_classes`` must stay None):
        latent_dim: latents (10 in the papers).
        width: w; encoder channels (w, w, 2w, 2w), FC 8w (32 → the papers' network).
        objective: "kl" (β on the whole KL: VAE, β-VAE) or "tc" (β on the
            total correlation only: β-TCVAE).
        dataset_size: N of the minibatch-weighted TC estimate (number of
            training images). It shifts the estimate by a constant only, so it
            changes logged values, never gradients.
    """

    latent_dim: int = 10
    width: int = 32
    objective: str = "kl"
    dataset_size: int = DSPRITES_SIZE

    def __post_init__(self):
        super().__post_init__()
        if self.objective not in OBJECTIVES:
            raise ValueError(f"objective must be one of {OBJECTIVES}, got {self.objective!r}")
        if self.num_classes is not None:
            raise ValueError("BurgessVAE is unconditional: num_classes must be None")
        if self.dataset_size < 1:
            raise ValueError(f"dataset_size must be ≥ 1, got {self.dataset_size}")


class BurgessVAE(VAE):
    """See the module docstring. Shapes: x float (N, C, H, H) in [-1, 1]
    (H a multiple of 16; 1×64×64 for dSprites), z (N, latent_dim)."""

    config: BurgessVAEConfig

    def build_trunks(self, config: BurgessVAEConfig) -> tuple[nn.Module, nn.Module]:
        c, h, _ = config.image_shape
        return (BurgessEncoder(c, h, 2 * config.latent_dim, config.width),
                BurgessDecoder(config.latent_dim, c, h, config.width))

    def loss(self, phase, batch, generator):
        if self.config.objective == "kl":
            return super().loss(phase, batch, generator)
        if phase != "vae":
            raise ValueError(f"BurgessVAE has one phase 'vae', not {phase!r}")
        x, _ = batch
        mu, logvar = self.posterior(x)
        z = mu + torch.exp(0.5 * logvar) * randn(mu.shape, generator, x.device)
        rec = self._log_px(x, self._decoder_output(z, None))
        kl = kl_normal_standard(mu, logvar)
        tc = total_correlation(z, mu, logvar, self.config.dataset_size)
        logs = {"rec": rec.detach().mean(), "kl": kl.detach().mean(), "elbo": (rec - kl).detach().mean(),
                "tc_mws": tc.detach().mean()}
        return (kl - rec).mean() + (self.config.beta - 1.0) * tc.mean(), logs

    # --- what the disentanglement evaluation reads ------------------------------------------------

    def encode_mean(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior means μ(x): x float (N, C, H, H) in [-1, 1] → float32 (N, latent_dim)."""
        with evaluating(self):
            return self.posterior(x.to(self.device))[0]

    def latent_kl(self, x: torch.Tensor) -> torch.Tensor:
        """KL(q(z_d|x) ‖ N(0, 1)) of each latent d, nats: float32 (N, latent_dim).

        Averaged over images it says which latents carry information (the
        others have collapsed onto the prior, KL ≈ 0).
        """
        with evaluating(self):
            mu, logvar = self.posterior(x.to(self.device))
            return 0.5 * (mu.pow(2) + logvar.exp() - 1.0 - logvar)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """The decoder's mean image at z = μ(x): (N, C, H, H) → (N, C, H, H) in [-1, 1]."""
        with evaluating(self):
            return self.generate(self.posterior(x.to(self.device))[0])

    def reconstruction_nll(self, x: torch.Tensor) -> torch.Tensor:
        """−log p(x | z = μ(x)) per image, float64 (N,), nats (for the Bernoulli
        decoder: the binary cross-entropy summed over pixels)."""
        with evaluating(self):
            x = x.to(self.device)
            return (-self._log_px(x, self._decoder_output(self.posterior(x)[0], None))).double()


def latent_traversal(model: BurgessVAE, x: torch.Tensor, latents, values: torch.Tensor) -> torch.Tensor:
    """Traversal grid: decode μ(x) with one latent at a time set to each value.

    Args:
        model: a trained :class:`BurgessVAE`.
        x: one image, float (1, C, H, H) in [-1, 1]; its code μ(x) is the base.
        latents: the latent indices to traverse, one row each, in order.
        values: float (V,) values the traversed latent takes (prior units,
            e.g. ``torch.linspace(-2.5, 2.5, 11)``).

    Returns:
        float (len(latents) · V, C, H, H) in [-1, 1], row-major: row r is latent
        ``latents[r]`` swept over ``values``.
    """
    if x.ndim != 4 or x.shape[0] != 1:
        raise ValueError(f"latent_traversal takes one image (1, C, H, W), got {tuple(x.shape)}")
    latents = [int(d) for d in latents]
    base = model.encode_mean(x)[0]
    values = values.to(base)
    z = base.repeat(len(latents) * len(values), 1)
    for r, d in enumerate(latents):
        z[r * len(values):(r + 1) * len(values), d] = values
    with evaluating(model):
        return model.generate(z)


PRESETS = {
    "smoke": dict(width=4, train=TrainConfig(steps=4, batch_size=8, lr=1e-3, betas=(0.9, 0.999), log_every=1,
                                             checkpoint_every=2)),
    "quick": dict(width=16, train=TrainConfig(steps=1000, batch_size=64, lr=1e-3, betas=(0.9, 0.999), log_every=25,
                                              checkpoint_every=200, sample_every=0)),
    "full": dict(width=32, train=TrainConfig(steps=300_000, batch_size=64, lr=1e-4, betas=(0.9, 0.999),
                                             log_every=500, checkpoint_every=10_000, sample_every=50_000)),
}


def _config(preset: str, image_shape, num_images: int | None, objective: str, beta: float) -> BurgessVAEConfig:
    shape = check_preset_args(preset, image_shape, None, conditional=False)
    size = {} if num_images is None else {"dataset_size": int(num_images)}
    return BurgessVAEConfig(image_shape=shape, objective=objective, beta=beta, **size, **PRESETS[preset])


def make_vae_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None,
                    num_images: int | None = None) -> BurgessVAEConfig:
    """``burgess-vae``: β = 1, the plain ELBO."""
    return _config(preset, image_shape, num_images, "kl", 1.0)


def make_beta_vae_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None,
                         num_images: int | None = None) -> BurgessVAEConfig:
    """``burgess-beta-vae``: β = 4 on the whole KL (Higgins et al. 2017)."""
    return _config(preset, image_shape, num_images, "kl", 4.0)


def make_beta_tcvae_config(preset: str, image_shape: tuple[int, int, int], num_classes: int | None = None,
                           num_images: int | None = None) -> BurgessVAEConfig:
    """``beta-tcvae``: β = 4 on the total correlation only (Chen et al. 2018) —
    the same β as ``burgess-beta-vae``, so the two differ only in what β weighs.
    ``num_images`` is the N of the minibatch-weighted TC estimate (the training split's size)."""
    return _config(preset, image_shape, num_images, "tc", 4.0)


def _build(config: BurgessVAEConfig, num_images: int | None = None) -> BurgessVAE:
    return BurgessVAE(config)  # num_images is already in config.dataset_size


BURGESS_VAE_SPEC = ModelSpec(
    name="burgess-vae", family="vae", conditional=False, make_config=make_vae_config, build=_build,
    presets=PRESETS, needs=("num_images",),
    description="Kingma & Welling 2014 VAE on the 64×64 conv network of Burgess et al. 2018, 10 latents, Bernoulli decoder",
)
BURGESS_BETA_VAE_SPEC = ModelSpec(
    name="burgess-beta-vae", family="vae", conditional=False, make_config=make_beta_vae_config, build=_build,
    presets=PRESETS, needs=("num_images",),
    description="Higgins et al. 2017 β-VAE (β = 4 on the KL), 64×64 conv network of Burgess et al. 2018, 10 latents",
)
BETA_TCVAE_SPEC = ModelSpec(
    name="beta-tcvae", family="vae", conditional=False, make_config=make_beta_tcvae_config, build=_build,
    presets=PRESETS, needs=("num_images",),
    description="Chen et al. 2018 β-TCVAE (β = 4 on the minibatch-weighted total correlation), 64×64 conv network",
)
