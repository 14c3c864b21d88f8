"""zoo.train: starting weights, exact resume after a kill, finished runs,
checkpoint format, logs and grids, uint8 and float data, input validation,
EMA, the seeded sampler."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

from zoo.models import MODELS
from zoo.train import (CHECKPOINT, EMA, LOG, BatchSampler, CheckpointMismatch, Minibatches, init_weights, load_state,
                       save_state, train)
from _kill import Killed, assert_same_state, kill_after  # tests/ is on sys.path (pytest's "prepend" import mode)


def _data(n=24, shape=(1, 32, 32), seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.rand(n, *shape, generator=g) * 2 - 1, torch.randint(0, 10, (n,), generator=g)


def _smoke(name, **train_changes):
    spec = MODELS.get(name)
    config = spec.make_config("smoke", (1, 32, 32), 10)
    if train_changes:
        config = dataclasses.replace(config, train=dataclasses.replace(config.train, **train_changes))
    return spec, config


def _weights_at_first_loss(model):
    """Make model.loss record the model's state at its first call, then raise Killed."""
    seen = {}

    def loss(*args):
        seen.update({k: v.detach().clone() for k, v in model.state_dict().items()})
        raise Killed

    model.loss = loss
    return seen


@pytest.mark.parametrize("name", ["gan", "dcgan", "vae"])
def test_init_weights_are_the_weights_training_starts_from(tmp_path, name):
    spec, config = _smoke(name)
    images, labels = _data()
    torch.manual_seed(1)
    trained = spec.build(config)
    start = _weights_at_first_loss(trained)
    with pytest.raises(Killed):
        train(trained, config, images, labels, tmp_path, "cpu", seed=3, progress=False)

    torch.manual_seed(2)  # built from another RNG state: init_weights must overwrite all of it
    model = spec.build(config)
    rng = torch.get_rng_state()
    assert init_weights(model, 3) is model
    assert torch.equal(torch.get_rng_state(), rng)  # the caller's RNG is untouched
    assert start.keys() == model.state_dict().keys()
    for k, v in model.state_dict().items():
        assert torch.equal(v, start[k]), k
    other = init_weights(spec.build(config), 4).state_dict()
    assert any(not torch.equal(v, other[k]) for k, v in start.items())
    with pytest.raises(ValueError, match="seed"):
        init_weights(model, -1)


def test_uint8_and_float_data_train_identically_and_share_checkpoints(tmp_path):
    spec, config = _smoke("dcgan")
    u8 = torch.randint(0, 256, (24, 1, 32, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    a, b = spec.build(config), spec.build(config)
    history = train(a, config, u8, None, tmp_path / "a", "cpu", seed=0, progress=False)
    assert train(b, config, u8.float() / 127.5 - 1, None, tmp_path / "b", "cpu", seed=0, progress=False) == history
    for k, v in a.state_dict().items():
        assert torch.equal(v, b.state_dict()[k]), k
    # the float run's directory is a finished run for the same data given as uint8
    again = spec.build(config)
    kill_after(again, calls=1)
    assert train(again, config, u8, None, tmp_path / "b", "cpu", seed=0, progress=False) == history


@pytest.mark.parametrize("name,changes,calls_per_step", [
    ("gan", {}, 2),                      # dropout: the global RNG state must be restored
    ("dcgan", {"ema_decay": 0.9}, 2),    # batch-norm buffers, EMA shadow
    ("icgan", {}, 2),                    # resumes from the GAN stage (step 2) into the encoder stage (3)
    ("cvae", {}, 1),
])
def test_killed_run_resumes_to_identical_weights(tmp_path, name, changes, calls_per_step):
    spec, config = _smoke(name, **changes)
    images, labels = _data()

    torch.manual_seed(1)
    straight = spec.build(config)
    history = train(straight, config, images, labels, tmp_path / "a", "cpu", seed=3, progress=False)

    torch.manual_seed(2)  # a different construction RNG must not matter
    victim = spec.build(config)
    kill_after(victim, calls=3 * calls_per_step + 1)  # dies in iteration 4, after the checkpoint at 2
    with pytest.raises(Killed):
        train(victim, config, images, labels, tmp_path / "b", "cpu", seed=3, progress=False)
    assert len((tmp_path / "b" / LOG).read_text().splitlines()) == 3  # logged past the checkpoint

    torch.manual_seed(3)
    resumed = spec.build(config)
    history_resumed = train(resumed, config, images, labels, tmp_path / "b", "cpu", seed=3, progress=False)

    assert history_resumed == history
    assert (tmp_path / "b" / LOG).read_text() == (tmp_path / "a" / LOG).read_text()
    assert_same_state(straight, resumed)


def test_finished_run_returns_its_history_and_weights_without_training(tmp_path):
    spec, config = _smoke("dcgan")
    images, labels = _data()
    model = spec.build(config)
    history = train(model, config, images, labels, tmp_path, "cpu", seed=0, progress=False)
    again = spec.build(config)
    kill_after(again, calls=1)  # any training step would raise
    assert train(again, config, images, labels, tmp_path, "cpu", seed=0, progress=False) == history
    for k, v in model.state_dict().items():
        assert torch.equal(v, again.state_dict()[k]), k


def test_finished_run_can_be_extended(tmp_path):
    spec, config = _smoke("vae")
    images, _ = _data()
    train(spec.build(config), config, images, None, tmp_path, "cpu", seed=0, progress=False)
    longer = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=6))
    history = train(spec.build(longer), longer, images, None, tmp_path, "cpu", seed=0, progress=False)
    assert [h["step"] for h in history] == [1, 2, 3, 4, 5, 6]


def test_checkpoint_is_safetensors_and_run_dir_holds_no_pickle(tmp_path):
    spec, config = _smoke("cgan", sample_every=2)
    images, labels = _data()
    model = spec.build(config)
    history = train(model, config, images, labels, tmp_path, "cpu", seed=0, progress=False)
    files = sorted(p.name for p in tmp_path.iterdir())
    assert files == [CHECKPOINT, LOG, "samples_000002.png", "samples_000004.png"]
    raw = (tmp_path / CHECKPOINT).read_bytes()
    assert raw[8:9] == b"{" and not raw.startswith(b"\x80")  # safetensors header, not a pickle stream
    tensors = load_file(str(tmp_path / CHECKPOINT))
    for k, v in model.state_dict().items():
        assert torch.equal(tensors[f"model.{k}"], v)
    assert [json.loads(line) for line in (tmp_path / LOG).read_text().splitlines()] == history
    assert all(torch.isfinite(torch.tensor(list(h.values()))).all() for h in history)


def test_save_state_round_trip(tmp_path):
    opt = torch.optim.Adam([torch.nn.Parameter(torch.ones(3))], lr=1e-3, betas=(0.5, 0.9))
    opt.param_groups[0]["params"][0].grad = torch.ones(3)
    opt.step()
    state = {"optim": opt.state_dict(), "t": (1, 2.5, None, "x"), "rng": torch.Generator().manual_seed(4).get_state()}
    save_state(tmp_path / "s.safetensors", state)
    back = load_state(tmp_path / "s.safetensors")
    assert back["t"] == (1, 2.5, None, "x") and torch.equal(back["rng"], state["rng"])
    assert back["optim"]["param_groups"] == state["optim"]["param_groups"]
    for key in ("step", "exp_avg", "exp_avg_sq"):
        assert torch.equal(back["optim"]["state"][0][key], state["optim"]["state"][0][key])
    assert not list(tmp_path.glob("*.tmp"))


def test_resuming_with_another_seed_or_dataset_is_refused(tmp_path):
    spec, config = _smoke("gan")
    images, _ = _data()
    train(spec.build(config), config, images, None, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match="different config, seed or dataset"):
        train(spec.build(config), config, images, None, tmp_path, "cpu", seed=1, progress=False)
    with pytest.raises(ValueError, match="different config, seed or dataset"):
        train(spec.build(config), config, _data(seed=5)[0], None, tmp_path, "cpu", seed=0, progress=False)


@pytest.mark.parametrize("damage", ["garbage", "empty", "truncated", "folder", "foreign", "not_a_training_state"])
def test_a_damaged_checkpoint_is_named_with_how_to_start_over(tmp_path, damage):
    """Issue 17, item 3: one CheckpointMismatch (gbench turns it into one line, exit 2) naming the file."""
    from safetensors.torch import save_file

    spec, config = _smoke("gan")
    images, _ = _data()
    ckpt = tmp_path / CHECKPOINT
    train(spec.build(config), config, images, None, tmp_path, "cpu", seed=0, progress=False)
    good = ckpt.read_bytes()
    ckpt.unlink()
    if damage == "garbage":
        ckpt.write_bytes(b"\x00not a checkpoint" * 10)
    elif damage == "empty":
        ckpt.write_bytes(b"")
    elif damage == "truncated":  # a copy cut short: the kill -9 the atomic write prevents, done by hand
        ckpt.write_bytes(good[:len(good) // 2])
    elif damage == "folder":
        ckpt.mkdir()
    elif damage == "foreign":
        save_file({"w": torch.zeros(2)}, str(ckpt))
    else:
        save_state(ckpt, {"something": torch.zeros(2)})
    with pytest.raises(CheckpointMismatch, match="start the run over") as info:
        train(spec.build(config), config, images, None, tmp_path, "cpu", seed=0, progress=False)
    assert str(ckpt) in str(info.value)


def test_bad_inputs_get_clear_errors(tmp_path):
    spec, config = _smoke("cgan")
    images, labels = _data()
    model = spec.build(config)
    with pytest.raises(ValueError, match="labels"):
        train(model, config, images, None, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match=r"\[-1, 1\]"):
        train(model, config, images * 3, labels, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match="uint8"):
        train(model, config, torch.zeros(24, 1, 32, 32, dtype=torch.int32), labels, tmp_path, "cpu", seed=0,
              progress=False)
    with pytest.raises(ValueError, match="image_shape"):
        train(model, config, torch.zeros(24, 3, 32, 32), labels, tmp_path, "cpu", seed=0, progress=False)
    with pytest.raises(ValueError, match="batch_size"):
        train(model, config, images[:4], labels[:4], tmp_path, "cpu", seed=0, progress=False)


def test_training_is_seeded(tmp_path):
    spec, config = _smoke("dcgan")
    images, labels = _data()
    samples = []
    for seed, run in [(0, "a"), (0, "b"), (1, "c")]:
        model = spec.build(config)
        train(model, config, images, labels, tmp_path / run, "cpu", seed=seed, progress=False)
        samples.append(model.sample(4, generator=torch.Generator().manual_seed(0)))
    assert torch.equal(samples[0], samples[1]) and not torch.equal(samples[0], samples[2])


def test_ema_update_formula():
    lin = torch.nn.Linear(2, 1)
    ema = EMA(lin, decay=0.75)
    w0 = lin.weight.detach().clone()
    with torch.no_grad():
        lin.weight.add_(4.0)
    ema.update()
    torch.testing.assert_close(ema.shadow["weight"], w0 + 1.0)
    with ema.applied():
        torch.testing.assert_close(lin.weight, w0 + 1.0)
    torch.testing.assert_close(lin.weight, w0 + 4.0)


def test_batch_sampler_epochs_are_permutations_and_reproducible():
    s = BatchSampler(10, 3, seed=0)
    epoch0 = torch.cat([s(i) for i in range(3)])
    assert len(set(epoch0.tolist())) == 9
    assert torch.equal(BatchSampler(10, 3, seed=0)(4), s(4)) and not torch.equal(s(0), s(3))


class _Source:
    """The smallest lazy uint8 source the trainer takes: no tensor, just the protocol."""

    dtype, ndim = torch.uint8, 4

    def __init__(self, data):
        self.data, self.shape, self.reads = data, data.shape, []

    def __len__(self):
        return self.data.shape[0]

    def __getitem__(self, index):
        self.reads.append(index)
        return self.data[index].clone()


def test_minibatches_from_a_lazy_source_across_epochs():
    data = torch.randint(0, 256, (10, 1, 4, 4), dtype=torch.uint8)
    labels = torch.arange(10)
    source, sampler = _Source(data), BatchSampler(10, 3, seed=5)
    with Minibatches(source, labels, sampler, "cpu") as batches:
        for i in range(10):  # 3 batches an epoch: crosses epochs while reading one batch ahead
            x, y = batches(i)
            idx = sampler(i)
            assert torch.equal(x, data[idx].float() / 127.5 - 1) and torch.equal(y, idx)
    assert len(source.reads) == 11  # every batch once, plus the one read ahead after the last
    assert all(isinstance(r, torch.Tensor) and r.dtype == torch.int64 for r in source.reads)
