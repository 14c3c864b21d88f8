"""GAN-INT-CLS (zoo.models.gan_int_cls): the matching-aware D loss against its formula, the CLS and
INT switches, caption pre-training before the GAN phases with the encoder frozen after, training and
sampling from caption tokens at smoke, exact resume after a kill, refusal of bad tokens."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from zoo.models import gan_int_cls
from zoo.models.base import PRESET_NAMES
from zoo.train import LOG, init_weights, train
from _kill import Killed, assert_same_state, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py
VOCAB = 54  # the scenes caption grammar's vocabulary, 0 = padding


def _data(shape=(3, 32, 32), n=16, length=12, seed=0):
    """uint8 images and left-aligned captions: int64 (n, length) ids in 1..53, then 0 padding."""
    g = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (n, *shape), dtype=torch.uint8, generator=g)
    tokens = torch.randint(1, VOCAB, (n, length), generator=g)
    words = torch.randint(3, length + 1, (n,), generator=g)
    tokens[torch.arange(length)[None, :] >= words[:, None]] = 0
    assert (tokens[:, -1] == 0).any()
    return images, tokens


def _config(shape=(3, 32, 32), train_changes=None, **changes):
    config = gan_int_cls.make_config("smoke", shape, VOCAB)
    if train_changes:
        changes["train"] = dataclasses.replace(config.train, **train_changes)
    return dataclasses.replace(config, **changes)


def _model(config, seed=0):
    return init_weights(gan_int_cls.build(config), seed)


def _batch(config, n=8):
    images, tokens = _data(config.image_shape, n)
    return images.float() / 127.5 - 1, tokens


def _record_d(model):
    """D's calls as (images, φ(t) given to D, logits)."""
    calls = []
    model.discriminator.register_forward_hook(lambda m, args, out: calls.append((*args, out)))
    return calls


def test_spec_and_presets():
    spec = gan_int_cls.SPEC
    assert (spec.name, spec.family, spec.conditional, spec.condition) == ("gan-int-cls", "cgan", True, "tokens")
    assert tuple(spec.presets) == PRESET_NAMES
    for preset in PRESET_NAMES:
        config = spec.make_config(preset, (3, 64, 64), VOCAB)
        assert config.num_classes == VOCAB and config.cls and config.interpolation and config.beta == 0.5
        assert config.train.lr == 2e-4 and config.train.betas[0] == 0.5
        assert 0 < config.text_steps < config.train.steps
    full = spec.make_config("full", (3, 64, 64), VOCAB)
    assert (full.latent_dim, full.text_dim, full.compressed_dim, full.train.batch_size) == (100, 1024, 128, 64)
    model = spec.build(spec.make_config("smoke", (3, 64, 64), VOCAB))
    assert model.condition == "tokens" and model.num_classes == VOCAB
    with pytest.raises(ValueError, match="num_classes"):
        spec.make_config("smoke", (3, 64, 64), None)


def test_matching_aware_d_loss_is_the_hand_computed_formula():
    logit = torch.logit
    s_r, s_w, s_f = torch.tensor([0.9, 0.6]), torch.tensor([0.2, 0.5]), torch.tensor([0.3, 0.1])
    loss = gan_int_cls.cls_d_loss(logit(s_r), logit(s_w), logit(s_f))
    # Algorithm 1: L_D = log(s_r) + (log(1 − s_w) + log(1 − s_f)) / 2, ascended; here minimized
    expected = -(torch.log(s_r) + (torch.log(1 - s_w) + torch.log(1 - s_f)) / 2).mean()
    assert torch.allclose(loss, expected, atol=1e-6)
    plain = gan_int_cls.cls_d_loss(logit(s_r), None, logit(s_f))
    assert torch.allclose(plain, -(torch.log(s_r) + torch.log(1 - s_f)).mean(), atol=1e-6)


@pytest.mark.parametrize("cls", [True, False])
def test_d_scores_real_wrong_and_fake_pairs(cls):
    model = _model(_config(cls=cls))
    x, tokens = _batch(model.config)
    calls = _record_d(model)
    loss, logs = model.loss("d", (x, tokens), torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = model.embed(tokens)
    assert len(calls) == (3 if cls else 2) and ("s_w" in logs) == cls
    (x_r, h_r, real), (x_f, h_f, fake) = calls[:2]
    assert torch.equal(x_r, x) and torch.allclose(h_r, h) and torch.allclose(h_f, h)
    assert not torch.equal(x_f, x) and x_f.min() >= -1 and x_f.max() <= 1  # G's images, with the right text
    wrong = None
    if cls:
        x_w, h_w, wrong = calls[2]
        assert torch.equal(x_w, x) and torch.allclose(h_w, h.roll(1, 0))  # real image, another row's caption
        assert not torch.allclose(h_w, h)
    assert torch.allclose(loss, gan_int_cls.cls_d_loss(real, wrong, fake))
    assert torch.allclose(logs["s_r"], torch.sigmoid(real).mean())


@pytest.mark.parametrize("interpolation", [True, False])
def test_int_term_present_iff_interpolation(interpolation):
    model = _model(_config(interpolation=interpolation))
    x, tokens = _batch(model.config)
    calls = _record_d(model)
    loss, logs = model.loss("g", (x, tokens), torch.Generator().manual_seed(0))
    with torch.no_grad():
        h = model.embed(tokens)
    assert len(calls) == (2 if interpolation else 1) and ("s_int" in logs) == interpolation
    assert torch.allclose(calls[0][1], h)
    expected = F.softplus(-calls[0][2]).mean()  # −log s_f
    if interpolation:
        _, h_int, interp = calls[1]
        assert torch.allclose(h_int, 0.5 * h + 0.5 * h.roll(1, 0), atol=1e-6)  # β·h1 + (1 − β)·h2
        expected = expected + F.softplus(-interp).mean()
    assert torch.allclose(loss, expected)


def _split_state(model):
    state = {k: v.clone() for k, v in model.state_dict().items()}
    caption = {k: v for k, v in state.items() if k.startswith("generator.caption.")}
    return caption, {k: v for k, v in state.items() if k not in caption}


def _changed(a, b):
    return {k for k in a if not torch.equal(a[k], b[k])}


def test_text_phase_only_before_text_steps_then_gan_phases_with_the_encoder_frozen(tmp_path):
    config = _config()
    assert config.text_steps == 2 and config.train.steps == 6
    images, tokens = _data()
    model = _model(config, seed=1)
    phases = {p.name: p for p in model.phases(config.train)}
    caption_ids = {id(p) for p in model.generator.caption.parameters()}
    assert {id(p) for p in phases["text"].parameters()} == caption_ids
    assert not caption_ids & {id(p) for name in ("d", "g") for p in phases[name].parameters()}
    assert [n for n in phases if phases[n].active(1)] == ["text"]
    assert [n for n in phases if phases[n].active(2)] == ["d", "g"]

    start_caption, start_gan = _split_state(model)
    calls = []
    real = model.loss
    model.loss = lambda phase, *args: (calls.append(phase), real(phase, *args))[1]
    pretrained = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=2))
    history = train(model, pretrained, images, tokens, tmp_path, "cpu", seed=1, progress=False)
    assert calls == ["text", "text"] and all("text/matching" in h and "text/retrieval" in h for h in history)
    caption, gan = _split_state(model)
    assert _changed(start_caption, caption) and not _changed(start_gan, gan)  # G and D untouched, BN stats too

    calls.clear()
    history = train(model, config, images, tokens, tmp_path, "cpu", seed=1, progress=False)  # extended to 6
    assert calls == ["d", "g"] * 4
    assert {"d/s_r", "d/s_w", "d/s_f", "g/s_f", "g/s_int"} <= set(history[-1])
    after_caption, after_gan = _split_state(model)
    assert not _changed(caption, after_caption)  # the encoder is frozen in the GAN phases
    changed = _changed(gan, after_gan)
    assert any(k.startswith("discriminator.") for k in changed)
    assert any(k.startswith("generator.trunk.") for k in changed)
    assert any(k.startswith("generator.compress.") for k in changed)


@pytest.mark.parametrize("shape", [(3, 32, 32), (3, 64, 64)])
def test_trains_at_smoke_and_samples_for_given_captions(tmp_path, shape):
    config = _config(shape)
    images, tokens = _data(shape)
    model = gan_int_cls.build(config)
    history = train(model, config, images, tokens, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps
    assert all(math.isfinite(v) for h in history for v in h.values())

    captions = tokens[:5]
    x = model.sample(5, generator=torch.Generator().manual_seed(1), labels=captions)
    assert x.shape == (5, *shape) and x.dtype == torch.float32 and x.min() >= -1 and x.max() <= 1 and x.std() > 0
    assert torch.equal(x, model.sample(5, generator=torch.Generator().manual_seed(1), labels=captions))
    other = model.sample(5, generator=torch.Generator().manual_seed(1), labels=captions.roll(1, 0))
    assert not torch.allclose(x, other)  # the caption changes the image for the same z
    padded = torch.cat([captions, torch.zeros(5, 7, dtype=torch.int64)], dim=1)  # any length L
    torch.testing.assert_close(model.sample(5, generator=torch.Generator().manual_seed(1), labels=padded), x)

    model.eval()
    z = torch.randn(5, config.latent_dim)
    with torch.no_grad():
        emb = model.embed(captions)
        assert emb.shape == (5, config.text_dim)
        assert torch.equal(model.generate(z, captions), model.generate_from_embedding(z, emb))
        between = model.generate_from_embedding(z, 0.5 * emb + 0.5 * emb.roll(1, 0))
    assert between.shape == (5, *shape)


def test_killed_run_resumes_to_identical_weights(tmp_path):
    config = _config()
    images, tokens = _data()
    straight = gan_int_cls.build(config)
    history = train(straight, config, images, tokens, tmp_path / "a", "cpu", seed=3, progress=False)

    torch.manual_seed(7)
    victim = gan_int_cls.build(config)
    # calls: text, text | d, g | d, g | checkpoint at 4 | d ← dies in iteration 5
    kill_after(victim, calls=7)
    with pytest.raises(Killed):
        train(victim, config, images, tokens, tmp_path / "b", "cpu", seed=3, progress=False)
    assert len((tmp_path / "b" / LOG).read_text().splitlines()) == 4
    torch.manual_seed(8)
    resumed = gan_int_cls.build(config)
    assert train(resumed, config, images, tokens, tmp_path / "b", "cpu", seed=3, progress=False) == history
    assert_same_state(straight, resumed)


@pytest.mark.parametrize("bad, match", [
    (torch.full((4, 6), VOCAB), "0..53"),                      # out of the vocabulary
    (torch.full((4, 6), -1), "0..53"),
    (torch.ones(4, 6, dtype=torch.int32), "int64 \\(N, L\\)"),  # wrong dtype
    (torch.ones(4, 6).float(), "int64 \\(N, L\\)"),
    (torch.ones(4, dtype=torch.int64), "int64 \\(N, L\\)"),   # class labels, not captions
    (torch.ones(3, 6, dtype=torch.int64), "expected 4"),
])
def test_bad_tokens_are_refused(tmp_path, bad, match):
    config = _config()
    model = gan_int_cls.build(config)
    with pytest.raises(ValueError, match=match):
        model.sample(4, labels=bad)
    if bad.shape[0] == 4:
        with pytest.raises(ValueError, match=match):
            model.embed(bad)
    images, _ = _data(n=4)
    with pytest.raises(ValueError, match=match):
        train(model, config, images, bad, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match="tokens-conditional"):
        model.sample(4)
