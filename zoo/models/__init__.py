"""The model zoo: ``MODELS`` maps a name to its :class:`ModelSpec`.

Adding a model is one new file (config, networks, a ``PRESETS`` table,
``make_config``, ``build``, ``SPEC``) plus one registration line below.

    spec = MODELS.get("dcgan")
    config = spec.make_config("quick", (1, 32, 32), None)
    model = spec.build(config)
    history = zoo.train.train(model, config, images, labels, run_dir, "cpu", seed=0)
    x = model.sample(64, generator=torch.Generator().manual_seed(0))   # (64, 1, 32, 32) in [-1, 1]
"""

from zoo.models import btcvae, cgan, dcgan, gan, icgan, srgan, srresnet, vae
from zoo.models import progan, stylegan
from zoo.models import sagan
from zoo.models import biggan
from zoo.models import gan_int_cls, spade, stackgan, stackgan_stage2
from zoo.models import pixelcnn
from zoo.models import gan3d
from zoo.models import inpaint
from zoo.models.base import FAMILIES, NEEDS, PRESET_NAMES, GenerativeModel, ModelSpec, with_overrides
from zoo.registry import Registry

MODELS: Registry[ModelSpec] = Registry("model")
MODELS.register("gan", gan.SPEC)
MODELS.register("dcgan", dcgan.SPEC)
MODELS.register("vae", vae.VAE_SPEC)
MODELS.register("cvae", vae.CVAE_SPEC)
MODELS.register("beta-vae", vae.BETA_VAE_SPEC)
MODELS.register("cgan", cgan.SPEC)
MODELS.register("icgan", icgan.SPEC)
MODELS.register("burgess-vae", btcvae.BURGESS_VAE_SPEC)
MODELS.register("burgess-beta-vae", btcvae.BURGESS_BETA_VAE_SPEC)
MODELS.register("beta-tcvae", btcvae.BETA_TCVAE_SPEC)
MODELS.register("srresnet", srresnet.SPEC)
MODELS.register("srgan", srgan.SPEC)
MODELS.register("progan", progan.SPEC)
MODELS.register("stylegan", stylegan.SPEC)
MODELS.register("sagan", sagan.SPEC)
MODELS.register("biggan", biggan.SPEC)
MODELS.register("gan-int-cls", gan_int_cls.SPEC)
MODELS.register("stackgan1", stackgan.STAGE1_SPEC)
MODELS.register("stackgan2", stackgan_stage2.STAGE2_SPEC)
MODELS.register("spade", spade.SPEC)
MODELS.register("spade-baseline", spade.BASELINE_SPEC)
MODELS.register("pixelcnn", pixelcnn.SPEC)
MODELS.register("3d-gan", gan3d.SPEC)
MODELS.register("patch-inpaint", inpaint.SPEC)

__all__ = ["MODELS", "ModelSpec", "GenerativeModel", "PRESET_NAMES", "FAMILIES", "NEEDS", "with_overrides"]
