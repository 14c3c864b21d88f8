"""Plugging in: a new metric is one spec + one registration, a new GAN one file + one
registration line + its suite entry — nothing else changes, and every consumer finds them."""

import dataclasses
import importlib.util
import json
import textwrap

import numpy as np
import pytest
import torch

from gbench.cli import main
from gbench.leaderboard import render_suite
from gbench.metrics.spec import METRICS, MetricSpec, Score, register_metric
from gbench.records import Record


@pytest.fixture
def toy_metric():
    """A metric that reads sample features: the mean absolute feature, registered for one test."""
    from gbench.metrics import spec as registry

    spec = MetricSpec("toy-mean", "Toy |f|", False, "mean absolute sample feature (a test metric)", decimals=3,
                      consumes="features", compute=lambda inputs: Score(float(inputs.fake.abs().mean()), None,
                                                                        {"toy_param": 7}),
                      protocol={"toy_param": 7}, group="toys")
    register_metric(spec)
    yield spec
    del METRICS._items[spec.name]
    registry._REGISTERED.remove(spec.name)


def test_a_registered_metric_is_scored_listed_and_rendered(toy_metric, tmp_path, capsys):
    from gbench.data import DATASETS
    from gbench.features import EXTRACTORS

    images = DATASETS.get("digits")("test").images
    np.savez(tmp_path / "a.npz", images=images[:100].numpy())
    np.savez(tmp_path / "b.npz", images=images[100:200].numpy())
    for name in ("toy-mean", "toys"):  # by its name and by its group
        assert main(["score", str(tmp_path / "a.npz"), str(tmp_path / "b.npz"), "--metrics", f"fid,{name}",
                     "--json", "--device", "cpu"]) == 0
        scores = json.loads(capsys.readouterr().out)["scores"][str(tmp_path / "b.npz")]
        assert set(scores) == {"fid", "toy-mean"}
        ex = EXTRACTORS.get("digits-evaluator").load()
        expected = ex.features(images[100:200]).abs().mean().item()
        assert scores["toy-mean"] == pytest.approx(expected, rel=1e-6)

    assert main(["list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("toy-mean"))
    assert "Toy |f| ↓" in line and "features" in line and "toy_param=7" in line

    record = Record(suite="toy", model="m", dataset="d", metric="toy-mean", value=0.12345, protocol={"toy_param": 7})
    markdown = render_suite(None, [record])
    assert "Toy |f| ↓" in markdown and "0.123" in markdown and "toy_param = 7" in markdown


def test_a_run_metric_cannot_carry_a_compute_function():
    with pytest.raises(ValueError, match="measured by its suite"):
        MetricSpec("bad", "Bad", True, "", compute=lambda i: Score(0.0))
    with pytest.raises(ValueError, match="different spec"):
        register_metric(dataclasses.replace(METRICS.get("fid"), decimals=5))


TOY_GAN = '''
"""`toy-gan`: the smallest GAN the zoo can hold (a test's model file)."""

from dataclasses import dataclass

from zoo.models.base import ModelSpec, check_preset_args
from zoo.models.gan import GAN, MLPDiscriminator, MLPGenerator
from zoo.train import TrainConfig


@dataclass(frozen=True)
class ToyConfig:
    image_shape: tuple
    train: TrainConfig
    latent_dim: int = 4
    hidden: tuple = (8,)
    loss: str = "non-saturating"


PRESETS = {
    "smoke": dict(train=TrainConfig(steps=2, batch_size=8, log_every=1)),
    "quick": dict(train=TrainConfig(steps=10, batch_size=8)),
    "full": dict(train=TrainConfig(steps=100, batch_size=8)),
}


def make_config(preset, image_shape, num_classes=None):
    return ToyConfig(image_shape=check_preset_args(preset, image_shape, num_classes, False), **PRESETS[preset])


def build(config):
    return GAN(config, MLPGenerator(config.latent_dim, config.image_shape, config.hidden),
               MLPDiscriminator(config.image_shape, config.hidden, 0.0))


SPEC = ModelSpec(name="toy-gan", family="gan", conditional=False, make_config=make_config, build=build,
                 presets=PRESETS, description="a two-layer MLP GAN (test)")
'''


def test_a_new_gan_is_one_file_one_registration_and_its_suite_entry(tmp_path, monkeypatch, one_thread):
    from gbench.runner import RunRequest, run
    from gbench.suites import SUITES
    from gbench.suites import generation
    from zoo.models import MODELS

    path = tmp_path / "toy_gan.py"
    path.write_text(textwrap.dedent(TOY_GAN))
    module_spec = importlib.util.spec_from_file_location("toy_gan", path)
    toy = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(toy)

    monkeypatch.setitem(MODELS._items, "toy-gan", toy.SPEC)                       # the registration line
    monkeypatch.setattr(generation, "MODELS", (*generation.MODELS, "toy-gan"))     # its suite entry
    monkeypatch.setitem(SUITES._items, "generation",
                        dataclasses.replace(generation.SUITE, models=generation.MODELS))

    records = run(RunRequest(suite="generation", preset="smoke", device="cpu", models=("toy-gan",),
                             runs=tmp_path / "runs", results=tmp_path / "results", progress=False))
    rows = {r.model for r in records if r.status == "ok" and r.metric == "fid"}
    assert rows == {"real-data", "toy-gan", "toy-gan@init"}
    assert "toy-gan" in (tmp_path / "generation.md").read_text()
    assert torch.isfinite(torch.tensor([r.value for r in records if r.metric == "fid"])).all()
