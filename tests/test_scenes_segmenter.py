"""`scenes-segmenter`: the shipped weights, their verification, their quality, and the training recipe."""

import json

import pytest
import torch

import gbench.features.scenes_segmenter as ss
import gbench.features.shipped as shipped
from gbench.data.scenes import load_split
from gbench.errors import GbenchError
from gbench.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou

pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py

SUBSET = 500


@pytest.fixture(scope="module")
def loaded():
    return ss.EVALUATOR.load()


@pytest.fixture(scope="module")
def test_subset():
    return load_split("test", index=slice(0, SUBSET))


@pytest.fixture(scope="module")
def predicted(loaded, test_subset):
    return ss.segment(loaded, test_subset.images)


def test_shipped_weights_verify_against_the_manifest(loaded):
    entry = json.loads((shipped.WEIGHTS_DIR / shipped.MANIFEST).read_text())[ss.NAME]
    path = shipped.WEIGHTS_DIR / ss.FILENAME
    assert loaded.verified and loaded.weights_sha256 == entry["sha256"]
    assert path.stat().st_size == entry["bytes"] < 1_000_000
    assert entry["num_params"] == sum(p.numel() for p in ss.SceneSegmenter().parameters())
    assert ss.EVALUATOR.availability() == (True, "")
    assert ss.EVALUATOR.quality(entry).startswith("mIoU 0.9")


def test_miou_on_the_test_split(predicted, test_subset):
    # The segmenter never saw the test split. 0.9 is the bar for using it to score
    # label-to-image fidelity; the manifest records the full 5,000-image mIoU. The
    # first 500 images hold ~1,000 objects, so the subset's mIoU is within about
    # ±0.01 of the full split's: the shipped weights pass with room, and a
    # regression (preprocessing, architecture, stale file) fails.
    m = confusion_matrix(predicted, test_subset.label_maps, ss.NUM_CLASSES)
    assert mean_iou(m) >= 0.9
    assert (iou_per_class(m) >= 0.75).all()  # no class is given up for the others
    entry = ss.EVALUATOR.entry()
    assert entry["test_miou"] >= 0.9 and len(entry["test_iou_per_class"]) == ss.NUM_CLASSES


def test_output_shape_and_dtype(loaded, test_subset, predicted):
    assert predicted.shape == (SUBSET, 64, 64) and predicted.dtype == torch.uint8
    assert int(predicted.max()) < ss.NUM_CLASSES
    with torch.inference_mode():
        logits = loaded.net(test_subset.images[:3])
    assert logits.shape == (3, ss.NUM_CLASSES, 64, 64) and logits.dtype == torch.float32
    # segment() is the argmax of forward, whatever the batch size (and the raw net works too).
    small = ss.segment(loaded.net, test_subset.images[:20], batch_size=7)
    assert torch.equal(small[:3], logits.argmax(1).to(torch.uint8))
    assert (small == predicted[:20]).double().mean() > 0.9999  # float ties aside


def test_wrong_input_is_refused(loaded, test_subset):
    with pytest.raises(GbenchError, match="uint8"):
        ss.segment(loaded, test_subset.images[:2].float())
    with pytest.raises(GbenchError, match="64"):
        ss.segment(loaded, test_subset.images[:2, :, :32, :32])




def _tiny_fit(seed):
    recipe = ss.SegmenterRecipe(seed=seed, epochs=1, batch_size=8, train_images=24, weight_estimate_images=24)
    with shipped.seeded_training(seed):
        net, _ = ss._fit(recipe, log=None)
    return net.state_dict()


def test_fit_is_deterministic():
    a, b, c = _tiny_fit(5), _tiny_fit(5), _tiny_fit(6)
    assert all(torch.equal(a[k], b[k]) for k in a)  # 3 steps, bitwise equal
    assert not all(torch.equal(a[k], c[k]) for k in a)  # and the seed matters


def test_class_weights():
    maps = torch.zeros(1, 4, 4, dtype=torch.uint8)
    maps[0, 0, 0] = 7  # one star pixel in 16
    w = ss.class_weights(maps, 0.5)
    freq = torch.bincount(maps.reshape(-1).long(), minlength=9).float() / 16
    assert w[7] / w[0] == pytest.approx(15 ** 0.5, rel=1e-5)  # ∝ frequency^-½
    assert float((w * freq).sum()) == pytest.approx(1.0, rel=1e-6)  # an average pixel weighs 1
