"""`scenes-evaluator`: the shipped weights, what they read from the test split, decoding, training."""

import dataclasses
import json

import numpy as np
import pytest
import torch

import gbench.features.scenes_evaluator as se
import gbench.features.scenes_evaluator_train as st
import gbench.features.shipped as shipped
from gbench.data.scenes import load_split
from gbench.data.scenes_factors import SIZE_SPLIT, sample_factors
from gbench.features import weights as W

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

N_TEST = 1000  # the first 1,000 test images: ~3 s to render and read on one core


@pytest.fixture(scope="module")
def test_scenes():
    return load_split("test", index=slice(0, N_TEST))


@pytest.fixture(scope="module")
def loaded():
    return se.EVALUATOR.load()


@pytest.fixture(scope="module")
def readout(loaded, test_scenes):
    return se.read_scenes(loaded, test_scenes.images)


@pytest.fixture(scope="module")
def outputs(loaded, test_scenes):
    with torch.inference_mode():
        return loaded.net(test_scenes.images)


def test_shipped_weights_verify_against_the_manifest(loaded, test_scenes):
    entry = json.loads((shipped.WEIGHTS_DIR / shipped.MANIFEST).read_text())[se.NAME]
    path = shipped.WEIGHTS_DIR / se.FILENAME
    assert path.stat().st_size == entry["bytes"] < 1_000_000
    assert loaded.verified and loaded.weights_sha256 == entry["sha256"] == W.sha256_file(path)
    assert entry["feature_dim"] == se.FEATURE_DIM and entry["num_logits"] == se.NUM_CLASSES == 40
    assert entry["num_params"] == sum(p.numel() for p in se.SceneEvaluator().parameters()) <= 250_000
    ex = se.SPEC.load()
    assert ex.verified and ex.weights_sha256 == entry["sha256"]
    out = ex.extract(test_scenes.images[:4])  # the extractor path FID/KID/IS use
    assert out["features"].shape == (4, se.FEATURE_DIM) and out["logits"].shape == (4, 40)
    assert se.SPEC.availability() == (True, "") and se.EVALUATOR.availability() == (True, "")
    # The manifest's full-test-split numbers meet the bar the tests below check on a part of it.
    assert entry["test"]["shape"] >= 0.95 and entry["test"]["colour"] >= 0.95


def test_factor_accuracy_on_the_test_split(readout, test_scenes):
    # The evaluator never saw the test split. Shape and colour must be ≥ 0.95 on the
    # full split (the manifest); on these 1,000 images (~2,000 objects) the binomial
    # standard error of an accuracy near 0.97 is ~0.004, so 0.95 leaves ~5 of them.
    acc = se.factor_accuracy(readout, test_scenes.factors)
    assert acc["shape"] >= 0.95 and acc["colour"] >= 0.95
    assert acc["recall"] >= 0.97 and acc["precision"] >= 0.97
    assert acc["size"] >= 0.95 and acc["count"] >= 0.93 and acc["class"] >= 0.9
    assert acc["layout"] >= 0.9 and acc["ground"] >= 0.9
    assert acc["position_error"] < 0.02  # ~1 px at 64×64


def test_logits_agree_with_class_labels_and_readout(outputs, readout, test_scenes):
    features, logits = outputs
    assert logits.shape == (N_TEST, 40) and logits.dtype == torch.float32
    # log p(shape) + log p(colour): a log-distribution over the 40 classes.
    assert torch.allclose(logits.exp().sum(1), torch.ones(N_TEST), atol=1e-4)
    pred = logits.argmax(1).numpy()
    assert (pred == test_scenes.labels.numpy()).mean() >= 0.9
    assert np.array_equal(pred, readout.label)
    slot0 = readout.shape[:, 0] * 8 + readout.colour[:, 0]
    assert np.array_equal(pred[readout.present[:, 0]], slot0[readout.present[:, 0]])


def test_features_shape_finite_and_full_rank(outputs):
    features, _ = outputs
    assert features.shape == (N_TEST, se.FEATURE_DIM) and 64 <= se.FEATURE_DIM <= 256
    assert torch.isfinite(features).all() and (features >= 0).all()  # post-ReLU means
    # FID needs a full-rank covariance from a few hundred samples.
    assert np.linalg.matrix_rank(np.cov(features[:400].double().numpy(), rowvar=False)) == se.FEATURE_DIM


def test_readout_invariants(readout):
    p = readout.present
    assert p.dtype == bool and p.shape == (N_TEST, 3)
    assert not (p[:, 1:] & ~p[:, :-1]).any()  # present slots first
    size = np.where(p, readout.size, -1.0)
    assert (np.diff(size, axis=1) <= 0).all()  # sorted by descending size
    assert (readout.score[p] >= se.SCORE_THRESHOLD).all()
    for field in ("shape", "colour", "size", "x", "y", "score"):
        assert (getattr(readout, field)[~p] == 0).all(), field
    assert ((readout.x[p] >= 0) & (readout.x[p] <= 1) & (readout.y[p] >= 0) & (readout.y[p] <= 1)).all()
    assert set(np.unique(readout.ground)) <= {1, 2} and set(np.unique(readout.layout)) <= {0, 1, 2}


def test_reads_any_image_and_batch_size_independent(loaded, test_scenes, readout):
    noise = torch.randint(0, 256, (5, 3, 64, 64), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    r = se.read_scenes(loaded.net, noise, batch_size=2)  # a model's samples need not look like scenes
    assert len(r) == 5 and r.present.shape == (5, 3)
    small = se.read_scenes(loaded, test_scenes.images[:40], batch_size=7)
    assert np.array_equal(small.present, readout.present[:40])
    assert np.array_equal(small.shape, readout.shape[:40]) and np.allclose(small.size, readout.size[:40], atol=1e-5)
    with pytest.raises(ValueError, match="uint8"):
        se.read_scenes(loaded, test_scenes.images[:2].float())


def _readout_of(f, order=None) -> se.SceneReadout:
    """The perfect readout of factors ``f`` (slots sorted by size, as the evaluator's)."""
    order = np.argsort(-np.where(f.present, f.size, -1.0), axis=1, kind="stable") if order is None else order
    take = lambda a: np.take_along_axis(a, order, 1)  # noqa: E731
    return se.SceneReadout(present=take(f.present), shape=take(f.shape), colour=take(f.colour), size=take(f.size),
                           x=take(f.x), y=take(f.y), score=take(f.present).astype(float), layout=f.layout,
                           ground=f.ground, label=f.labels)


def test_matching_and_accuracy_of_exact_and_wrong_readouts():
    f = sample_factors(300, np.random.default_rng(11))
    exact = se.factor_accuracy(_readout_of(f), f)
    assert all(v == 1.0 for k, v in exact.items() if k != "position_error") and exact["position_error"] == 0
    # Every detection far from every object (off the frame): nothing matches, object factors score 0.
    far = dataclasses.replace(_readout_of(f), x=_readout_of(f).x + 2.0)
    moved = se.factor_accuracy(far, f)
    assert moved["recall"] == moved["shape"] == moved["precision"] == 0 and moved["count"] == 1
    # A wrong colour on the largest object only: colour drops by exactly those objects.
    r = _readout_of(f)
    wrong = dataclasses.replace(r, colour=np.where(np.arange(3) == 0, (r.colour + 1) % 8, r.colour))
    acc = se.factor_accuracy(wrong, f)
    assert acc["colour"] == pytest.approx(1 - len(f) / f.present.sum()) and acc["shape"] == 1
    assert acc["size"] == 1 and (f.size[f.present] >= SIZE_SPLIT).any()


def test_decode_finds_planted_peaks():
    dense = torch.full((1, se.DENSE_CHANNELS, se.GRID, se.GRID), -9.0)
    for (r, c), size in (((2, 3), 1.5), ((10, 12), 3.0)):
        dense[0, 0, r, c], dense[0, se.SIZE.start, r, c] = 5.0, size
        dense[0, se.SHAPE.start + 3, r, c] = dense[0, se.COLOUR.start + 5, r, c] = 4.0
    det = se.decode(dense)
    assert det.present.tolist() == [[True, True, False]]
    assert det.cell[0, :2].tolist() == [10 * 16 + 12, 2 * 16 + 3]  # the larger first
    assert det.size[0, :2].tolist() == [3.0 / 16, 1.5 / 16]
    assert se.class_logits(dense).argmax(1).item() == 3 * 8 + 5




def test_training_is_deterministic():
    recipe = st.TrainRecipe(seed=4, epochs=1, steps_per_epoch=2, batch_size=8, warmup_steps=1)
    states = []
    for seed in (4, 4, 5):
        with shipped.seeded_training(seed):
            net = st.fit(dataclasses.replace(recipe, seed=seed))
        states.append(net.state_dict())
    assert all(torch.equal(states[0][k], states[1][k]) for k in states[0])
    assert not all(torch.equal(states[0][k], states[2][k]) for k in states[0])  # the seed matters


def test_targets_mark_each_object_centre():
    f = sample_factors(20, np.random.default_rng(3))
    t = st.targets(f)
    assert len(t.cell) == f.present.sum()
    assert (t.heat.flatten(1)[t.image, t.cell] == 1).all()
    assert int((t.heat == 1).sum()) == len(t.cell)  # exactly one peak per object: centres never share a cell
    assert ((t.dx >= 0) & (t.dx < 1) & (t.dy >= 0) & (t.dy < 1)).all()
