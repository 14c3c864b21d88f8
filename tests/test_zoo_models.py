"""zoo.models at the smoke preset: every registered model builds, trains and
samples; GAN saturation; DCGAN's architecture rules; VAE bounds; IcGAN
encoders and editing; DCGAN latent-space tools."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from zoo.models import MODELS, PRESET_NAMES
from zoo.models.dcgan import interpolation_grid, slerp, vector_arithmetic
from zoo.models.vae import VAE
from zoo.train import train

NAMES = ["gan", "dcgan", "vae", "cvae", "beta-vae", "cgan", "icgan", "burgess-vae", "burgess-beta-vae", "beta-tcvae"]
NAMES += ["progan", "stylegan"]  # Zoo II: more in tests/test_zoo_progan_stylegan.py
NAMES += ["sagan", "biggan"]  # more in tests/test_zoo_sagan_biggan.py
SR_NAMES = ["srresnet", "srgan"]  # trained on HR patches: tests/test_zoo_sr.py
# Zoo III, conditioned on captions or label maps: tests/test_zoo_{gan_int_cls,stackgan,spade}.py
CONDITIONED_NAMES = ["gan-int-cls", "stackgan1", "stackgan2", "spade", "spade-baseline"]
AUTOREGRESSIVE_NAMES = ["pixelcnn"]  # Zoo IV: tests/test_zoo_pixelcnn.py
INPAINTING_NAMES = ["patch-inpaint"]  # complete(x, mask), no sample: tests/test_zoo_inpaint.py
VOXEL_NAMES = ["3d-gan"]  # (1, S, S, S) occupancy grids: tests/test_zoo_gan3d.py


def _labels_for(spec, n):
    return torch.arange(n) % 10 if spec.conditional else None


def test_registry_lists_the_models_with_valid_specs():
    assert MODELS.names() == sorted(NAMES + SR_NAMES + CONDITIONED_NAMES + AUTOREGRESSIVE_NAMES + INPAINTING_NAMES
                                    + VOXEL_NAMES)
    for name, spec in MODELS.items():
        assert spec.name == name and spec.description and tuple(spec.presets) == PRESET_NAMES
        assert (spec.condition != "class") == (name in CONDITIONED_NAMES)
        for preset in PRESET_NAMES:
            shape = (None if spec.family == "sr" else (3, 32, 32) if name in CONDITIONED_NAMES
                     else (1, 32, 32, 32) if name in VOXEL_NAMES else (1, 32, 32))
            config = spec.make_config(preset, shape, 10)
            assert dataclasses.is_dataclass(config) and config.train == spec.presets[preset]["train"]
            with pytest.raises(dataclasses.FrozenInstanceError):
                config.train = None
    with pytest.raises(ValueError, match="preset"):
        MODELS.get("dcgan").make_config("huge", (1, 32, 32), None)
    with pytest.raises(ValueError, match="num_classes"):
        MODELS.get("cgan").make_config("smoke", (1, 32, 32), None)


def test_a_spec_must_carry_one_preset_table_and_known_needs():
    spec = MODELS.get("dcgan")
    with pytest.raises(ValueError, match="PRESETS must define exactly"):
        dataclasses.replace(spec, presets={"smoke": {}, "quick": {}})
    with pytest.raises(ValueError, match="unknown needs"):
        dataclasses.replace(spec, needs=("imagenet",))
    with pytest.raises(ValueError, match="init_from"):
        dataclasses.replace(spec, needs=("generator_state",))


@pytest.mark.parametrize("name", NAMES)
def test_model_trains_and_samples_at_smoke(tmp_path, name):
    spec = MODELS.get(name)
    config = spec.make_config("smoke", (1, 32, 32), 10)
    model = spec.build(config)
    g = torch.Generator().manual_seed(0)
    images, labels = torch.rand(16, 1, 32, 32, generator=g) * 2 - 1, torch.randint(0, 10, (16,), generator=g)
    before = [p.detach().clone() for p in model.parameters()]
    history = train(model, config, images, labels, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps
    assert all(torch.isfinite(torch.tensor(v)) for h in history for v in h.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    x = model.sample(6, generator=torch.Generator().manual_seed(1), labels=_labels_for(spec, 6))
    assert x.shape == (6, 1, 32, 32) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0
    assert model.training  # sampling restored the mode
    again = model.sample(6, generator=torch.Generator().manual_seed(1), labels=_labels_for(spec, 6))
    assert torch.equal(x, again)


@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 64, 64)])
@pytest.mark.parametrize("name", NAMES)
def test_every_phase_loss_runs_at_paper_shapes(name, shape):
    spec = MODELS.get(name)
    model = spec.build(spec.make_config("smoke", shape, 10))
    x, y = torch.rand(4, *shape) * 2 - 1, torch.arange(4)
    for phase in model.phases(model.config.train):
        loss, logs = model.loss(phase.name, (x, y), torch.Generator().manual_seed(0))
        assert loss.ndim == 0 and torch.isfinite(loss), phase.name
    assert model.sample(2, labels=_labels_for(spec, 2)).shape == (2, *shape)


@pytest.mark.parametrize("name", ["cgan", "icgan", "cvae"])
def test_conditional_models_require_valid_labels(name):
    spec = MODELS.get(name)
    model = spec.build(spec.make_config("smoke", (1, 32, 32), 10))
    with pytest.raises(ValueError, match="labels"):
        model.sample(2)
    with pytest.raises(ValueError, match="0..9"):
        model.sample(2, labels=torch.tensor([0, 10]))


def test_minimax_generator_gradient_vanishes_against_a_confident_discriminator():
    spec = MODELS.get("gan")
    config = spec.make_config("smoke", (1, 32, 32), None)
    norms = {}
    for kind in ("minimax", "non-saturating"):
        torch.manual_seed(0)
        model = spec.build(dataclasses.replace(config, loss=kind)).eval()  # eval: no dropout noise
        with torch.no_grad():
            model.discriminator.mlp[-1].bias.fill_(-15.0)  # D(G(z)) ≈ 3e-7: D rejects every sample
        x = torch.zeros(32, 1, 32, 32)
        loss, _ = model.loss("g", (x, None), torch.Generator().manual_seed(0))
        grads = torch.autograd.grad(loss, list(model.generator.parameters()))
        norms[kind] = torch.sqrt(sum(g.pow(2).sum() for g in grads))
    assert norms["non-saturating"] > 100 * norms["minimax"], norms


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 64, 64)])
def test_dcgan_follows_the_architecture_guidelines(shape):
    spec = MODELS.get("dcgan")
    config = spec.make_config("quick", shape, None)
    torch.manual_seed(0)
    model = spec.build(config)
    for net in (model.generator, model.discriminator):
        kinds = [type(m) for m in net.modules()]
        assert nn.Linear not in kinds, "no fully connected layers"
        assert not any("Pool" in k.__name__ for k in kinds), "strided convolutions, not pooling"
    g = [m for m in model.generator.modules() if not list(m.children())]
    convs = [i for i, m in enumerate(g) if isinstance(m, nn.ConvTranspose2d)]
    for i in convs[:-1]:  # every hidden layer: BN then ReLU
        assert isinstance(g[i + 1], nn.BatchNorm2d) and isinstance(g[i + 2], nn.ReLU)
    assert convs[-1] == len(g) - 2 and isinstance(g[-1], nn.Tanh)  # output layer: no BN, tanh
    d = [m for m in model.discriminator.modules() if not list(m.children())]
    convs = [i for i, m in enumerate(d) if isinstance(m, nn.Conv2d)]
    assert isinstance(d[convs[0] + 1], nn.LeakyReLU)  # input layer: no BN
    for i in convs[1:-1]:
        assert d[i].stride == (2, 2) and isinstance(d[i + 1], nn.BatchNorm2d)
        assert isinstance(d[i + 2], nn.LeakyReLU) and d[i + 2].negative_slope == 0.2
    assert convs[-1] == len(d) - 1  # the logit: a 4×4 convolution, no BN
    weights = torch.cat([m.weight.flatten() for m in model.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))])
    assert abs(weights.std().item() - 0.02) < 0.001 and abs(weights.mean().item()) < 0.001
    for phase in model.phases(config.train):
        assert phase.lr == 2e-4 and phase.betas[0] == 0.5


def _vae_with_a_poor_posterior(decoder="bernoulli"):
    """An 8×8 VAE (cheap; the bounds' properties do not depend on size) whose
    q(z|x) is shifted and narrowed away from the prior, so that importance
    weighting has something to gain."""
    spec = MODELS.get("vae")
    config = dataclasses.replace(spec.make_config("smoke", (1, 8, 8), None), decoder=decoder)
    torch.manual_seed(0)
    model = VAE(config)
    with torch.no_grad():
        bias = model.encoder.net[-1].bias
        bias[: config.latent_dim] += 1.0
        bias[config.latent_dim:] -= 3.0
    return model


def test_vae_iwae_bound_increases_with_k_and_dominates_the_elbo():
    model = _vae_with_a_poor_posterior()
    x = torch.rand(8, 1, 8, 8, generator=torch.Generator().manual_seed(0)) * 2 - 1
    g = torch.Generator().manual_seed(1)

    def mean_over_draws(bound, draws, **kw):  # draws of each image's bound, batched
        return bound(x.repeat(draws, 1, 1, 1), generator=g, **kw).view(draws, 8).mean(0)

    elbo = mean_over_draws(model.elbo, 256)
    l1 = mean_over_draws(model.iwae_bound, 256, k=1)
    l16 = mean_over_draws(model.iwae_bound, 64, k=16)
    l256 = mean_over_draws(model.iwae_bound, 8, k=256)
    assert elbo.dtype == l16.dtype == torch.float64 and elbo.shape == (8,)
    # Measured standard errors of these means: ≤ 0.05 nats (0.2 for l256); gaps ≈ 1.2 and 1.0 nats.
    assert (l1 - elbo).abs().mean() < 0.2  # L_1 is the ELBO (Monte Carlo KL instead of closed form)
    assert (l16 > elbo + 0.5).all()
    assert l256.mean() > l16.mean() + 0.3


def test_vae_bits_per_dim_by_decoder():
    x = torch.rand(2, 1, 8, 8) * 2 - 1
    for decoder, offset in (("bernoulli", 0.0), ("gaussian", 7.0)):
        model = _vae_with_a_poor_posterior(decoder)
        bound = model.iwae_bound(x, k=4, generator=torch.Generator().manual_seed(0))
        assert torch.isfinite(bound).all()
        expected = -bound / (64 * math.log(2.0)) + offset
        torch.testing.assert_close(model.bits_per_dim(bound), expected)


def test_cvae_bounds_take_labels():
    spec = MODELS.get("cvae")
    model = spec.build(spec.make_config("smoke", (1, 32, 32), 10))
    x, y = torch.rand(3, 1, 32, 32) * 2 - 1, torch.tensor([0, 4, 9])
    assert model.elbo(x, y).shape == (3,) and model.iwae_bound(x, y, k=3).shape == (3,)
    with pytest.raises(ValueError, match="labels"):
        model.elbo(x)


def test_icgan_encoders_edit_and_schedule():
    spec = MODELS.get("icgan")
    config = spec.make_config("smoke", (1, 32, 32), 10)
    model = spec.build(config)
    x = torch.rand(5, 1, 32, 32) * 2 - 1
    z, y_logits = model.encode(x)
    assert z.shape == (5, config.latent_dim) and y_logits.shape == (5, 10)
    new = torch.tensor([1, 2, 3, 4, 5])
    edited = model.edit(x, new)
    assert edited.shape == x.shape and edited.min() >= -1 and edited.max() <= 1
    torch.testing.assert_close(edited, _generate(model, z, new), rtol=0, atol=0)  # G(E_z(x), new class)
    assert not torch.equal(edited, model.edit(x, (new + 1) % 10))  # the class input changes the image
    assert model.reconstruct(x).shape == x.shape
    phases = model.phases(config.train)
    active = lambda step: [p.name for p in phases if p.active(step)]
    assert active(0) == active(config.gan_steps - 1) == ["d", "g"]
    assert active(config.gan_steps) == active(config.train.steps - 1) == ["enc_z", "enc_y"]


def _generate(model, z, labels):
    model.eval()
    with torch.no_grad():
        return model.generate(z, labels)


def test_dcgan_latent_interpolation_and_arithmetic():
    spec = MODELS.get("dcgan")
    model = spec.build(spec.make_config("smoke", (1, 32, 32), None))
    grid = interpolation_grid(model, rows=2, steps=5, generator=torch.Generator().manual_seed(0))
    assert grid.shape == (10, 1, 32, 32) and grid.min() >= -1 and grid.max() <= 1
    z0, z1 = torch.randn(3, 16), torch.randn(3, 16)
    path = slerp(z0, z1, torch.linspace(0, 1, 4))
    torch.testing.assert_close(path[:, 0], z0)
    torch.testing.assert_close(path[:, -1], z1)
    unit = slerp(z0 / z0.norm(dim=1, keepdim=True), z1 / z1.norm(dim=1, keepdim=True), torch.linspace(0, 1, 7))
    torch.testing.assert_close(unit.norm(dim=2), torch.ones(3, 7))  # stays on the sphere
    base = torch.randn(4, 16)
    out = vector_arithmetic(model, torch.randn(3, 16), torch.randn(3, 16), base, alphas=(0.0, 1.0))
    assert out.shape == (8, 1, 32, 32)
    torch.testing.assert_close(out[:4], _generate(model, base, None))
    assert not torch.allclose(out[4:], out[:4])
