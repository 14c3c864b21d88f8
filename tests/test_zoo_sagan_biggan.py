"""SAGAN and BigGAN (zoo.models.sagan / biggan) and their layers: training and
sampling at smoke, exact resume with spectral-norm vectors and EMA, self-attention,
spectral norm, orthogonal regularization, projection D, truncation, k D steps,
every switch off."""

import dataclasses
import math

import pytest
import torch
from torch.nn.utils import parametrize

from zoo.layers.attention import SelfAttention
from zoo.layers.spectral import raw_weight
from zoo.losses.orthogonal import orthogonal_penalty, orthogonal_regularization
from zoo.models import MODELS
from zoo.models.base import GenerativeModel
from zoo.models.biggan import truncated_randn
from zoo.train import LOG, init_weights, train
from _kill import Killed, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)


def _data(shape, n=16, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def _config(name, shape=(1, 32, 32), train_changes=None, **changes):
    config = MODELS.get(name).make_config("smoke", shape, 10)
    if train_changes:
        changes["train"] = dataclasses.replace(config.train, **train_changes)
    return dataclasses.replace(config, **changes)


def _labels(name, n):
    return torch.arange(n) % 10 if MODELS.get(name).conditional else None


def _train_and_sample(tmp_path, name, config):
    images, labels = _data(config.image_shape)
    model = MODELS.get(name).build(config)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    history = train(model, config, images, labels, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps
    assert all(torch.isfinite(torch.tensor(v)) for h in history for v in h.values())
    assert any(not torch.equal(v, before[k]) for k, v in model.state_dict().items() if "parametrizations" in k
               or "linear" in k)
    x = model.sample(5, generator=torch.Generator().manual_seed(1), labels=_labels(name, 5))
    assert x.shape == (5, *config.image_shape) and x.dtype == torch.float32
    assert x.min() >= -1 and x.max() <= 1 and x.std() > 0
    return model, history


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 64, 64)])
def test_sagan_trains_and_samples(tmp_path, shape):
    _train_and_sample(tmp_path, "sagan", _config("sagan", shape))


@pytest.mark.parametrize("shape", [(1, 32, 32), (3, 64, 64)])
def test_biggan_trains_and_samples_classes(tmp_path, shape):
    model, history = _train_and_sample(tmp_path, "biggan", _config("biggan", shape))
    assert all("g/ortho" in h and h["g/ortho"] > 0 for h in history)
    a, b = (model.sample(3, generator=torch.Generator().manual_seed(1), labels=torch.full((3,), k)) for k in (0, 1))
    assert not torch.allclose(a, b)  # the class changes the image for the same z


@pytest.mark.parametrize("name", ["sagan", "biggan"])  # biggan: 2 D steps, EMA from step 2
def test_killed_run_resumes_to_identical_weights_and_power_iterates(tmp_path, name):
    config = _config(name)
    images, labels = _data(config.image_shape)
    calls_per_step = config.train.k_d_steps + 1
    straight = MODELS.get(name).build(config)
    history = train(straight, config, images, labels, tmp_path / "a", "cpu", seed=3, progress=False)

    torch.manual_seed(7)
    victim = MODELS.get(name).build(config)
    kill_after(victim, calls=3 * calls_per_step + 1)  # dies in iteration 4, after the checkpoint at 2
    with pytest.raises(Killed):
        train(victim, config, images, labels, tmp_path / "b", "cpu", seed=3, progress=False)
    assert len((tmp_path / "b" / LOG).read_text().splitlines()) == 3
    torch.manual_seed(8)
    resumed = MODELS.get(name).build(config)
    assert train(resumed, config, images, labels, tmp_path / "b", "cpu", seed=3, progress=False) == history

    a, b = straight.state_dict(), resumed.state_dict()
    assert a.keys() == b.keys()
    vectors = [k for k in a if k.endswith("._u") or k.endswith("._v")]
    assert any(k.startswith("generator.") for k in vectors) and any(k.startswith("discriminator.") for k in vectors)
    for k in a:
        assert torch.equal(a[k], b[k]), k
    start = init_weights(MODELS.get(name).build(config), 3).state_dict()
    assert any(not torch.equal(start[k], a[k]) for k in vectors)  # power iteration moved u, v


def test_self_attention_starts_as_the_identity_with_stochastic_rows():
    torch.manual_seed(0)
    layer = SelfAttention(16, spectral_norm=False)
    x = torch.randn(2, 16, 5, 6)
    assert float(layer.gamma.detach()) == 0.0 and torch.equal(layer(x), x)  # Eq. 3 with γ = 0
    beta = layer.attention(x)
    assert beta.shape == (2, 30, 30) and (beta >= 0).all()
    assert torch.allclose(beta.sum(-1), torch.ones(2, 30), atol=1e-6)
    # Eq. 1–2 by hand at one position j
    f, g, h = (m(x).flatten(2)[0] for m in (layer.f, layer.g, layer.h))
    j = 7
    weights = torch.softmax(f.T @ g[:, j], 0)                         # β_j,i over i: s_ij = f(x_i)·g(x_j)
    assert torch.allclose(beta[0, j], weights, atol=1e-6)
    with torch.no_grad():
        layer.gamma.fill_(0.5)
    o = layer.v((h @ weights)[None, :, None, None]).flatten()
    assert torch.allclose(layer(x)[0, :, j // 6, j % 6], x[0, :, j // 6, j % 6] + 0.5 * o, atol=1e-5)
    layer.reset_parameters()
    assert float(layer.gamma.detach()) == 0.0


def test_spectral_norm_makes_the_largest_singular_value_one():
    model = init_weights(MODELS.get("sagan").build(_config("sagan")), 0)
    model.discriminator(torch.rand(4, 1, 32, 32) * 2 - 1)  # one power iteration per layer, in training mode
    layers = [m for m in model.discriminator.modules() if parametrize.is_parametrized(m, "weight")]
    assert len(layers) > 5

    def sigma(m):
        return float(torch.linalg.matrix_norm(m.weight.detach().flatten(1), 2))

    model.eval()  # no power iteration on access
    # σ̂ = uᵀWv never exceeds σ(W), so σ(W / σ̂) ≥ 1, and W / σ̂ is W scaled
    assert all(sigma(m) >= 1 - 1e-4 for m in layers)
    for m in layers:
        raw = raw_weight(m).detach()
        assert torch.allclose(m.weight.detach() * torch.linalg.matrix_norm(raw.flatten(1), 2) / sigma(m), raw,
                              rtol=1e-4, atol=1e-6)
    model.train()
    for m in layers:  # random square-ish matrices have close top singular values: convergence takes a while
        for _ in range(300):
            m.weight  # each access in training mode is one power iteration
    model.eval()
    assert all(abs(sigma(m) - 1) < 0.01 for m in layers), [round(sigma(m), 4) for m in layers]


def test_sagan_ttur_learning_rates_and_hinge_loss():
    config = _config("sagan")
    model = MODELS.get("sagan").build(config)
    lrs = {p.name: p.lr for p in model.phases(config.train)}
    assert lrs == {"d": 4e-4, "g": 1e-4} and config.train.betas == (0.0, 0.9) and config.loss == "hinge"
    off = MODELS.get("sagan").build(dataclasses.replace(config, ttur=False))
    assert {p.name: p.lr for p in off.phases(config.train)} == {"d": 2e-4, "g": 2e-4}


@pytest.mark.parametrize("switch", ["self_attention", "spectral_norm_g", "spectral_norm_d", "ttur"])
def test_each_sagan_switch_off_builds_and_trains(tmp_path, switch):
    config = _config("sagan", train_changes={"steps": 2}, **{switch: False})
    model, _ = _train_and_sample(tmp_path, "sagan", config)
    g, d = model.generator, model.discriminator
    assert any(isinstance(m, SelfAttention) for m in model.modules()) == (switch != "self_attention")
    assert any(parametrize.is_parametrized(m) for m in g.modules()) == (switch != "spectral_norm_g")
    assert any(parametrize.is_parametrized(m) for m in d.modules()) == (switch != "spectral_norm_d")


def test_sagan_other_loss_and_attention_placement():
    config = _config("sagan", (3, 64, 64), loss="non-saturating", attention_resolution=16)
    model = MODELS.get("sagan").build(config)
    seen = []
    for layer in (model.generator.trunk.attention, model.discriminator.attention):
        layer.register_forward_hook(lambda m, i, o: seen.append(tuple(o.shape[2:])))
    loss, _ = model.loss("d", _data((3, 64, 64), n=2), torch.Generator().manual_seed(0))
    assert torch.isfinite(loss) and seen == [(16, 16), (16, 16), (16, 16)]  # G once, D on real and fake
    with pytest.raises(ValueError, match="attention_resolution"):
        dataclasses.replace(config, attention_resolution=64)


def test_orthogonal_regularization_closed_form_and_gradient():
    q = torch.linalg.qr(torch.randn(6, 6, generator=torch.Generator().manual_seed(0)))[0]
    assert float(orthogonal_penalty(q * torch.arange(1.0, 7.0)[:, None])) < 1e-9  # orthogonal rows, any norms
    assert float(orthogonal_penalty(q[:4].reshape(4, 1, 3, 2))) < 1e-9            # conv kernels: rows = filters
    w = torch.tensor([[1.0, 1.0], [1.0, 0.0]], requires_grad=True)  # W Wᵀ = [[2, 1], [1, 1]]
    penalty = orthogonal_penalty(w)
    assert float(penalty.detach()) == 2.0  # two off-diagonal 1's
    penalty.backward()
    # d/dW ‖W Wᵀ ⊙ (1 − I)‖² = 4 ((W Wᵀ) ⊙ (1 − I)) W = 4 [[0, 1], [1, 0]] W
    assert torch.equal(w.grad, torch.tensor([[4.0, 0.0], [4.0, 4.0]]))
    assert float(orthogonal_regularization([w.detach(), torch.ones(5)], beta=0.5)) == 1.0  # 1-D skipped
    r = torch.randn(8, 20, generator=torch.Generator().manual_seed(1))
    gram = r.double() @ r.double().T
    expected = float(((gram - torch.diag(torch.diag(gram))) ** 2).sum())
    with torch.autocast("cpu", dtype=torch.bfloat16):  # float32 under mixed precision (bf16: ~1e-2 off)
        assert abs(float(orthogonal_penalty(r)) / expected - 1) < 1e-5


def test_biggan_generator_loss_adds_orthogonal_regularization_of_g_but_not_the_embedding():
    config = _config("biggan")
    on, off = (init_weights(MODELS.get("biggan").build(dataclasses.replace(config, ortho_reg=r)), 0)
               for r in (True, False))
    names = {id(p): n for n, p in on.generator.named_parameters()}
    regularized = {names[id(p)] for p in on.generator.regularized_weights()}
    assert not any(n.startswith("shared") for n in regularized)
    assert any(".bn1.gain." in n for n in regularized) and any(n.startswith("trunk.linear") for n in regularized)
    batch = _data(config.image_shape, n=4)
    loss_on, logs = on.loss("g", batch, torch.Generator().manual_seed(0))
    loss_off, _ = off.loss("g", batch, torch.Generator().manual_seed(0))
    expected = 1e-4 * sum(orthogonal_penalty(p) for p in on.generator.regularized_weights())
    assert torch.allclose(loss_on - loss_off, expected, rtol=1e-4) and torch.allclose(logs["ortho"], expected)


def test_projection_discriminator_is_the_hand_computed_formula():
    config = _config("biggan")
    model = init_weights(MODELS.get("biggan").build(config), 0).eval()
    d = model.discriminator
    x, y = _data(config.image_shape, n=4)
    phi = d.features(x)
    assert phi.shape == (4, 4 * 8) and (phi >= 0).all()
    expected = phi @ d.linear.weight.T[:, 0] + d.linear.bias + (d.embed.weight[y] * phi).sum(1)
    assert torch.allclose(d(x, y), expected, atol=1e-5)
    assert not torch.allclose(d(x, y), d(x, (y + 1) % 10))
    concat = MODELS.get("biggan").build(dataclasses.replace(config, projection_d=False)).discriminator
    assert not hasattr(concat, "embed") and concat.blocks[0].conv1.in_channels == 1 + 10


def test_truncation_by_resampling():
    z = truncated_randn((200, 16), 0.5, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert z.shape == (200, 16) and z.abs().max() <= 0.5 and z.std() > 0.2  # not clipped to a constant
    # resampled, not clipped: no mass at ±0.5, and E|z| of N(0, 1) truncated to [−0.5, 0.5] is
    # (φ(0) − φ(0.5)) / (Φ(0.5) − ½) = 0.2448 (clipping would give ≈ 0.46)
    assert (z.abs() == 0.5).sum() == 0 and abs(float(z.abs().mean()) - 0.2448) < 0.01
    untruncated = truncated_randn((200, 16), math.inf, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert torch.equal(untruncated, torch.randn(200, 16, generator=torch.Generator().manual_seed(0)))
    with pytest.raises(ValueError, match="threshold"):
        truncated_randn((2, 2), 0.0, None, torch.device("cpu"))

    config = _config("biggan")
    model = init_weights(MODELS.get("biggan").build(config), 0)
    y = torch.arange(4)
    plain = GenerativeModel.sample(model, 4, torch.Generator().manual_seed(2), y)
    assert torch.equal(model.sample(4, torch.Generator().manual_seed(2), y), plain)  # default ψ = ∞
    assert torch.equal(model.sample(4, torch.Generator().manual_seed(2), y, psi=math.inf), plain)
    with pytest.raises(ValueError, match="labels"):
        model.sample(2, psi=0.3)
    truncated = model.sample(4, torch.Generator().manual_seed(2), y, psi=0.3)
    assert not torch.equal(truncated, plain)
    assert torch.equal(truncated, model.sample(4, torch.Generator().manual_seed(2), y, psi=0.3))


def test_two_discriminator_updates_per_generator_update(tmp_path):
    config = _config("biggan", train_changes={"steps": 3})
    assert config.train.k_d_steps == 2
    model = MODELS.get("biggan").build(config)
    real, calls = model.loss, []
    model.loss = lambda phase, *args: (calls.append(phase), real(phase, *args))[1]
    train(model, config, *_data(config.image_shape), tmp_path, "cpu", seed=0, progress=False)
    assert calls == ["d", "d", "g"] * 3


def test_biggan_conditioning_layout():
    config = _config("biggan", (3, 64, 64))  # 4 G blocks: z in 5 chunks
    g = MODELS.get("biggan").build(config).generator
    assert g.z_sizes == [4, 3, 3, 3, 3] and g.trunk.linear.in_features == 4
    assert g.shared.weight.shape == (10, 8)
    assert [b.bn1.gain.in_features for b in g.trunk.blocks] == [8 + 3] * 4
    flat_config = dataclasses.replace(config, hierarchical_z=False, shared_embedding=False)
    flat = MODELS.get("biggan").build(flat_config).generator
    assert flat.trunk.linear.in_features == 16 and flat.shared is None
    assert [b.bn1.gain.in_features for b in flat.trunk.blocks] == [10] * 4  # one-hot y: per-block class embeddings
    # hierarchical: the last chunk of z reaches the image through the last block's cBN only
    model = init_weights(MODELS.get("biggan").build(config), 0).eval()
    z, y = torch.randn(2, 16), torch.arange(2)
    z2 = z.clone()
    z2[:, -3:] += 1
    with torch.no_grad():
        assert not torch.allclose(model.generate(z, y), model.generate(z2, y))


def test_biggan_ema_switch():
    config = _config("biggan")
    assert config.ema and config.train.ema_decay == 0.9 and config.train.ema_start == 2
    assert dataclasses.replace(config, ema=False).train.ema_decay == 0.0
    with pytest.raises(ValueError, match="ema_decay"):
        dataclasses.replace(config, train=dataclasses.replace(config.train, ema_decay=0.0))


@pytest.mark.parametrize("switch", ["shared_embedding", "hierarchical_z", "projection_d", "ortho_reg",
                                    "self_attention", "ema", "spectral_norm_g", "spectral_norm_d", "ttur"])
def test_each_biggan_switch_off_builds_and_trains(tmp_path, switch):
    config = _config("biggan", train_changes={"steps": 2, "ema_start": 1}, **{switch: False})
    _, history = _train_and_sample(tmp_path, "biggan", config)
    assert all(("g/ortho" in h) == (switch != "ortho_reg") for h in history)
