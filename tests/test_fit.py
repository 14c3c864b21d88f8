"""One fit path: model directories keyed by (model, dataset, profile, preset, seed), shared between
suites; @init rows are the trainer's starting weights; a run over two datasets trains each once."""

import dataclasses

import numpy as np
import pytest
import torch

from gbench.data import DATASETS
from gbench.fit import fit, model_dir
from gbench.records import read_records, results_file
from gbench.runner import RunRequest, run
from gbench.suites.base import RunContext
from zoo.models import MODELS
from zoo.train import init_weights
from zoo.train import train as run_trainer


def context(root, **kw):
    return RunContext(suite="generation", profile="embedded", preset="smoke", seed=kw.pop("seed", 3),
                      device=torch.device("cpu"), runs_dir=root / "runs", results_dir=root / "results",
                      figures_dir=root / "figures", progress=False, **kw)


def _params(model):
    return [p.detach().clone() for p in model.parameters()]


@pytest.mark.parametrize("name", ["dcgan", "vae", "cgan"])
def test_init_row_is_exactly_where_training_starts(tmp_path, name):
    """fit(trained=False) == the weights the trainer starts from: train with Adam at lr 0
    (every update is exactly zero), and the parameters are still the @init ones."""
    train = DATASETS.get("digits")("train")
    spec = MODELS.get(name)
    start = fit(context(tmp_path), name, "digits", train, trained=False).model

    config = spec.make_config("smoke", (1, 32, 32), 10 if spec.conditional else None)
    frozen = dataclasses.replace(config, train=dataclasses.replace(config.train, lr=0.0, steps=1))
    if hasattr(frozen, "gan_steps"):
        frozen = dataclasses.replace(frozen, gan_steps=1)
    model = spec.build(frozen)
    torch.manual_seed(12345)  # the global RNG must not matter: the trainer seeds itself
    run_trainer(model, frozen, train.images, train.labels if spec.conditional else None, tmp_path / "lr0", "cpu",
                seed=3, progress=False)
    for a, b in zip(_params(start), _params(model)):
        assert torch.equal(a, b)
    # ... and it is not what plain construction under some global seed gives
    torch.manual_seed(3)
    built = spec.build(config)
    assert any(not torch.equal(a, b) for a, b in zip(_params(start), _params(built)))


def test_init_weights_leaves_the_global_rng_alone():
    model = MODELS.get("dcgan").build(MODELS.get("dcgan").make_config("smoke", (1, 32, 32)))
    state = torch.get_rng_state()
    init_weights(model, 0)
    assert torch.equal(torch.get_rng_state(), state)


def test_features_suite_probes_the_dcgan_generation_trained(tmp_path):
    """Same (model, dataset, profile, preset, seed): one directory, trained once."""
    common = dict(preset="smoke", device="cpu", runs=tmp_path / "runs", results=tmp_path / "results",
                  progress=False)
    run(RunRequest(suite="generation", models=("dcgan",), **common))
    ctx = context(tmp_path, seed=0)
    where = model_dir(ctx, "dcgan", "digits")
    checkpoint = where / "checkpoint.safetensors"
    before = checkpoint.stat().st_mtime_ns, (where / "log.jsonl").read_text()
    run(RunRequest(suite="features", models=("dcgan-d",), **common))
    assert (checkpoint.stat().st_mtime_ns, (where / "log.jsonl").read_text()) == before  # resumed, not retrained
    assert sorted(p.name for p in (tmp_path / "runs" / "models").iterdir()) == ["dcgan"]
    assert sorted(p.name for p in (tmp_path / "runs" / "models" / "dcgan").iterdir()) == ["digits", "scenes"]


# ------------------------------------------------------------------ two datasets in one paper-profile run

def _write_mnist(root, n_train=48, n_test=24):
    raw = root / "MNIST" / "raw"
    raw.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        labels = (np.arange(n) % 10).astype(np.uint8)
        (raw / f"{prefix}-images-idx3-ubyte").write_bytes(
            b"\x00\x00\x08\x03" + np.array([n, 28, 28], dtype=">i4").tobytes() + images.tobytes())
        (raw / f"{prefix}-labels-idx1-ubyte").write_bytes(
            b"\x00\x00\x08\x01" + np.array([n], dtype=">i4").tobytes() + labels.tobytes())


def _write_cifar_tree(root, per_class=(5, 4)):  # 12 test images: IS needs ≥ 10 for its 10 splits
    from PIL import Image

    rng = np.random.default_rng(1)
    for split, n in zip(("train", "test"), per_class):
        for c in ("cat", "dog", "frog"):
            folder = root / "cifar10" / split / c
            folder.mkdir(parents=True)
            for i in range(n):
                Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")


@pytest.fixture
def tiny_extractor(tmp_path, monkeypatch):
    """A registered test extractor for 1- and 3-channel 32×32 images, with a weights file whose
    sha256 is known (so records say "verified"), standing in for Inception."""
    from safetensors.torch import save_file

    from gbench.features import EXTRACTORS
    from gbench.features.base import ExtractorSpec, WeightsInfo
    from gbench.features.weights import sha256_file

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = torch.nn.Conv2d(3, 8, 4, stride=4)
            self.head = torch.nn.Linear(8, 5)

        def forward(self, x):
            f = self.conv(x.float() / 255).mean((2, 3))
            return f, self.head(f)

    torch.manual_seed(0)
    path = tmp_path / "tiny.safetensors"
    save_file(Net().state_dict(), str(path))
    spec = ExtractorSpec(name="tiny-test", version="1", description="test stand-in", profile="embedded",
                         feature_dim=8, num_logits=5, input="1×/3×32×32", channels=3, image_size=(32, 32),
                         build=Net, weights=lambda: WeightsInfo(path.name, sha256_file(path), default_path=path))
    monkeypatch.setitem(EXTRACTORS._items, "tiny-test", spec)
    return "tiny-test"


def test_paper_profile_run_over_two_datasets_records_both(tmp_path, tiny_extractor, one_thread):
    """MNIST then CIFAR-10 in one run: each dataset trains its own DCGAN (before the fix the
    second found the first one's checkpoint and the run crashed)."""
    data = tmp_path / "data"
    _write_mnist(data)
    _write_cifar_tree(data)
    req = RunRequest(suite="generation", profile="paper", preset="smoke", device="cpu", models=("dcgan",),
                     data_root=data, runs=tmp_path / "runs", results=tmp_path / "results", progress=False,
                     extractor=tiny_extractor)
    records = run(req)
    ok = {(r.dataset, r.model) for r in records if r.status == "ok" and r.metric == "fid"}
    assert {("mnist", "dcgan"), ("cifar10", "dcgan"), ("mnist", "dcgan@init"), ("cifar10", "dcgan@init")} <= ok
    unavailable = [r for r in records if r.status != "ok"]
    assert [r.dataset for r in unavailable] == ["celeba"] and "CelebA not found" in unavailable[0].reason
    assert all(r.extractor == tiny_extractor for r in records if r.status == "ok")
    assert sorted(p.name for p in (tmp_path / "runs" / "models" / "dcgan").iterdir()) == ["cifar10", "mnist"]
    assert len(read_records(results_file(tmp_path / "results", "generation"))) == len(records)
