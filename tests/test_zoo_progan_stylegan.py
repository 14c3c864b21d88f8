"""Zoo II: Progressive GAN and StyleGAN at the smoke preset, their layers
(equalized learning rate, pixel norm, minibatch stddev), losses (WGAN-GP, R1),
the growth schedule and exact resume mid-fade-in, every switch off, StyleGAN's
truncation, style mixing and lazy R1."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from zoo.layers import EqualizedConv2d, EqualizedLinear, MinibatchStddev, PixelNorm
from zoo.losses import gan_losses, gradient_penalty, r1_penalty
from zoo.models import MODELS
from zoo.models.progan import growth, process_reals
from zoo.train import LOG, train
from _kill import Killed, assert_same_state, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
SHAPES = [(1, 32, 32), (3, 64, 64)]


def _data(shape=(1, 32, 32), n=16, seed=0):
    return torch.rand(n, *shape, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def _config(name, shape=(1, 32, 32), train_changes=None, **changes):
    spec = MODELS.get(name)
    config = spec.make_config("smoke", shape, None)
    if train_changes:
        changes["train"] = dataclasses.replace(config.train, **train_changes)
    return spec, dataclasses.replace(config, **changes)


def _train_and_sample(tmp_path, name, shape=(1, 32, 32), train_changes=None, **changes):
    spec, config = _config(name, shape, train_changes, **changes)
    model = spec.build(config)
    before = [p.detach().clone() for p in model.parameters()]
    history = train(model, config, _data(shape), None, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps
    assert all(math.isfinite(v) for h in history for v in h.values())
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    x = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert x.shape == (5, *shape) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0
    return model, history


# --- shared layers and losses -------------------------------------------------------------------

def test_equalized_layers_store_unit_weights_and_scale_by_the_he_constant():
    torch.manual_seed(0)
    lin = EqualizedLinear(512, 256)
    assert abs(lin.weight.std().item() - 1) < 0.01 and lin.weight_scale == pytest.approx(math.sqrt(2 / 512))
    x = torch.randn(4096, 512)
    assert torch.allclose(lin(x), x @ (lin.weight * math.sqrt(2 / 512)).T, atol=1e-5)
    assert lin(x).std().item() == pytest.approx(math.sqrt(2), rel=0.05)  # He: variance gain² for unit input
    conv = EqualizedConv2d(64, 32, 3)
    assert abs(conv.weight.std().item() - 1) < 0.02 and conv.weight_scale == pytest.approx(math.sqrt(2 / (64 * 9)))
    y = torch.randn(2, 64, 8, 8)
    assert torch.allclose(conv(y), F.conv2d(y, conv.weight * conv.weight_scale, conv.bias, padding=1), atol=1e-5)
    plain = EqualizedLinear(512, 256, equalized=False)  # the ablation: He init, no runtime scale
    assert plain.weight_scale == 1 and plain.weight.std().item() == pytest.approx(math.sqrt(2 / 512), rel=0.02)
    slow = EqualizedLinear(512, 256, lr_mul=0.01)  # StyleGAN mapping: same effective init, 100× slower
    assert slow.weight.std().item() == pytest.approx(100, rel=0.02) and slow.weight_scale == pytest.approx(
        0.01 * math.sqrt(2 / 512))


def test_pixel_norm_gives_unit_mean_square_per_pixel():
    x = torch.randn(3, 16, 5, 5) * 7 + 2
    y = PixelNorm()(x)
    assert torch.allclose(y.pow(2).mean(dim=1), torch.ones(3, 5, 5), atol=1e-5)
    assert torch.allclose(y / y.norm(dim=1, keepdim=True), x / x.norm(dim=1, keepdim=True), atol=1e-6)


def test_minibatch_stddev_appends_the_group_std():
    x = torch.randn(8, 5, 4, 4)
    whole = MinibatchStddev(group_size=8)(x)
    assert whole.shape == (8, 6, 4, 4) and torch.equal(whole[:, :5], x)
    expected = torch.sqrt(x.var(dim=0, unbiased=False) + 1e-8).mean()
    assert torch.allclose(whole[:, 5], expected.expand(8, 4, 4), atol=1e-6)
    grouped = MinibatchStddev(group_size=4)(x)  # groups {0, 2, 4, 6} and {1, 3, 5, 7}
    for first in (0, 1):
        idx = torch.arange(first, 8, 2)
        std = torch.sqrt(x[idx].var(dim=0, unbiased=False) + 1e-8).mean()
        assert torch.allclose(grouped[idx, 5], std.expand(4, 4, 4), atol=1e-6)
    assert torch.allclose(MinibatchStddev(4)(x[:6])[:, 5], torch.sqrt(x[:6].var(0, unbiased=False) + 1e-8).mean()
                          .expand(6, 4, 4), atol=1e-6)  # 4 does not divide 6: the whole batch


def test_gradient_penalty_and_r1_on_a_linear_critic():
    w = torch.randn(3, 4, 4)
    critic = lambda x: (x * w).flatten(1).sum(1)  # noqa: E731 — ∇_x D = w everywhere
    real, fake = torch.randn(6, 3, 4, 4), torch.randn(6, 3, 4, 4)
    gp = gradient_penalty(critic, real, fake, torch.Generator().manual_seed(0))
    assert gp.item() == pytest.approx((w.norm().item() - 1) ** 2, rel=1e-4)
    real.requires_grad_(True)
    assert r1_penalty(critic(real), real).item() == pytest.approx(w.pow(2).sum().item(), rel=1e-4)
    d_loss, g_loss = gan_losses("wasserstein")  # E[D(fake)] − E[D(real)], −E[D(fake)]
    scores_real, scores_fake = torch.tensor([1.0, 3.0]), torch.tensor([-2.0, 0.0])
    assert d_loss(scores_real, scores_fake).item() == -3.0 and g_loss(scores_fake).item() == 1.0


# --- ProGAN -----------------------------------------------------------------------------------

@pytest.mark.parametrize("shape", SHAPES)
def test_progan_trains_through_a_stage_transition_and_samples(tmp_path, shape):
    model, history = _train_and_sample(tmp_path, "progan", shape)
    stages = [(h["d/level"], h["d/alpha"]) for h in history]
    assert stages == [(0, 1), (0, 1), (1, 0), (1, 0.5), (1, 1), (1, 1)]  # smoke: 4×4, fade-in, 8×8
    assert model.stage == (1, 1.0)  # a reloaded model samples where the run ended (buffers)
    assert {"level", "alpha"} <= set(model.state_dict())


def test_progan_growth_is_a_pure_function_of_the_step():
    # top level 3 (32×32), 4 iterations per phase: stable 4×4, then fade-in / stable per level.
    stages = [growth(s, 4, 3) for s in range(40)]
    assert stages[:4] == [(0, 1.0)] * 4
    assert stages[4:9] == [(1, 0.0), (1, 0.25), (1, 0.5), (1, 0.75), (1, 1.0)]
    assert stages[12:16] == [(2, 0.0), (2, 0.25), (2, 0.5), (2, 0.75)]
    assert stages[20:24] == [(3, 0.0), (3, 0.25), (3, 0.5), (3, 0.75)]
    assert set(stages[24:]) == {(3, 1.0)}  # the data resolution from the last fade-in on
    assert all(growth(s, 4, 3, progressive=False) == (3, 1.0) for s in range(40))
    spec, config = _config("progan", stage_steps=4)
    model = spec.build(config)
    for s in (13, 2, 13, 39, 5):  # any order: only the step matters
        model.on_step(s)
        assert model.stage == stages[s]


def test_progan_fade_in_starts_from_the_previous_stage():
    spec, config = _config("progan", (3, 32, 32))
    model = spec.build(config)
    z, x = torch.randn(8, config.latent_dim), _data((3, 32, 32), n=8)
    with torch.no_grad():
        g, d = model.generator, model.discriminator
        # α = 0: the new level is invisible — G is the 4×4 image upsampled, D sees the pooled image.
        assert torch.allclose(g(z, 1, 0.0), F.interpolate(g(z, 0, 1.0), scale_factor=2), atol=1e-6)
        x8 = process_reals(x, 1, 1.0)
        assert torch.allclose(d(x8, 1, 0.0), d(F.avg_pool2d(x8, 2), 0, 1.0), atol=1e-6)
        assert torch.allclose(process_reals(x, 1, 0.0), F.interpolate(F.avg_pool2d(x, 8), scale_factor=2), atol=1e-6)
        assert torch.allclose(x8, F.avg_pool2d(x, 4))
        mid = process_reals(x, 1, 0.25)
        assert torch.allclose(mid, 0.75 * process_reals(x, 1, 0.0) + 0.25 * x8, atol=1e-6)
        assert not torch.allclose(g(z, 1, 0.5), g(z, 1, 0.0))
    model.on_step(3)  # mid-fade-in: samples are the 8×8 stage upsampled to the data size
    s = model.sample(2, generator=torch.Generator().manual_seed(0))
    assert s.shape == (2, 3, 32, 32) and torch.equal(s[..., ::4, ::4].repeat_interleave(4, -1).repeat_interleave(4, -2), s)


def test_progan_resumes_bit_identically_after_a_kill_mid_fade_in(tmp_path):
    # Phases of 4 iterations: fade-in to 8×8 over iterations 4..7; checkpoint at 6 (α = 0.5 next).
    spec, config = _config("progan", stage_steps=4, train_changes=dict(steps=10, checkpoint_every=2))
    images = _data()
    torch.manual_seed(1)
    straight = spec.build(config)
    history = train(straight, config, images, None, tmp_path / "a", "cpu", seed=3, progress=False)
    assert [h["d/alpha"] for h in history[4:8]] == [0.0, 0.25, 0.5, 0.75]

    torch.manual_seed(2)
    victim = spec.build(config)
    kill_after(victim, calls=7 * 2 + 1)  # dies in iteration 7 (α = 0.75), after the checkpoint at 6
    with pytest.raises(Killed):
        train(victim, config, images, None, tmp_path / "b", "cpu", seed=3, progress=False)
    assert len((tmp_path / "b" / LOG).read_text().splitlines()) == 7

    torch.manual_seed(3)
    resumed = spec.build(config)
    assert train(resumed, config, images, None, tmp_path / "b", "cpu", seed=3, progress=False) == history
    assert_same_state(straight, resumed)


@pytest.mark.parametrize("switch", ["progressive", "minibatch_stddev", "equalized_lr", "pixel_norm", "ema"])
def test_progan_every_switch_off_builds_and_trains(tmp_path, switch):
    changes = {"train_changes": {"ema_decay": 0.0}} if switch == "ema" else {switch: False}
    model, history = _train_and_sample(tmp_path, "progan", (3, 32, 32), **changes)
    kinds = {type(m) for m in model.modules()}
    if switch == "progressive":
        assert {(h["d/level"], h["d/alpha"]) for h in history} == {(3, 1.0)}
    if switch == "minibatch_stddev":
        assert MinibatchStddev not in kinds
    if switch == "pixel_norm":
        assert PixelNorm not in kinds
    if switch == "equalized_lr":
        assert all(m.weight_scale == 1 for m in model.modules() if isinstance(m, (EqualizedConv2d, EqualizedLinear)))
    if switch != "minibatch_stddev":
        assert MinibatchStddev in kinds


# --- StyleGAN ---------------------------------------------------------------------------------

def _stylegan(shape=(1, 32, 32), **changes):
    spec, config = _config("stylegan", shape, **changes)
    torch.manual_seed(0)
    return spec.build(config)


def _fixed_noise(model, n, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(1, 1, r, r, generator=g).expand(n, -1, -1, -1) for r in model.generator.synthesis.resolutions]


@pytest.mark.parametrize("shape", SHAPES)
def test_stylegan_trains_and_samples(tmp_path, shape):
    model, history = _train_and_sample(tmp_path, "stylegan", shape)
    assert model.generator.w_avg.abs().sum() > 0  # w̄ tracked during training
    assert {type(m).__name__ for m in model.generator.mapping} >= {"PixelNorm", "EqualizedLinear"}
    assert all(m.lr_mul == 0.01 for m in model.generator.mapping if isinstance(m, EqualizedLinear))
    assert len(model.generator.synthesis.layers) == 2 * (int(math.log2(shape[1])) - 1)


def test_stylegan_truncation_in_w():
    model = _stylegan()
    model.generator.w_avg.copy_(torch.randn(model.config.w_dim))
    z = torch.randn(4, model.config.latent_dim)
    noise = _fixed_noise(model, 4)
    with torch.no_grad():
        w = model.mapping(z)
        avg_image = model.synthesis(model.generator.w_avg.expand(4, -1), noise)
        assert torch.allclose(model.synthesis(model.truncate(w, 0.0), noise), avg_image, atol=1e-6)
        assert not torch.allclose(model.synthesis(w, noise), avg_image, atol=1e-3)
        assert torch.equal(model.truncate(w, 1.0), w)
        assert torch.allclose(model.truncate(w, 0.5), (w + model.generator.w_avg) / 2, atol=1e-6)
        ws = w[:, None].expand(-1, model.num_layers, -1)
        cut = model.truncate(ws, 0.0, cutoff=3)
        assert torch.allclose(cut[:, :3], model.generator.w_avg.expand(4, 3, -1)) and torch.equal(cut[:, 3:], ws[:, 3:])
    # ψ = 1 at sampling time is the untruncated generator, with the same z and noise draws.
    assert torch.equal(model.sample(3, torch.Generator().manual_seed(5), psi=1.0),
                       model.sample(3, torch.Generator().manual_seed(5)))
    assert not torch.equal(model.sample(3, torch.Generator().manual_seed(5), psi=0.5),
                           model.sample(3, torch.Generator().manual_seed(5)))
    with pytest.raises(ValueError, match="truncation=False"):
        _stylegan(truncation=False).sample(2, psi=0.7)


def test_stylegan_style_mixing_regularization_and_grid():
    from zoo.models.stylegan import style_mixing_grid

    model = _stylegan(mixing_prob=1.0)
    g = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for _ in range(5):
            ws = model._training_ws(4, torch.device("cpu"), g)
            changes = [i for i in range(1, model.num_layers) if not torch.equal(ws[:, i], ws[:, i - 1])]
            assert len(changes) == 1 and 1 <= changes[0] < model.num_layers  # one crossover point
        plain = _stylegan(style_mixing=False)._training_ws(4, torch.device("cpu"), g)
        assert all(torch.equal(plain[:, i], plain[:, 0]) for i in range(plain.shape[1]))

    grid = style_mixing_grid(model, rows=2, cols=3, crossover="coarse", generator=torch.Generator().manual_seed(1))
    assert grid.shape == (12, 1, 32, 32) and grid.min() >= -1 and grid.max() <= 1
    assert torch.equal(grid[0], torch.ones(1, 32, 32))
    every = style_mixing_grid(model, 2, 3, (0, model.num_layers), torch.Generator().manual_seed(1))
    assert torch.allclose(every[5:8], every[1:4], atol=1e-4) and torch.allclose(every[9:12], every[1:4], atol=1e-4)
    none = style_mixing_grid(model, 2, 3, (0, 0), torch.Generator().manual_seed(1))
    assert torch.allclose(none[5:8], none[4:5].expand(3, -1, -1, -1), atol=1e-4)  # row = source A
    assert torch.equal(every[:5], grid[:5])  # same sources and noise whatever the crossover
    with pytest.raises(ValueError, match="no fine layers"):
        style_mixing_grid(model, 1, 1, "fine")


def test_stylegan_lazy_r1_runs_every_16_d_steps_with_ds_optimizer(tmp_path):
    spec, config = _config("stylegan", r1_every=16, train_changes=dict(steps=17, log_every=1, checkpoint_every=0))
    model = spec.build(config)
    (r1,) = [p for p in model.phases(config.train) if p.name == "r1"]
    assert r1.every == 16 and r1.optimizer == "d" and r1.modules == (model.discriminator,)
    history = train(model, config, _data(), None, tmp_path, "cpu", seed=0, progress=False)
    assert [h["step"] for h in history if "r1/loss" in h] == [1, 17]
    for h in (history[0], history[-1]):  # the lazy loss stands for 16 steps of (γ/2)·R1
        assert h["r1/loss"] == pytest.approx(0.5 * 10.0 * 16 * h["r1/r1"], rel=1e-5)


@pytest.mark.parametrize("switch", ["style_mixing", "noise_inputs", "truncation", "r1", "mapping_layers",
                                    "minibatch_stddev", "ema"])
def test_stylegan_every_switch_off_builds_and_trains(tmp_path, switch):
    changes = {"style_mixing": {"style_mixing": False}, "noise_inputs": {"noise_inputs": False},
               "truncation": {"truncation": False}, "r1": {"r1_gamma": 0.0}, "mapping_layers": {"mapping_layers": 1},
               "minibatch_stddev": {"minibatch_stddev": False},
               "ema": {"train_changes": {"ema_decay": 0.0}}}[switch]
    model, history = _train_and_sample(tmp_path, "stylegan", (3, 32, 32), **changes)
    names = {n for n, _ in model.named_parameters()}
    if switch == "noise_inputs":
        assert not any("noise_strength" in n for n in names)
    else:
        assert any("noise_strength" in n for n in names)
    if switch == "truncation":
        assert model.generator.w_avg.abs().sum() == 0
    if switch == "r1":
        assert [p.name for p in model.phases(model.config.train)] == ["d", "g"] and "r1/loss" not in history[0]
    if switch == "mapping_layers":
        assert sum(isinstance(m, EqualizedLinear) for m in model.generator.mapping) == 1
    if switch == "minibatch_stddev":
        assert not any(isinstance(m, MinibatchStddev) for m in model.modules())
