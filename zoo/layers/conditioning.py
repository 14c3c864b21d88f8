"""Class conditioning by concatenation.

Mirza & Osindero 2014, "Conditional Generative Adversarial Nets", Sec. 3.2:
the label y is fed to both networks as an extra input. For vectors it is
concatenated as a one-hot code; for images as K constant feature maps
(the convolutional form used by IcGAN, Perarnau et al. 2016, Sec. 3, and by
conditional VAEs, Sohn et al. 2015).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def check_labels(labels: torch.Tensor, num_classes: int, n: int | None = None) -> torch.Tensor:
    """Validate class indices: int64 (N,) in 0..num_classes−1; returns them unchanged."""
    if not isinstance(labels, torch.Tensor) or labels.dtype != torch.int64 or labels.ndim != 1:
        raise ValueError(f"labels must be an int64 tensor of shape (N,), got "
                         f"{getattr(labels, 'dtype', type(labels).__name__)} {tuple(getattr(labels, 'shape', ()))}")
    if n is not None and labels.shape[0] != n:
        raise ValueError(f"expected {n} labels, got {labels.shape[0]}")
    if labels.numel() and (int(labels.min()) < 0 or int(labels.max()) >= num_classes):
        raise ValueError(f"labels must lie in 0..{num_classes - 1}, got {int(labels.min())}..{int(labels.max())}")
    return labels


CONDITIONS = ("class", "tokens", "layout")


def check_condition(kind: str, condition: torch.Tensor, num_classes: int, n: int | None = None,
                    size: int | None = None) -> torch.Tensor:
    """Validate what a conditional model is conditioned on; returns it unchanged.

    ``kind``:

    * ``"class"`` — class indices, int64 (N,) in 0..num_classes−1 (:func:`check_labels`);
    * ``"tokens"`` — a caption as token ids, int64 (N, L) in 0..num_classes−1 (the vocabulary;
      0 pads short captions);
    * ``"layout"`` — a semantic label map, uint8 or int64 (N, H, W) in 0..num_classes−1, with
      H = W = ``size`` when given (uint8 keeps a large training set's maps 8× smaller).
    """
    if kind == "class":
        return check_labels(condition, num_classes, n)
    if kind not in CONDITIONS:
        raise ValueError(f"condition kind must be one of {CONDITIONS}, got {kind!r}")
    ndim, dtypes = (2, (torch.int64,)) if kind == "tokens" else (3, (torch.uint8, torch.int64))
    what = "int64 (N, L) token ids" if kind == "tokens" else "uint8/int64 (N, H, W) label maps"
    if not isinstance(condition, torch.Tensor) or condition.dtype not in dtypes or condition.ndim != ndim:
        raise ValueError(f"a {kind} condition must be {what}, got "
                         f"{getattr(condition, 'dtype', type(condition).__name__)} {tuple(getattr(condition, 'shape', ()))}")
    if n is not None and condition.shape[0] != n:
        raise ValueError(f"expected {n} {kind} conditions, got {condition.shape[0]}")
    if kind == "layout" and size is not None and tuple(condition.shape[1:]) != (size, size):
        raise ValueError(f"label maps must be {size}×{size} like the images, got {tuple(condition.shape[1:])}")
    if condition.numel() and (int(condition.min()) < 0 or int(condition.max()) >= num_classes):
        raise ValueError(f"{kind} ids must lie in 0..{num_classes - 1}, got {int(condition.min())}..{int(condition.max())}")
    return condition


def one_hot(labels: torch.Tensor, num_classes: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """int64 (N,) → float (N, num_classes) one-hot codes."""
    return F.one_hot(labels, num_classes).to(dtype)


def concat_one_hot(v: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, D) vectors and (N,) labels → (N, D + K): [v, one_hot(y)]."""
    return torch.cat([v, one_hot(labels, num_classes, v.dtype)], dim=1)


def concat_label_maps(x: torch.Tensor, labels: torch.Tensor, num_classes: int) -> torch.Tensor:
    """(N, C, H, W) images and (N,) labels → (N, C + K, H, W): the one-hot code
    broadcast to K constant maps and appended as channels."""
    n, _, h, w = x.shape
    maps = one_hot(labels, num_classes, x.dtype)[:, :, None, None].expand(n, num_classes, h, w)
    return torch.cat([x, maps], dim=1)
