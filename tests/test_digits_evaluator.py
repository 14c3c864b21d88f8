"""`digits-evaluator`: the shipped weights, their verification, and the training recipe."""

import json

import numpy as np
import pytest
import torch

import gbench.features.digits_evaluator as de
import gbench.features.shipped as shipped
from gbench.data import digits
from gbench.errors import GbenchError
from gbench.features import EXTRACTORS
from gbench.features import weights as W


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


@pytest.fixture(scope="module")
def digits_test():
    return digits.load("test")


@pytest.fixture(scope="module")
def evaluator():
    return EXTRACTORS.get("digits-evaluator").load()


@pytest.fixture(scope="module")
def outputs(evaluator, digits_test):
    return evaluator.extract(digits_test.images, batch_size=64)


def test_shipped_weights_verify_against_the_manifest(evaluator):
    manifest = json.loads((shipped.WEIGHTS_DIR / shipped.MANIFEST).read_text())[de.NAME]
    assert evaluator.verified
    assert evaluator.weights_sha256 == manifest["sha256"] == EXTRACTORS.get(de.NAME).weights_sha256
    assert (shipped.WEIGHTS_DIR / de.FILENAME).stat().st_size < 1_000_000
    assert EXTRACTORS.get(de.NAME).availability() == (True, "")


def test_accuracy_on_the_test_split(outputs, digits_test):
    # The evaluator never saw the test split; ≥ 97% is the bar for trusting it
    # as a stand-in for Inception on digits (the shipped weights reach ~98.9%).
    acc = (outputs["logits"].argmax(1) == digits_test.labels).double().mean().item()
    assert acc >= 0.97


def test_features_shape_and_full_rank_covariance(outputs):
    f = outputs["features"]
    assert f.shape == (359, 64) and outputs["logits"].shape == (359, 10)
    assert f.dtype == torch.float32 and (f >= 0).all()  # post-ReLU
    # 359 samples of 64-d features: the covariance must be full rank for FID.
    assert np.linalg.matrix_rank(np.cov(f.double().numpy(), rowvar=False)) == 64


def test_batch_size_independent(evaluator, digits_test, outputs):
    small = evaluator.extract(digits_test.images[:128], batch_size=7)
    # float32: kernels may differ per batch size; 1e-5 relative (see Extractor.extract).
    for k, v in outputs.items():
        v = v[:128]
        assert torch.allclose(small[k], v, rtol=1e-5, atol=1e-5 * float(v.abs().max()))




def test_weights_dir_without_the_file_uses_the_shipped_one(tmp_path, monkeypatch):
    # `--weights DIR` given for Inception must not break the shipped evaluator,
    # and a file in $GBENCH_WEIGHTS (or the hub cache) must not shadow it.
    inception_only = tmp_path / "inception-only"
    inception_only.mkdir()
    monkeypatch.setenv(W.ENV_VAR, str(tmp_path))
    (tmp_path / de.FILENAME).write_bytes(b"not it")
    spec, shipped_file = EXTRACTORS.get(de.NAME), (shipped.WEIGHTS_DIR / de.FILENAME, True)
    assert spec.resolve() == shipped_file
    assert spec.resolve(weights_path=inception_only) == shipped_file


def test_wrong_input_is_refused(evaluator, digits_test):
    with pytest.raises(GbenchError, match="grayscale"):
        evaluator.extract(digits_test.images[:2].expand(-1, 3, -1, -1))
    with pytest.raises(GbenchError, match="32×32"):
        evaluator.extract(digits_test.images[:2, :, :28, :28])


def test_fit_is_deterministic(digits_test):
    train = digits.load("train")
    subset = type(train)(train.images[:128], train.labels[:128], train.classes)  # 2 batches: keeps it fast
    states = []
    for _ in range(2):
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(5)
            net = de._fit(de.TrainRecipe(seed=5, epochs=1), subset, digits_test, log=None)
        states.append(net.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])


def test_training_writes_weights_and_manifest(tmp_path):
    (tmp_path / shipped.MANIFEST).write_text(json.dumps({"other-evaluator": {"sha256": "x"}}))
    rng_before = torch.get_rng_state()
    threads = torch.get_num_threads()
    lines = []
    entry = de.train_digits_evaluator(seed=3, epochs=1, out_dir=tmp_path, log=lines.append)
    assert len(lines) == 1  # one per epoch (the CLI prints what was written)
    # The caller's RNG and thread count are left as they were.
    assert torch.equal(torch.get_rng_state(), rng_before) and torch.get_num_threads() == threads
    manifest = json.loads((tmp_path / shipped.MANIFEST).read_text())
    assert manifest["other-evaluator"] == {"sha256": "x"}  # other entries kept
    assert manifest[de.NAME] == entry and entry["recipe"]["seed"] == 3 and entry["recipe"]["epochs"] == 1
    assert W.sha256_file(tmp_path / de.FILENAME) == entry["sha256"]
    assert entry["torch_version"] == torch.__version__
    # One epoch already learns something: well above the 10% of chance.
    assert entry["test_accuracy"] > 0.2
    assert not list(tmp_path.glob(".*.tmp"))  # no temporary files left behind
    # The written file loads into the evaluator and gives its recorded accuracy.
    ex = EXTRACTORS.get(de.NAME).load(weights_path=tmp_path / de.FILENAME, allow_unverified=True)
    test = digits.load("test")
    acc = (ex.logits(test.images).argmax(1) == test.labels).double().mean().item()
    assert acc == pytest.approx(entry["test_accuracy"], abs=1e-12)
