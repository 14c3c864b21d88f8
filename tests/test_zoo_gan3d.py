"""3D-GAN (zoo.models.gan3d) and the trainer support it needs: the paper's networks and their
32³ variant, uniform z, samples as 2p − 1, the adaptive discriminator update through
``Phase.skip_if`` (a skipped update leaves D's weights and Adam state as they were, draws the
same batches and noise, and survives a resume), 5-D volumes in the trainer (clear errors for
the wrong rank or size, the 4-D messages unchanged), the isometric preview in sample grids,
and smoke training with a resume after a kill."""

import dataclasses
import json
import math

import pytest
import torch
from torch import nn

from zoo.models import MODELS, gan3d
from zoo.train import CHECKPOINT, LOG, Phase, TrainConfig, load_state, train
from _kill import Killed, assert_same_state, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)

pytestmark = pytest.mark.usefixtures("one_thread")


def _solids(n=16, size=16, seed=0):
    """uint8 (n, 1, S, S, S) occupancy in {0, 255}: balls and boxes of random size and place."""
    g = torch.Generator().manual_seed(seed)
    c = torch.arange(size).float() + 0.5
    x, y, z = torch.meshgrid(c, c, c, indexing="ij")
    out = torch.zeros(n, 1, size, size, size, dtype=torch.uint8)
    for i in range(n):
        r = size * (0.15 + 0.2 * torch.rand(1, generator=g).item())
        cx, cy, cz = (size / 2 + (torch.rand(3, generator=g) - 0.5) * size / 4).tolist()
        if i % 2:
            inside = (x - cx) ** 2 + (y - cy) ** 2 + (z - cz) ** 2 <= r * r
        else:
            inside = ((x - cx).abs() <= r) & ((y - cy).abs() <= 0.6 * r) & ((z - cz).abs() <= r)
        out[i, 0][inside] = 255
    return out


def _config(size=16, **train_changes):
    config = gan3d.make_config("smoke", (1, size, size, size))
    if train_changes:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_changes))
    return config


# --- the networks -------------------------------------------------------------------------------


def _layers(net, kind):
    return [m for m in net.modules() if isinstance(m, kind)]


@pytest.mark.parametrize("size,levels", [(32, 4), (64, 5)])
def test_networks_follow_the_paper_with_one_level_fewer_at_32(size, levels):
    config = gan3d.make_config("full", (1, size, size, size))
    assert config.latent_dim == 200 and config.latent == "uniform"
    assert (config.lr_g, config.lr_d, config.train.betas[0], config.train.batch_size) == (0.0025, 1e-5, 0.5, 100)
    assert config.d_accuracy_gate == 0.8 and config.loss == "non-saturating"
    g = gan3d.Generator3D(config.latent_dim, size, config.ngf)
    d = gan3d.Discriminator3D(size, config.ndf)
    ups = _layers(g, nn.ConvTranspose3d)
    assert len(ups) == levels and all(m.kernel_size == (4, 4, 4) and m.bias is None for m in ups)
    assert all(m.stride == (2, 2, 2) for m in ups[1:])
    channels = [m.out_channels for m in ups]
    paper = [512, 256, 128, 64, 1]
    assert channels == (paper if size == 64 else paper[1:])  # 32³: the 512-channel level is dropped
    flat = [m for m in g.net]
    for i, m in enumerate(flat[:-2]):
        if isinstance(m, nn.ConvTranspose3d):
            assert isinstance(flat[i + 1], nn.BatchNorm3d) and isinstance(flat[i + 2], nn.ReLU)
    assert isinstance(flat[-1], nn.Sigmoid) and isinstance(flat[-2], nn.ConvTranspose3d)
    downs = _layers(d, nn.Conv3d)
    assert [m.out_channels for m in downs] == [64 * 2 ** i for i in range(levels - 1)] + [1]  # G's mirror
    flat = [m for m in d.net]
    assert isinstance(flat[1], nn.LeakyReLU)  # the input layer: no batch norm (the mirror of G's output layer)
    for i, m in enumerate(flat[:-1]):
        if isinstance(m, nn.Conv3d) and i > 0:
            assert isinstance(flat[i + 1], nn.BatchNorm3d)
            assert isinstance(flat[i + 2], nn.LeakyReLU) and flat[i + 2].negative_slope == 0.2
    assert len(_layers(d, nn.BatchNorm3d)) == levels - 2
    assert not _layers(g, nn.Linear) and not _layers(d, nn.Linear)
    assert not any("Pool" in type(m).__name__ for m in [*g.modules(), *d.modules()])


def test_shapes_uniform_latents_and_samples_in_minus_one_one():
    torch.manual_seed(0)
    model = gan3d.GAN3D(_config(32))
    z = model.latents(1000, torch.Generator().manual_seed(0), torch.device("cpu"))
    assert z.shape == (1000, 16) and z.min() >= 0 and z.max() < 1 and abs(z.mean().item() - 0.5) < 0.02
    x = model.sample(3, generator=torch.Generator().manual_seed(1))
    assert x.shape == (3, 1, 32, 32, 32) and x.dtype == torch.float32 and -1 <= x.min() and x.max() <= 1
    assert torch.equal(x, model.sample(3, generator=torch.Generator().manual_seed(1)))
    assert model.training  # sampling restored the mode
    with torch.no_grad():
        model.eval()
        p = model.generator(z[:3])
    torch.testing.assert_close(model.generate(z[:3]), p * 2 - 1)  # occupancy p ↦ 2p − 1: occupied ⇔ > 0
    assert model.discriminate(x).shape == (3,)
    normal = gan3d.GAN3D(dataclasses.replace(_config(32), latent="normal"))
    assert normal.latents(1000, torch.Generator().manual_seed(0), torch.device("cpu")).min() < 0


def test_discriminator_sees_occupancies_in_zero_one():
    model = gan3d.GAN3D(_config(16))
    seen = []
    model.discriminator.register_forward_pre_hook(lambda m, args: seen.append(args[0]))
    x = _solids(2).float() / 127.5 - 1
    model.discriminate(x)
    assert torch.equal(seen[0], (x + 1) / 2) and set(seen[0].unique().tolist()) == {0.0, 1.0}


def test_configs_are_checked():
    for shape in [(1, 32, 32), (3, 32, 32, 32), (1, 32, 32, 16), (1, 24, 24, 24), (1, 4, 4, 4)]:
        with pytest.raises(ValueError, match=r"\(1, S, S, S\)"):
            gan3d.make_config("smoke", shape)
    with pytest.raises(ValueError, match="preset"):
        gan3d.make_config("huge", (1, 32, 32, 32))
    with pytest.raises(ValueError, match="latent"):
        dataclasses.replace(_config(), latent="gaussian")
    with pytest.raises(ValueError, match="d_accuracy_gate"):
        dataclasses.replace(_config(), d_accuracy_gate=1.5)
    spec = MODELS.get("3d-gan")
    assert spec is gan3d.SPEC and spec.family == "voxel" and not spec.conditional
    for preset in ("smoke", "quick", "full"):
        assert spec.make_config(preset, (1, 32, 32, 32), None).train == spec.presets[preset]["train"]


# --- the adaptive discriminator update ---------------------------------------------------------------


def _rigged(model, real_logit):
    """D's logits become D(x)·1e-3 + (real_logit on real grids (values ±1 only), −real_logit on fakes): its
    accuracy is 1 for real_logit > 0, 0 for real_logit < 0, and its parameters still get gradients."""
    plain = model.discriminate

    def discriminate(x, labels=None):
        is_real = ((x == 1) | (x == -1)).flatten(1).all(1)
        return plain(x) * 1e-3 + torch.where(is_real, real_logit, -real_logit)

    model.discriminate = discriminate
    return model


@pytest.mark.parametrize("real_logit,skipped", [(5.0, True), (-5.0, False)])
def test_discriminator_is_stepped_only_while_its_accuracy_is_at_most_the_gate(tmp_path, real_logit, skipped):
    config = _config(16, steps=5, checkpoint_every=0)
    images = _solids(16)
    start = gan3d.GAN3D(config)
    from zoo.train import init_weights

    init_weights(start, 0)
    model = _rigged(gan3d.GAN3D(config), real_logit)
    history = train(model, config, images, None, tmp_path, "cpu", seed=0, progress=False)
    assert [h["d/accuracy"] for h in history] == [1.0 if skipped else 0.0] * 5
    assert [h["d/too_accurate"] for h in history] == [float(skipped)] * 5
    assert [h["d/skipped"] for h in history] == ([1.0, 2.0, 3.0, 4.0, 5.0] if skipped else [0.0] * 5)
    assert all(math.isfinite(h["d/loss"]) for h in history)  # the D loss is logged whether or not D steps
    d_same = [torch.equal(p, q) for p, q in zip(model.discriminator.parameters(), start.discriminator.parameters())]
    g_same = [torch.equal(p, q) for p, q in zip(model.generator.parameters(), start.generator.parameters())]
    assert all(d_same) if skipped else not any(d_same)
    assert not all(g_same)  # G trains either way
    state = load_state(tmp_path / CHECKPOINT)
    d_adam = state["optimizers"]["d"]["state"]
    if skipped:
        assert d_adam == {}  # no Adam step was ever taken: no moments, step count 0
    else:
        assert {int(s["step"]) for s in d_adam.values()} == {5}
    assert {int(s["step"]) for s in state["optimizers"]["g"]["state"].values()} == {5}
    assert state["skipped"] == ({"d": 5} if skipped else {})


class Toy(nn.Module):
    """One linear 'network' whose phase skips the updates on batches with a positive mean (a function
    of the batch, so of the batch counter: the same updates are skipped in a resumed run)."""

    image_shape, conditional, num_classes, ema_module = (1, 4, 4), False, None, None

    def __init__(self, skip_if="skip"):
        super().__init__()
        self.net, self.skip_if, self.batches = nn.Linear(16, 1), skip_if, []

    def phases(self, tc):
        return [Phase("a", (self.net,), lr=0.1, betas=(0.5, 0.9), updates=2, skip_if=self.skip_if)]

    def reset_parameters(self):
        self.net.reset_parameters()

    def loss(self, phase, batch, generator):
        x = batch[0].flatten(1)
        noise = torch.rand(1, generator=generator)  # drawn whether or not the update is skipped
        self.batches.append((x.sum().item(), noise.item()))
        return (self.net(x) + noise).pow(2).mean(), {"skip": x.mean() > 0}

    def sample(self, n, generator=None, labels=None):
        return torch.zeros(n, *self.image_shape)


def _toy_run(tmp_path, steps=6, model=None, skip_if="skip"):
    tc = TrainConfig(steps=steps, batch_size=4, checkpoint_every=2, amp="off", log_every=1)
    config = dataclasses.make_dataclass("ToyConfig", [("train", TrainConfig)], frozen=True)(tc)
    model = model or Toy(skip_if)
    images = torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1
    history = train(model, config, images, None, tmp_path, "cpu", seed=0, progress=False)
    return model, history


def test_skipping_draws_the_same_batches_and_noise_and_counts_the_skips(tmp_path):
    gated, history = _toy_run(tmp_path / "gated")
    always, _ = _toy_run(tmp_path / "always", skip_if=None)
    assert gated.batches == always.batches  # same minibatches, same noise, skipped or not
    skips = [s > 0 for s, _ in gated.batches]
    assert 0 < sum(skips) < len(skips)
    assert history[-1]["a/skipped"] == sum(skips)
    assert [h["a/skipped"] for h in history] == [float(sum(skips[:2 * (i + 1)])) for i in range(6)]
    steps = int(load_state(tmp_path / "gated" / CHECKPOINT)["optimizers"]["a"]["state"][0]["step"])
    assert steps == len(skips) - sum(skips)  # Adam stepped on the other updates only


def test_a_killed_run_with_skips_resumes_to_identical_weights_and_counts(tmp_path):
    straight, history = _toy_run(tmp_path / "a")
    victim = Toy()
    kill_after(victim, calls=7)  # dies in iteration 4, after the checkpoint at 2
    with pytest.raises(Killed):
        _toy_run(tmp_path / "b", model=victim)
    resumed, history_resumed = _toy_run(tmp_path / "b")
    assert history_resumed == history
    assert (tmp_path / "b" / LOG).read_text() == (tmp_path / "a" / LOG).read_text()
    assert_same_state(straight, resumed)


def test_skip_if_must_name_a_logged_value(tmp_path):
    with pytest.raises(ValueError, match="logs only"):
        _toy_run(tmp_path, model=Toy(skip_if="nope"))
    with pytest.raises(ValueError, match="skip_if"):
        Phase("a", (), lr=0.1, betas=(0.5, 0.9), skip_if="")


# --- volumes in the trainer -----------------------------------------------------------------------


class LazyVolumes:
    """A lazy uint8 (N, 1, S, S, S) source (rendered on access, like gbench's voxel sets)."""

    dtype, ndim = torch.uint8, 5

    def __init__(self, grids):
        self.grids, self.shape = grids, grids.shape

    def __len__(self):
        return len(self.grids)

    def __getitem__(self, index):
        return self.grids[index].clone()


def test_five_d_data_are_checked_with_clear_errors(tmp_path):
    config = _config(16)
    model = gan3d.GAN3D(config)
    grids = _solids(16)
    with pytest.raises(ValueError, match=r"voxel model built for volumes of shape \(1, 16, 16, 16\).*"
                                         r"uint8 \(N, C, D, H, W\).*got Tensor torch.uint8 \(16, 1, 16, 16\)"):
        train(model, config, grids[:, :, 0], None, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match=r"volumes have shape \(1, 32, 32, 32\) per volume.*image_shape="):
        train(model, config, _solids(16, size=32), None, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train(model, config, grids.float(), None, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match="voxel model"):
        train(model, config, grids.to(torch.int32), None, tmp_path, "cpu", seed=0, progress=False)
    # an image model keeps its messages word for word
    dcgan = MODELS.get("dcgan")
    image_config = dcgan.make_config("smoke", (1, 16, 16), None)
    with pytest.raises(ValueError, match=r"^images must be uint8 \(N, C, H, W\) \(a tensor or a lazy source\) "
                                         r"or a float tensor in \[-1, 1\], got Tensor torch.uint8 "
                                         r"\(16, 1, 16, 16, 16\)$"):
        train(dcgan.build(image_config), image_config, grids, None, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match=r"^images have shape \(1, 32, 32\) per image"):
        train(dcgan.build(image_config), image_config, torch.zeros(16, 1, 32, 32, dtype=torch.uint8), None,
              tmp_path, "cpu", seed=0, progress=False)


def test_uint8_float_and_lazy_volumes_train_identically(tmp_path):
    config = _config(16)
    grids = _solids(16)
    runs = {}
    for name, data in (("uint8", grids), ("float", grids.float() / 127.5 - 1), ("lazy", LazyVolumes(grids))):
        model = gan3d.GAN3D(config)
        runs[name] = (train(model, config, data, None, tmp_path / name, "cpu", seed=0, progress=False), model)
    for name in ("float", "lazy"):
        assert runs[name][0] == runs["uint8"][0]
        assert_same_state(runs[name][1], runs["uint8"][1])


# --- training ------------------------------------------------------------------------------------------


def test_trains_at_smoke_on_32_cubed_and_draws_preview_grids(tmp_path):
    config = _config(32, sample_every=2, grid_size=4)
    model = MODELS.get("3d-gan").build(config)
    before = [p.detach().clone() for p in model.generator.parameters()]
    history = train(model, config, _solids(16, size=32), None, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps
    assert all(math.isfinite(v) for h in history for v in h.values())
    assert {"d/accuracy", "d/too_accurate", "d/skipped", "g/occupancy"} <= set(history[-1])
    assert any(not torch.equal(a, b) for a, b in zip(before, model.generator.parameters()))
    assert sorted(p.name for p in tmp_path.glob("samples_*.png")) == ["samples_000002.png", "samples_000004.png"]
    from PIL import Image

    assert Image.open(tmp_path / "samples_000004.png").size == (2 + 2 * 66, 2 + 2 * 66)  # 4 previews of 64²
    assert [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()] == history


def test_a_killed_smoke_run_resumes_to_identical_weights(tmp_path):
    config = _config(16)
    images = _solids(16)
    straight = gan3d.GAN3D(config)
    history = train(straight, config, images, None, tmp_path / "a", "cpu", seed=3, progress=False)
    victim = gan3d.GAN3D(config)
    kill_after(victim, calls=3 * 2 + 1)  # dies in iteration 4, after the checkpoint at 2
    with pytest.raises(Killed):
        train(victim, config, images, None, tmp_path / "b", "cpu", seed=3, progress=False)
    resumed = gan3d.GAN3D(config)
    assert train(resumed, config, images, None, tmp_path / "b", "cpu", seed=3, progress=False) == history
    assert_same_state(straight, resumed)


def test_a_volume_model_without_preview_cannot_draw_grids(tmp_path):
    config = _config(16, sample_every=2, grid_size=4)

    class NoPreview(gan3d.GAN3D):
        preview = None

    with pytest.raises(ValueError, match="sample_every=0"):
        train(NoPreview(config), config, _solids(16), None, tmp_path, "cpu", seed=0, progress=False)


# --- the preview -----------------------------------------------------------------------------------------


def test_isometric_view_of_a_box_shows_three_faces_on_white():
    grid = torch.zeros(1, 1, 16, 16, 16, dtype=torch.bool)
    grid[0, 0, 4:12, 4:12, 4:12] = True
    image = gan3d.isometric_view(grid, 64)
    assert image.shape == (1, 1, 64, 64) and image.dtype == torch.float32
    assert image.min() >= 0 and image.max() <= 1
    corners = image[0, 0, [0, 0, -1, -1], [0, -1, 0, -1]]
    assert torch.equal(corners, torch.ones(4))  # background
    shades = image[0, 0][image[0, 0] < 1]
    levels = torch.unique((shades * 20).round())
    assert len(levels) >= 3  # top and two side orientations (dimmed a little with depth)
    top, below = image[0, 0, 20, 32], image[0, 0, 36:]  # above the centre: the top face (z up); below: sides
    assert top > below[below < 1].max() + 0.1
    assert torch.equal(gan3d.isometric_view(torch.zeros(2, 16, 16, 16), 8), torch.ones(2, 1, 8, 8))
    with pytest.raises(ValueError):
        gan3d.isometric_view(torch.zeros(2, 16, 16), 8)
    model = gan3d.GAN3D(_config(16))
    preview = model.preview(model.sample(2))
    assert preview.shape == (2, 1, 64, 64) and preview.min() >= -1 and preview.max() <= 1
