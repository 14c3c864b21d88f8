"""The model zoo: ``MODELS`` maps a name to its :class:`ModelSpec`.

Adding a model is one new file (config, networks, ``make_config``, ``build``,
``SPEC``) plus one registration line below.

    spec = MODELS.get("dcgan")
    config = spec.make_config("quick", (1, 32, 32), None)
    model = spec.build(config)
    history = zoo.train.train(model, config, images, labels, run_dir, "cpu", seed=0)
    x = model.sample(64, generator=torch.Generator().manual_seed(0))   # (64, 1, 32, 32) in [-1, 1]
"""

from zoo.models import cgan, dcgan, gan, icgan, vae
from zoo.models import btcvae
from zoo.models.base import FAMILIES, PRESETS, GenerativeModel, ModelSpec
from zoo.registry import Registry

MODELS: Registry[ModelSpec] = Registry("model")
MODELS.register("gan", gan.SPEC)
MODELS.register("dcgan", dcgan.SPEC)
MODELS.register("vae", vae.VAE_SPEC)
MODELS.register("cvae", vae.CVAE_SPEC)
MODELS.register("beta-vae", vae.BETA_VAE_SPEC)
MODELS.register("cgan", cgan.SPEC)
MODELS.register("icgan", icgan.SPEC)
MODELS.register("dsprites-vae", btcvae.VAE_SPEC)
MODELS.register("dsprites-beta-vae", btcvae.BETA_VAE_SPEC)
MODELS.register("beta-tcvae", btcvae.BETA_TCVAE_SPEC)

__all__ = ["MODELS", "ModelSpec", "GenerativeModel", "PRESETS", "FAMILIES"]
