"""Segmentation scores: confusion matrix, IoU, mIoU, pixel accuracy (gbench.metrics.segmentation)."""

import numpy as np
import pytest
import torch
from sklearn.metrics import confusion_matrix as sk_confusion
from sklearn.metrics import jaccard_score

from gbench.errors import GbenchError
from gbench.metrics.segmentation import confusion_matrix, iou_per_class, mean_iou, pixel_accuracy


def _labels(rng, shape, k):
    # Skewed class frequencies, like segmentation maps (sky large, stars small).
    p = rng.dirichlet(np.ones(k))
    return rng.choice(k, size=shape, p=p)


@pytest.mark.parametrize("k", [2, 5, 9])
def test_matches_sklearn(rng, k):
    true, pred = _labels(rng, (4, 16, 16), k), _labels(rng, (4, 16, 16), k)
    m = confusion_matrix(pred, true, k)
    assert m.dtype == np.int64 and m.shape == (k, k)
    # sklearn: rows = true, columns = predicted, the same convention.
    np.testing.assert_array_equal(m, sk_confusion(true.ravel(), pred.ravel(), labels=np.arange(k)))
    ref = jaccard_score(true.ravel(), pred.ravel(), labels=np.arange(k), average=None, zero_division=0)
    np.testing.assert_allclose(iou_per_class(m), ref, rtol=1e-12)
    assert mean_iou(m) == pytest.approx(ref.mean(), rel=1e-12)
    assert pixel_accuracy(m) == pytest.approx((true == pred).mean(), rel=1e-12)


def test_torch_input_and_merge_by_sum(rng):
    true, pred = _labels(rng, (6, 8, 8), 4), _labels(rng, (6, 8, 8), 4)
    whole = confusion_matrix(torch.from_numpy(pred).to(torch.uint8), torch.from_numpy(true), 4)
    parts = sum(confusion_matrix(pred[i:i + 2], true[i:i + 2], 4) for i in range(0, 6, 2))
    np.testing.assert_array_equal(whole, parts)
    np.testing.assert_array_equal(whole, confusion_matrix(pred, true, 4))
    assert whole.sum() == true.size


def test_closed_forms():
    y = np.array([[0, 1], [2, 2]])
    perfect = confusion_matrix(y, y, 3)
    assert mean_iou(perfect) == 1.0 and pixel_accuracy(perfect) == 1.0
    np.testing.assert_array_equal(iou_per_class(perfect), [1, 1, 1])
    disjoint = confusion_matrix(np.zeros((2, 2), int), np.ones((2, 2), int), 2)
    assert mean_iou(disjoint) == 0.0 and pixel_accuracy(disjoint) == 0.0
    # By hand: true 0 0 0 1, pred 0 0 1 1 → m = [[2, 1], [0, 1]];
    # IoU_0 = 2 / (2 + 1 + 0) = 2/3, IoU_1 = 1 / (1 + 0 + 1) = 1/2, accuracy 3/4.
    m = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]), 2)
    np.testing.assert_array_equal(m, [[2, 1], [0, 1]])
    np.testing.assert_allclose(iou_per_class(m), [2 / 3, 1 / 2])
    assert mean_iou(m) == pytest.approx(7 / 12) and pixel_accuracy(m) == 0.75


def test_absent_class_is_nan_and_skipped():
    # Class 2 occurs in neither map: NaN, and the mean is over classes 0 and 1 only.
    m = confusion_matrix(np.array([0, 0, 1, 1]), np.array([0, 0, 0, 1]), 3)
    iou = iou_per_class(m)
    assert np.isnan(iou[2])
    assert mean_iou(m) == pytest.approx(7 / 12)
    # Predicted but absent from the truth: IoU 0, and it counts.
    m = confusion_matrix(np.array([0, 2]), np.array([0, 0]), 3)
    np.testing.assert_array_equal(iou_per_class(m)[[0, 2]], [0.5, 0.0])
    assert mean_iou(m) == pytest.approx(0.25)


def test_ignore_label():
    true = np.array([0, 1, 255, 255])
    pred = np.array([0, 1, 1, 0])
    m = confusion_matrix(pred, true, 2)
    assert m.sum() == 2 and mean_iou(m) == 1.0
    assert np.isnan(mean_iou(confusion_matrix(pred, np.full(4, 255), 2)))  # nothing counted


def test_bad_input_is_refused():
    with pytest.raises(GbenchError, match="outside"):
        confusion_matrix(np.array([0, 3]), np.array([0, 1]), 2)
    with pytest.raises(GbenchError, match="same shape"):
        confusion_matrix(np.zeros(3, int), np.zeros(4, int), 2)
    with pytest.raises(GbenchError, match="integer"):
        confusion_matrix(np.zeros(3), np.zeros(3, int), 2)
    with pytest.raises(GbenchError, match="square"):
        iou_per_class(np.zeros((2, 3)))
