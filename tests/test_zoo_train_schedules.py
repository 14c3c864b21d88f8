"""zoo.train schedules: phases every k iterations sharing an optimizer (lazy R1), learning-rate
schedules, the ``on_step`` hook, EMA start and ramp-up — and that a resumed run follows them."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from zoo.train import Phase, TrainConfig, train


class Toy(nn.Module):
    """Two 'networks' and three phases: "a" (own optimizer), "lazy" (every 3rd iteration, a's
    optimizer), "b" (a learning-rate schedule). Records which phase ran at which step and lr."""

    image_shape, conditional, num_classes = (1, 4, 4), False, None

    def __init__(self, tc: TrainConfig, schedule=lambda s: 1.0 / (1 + s)):
        super().__init__()
        self.a, self.b = nn.Linear(16, 1), nn.Linear(16, 1)
        self.ema_module = self.b
        self.schedule, self.calls, self.steps_seen, self.step = schedule, [], [], None

    def phases(self, tc):
        return [Phase("a", (self.a,), lr=0.1, betas=(0.5, 0.9)),
                Phase("lazy", (self.a,), lr=123.0, betas=(0.0, 0.0), every=3, optimizer="a"),
                Phase("b", (self.b,), lr=0.01, betas=(0.5, 0.9), lr_schedule=self.schedule)]

    def reset_parameters(self):
        self.a.reset_parameters()
        self.b.reset_parameters()

    def on_step(self, step):
        self.steps_seen.append(step)
        self.step = step

    def loss(self, phase, batch, generator):
        x = batch[0].flatten(1)
        self.calls.append((self.step, phase))
        net = self.b if phase == "b" else self.a
        return net(x).pow(2).mean(), {}

    def sample(self, n, generator=None, labels=None):
        return torch.zeros(n, *self.image_shape)


def _tc(**kw):
    return TrainConfig(**{"steps": 7, "batch_size": 4, "checkpoint_every": 2, "amp": "off", **kw})


def _data():
    return torch.rand(16, 1, 4, 4, generator=torch.Generator().manual_seed(0)) * 2 - 1


def _run(tmp_path, tc, model=None):
    model = model or Toy(tc)
    config = dataclasses.make_dataclass("ToyConfig", [("train", TrainConfig)], frozen=True)(tc)
    train(model, config, _data(), None, tmp_path, "cpu", seed=0, progress=False)
    return model


def test_lazy_phase_runs_every_third_iteration_with_the_owners_optimizer(tmp_path):
    model = _run(tmp_path, _tc())
    lazy = [s for s, p in model.calls if p == "lazy"]
    assert lazy == [0, 3, 6]
    assert model.steps_seen == list(range(7))
    # The shared optimizer holds both phases' steps in one Adam state: 7 "a" + 3 "lazy" updates.
    from zoo.train.checkpoint import load_state

    state = load_state(tmp_path / "checkpoint.safetensors")
    assert set(state["optimizers"]) == {"a", "b"}
    assert int(state["optimizers"]["a"]["state"][0]["step"]) == 10


def test_a_phase_cannot_share_a_missing_optimizer(tmp_path):
    class Bad(Toy):
        def phases(self, tc):
            return [Phase("a", (self.a,), lr=0.1, betas=(0.5, 0.9), optimizer="nope")]

    with pytest.raises(ValueError, match="shares the optimizer of 'nope'"):
        _run(tmp_path, _tc(), Bad(_tc()))
    with pytest.raises(ValueError, match="every and updates must be ≥ 1"):
        Phase("a", (), lr=0.1, betas=(0.5, 0.9), every=0)


def test_learning_rate_schedule_is_applied_per_step_and_survives_resume(tmp_path):
    seen = []

    def schedule(step):
        seen.append(step)
        return 1.0 / (1 + step)

    _run(tmp_path / "one", _tc(), Toy(_tc(), schedule))
    assert seen == list(range(7))
    seen.clear()
    _run(tmp_path / "two", _tc(steps=4), Toy(_tc(), schedule))
    _run(tmp_path / "two", _tc(steps=7), Toy(_tc(), schedule))  # resumes at step 4
    assert seen == [0, 1, 2, 3, 4, 5, 6]


def test_ema_decay_schedule():
    tc = _tc(ema_decay=0.999, ema_start=3)
    assert [tc.ema_decay_at(s) for s in range(5)] == [0.0, 0.0, 0.0, 0.999, 0.999]
    ramp = _tc(ema_decay=0.999, ema_rampup=0.05)
    decays = [ramp.ema_decay_at(s) for s in (0, 10, 100, 10_000, 100_000)]
    assert decays == sorted(decays) and decays[-1] == pytest.approx(0.999)
    # Half-life ≤ 0.05 × images seen: after 100 iterations of 4 images, 20 images → decay 0.5^(4/20).
    assert ramp.ema_decay_at(99) == pytest.approx(0.5 ** (4 / 20))
    assert math.isclose(_tc(ema_decay=0.9).ema_decay_at(0), 0.9)


def test_ema_tracks_live_weights_until_it_starts(tmp_path):
    model = _run(tmp_path, _tc(ema_decay=0.9, ema_start=100, steps=3))
    # Averaging never started, so the weights after training are the live ones: rerun without EMA.
    plain = _run(tmp_path / "plain", _tc(steps=3))
    assert torch.equal(model.b.weight, plain.b.weight)


def test_checkpoints_from_before_the_ema_schedule_fields_still_resume():
    """The fingerprint leaves later-added TrainConfig fields out at their defaults (so runs saved
    before they existed resume), and includes them when set (so a changed schedule is refused)."""
    from zoo.train.trainer import _fingerprint

    Cfg = dataclasses.make_dataclass("ToyConfig", [("train", TrainConfig)], frozen=True)
    plain = _fingerprint(Cfg(_tc()), 0, _data(), None)["config"]
    assert "ema_start" not in plain and "ema_rampup" not in plain and "ema_decay" in plain
    assert "'ema_start': 5" in _fingerprint(Cfg(_tc(ema_start=5)), 0, _data(), None)["config"]
    assert "'ema_rampup': 0.05" in _fingerprint(Cfg(_tc(ema_rampup=0.05)), 0, _data(), None)["config"]
