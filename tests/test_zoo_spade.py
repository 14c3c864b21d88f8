"""SPADE and its baseline (zoo.models.spade, zoo.layers.spade): the normalization
(Eq. 1) and what it means, training and sampling at smoke through the trainer,
the baseline's plain batch norm, exact resume, the losses, bad label maps."""

import dataclasses

import pytest
import torch
import torch.nn.functional as F

from zoo.layers.spade import SPADE, SPADEResBlock, label_map_one_hot
from zoo.models import spade
from zoo.models.base import with_overrides
from zoo.train import LOG, train
from _kill import Killed, assert_same_state, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
K = 9  # label classes, as on `scenes`
SPECS = {"spade": spade.SPEC, "spade-baseline": spade.BASELINE_SPEC}


def _data(n=16, size=32, seed=0, uint8=True):
    """Images and blocky label maps (4×4 cells of one class each, upsampled: regions, not noise)."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, 3, size, size), generator=g, dtype=torch.uint8)
    cells = torch.randint(0, K, (n, 1, 4, 4), generator=g).float()
    maps = F.interpolate(cells, size=(size, size), mode="nearest")[:, 0].to(torch.uint8)
    return (images if uint8 else images.float() / 127.5 - 1), maps


def _config(name, size=32, **changes):
    return with_overrides(SPECS[name].make_config("smoke", (3, size, size), K), changes) if changes \
        else SPECS[name].make_config("smoke", (3, size, size), K)


def _spade_layer(seed=0):
    torch.manual_seed(seed)
    return SPADE(6, K, hidden=8)


def test_spade_with_unit_gain_and_zero_shift_is_batch_norm_without_affine():
    layer = _spade_layer()
    x = torch.randn(4, 6, 8, 8) * 3 + 2
    _, maps = _data(n=4, size=16)  # the map is resized to x's 8×8
    m = label_map_one_hot(maps, K)
    out = layer(x, m)
    assert out.shape == x.shape
    with torch.no_grad():
        for conv in (layer.gamma, layer.beta):
            conv.weight.zero_()
            conv.bias.zero_()
    out = layer(x, m)  # γ = 1 + 0, β = 0
    mean, var = out.mean(dim=(0, 2, 3)), out.var(dim=(0, 2, 3), unbiased=False)
    assert torch.allclose(mean, torch.zeros(6), atol=1e-5) and torch.allclose(var, torch.ones(6), atol=1e-3)
    assert torch.allclose(out, F.batch_norm(x, None, None, training=True), atol=1e-5)


def test_modulation_varies_with_the_label_map_and_is_constant_inside_a_region():
    layer = _spade_layer()
    maps = torch.zeros(1, 16, 16, dtype=torch.int64)
    maps[:, :, 8:] = 3  # left half class 0, right half class 3
    x = torch.randn(1, 6, 16, 16)
    with torch.no_grad():
        gamma, beta = layer.modulation(x, label_map_one_hot(maps, K))
    assert gamma.shape == beta.shape == (1, 6, 16, 16)
    inner = (slice(None), slice(None), slice(2, 14))  # rows away from the border (two 3×3 convs: radius 2)
    for t in (gamma, beta):
        left, right = t[inner][..., 2:6], t[inner][..., 10:14]
        for region in (left, right):
            assert torch.allclose(region, region[..., :1].expand_as(region))
        assert not torch.allclose(left[..., 0], right[..., 0], atol=1e-4)  # two regions, two modulations
    swapped = torch.where(maps == 0, 3, 0)
    assert not torch.allclose(layer(x, label_map_one_hot(swapped, K)), layer(x, label_map_one_hot(maps, K)))


def test_resblock_without_label_channels_is_batch_norm_and_ignores_the_map():
    torch.manual_seed(0)
    block = SPADEResBlock(8, 4, label_channels=0, hidden=8, spectral_norm=False)
    assert not any(isinstance(m, SPADE) for m in block.modules()) and block.shortcut is not None
    x = torch.randn(2, 8, 8, 8)
    _, maps = _data(n=2, size=8)
    assert block(x, None).shape == (2, 4, 8, 8) and torch.equal(block(x, None), block(x, label_map_one_hot(maps, K)))
    spade_block = SPADEResBlock(4, 4, label_channels=K, hidden=8)
    assert spade_block.shortcut is None and sum(isinstance(m, SPADE) for m in spade_block.modules()) == 2


@pytest.mark.parametrize("name", list(SPECS))
@pytest.mark.parametrize("uint8", [True, False])
def test_trains_at_smoke_and_samples_given_label_maps(tmp_path, name, uint8):
    config = _config(name)
    images, maps = _data(uint8=uint8)
    model = SPECS[name].build(config)
    assert model.condition == "layout" and model.num_classes == K
    history = train(model, config, images, maps, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps and len(history) == config.train.steps
    for entry in history:
        assert {"d/loss", "g/loss", "g/adversarial", "g/feature_matching"} <= entry.keys()
        assert all(torch.isfinite(torch.tensor(v)) for v in entry.values())
        assert entry["g/feature_matching"] > 0
        assert abs(entry["g/loss"] - entry["g/adversarial"] - 10 * entry["g/feature_matching"]) < 1e-4
    for given in (maps[:5], maps[:5].long()):
        x = model.sample(5, generator=torch.Generator().manual_seed(1), labels=given)
        assert x.shape == (5, 3, 32, 32) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1
    a, b = (model.sample(3, generator=torch.Generator().manual_seed(1), labels=maps[i:i + 3]) for i in (0, 3))
    assert not torch.allclose(a, b)  # the map changes the image for the same z


def test_the_baseline_has_no_spade_layer_and_takes_the_map_at_its_input():
    torch.manual_seed(0)
    ours, base = (SPECS[n].build(_config(n, size=64)) for n in SPECS)
    assert ours.config.spade and not base.config.spade and dataclasses.replace(base.config, spade=True) == ours.config
    assert sum(isinstance(m, SPADE) for m in ours.generator.modules()) > 0
    assert not any(isinstance(m, SPADE) for m in base.modules())
    bns = [m for m in base.generator.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert bns and all(m.affine for m in bns)
    assert not any(m.affine for m in ours.generator.modules() if isinstance(m, torch.nn.BatchNorm2d))
    width = ours.generator.head.conv1.in_channels
    assert base.generator.head.conv1.in_channels == width + K  # z-map ⊕ the map at 4×4
    # the baseline sees the map only through its 4×4 class fractions
    _, maps = _data(n=4, size=64)
    shifted = maps.clone()
    shifted[:, :, 0] = (shifted[:, :, 1] + 1) % K  # one column: fractions change, so does the image
    z = torch.randn(4, base.latent_dim)
    base.eval()
    with torch.no_grad():
        assert not torch.allclose(base.generate(z, maps), base.generate(z, shifted))


def test_discriminator_scales_features_and_losses():
    config = _config("spade", size=32)
    model = spade.build(config)
    assert {p.name: p.lr for p in model.phases(config.train)} == {"d": 4e-4, "g": 1e-4}
    assert config.train.betas == (0.0, 0.999) and config.loss == "hinge" and config.lambda_fm == 10.0
    images, maps = _data(n=2, uint8=False)
    model.discriminator.eval()  # no power iteration: the same D for the loss and the check below
    with torch.no_grad():
        outputs = model.discriminator(images, maps)
    assert len(outputs) == config.num_d == 2 and all(len(fs) == config.d_layers + 1 for fs in outputs)
    assert outputs[1][0].shape[-1] < outputs[0][0].shape[-1] and all(fs[-1].shape[1] == 1 for fs in outputs)
    assert model.discriminator.scales[0][0][0].in_channels == 3 + K  # image ⊕ one-hot map
    assert float(spade.feature_matching(outputs, outputs)) == 0.0
    shifted = [[f + 0.5 for f in fs] for fs in outputs]
    assert abs(float(spade.feature_matching(shifted, outputs)) - 0.5 * config.d_layers) < 1e-5  # Σ layers, mean scales
    # d loss = hinge per scale, averaged over scales
    loss, logs = model.loss("d", (images, maps), torch.Generator().manual_seed(0))
    z = torch.randn(2, model.latent_dim, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake_out, real_out = model._discriminate_pair(model.generate(z, maps), images, maps)
    expected = sum(F.relu(1 - r[-1]).mean() + F.relu(1 + f[-1]).mean() for r, f in zip(real_out, fake_out)) / 2
    assert torch.allclose(loss, expected, atol=1e-5) and {"real_logit", "fake_logit"} <= logs.keys()


@pytest.mark.parametrize("name", list(SPECS))
def test_killed_run_resumes_to_identical_weights(tmp_path, name):
    config = _config(name)
    images, maps = _data()
    straight = SPECS[name].build(config)
    history = train(straight, config, images, maps, tmp_path / "a", "cpu", seed=3, progress=False)

    torch.manual_seed(7)
    victim = SPECS[name].build(config)
    kill_after(victim, calls=3 * 2 + 1)  # dies in iteration 4 (d, g per iteration), after the checkpoint at 2
    with pytest.raises(Killed):
        train(victim, config, images, maps, tmp_path / "b", "cpu", seed=3, progress=False)
    assert len((tmp_path / "b" / LOG).read_text().splitlines()) == 3
    torch.manual_seed(8)
    resumed = SPECS[name].build(config)
    assert train(resumed, config, images, maps, tmp_path / "b", "cpu", seed=3, progress=False) == history
    assert any(k.endswith("._u") for k in straight.state_dict())  # spectral-norm vectors resume too
    assert_same_state(straight, resumed)


def test_style_encoder_trains_as_a_vae_gan(tmp_path):
    config = _config("spade", style_encoder=True)
    model = spade.build(config)
    assert model.encoder is not None and model.encoder in model.phases(config.train)[1].modules
    before = {k: v.clone() for k, v in model.encoder.state_dict().items()}
    images, maps = _data()
    history = train(model, config, images, maps, tmp_path, "cpu", seed=0, progress=False)
    assert all(h["g/kl"] >= 0 for h in history)
    h = history[-1]
    assert abs(h["g/loss"] - h["g/adversarial"] - 10 * h["g/feature_matching"] - 0.05 * h["g/kl"]) < 1e-4
    assert any(not torch.equal(v, before[k]) for k, v in model.encoder.state_dict().items())
    assert model.sample(2, labels=maps[:2]).shape == (2, 3, 32, 32)  # sampling draws z ~ N(0, I): no image needed
    assert spade.build(_config("spade")).encoder is None


def test_bad_label_maps_raise(tmp_path):
    config = _config("spade")
    model = spade.build(config)
    images, maps = _data()
    with pytest.raises(ValueError, match="32×32"):
        model.sample(2, labels=torch.zeros(2, 16, 16, dtype=torch.uint8))
    with pytest.raises(ValueError, match="0..8"):
        model.sample(2, labels=torch.full((2, 32, 32), K, dtype=torch.int64))
    with pytest.raises(ValueError, match="label maps"):
        model.sample(2, labels=torch.zeros(2, dtype=torch.int64))  # class ids are not a layout
    with pytest.raises(ValueError):
        model.sample(2)
    with pytest.raises(ValueError, match="32×32"):
        train(model, config, images, maps[:, :16, :16].contiguous(), tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match="num_classes"):
        spade.make_config("smoke", (3, 32, 32), None)
    with pytest.raises(ValueError, match="num_d"):
        dataclasses.replace(config, num_d=4)
