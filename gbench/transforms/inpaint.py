"""Classical hole filling: the baselines a learned inpainting model is compared with.

Each function takes uint8 images (N, C, H, W), C in {1, 3}, and a bool mask
(N, 1, H, W) with True = hole, and returns a new uint8 batch of the same shape
whose valid pixels (mask False) are the input's, unchanged; only the hole is
filled. Nothing is random.

* :func:`biharmonic_fill` — scikit-image's ``inpaint_biharmonic`` (Damelin &
  Hoang 2018): the hole is the smooth (biharmonic, Δ²u = 0) continuation of its
  surroundings, per channel. Smooth, no texture: the classical floor of
  inpainting tables;
* :func:`opencv_fill` — OpenCV's ``cv2.inpaint``: ``"telea"`` (Telea 2004, fast
  marching) or ``"ns"`` (Bertalmío, Bertozzi & Sapiro 2001, Navier–Stokes).
  OpenCV is not a gbench dependency: without ``cv2`` these raise a
  :class:`GbenchError` saying how to add it (:func:`opencv_status`);
* :func:`mean_fill` — every hole pixel set to the mean of the image's valid
  pixels, per channel: a floor any method should beat.
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.images import check_images

OPENCV_METHODS = ("telea", "ns")
OPENCV_RADIUS = 3  # pixels around the hole each fill step looks at (OpenCV's documentation example uses 3)
OPENCV_MISSING = ("OpenCV not installed: Telea/NS rows not run; pip install opencv-python-headless to add them")


def _check(fn: str, images, masks) -> tuple[torch.Tensor, torch.Tensor]:
    """Validated uint8 (N, C, H, W) images and bool (N, 1, H, W) masks, on the CPU."""
    x = check_images(images, name=f"{fn} images").cpu()
    m = torch.as_tensor(masks).cpu()
    want = (x.shape[0], 1, *x.shape[2:])
    if m.dtype != torch.bool or tuple(m.shape) != want:
        raise GbenchError(f"{fn}: masks must be bool {want} with True = hole, got {m.dtype} {tuple(m.shape)}")
    return x, m


def _paste(filled: np.ndarray, x: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
    """Filled float (N, C, H, W) on the 0..255 scale → uint8, rounded, with the valid pixels of x kept exactly."""
    out = torch.from_numpy(np.clip(np.rint(filled), 0, 255).astype(np.uint8))
    return torch.where(m, out, x)


def biharmonic_fill(images, masks) -> torch.Tensor:
    """Fill each hole with the biharmonic continuation of its surroundings (scikit-image).

    ``skimage.restoration.inpaint_biharmonic`` per image, on [0, 1] floats, all
    channels at once (``channel_axis``); the result is rounded to uint8.

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}.
        masks: bool (N, 1, H, W), True = hole.

    Returns:
        uint8 (N, C, H, W); valid pixels unchanged.
    """
    from skimage.restoration import inpaint_biharmonic

    x, m = _check("biharmonic_fill", images, masks)
    arr, holes = x.numpy(), m.numpy()
    filled = np.empty(arr.shape, dtype=np.float64)
    for i in range(arr.shape[0]):
        if not holes[i, 0].any():  # nothing to fill (scikit-image would solve an empty system)
            filled[i] = arr[i]
            continue
        img = arr[i].transpose(1, 2, 0) / 255.0
        out = inpaint_biharmonic(img, holes[i, 0], channel_axis=-1)
        filled[i] = 255.0 * out.transpose(2, 0, 1)
    return _paste(filled, x, m)


def opencv_status() -> tuple[bool, str]:
    """(True, "") when ``cv2`` imports, else (False, :data:`OPENCV_MISSING`)."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False, OPENCV_MISSING
    return True, ""


def opencv_fill(images, masks, method: str = "telea", radius: int = OPENCV_RADIUS) -> torch.Tensor:
    """Fill each hole with OpenCV's ``cv2.inpaint`` (``INPAINT_TELEA`` or ``INPAINT_NS``).

    Both methods treat the channels alike, so RGB need not be reordered to
    OpenCV's BGR.

    Args:
        images, masks: as :func:`biharmonic_fill`.
        method: ``"telea"`` (Telea 2004) or ``"ns"`` (Bertalmío et al. 2001).
        radius: the neighbourhood radius in pixels.

    Raises:
        GbenchError: an unknown method, or OpenCV not installed (:data:`OPENCV_MISSING`).
    """
    if method not in OPENCV_METHODS:
        raise GbenchError(f"opencv_fill: unknown method {method!r}: choose 'telea' or 'ns'")
    ok, why = opencv_status()
    if not ok:
        raise GbenchError(why)
    import cv2

    x, m = _check("opencv_fill", images, masks)
    flag = cv2.INPAINT_TELEA if method == "telea" else cv2.INPAINT_NS
    arr, holes = x.numpy(), m.numpy().astype(np.uint8)
    filled = np.empty(arr.shape, dtype=np.float64)
    for i in range(arr.shape[0]):
        img = np.ascontiguousarray(arr[i].transpose(1, 2, 0))
        out = cv2.inpaint(img, holes[i, 0], radius, flag)
        filled[i] = out.reshape(img.shape).transpose(2, 0, 1)
    return _paste(filled, x, m)


def mean_fill(images, masks) -> torch.Tensor:
    """Set every hole pixel to the mean of the image's valid pixels, per channel (rounded to uint8).

    Args and returns as :func:`biharmonic_fill`; an image without a valid pixel
    is an error (nothing to take a mean of).
    """
    x, m = _check("mean_fill", images, masks)
    valid = (~m).to(torch.float64)
    count = valid.sum(dim=(1, 2, 3))
    if bool((count == 0).any()):
        raise GbenchError("mean_fill: an image has no valid pixel (its mask is all True): nothing to fill from")
    mean = (x.to(torch.float64) * valid).sum(dim=(2, 3)) / count[:, None]
    return _paste(mean[:, :, None, None].expand(x.shape).numpy(), x, m)


__all__ = ["OPENCV_METHODS", "OPENCV_MISSING", "biharmonic_fill", "mean_fill", "opencv_fill", "opencv_status"]
