"""StackGAN (zoo.models.stackgan): conditioning augmentation and its KL, the matching-aware
discriminator, Stage-I training with caption-encoder pre-training then freezing, Stage-II built
from Stage-I's trained generator (frozen), kill/resume, bad captions."""

import dataclasses
import math

import pytest
import torch

from zoo.models import stackgan as sg
from zoo.models import stackgan_stage2 as sg2
from zoo.models.srgan import state_digest
from zoo.train import LOG, init_weights, train
from _kill import Killed, assert_same_state, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)

VOCAB = 54  # the scenes caption grammar; 0 = padding

pytestmark = pytest.mark.usefixtures("one_thread")


def _data(shape=(3, 32, 32), n=16, seed=0):
    """uint8 images and int64 (n, 12) captions: words in 1..53, then trailing padding."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    tokens = torch.randint(1, VOCAB, (n, 12), generator=g)
    lengths = torch.randint(4, 13, (n,), generator=g)
    tokens[torch.arange(12)[None, :] >= lengths[:, None]] = 0
    return images, tokens


def _stage1(shape=(3, 32, 32), train_changes=None, **changes):
    config = sg.STAGE1_SPEC.make_config("smoke", shape, VOCAB)
    if train_changes:
        changes["train"] = dataclasses.replace(config.train, **train_changes)
    return dataclasses.replace(config, **changes)


@pytest.fixture(scope="module")
def trained_stage1(tmp_path_factory):
    config = _stage1()
    model = sg.STAGE1_SPEC.build(config)
    history = train(model, config, *_data(), tmp_path_factory.mktemp("stage1"), "cpu", seed=0, progress=False)
    return model, history


def test_specs_and_resolutions():
    s1, s2 = sg.STAGE1_SPEC, sg2.STAGE2_SPEC
    assert (s1.name, s1.family, s1.condition, s1.conditional) == ("stackgan1", "cgan", "tokens", True)
    assert (s2.name, s2.needs, s2.init_from, s2.condition) == ("stackgan2", ("generator_state",), "stackgan1", "tokens")
    for preset in ("smoke", "quick"):
        assert s1.make_config(preset, (3, 64, 64), VOCAB).stage1_size == 32
    assert s1.make_config("full", (3, 64, 64), VOCAB).stage1_size == 16  # the paper's 64 → 256 ratio
    full = s1.make_config("full", (3, 256, 256), VOCAB)
    assert (full.z_dim, full.cond_dim, full.d_cond_dim, full.kl_weight) == (100, 128, 128, 1.0)
    assert (full.train.lr, full.train.betas, full.train.batch_size) == (2e-4, (0.5, 0.999), 64)
    model = s1.build(full)
    assert model.generator.trunk[3].unflattened_size == (1024, 4, 4)  # 1024 channels at 4×4, as the paper
    phases = {p.name: p for p in model.phases(full.train)}
    assert phases["text"].lr_schedule is None and (phases["text"].stop, phases["d"].start) == (5000, 5000)
    assert [phases["g"].lr_schedule(s) for s in (0, 31_249, 31_250, 62_500)] == [1.0, 1.0, 0.5, 0.25]  # ½ / 100 epochs
    with pytest.raises(ValueError, match="num_classes"):
        s1.make_config("smoke", (3, 32, 32), None)


def test_ca_kl_is_the_closed_form():
    mu = torch.tensor([[0.5, -1.0, 0.0], [2.0, 0.1, -0.3]])
    logvar = torch.tensor([[0.0, -1.0, 0.7], [0.2, 1.5, -2.0]])
    by_hand = sum(0.5 * sum(m ** 2 + math.exp(v) - 1 - v for m, v in zip(mr, vr))
                  for mr, vr in zip(mu.tolist(), logvar.tolist())) / 2
    assert abs(float(sg.kl_standard_normal(mu, logvar)) - by_hand) < 1e-6
    assert float(sg.kl_standard_normal(torch.zeros(4, 3), torch.zeros(4, 3))) == 0.0

    ca = sg.ConditioningAugmentation(5, 3)
    with torch.no_grad():  # an FC layer that outputs [μ, log σ²] = [mu, logvar] for φ_t = e_0, e_1
        ca.fc.weight.zero_()
        ca.fc.bias.zero_()
        ca.fc.weight[:, :2] = torch.cat([mu, logvar], 1).T
    phi, eps = torch.eye(5)[:2], torch.randn(2, 3)
    c_hat, m, v = ca(phi, eps)
    assert torch.equal(m, mu) and torch.equal(v, logvar)
    assert torch.allclose(c_hat, mu + torch.exp(0.5 * logvar) * eps)


def test_generator_loss_adds_the_kl_of_its_own_ca():
    model = sg.STAGE1_SPEC.build(_stage1())
    x, tokens = _data(n=4)
    x = x.float() / 127.5 - 1
    with torch.no_grad():
        model.generator.ca.fc.bias[:4] = 0.7  # move μ and log σ² off 0 so the KL is large
        model.generator.ca.fc.bias[4:] = -0.5
    loss, logs = model.loss("g", (x, tokens), torch.Generator().manual_seed(0))
    phi = model.caption.embed(tokens)
    _, mu, logvar = model.generator.ca(phi, torch.zeros(4, 4))
    expected = sg.kl_standard_normal(mu, logvar).detach()
    assert float(expected) > 0.5
    assert torch.allclose(logs["kl"], expected) and torch.allclose(loss, logs["adversarial"] + expected)


def test_without_conditioning_augmentation_c_is_deterministic_and_there_is_no_kl():
    config = _stage1(conditioning_augmentation=False)
    model = sg.STAGE1_SPEC.build(config).eval()
    assert model.latent_dim == config.z_dim and model.generator.ca.fc.out_features == config.cond_dim
    x, tokens = _data(n=4)
    phi = model.caption.embed(tokens)
    a, mu, logvar = model.generator.ca(phi, None)
    assert mu is None and logvar is None and torch.equal(a, model.generator.ca(phi, None)[0])
    z = torch.randn(4, model.latent_dim)
    with torch.no_grad():
        assert torch.equal(model.generate(z, tokens), model.generate(z, tokens))
    _, logs = model.train().loss("g", (x.float() / 127.5 - 1, tokens), torch.Generator().manual_seed(0))
    assert "kl" not in logs
    on = sg.STAGE1_SPEC.build(_stage1())
    assert on.latent_dim == config.z_dim + config.cond_dim  # ε is part of the latent with CA on


def test_matching_aware_discriminator_loss():
    rr, rw, fr = torch.tensor([1.0, -2.0]), torch.tensor([0.5, 0.0]), torch.tensor([-1.0, 3.0])

    def sp(t):
        return torch.log1p(torch.exp(t)).mean()

    expected = sp(-rr) + 0.5 * (sp(rw) + sp(fr))
    assert torch.allclose(sg.matching_aware_d_loss(rr, rw, fr), expected)
    model = sg.STAGE1_SPEC.build(_stage1())
    x, tokens = _data(n=4)
    loss, logs = model.loss("d", (x.float() / 127.5 - 1, tokens), torch.Generator().manual_seed(0))
    assert set(logs) == {"real_right", "real_wrong", "fake_right"} and torch.isfinite(loss)
    d, phi = model.discriminator, model.caption.embed(tokens)
    xs = torch.nn.functional.avg_pool2d(x.float() / 127.5 - 1, 2)  # D sees reals at stage1_size
    assert torch.allclose(logs["real_right"], d(xs, phi).mean(), atol=1e-6)
    assert torch.allclose(logs["real_wrong"], d(xs, phi.roll(1, 0)).mean(), atol=1e-6)


@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 64, 64)])
def test_stage1_trains_text_first_then_the_gan_and_samples_at_the_data_size(tmp_path, shape):
    config = _stage1(shape)
    assert config.text_steps == 2 and config.train.steps == 5 and config.stage1_size == shape[-1] // 2
    images, tokens = _data(shape)
    model = sg.STAGE1_SPEC.build(config)
    short = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=config.text_steps))
    train(model, short, images, tokens, tmp_path, "cpu", seed=0, progress=False)
    pretrained = {k: v.clone() for k, v in model.caption.state_dict().items()}
    gan_start = {k: v.clone() for k, v in model.state_dict().items() if not k.startswith("generator.caption.")}
    history = train(model, config, images, tokens, tmp_path, "cpu", seed=0, progress=False)  # extends the run
    assert [("text/loss" in h, "g/loss" in h) for h in history] == [(True, False)] * 2 + [(False, True)] * 3
    assert all(math.isfinite(v) for h in history for v in h.values())
    assert all(torch.equal(v, pretrained[k]) for k, v in model.caption.state_dict().items())  # frozen after
    assert all(not torch.equal(v, gan_start[k]) for k, v in model.state_dict().items()
               if k.endswith(".weight") and k.startswith(("generator.trunk.", "generator.ca.", "discriminator.")))
    fresh = init_weights(sg.STAGE1_SPEC.build(config), 0)
    assert any(not torch.equal(v, fresh.caption.state_dict()[k]) for k, v in pretrained.items())  # it did train

    x = model.sample(5, torch.Generator().manual_seed(1), tokens[:5])
    assert x.shape == (5, *shape) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    with torch.no_grad():
        model.eval()
        z = torch.randn(2, model.latent_dim)
        small = model.generator(z, tokens[:2])[0]
        assert small.shape == (2, 3, shape[-1] // 2, shape[-1] // 2)
        up = torch.nn.functional.interpolate(small, size=shape[1:], mode="bilinear", align_corners=False)
        assert torch.equal(model.generate(z, tokens[:2]), up)


def test_stage2_refines_from_stage1_which_stays_frozen(tmp_path, trained_stage1):
    stage1, _ = trained_stage1
    state = {k: v.clone() for k, v in stage1.generator.state_dict().items()}
    config = sg2.STAGE2_SPEC.make_config("smoke", (3, 32, 32), VOCAB, generator_state=state)
    assert config.generator_init == state_digest(state) and config.latent_dim == stage1.latent_dim + 4
    model = sg2.STAGE2_SPEC.build(config, generator_state=state)
    assert all(torch.equal(v, state[k]) for k, v in model.generator.stage1.state_dict().items())
    start = {k: v.clone() for k, v in model.state_dict().items()}
    history = train(model, config, *_data(), tmp_path, "cpu", seed=0, progress=False)
    assert len(history) == 4 and all("g/kl" in h and "d/real_wrong" in h for h in history)
    after = model.state_dict()
    for k, v in model.generator.stage1.state_dict().items():  # Stage-I and its caption encoder, BN statistics
        assert torch.equal(v, state[k]), k
    refiner = [k for k in after if k.endswith(".weight") and k.startswith(
        ("generator.ca.", "generator.encode.", "generator.joint.", "generator.decode.", "discriminator."))]
    assert len(refiner) > 10 and all(not torch.equal(after[k], start[k]) for k in refiner)

    tokens = _data()[1][:3]
    x = model.sample(3, torch.Generator().manual_seed(1), tokens)
    assert x.shape == (3, 3, 32, 32) and -1 <= x.min() and x.max() <= 1
    with torch.no_grad():  # generate runs Stage-I on the first latents, then the refiner
        z = torch.randn(3, model.latent_dim)
        model.eval()
        seen = []
        hook = model.generator.encode.register_forward_hook(lambda m, i, o: seen.append(i[0]))
        model.generate(z, tokens)
        hook.remove()
        stage1.eval()
        assert torch.allclose(seen[0], stage1.generator(z[:, :stage1.latent_dim], tokens)[0], atol=1e-6)

    with pytest.raises(ValueError, match="digest"):
        sg2.STAGE2_SPEC.build(config)  # the config names a state: building without it is refused
    other = sg2.STAGE2_SPEC.make_config("smoke", (3, 32, 32), VOCAB)
    with pytest.raises(ValueError, match="digest"):
        sg2.STAGE2_SPEC.build(other, generator_state=state)


@pytest.mark.parametrize("stage", [1, 2])
def test_killed_run_resumes_to_identical_weights(tmp_path, trained_stage1, stage):
    if stage == 1:  # dies in iteration 4 (2 text calls, then d + g), after the checkpoint at 2 (log: 3 lines)
        spec, config, needs, calls, logged = sg.STAGE1_SPEC, _stage1(), {}, 2 + 2 * 1 + 1, 3
    else:  # dies in iteration 3 (d + g per iteration), after the checkpoint at 2 (log: 2 lines)
        state = trained_stage1[0].generator.state_dict()
        spec, needs, calls, logged = sg2.STAGE2_SPEC, {"generator_state": state}, 2 * 2 + 1, 2
        config = spec.make_config("smoke", (3, 32, 32), VOCAB, **needs)
    images, tokens = _data()
    straight = spec.build(config, **needs)
    history = train(straight, config, images, tokens, tmp_path / "a", "cpu", seed=3, progress=False)

    torch.manual_seed(7)
    victim = spec.build(config, **needs)
    kill_after(victim, calls=calls)
    with pytest.raises(Killed):
        train(victim, config, images, tokens, tmp_path / "b", "cpu", seed=3, progress=False)
    assert len((tmp_path / "b" / LOG).read_text().splitlines()) == logged
    torch.manual_seed(8)
    resumed = spec.build(config, **needs)
    assert train(resumed, config, images, tokens, tmp_path / "b", "cpu", seed=3, progress=False) == history
    assert_same_state(straight, resumed)


@pytest.mark.parametrize("bad, match", [
    (torch.full((3, 12), VOCAB), "0..53"),
    (torch.ones(3, 12, dtype=torch.int32), "int64"),
    (torch.ones(3, dtype=torch.int64), "int64 \\(N, L\\)"),
    (torch.ones(2, 12, dtype=torch.int64), "expected 3"),
    (None, "tokens"),
])
def test_bad_tokens_are_refused(tmp_path, bad, match):
    model = sg.STAGE1_SPEC.build(_stage1())
    with pytest.raises(ValueError, match=match):
        model.sample(3, labels=bad)
    images, _ = _data(n=3)
    if bad is not None and bad.shape[0] == 3:
        with pytest.raises(ValueError, match=match):
            train(model, _stage1(), images, bad, tmp_path, "cpu", seed=0, progress=False)
