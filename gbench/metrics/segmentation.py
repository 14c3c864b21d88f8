"""Semantic-segmentation scores: confusion matrix, per-class IoU, mean IoU, pixel accuracy.

The convention of SPADE / pix2pixHD / Cityscapes evaluation: one confusion
matrix summed over every pixel of every image of the dataset, then IoU per
class from that matrix, then the mean over classes. (Averaging per-image mIoU
instead weights small images and rare classes differently and gives another,
larger number; papers that report "mIoU" for label-to-image synthesis mean the
dataset-level one.)

The confusion matrix is a sum over pixels, so it streams: compute it per batch
or per shard and add the matrices; scores from the sum equal scores from all
pixels at once (bitwise, it is integer).

Shapes: ``pred`` and ``true`` are integer label arrays of the same shape, e.g.
(N, H, W) or (H, W), as numpy arrays or torch tensors (any device). Pixels whose
TRUE label lies outside ``0..K-1`` — the customary 255 "ignore" / void label —
are left out of the matrix; a PREDICTED label outside ``0..K-1`` where the true
label is valid is an error (the network cannot emit it).
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.errors import GbenchError


def _as_int64(x, name: str) -> torch.Tensor:
    t = torch.as_tensor(x)
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise GbenchError(f"{name} must hold integer class labels, got dtype {t.dtype}")
    return t.to(device="cpu", dtype=torch.int64).reshape(-1)


def confusion_matrix(pred, true, num_classes: int) -> np.ndarray:
    """Pixel confusion matrix: int64 (K, K), rows = true class, columns = predicted class.

    Args:
        pred: predicted labels, integer array/tensor of any shape (e.g. (N, H, W)).
        true: true labels, same shape; pixels with a true label outside 0..K-1
            (e.g. 255 = ignore) are not counted.
        num_classes: K.

    Returns:
        ``m[t, p]`` = number of pixels of true class t predicted as p. Matrices of
        disjoint sets of pixels add up to the matrix of their union.
    """
    k = int(num_classes)
    if k < 1:
        raise GbenchError(f"num_classes must be ≥ 1, got {num_classes}")
    p, t = _as_int64(pred, "pred"), _as_int64(true, "true")
    if tuple(torch.as_tensor(pred).shape) != tuple(torch.as_tensor(true).shape):
        raise GbenchError(f"pred and true must have the same shape, got {tuple(torch.as_tensor(pred).shape)} "
                          f"and {tuple(torch.as_tensor(true).shape)}")
    valid = (t >= 0) & (t < k)
    p, t = p[valid], t[valid]
    if len(p) and (int(p.min()) < 0 or int(p.max()) >= k):
        raise GbenchError(f"pred has labels outside 0..{k - 1} (min {int(p.min())}, max {int(p.max())})")
    # One bincount over the flattened (true, pred) pair index: exact integer counts.
    return torch.bincount(t * k + p, minlength=k * k).reshape(k, k).numpy()


def _check_confusion(confusion) -> np.ndarray:
    m = np.asarray(confusion)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise GbenchError(f"confusion must be a square (K, K) matrix, got shape {m.shape}")
    return m.astype(np.float64)


def iou_per_class(confusion) -> np.ndarray:
    """float64 (K,): IoU_c = TP / (TP + FP + FN) from a (K, K) confusion matrix.

    NaN for a class that occurs neither in the truth nor in the predictions
    (0 / 0: it has no IoU, and must not count as 0 or 1 in a mean).
    """
    m = _check_confusion(confusion)
    tp = np.diag(m)
    union = m.sum(0) + m.sum(1) - tp  # predicted as c + truly c − both
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / np.where(union > 0, union, 1), np.nan)


def mean_iou(confusion) -> float:
    """Mean over classes of :func:`iou_per_class`, skipping the NaN ones (classes
    absent from both truth and predictions) — the dataset-level mIoU of SPADE /
    Cityscapes. A class present in the truth but never predicted counts as 0, and
    so does a class predicted but absent from the truth. NaN if the matrix is empty."""
    iou = iou_per_class(confusion)
    return float(np.nanmean(iou)) if np.isfinite(iou).any() else float("nan")


def pixel_accuracy(confusion) -> float:
    """Fraction of counted pixels whose predicted class is the true one (NaN if none)."""
    m = _check_confusion(confusion)
    total = m.sum()
    return float(np.trace(m) / total) if total > 0 else float("nan")
