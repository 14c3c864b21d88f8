"""`voxels-evaluator`: the shipped 3-D CNN, its extractor path (5-D input), and its training recipe."""

import json

import numpy as np
import pytest
import torch

import gbench.features.shipped as shipped
import gbench.features.voxels_evaluator as ve
from gbench.data import voxels
from gbench.errors import GbenchError
from gbench.evaluate import Reference, score_images
from gbench.features import EVALUATORS, EXTRACTORS
from gbench.features import weights as W
from gbench.metrics import FeatureStats, frechet_distance
from gbench.metrics.voxels import class_distribution_tv

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def test_split():
    return voxels.load_split("test")


@pytest.fixture(scope="module")
def extractor():
    return EXTRACTORS.get(ve.NAME).load()


@pytest.fixture(scope="module")
def outputs(extractor, test_split):
    return extractor.extract(test_split.occupancy, batch_size=250)


def test_shipped_weights_verify_and_classify_the_test_split(extractor, test_split, outputs):
    entry = shipped.read_manifest()[ve.NAME]
    assert extractor.verified and extractor.weights_sha256 == entry["sha256"] == W.sha256_file(
        shipped.WEIGHTS_DIR / ve.FILENAME)
    assert entry["bytes"] < 1_000_000 and entry["recipe"]["seed"] == 0
    acc = (outputs["logits"].argmax(1) == test_split.labels).double().mean().item()
    # never trained on the test split (its stream is [3, 2, seed]); the shipped weights reach the manifest's number
    assert acc == pytest.approx(entry["test_accuracy"], abs=1e-3) and acc >= 0.95
    assert EVALUATORS.get(ve.NAME).load().verified


def test_features_logits_and_the_class_distribution(outputs, test_split):
    f = outputs["features"]
    assert f.shape == (2000, 128) and outputs["logits"].shape == (2000, 10) and (f >= 0).all()
    assert np.linalg.matrix_rank(np.cov(f.double().numpy(), rowvar=False)) == 128  # FID needs a full-rank Σ
    pred = outputs["logits"].argmax(1)
    assert class_distribution_tv(pred, test_split.labels, 10) < 0.03


def test_frechet_distance_through_the_registry(extractor, test_split, outputs):
    """The ordinary `fid` machinery takes 5-D grids: near 0 for another draw, large for noise."""
    reference = Reference.from_images(extractor, test_split.occupancy, cache=False)
    other = voxels.load_split("train", 32, slice(0, 1000)).occupancy
    same = score_images(extractor, reference, other, metrics=("fid",))["fid"].value
    noise = (torch.rand(other.shape, generator=torch.Generator().manual_seed(0)) < 0.05).to(torch.uint8) * 255
    bad = score_images(extractor, reference, noise, metrics=("fid",))["fid"].value
    assert same < 0.05 * bad
    direct = frechet_distance(*FeatureStats().update(outputs["features"]).compute(),
                              *FeatureStats().update(extractor.features(other)).compute())
    assert direct == pytest.approx(same, rel=1e-6)
    feats, logits = ve.voxel_features(test_split.occupancy[:50])
    assert feats.dtype == np.float64 and feats.shape == (50, 128) and logits.shape == (50, 10)
    np.testing.assert_allclose(feats, outputs["features"][:50].double().numpy(), rtol=1e-5, atol=1e-6)


def test_64_cubed_grids_and_lazy_sources(extractor, test_split, outputs):
    big = voxels.load("test", size=64).images  # lazy RenderedVoxels at 64³
    out = extractor.extract(big[:500], batch_size=100)
    acc = (out["logits"].argmax(1) == test_split.labels[:500]).double().mean().item()
    assert acc >= 0.9
    lazy = extractor.extract(voxels.load("test").images.subset(np.arange(64)), batch_size=16)
    torch.testing.assert_close(lazy["features"], outputs["features"][:64], rtol=1e-5, atol=1e-5)


def test_wrong_input_is_refused(extractor, test_split):
    with pytest.raises(GbenchError, match=r"\(N, C, D, H, W\)"):
        extractor.extract(torch.zeros(2, 1, 32, 32, dtype=torch.uint8))
    with pytest.raises(GbenchError, match="S = 32 or 64"):
        extractor.extract(torch.zeros(2, 1, 16, 16, 16, dtype=torch.uint8))
    with pytest.raises(GbenchError, match="uint8"):
        extractor.extract(test_split.occupancy[:2].float())
    with pytest.raises(GbenchError, match=r"\(N, C, H, W\)"):  # the 2-D extractors refuse volumes
        EXTRACTORS.get("digits-evaluator").load().extract(test_split.occupancy[:2])


@pytest.mark.slow
def test_fit_is_deterministic_and_training_writes_its_entry(tmp_path, monkeypatch):
    recipe = ve.TrainRecipe(seed=4, epochs=1, steps_per_epoch=2, batch_size=16)
    states = []
    for _ in range(2):
        with shipped.seeded_training(4):
            states.append(ve.fit(recipe, log=None).state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    # the CLI's path, on a two-step recipe: weights + manifest entry in a folder of the user's
    monkeypatch.setattr(ve, "TrainRecipe", lambda seed=0, epochs=1: recipe)
    lines = []
    entry = EVALUATORS.get(ve.NAME).train(tmp_path, seed=4, epochs=1, log=lines.append)
    manifest = json.loads((tmp_path / shipped.MANIFEST).read_text())
    assert manifest[ve.NAME] == entry and W.sha256_file(tmp_path / ve.FILENAME) == entry["sha256"]
    assert set(entry["test_accuracy_per_class"]) == set(voxels.CLASSES) and 0 <= entry["test_accuracy"] <= 1
    assert entry["command"] == "gbench evaluators train voxels-evaluator --seed 4 --epochs 1" and len(lines) == 2
