"""The `features` suite (Radford et al. 2016, Table 1) at the smoke preset, through the runner."""

from pathlib import Path

import pytest
import torch

from gbench.records import read_records
from gbench.runner import RunRequest, run
from gbench.suites import SUITES
from gbench.suites.features import MODELS, PROTOCOLS, _subset, discriminator_features


@pytest.fixture(scope="module")
def smoke(tmp_path_factory, one_thread):
    root = tmp_path_factory.mktemp("features")
    records = run(RunRequest(suite="features", preset="smoke", device="cpu", results=root / "results",
                             runs=root / "runs", progress=False))
    return root, records


def test_smoke_writes_both_accuracies_for_every_row(smoke):
    root, records = smoke
    on_disk = read_records(root / "results" / "features.jsonl")
    assert sorted(r.key() for r in on_disk) == sorted(r.key() for r in records)
    got = {(r.model, r.metric): r for r in on_disk}
    assert set(got) == {(m, k) for m in MODELS for k in ("probe_acc", "probe_acc_few")}
    for r in on_disk:
        assert r.status == "ok" and r.dataset == "digits" and 0.0 <= r.value <= 1.0
        assert r.extra["C"] in PROTOCOLS["smoke"].probe.cs if r.metric == "probe_acc" else r.std is not None
    few = got[("raw-pixels", "probe_acc_few")].extra
    assert few["labels_per_class"] == PROTOCOLS["smoke"].few_per_class and few["draws"] == PROTOCOLS["smoke"].draws
    # Feature sizes: pixels C·H·W, K-means 4K, D (ndf 8 at smoke) 16·(8 + 16 + 32).
    dims = {m: got[(m, "probe_acc")].extra["feature_dim"] for m in MODELS}
    assert dims == {"raw-pixels": 1024, "kmeans": 4 * PROTOCOLS["smoke"].kmeans_k,
                    "dcgan-d@init": 896, "dcgan-d": 896}
    # D was trained in dcgan's model directory, the one every suite shares (gbench.fit).
    assert (root / "runs" / "models" / "dcgan" / "digits" / "embedded" / "smoke" / "seed0" /
            "checkpoint.safetensors").is_file()


def test_smoke_leaderboard_comes_from_the_records(smoke):
    root, _ = smoke
    md = (root / SUITES.get("features").leaderboard).read_text()
    assert md.startswith("# Feature learning")
    for m in MODELS:
        assert f"| {m} " in md
    assert "labels_per_class = 5" in md


def test_random_and_trained_discriminators_give_different_features(smoke):
    # The @init row is the trainer's starting point, so after (even 4) steps D's features moved.
    from gbench.data import DATASETS
    from gbench.fit import fit
    from gbench.suites.base import RunContext

    root, _ = smoke

    def ctx():  # a fresh context each time: no in-process cache between the calls
        return RunContext(suite="features", profile="embedded", preset="smoke", seed=0, device=torch.device("cpu"),
                          runs_dir=root / "runs", results_dir=root / "results", figures_dir=root / "figures",
                          progress=False)

    train = DATASETS.get("digits")("train")
    init = fit(ctx(), "dcgan", "digits", train, trained=False).model
    again = fit(ctx(), "dcgan", "digits", train, trained=False).model
    trained = fit(ctx(), "dcgan", "digits", train).model  # resumes the finished run: no training
    x = train.images[:16]
    cpu = torch.device("cpu")
    a = discriminator_features(init.discriminator, x, cpu)
    assert torch.equal(a, discriminator_features(again.discriminator, x, cpu))  # seeded
    assert not torch.equal(a, discriminator_features(trained.discriminator, x, cpu))
    # Eval mode: an image's features do not depend on its batch.
    torch.testing.assert_close(discriminator_features(init.discriminator, x[:3], cpu), a[:3])


def test_subset_is_stratified_and_capped():
    from gbench.data import DATASETS

    train = DATASETS.get("digits")("train")
    sub = _subset(train, 20, None, seed=0)
    assert torch.bincount(sub.labels).tolist() == [20] * 10
    assert len(_subset(train, None, 100, seed=0)) == 100
    assert len(_subset(train, 1000, None, seed=0)) == len(train)  # fewer than 1000 per class: all of them


def test_paper_profile_without_data_root_says_what_is_missing(tmp_path: Path):
    records = run(RunRequest(suite="features", profile="paper", preset="smoke", device="cpu",
                             results=tmp_path / "results", runs=tmp_path / "runs", progress=False))
    assert len(records) == 1 and records[0].status == "unavailable"
    assert records[0].dataset == "cifar10" and "--data-root" in records[0].reason


def test_paper_profile_on_a_small_cifar10_png_tree(tmp_path: Path, one_thread):
    """The CIFAR-10 row of Table 1 end to end at smoke: the loader reads a `cifar10/{train,test}/<class>/*.png`
    tree, D trains on the unlabelled train split, and every row gets both accuracies."""
    import numpy as np

    from gbench.data.folder import save_image_folder
    from gbench.data.paper import CIFAR10_CLASSES

    rng = np.random.default_rng(0)
    colours = rng.integers(0, 256, (len(CIFAR10_CLASSES), 1, 3, 1, 1))  # a colour per class, under noise
    for split, per_class in (("train", 24), ("test", 10)):
        for k, name in enumerate(CIFAR10_CLASSES):
            images = np.clip(colours[k] + rng.normal(0, 40, (per_class, 3, 32, 32)), 0, 255).astype(np.uint8)
            save_image_folder(torch.from_numpy(images), tmp_path / "data" / "cifar10" / split / name)
    records = run(RunRequest(suite="features", profile="paper", preset="smoke", device="cpu",
                             data_root=tmp_path / "data", results=tmp_path / "results", runs=tmp_path / "runs",
                             progress=False))
    got = {(r.model, r.metric): r for r in records}
    assert set(got) == {(m, k) for m in MODELS for k in ("probe_acc", "probe_acc_few")}
    assert all(r.status == "ok" and r.dataset == "cifar10" and r.profile == "paper" for r in records)
    assert got[("raw-pixels", "probe_acc")].extra["feature_dim"] == 3 * 32 * 32
    assert got[("raw-pixels", "probe_acc")].value > 0.5  # the class colours are linearly separable
