"""A user's own images: folders of image files, `.npz` arrays, labelled folders.

* image folder: every ``.png .jpg .jpeg .bmp .webp .tif .tiff`` file directly
  inside the folder (sorted by name), all of one size and one channel count
  (grayscale → 1 channel; RGB, RGBA and palette images → 3 channels, alpha
  dropped).
* ``.npz``: one uint8 array (key ``images``, ``x``, ``samples`` or the only key),
  shaped (N, H, W), (N, C, H, W) or (N, H, W, C) with C in {1, 3}. Loaded with
  ``allow_pickle=False``.
* labelled folder (torchvision's ImageFolder layout): one sub-folder per class,
  classes sorted by name, labels their index.
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from gbench.data.base import ImageSet
from gbench.errors import GbenchError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
NPZ_KEYS = ("images", "x", "samples")


def image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def read_image(path: Path) -> np.ndarray:
    """One image file → uint8 (C, H, W), C in {1, 3}."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in SIXTEEN_BIT_MODES:
                arr = sixteen_to_eight_bits(np.asarray(im), path)[None]
            elif im.mode == "F":
                raise GbenchError(f"{path} holds floating-point pixels (mode F), whose range is unknown: save it as "
                                  "an 8- or 16-bit image")
            elif im.mode in ("L", "1"):
                arr = np.asarray(im.convert("L"))[None]
            else:
                arr = np.asarray(im.convert("RGB")).transpose(2, 0, 1)
    except Image.DecompressionBombError:
        raise GbenchError(f"image {path} has more pixels than PIL decodes safely ({2 * Image.MAX_IMAGE_PIXELS:,}, "
                          "its decompression-bomb limit): downscale it first") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise GbenchError(f"cannot read image {path}: {e}; remove or re-save the file") from None
    return np.ascontiguousarray(arr)


SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I")  # PIL's modes of 16-bit gray PNG / TIFF files


def sixteen_to_eight_bits(arr: np.ndarray, path: Path) -> np.ndarray:
    """16-bit gray levels 0..65535 → uint8 round(v / 257), the inverse of the PNG standard's bit-depth
    scaling (an 8-bit level k is stored as 257·k at 16 bits), so a 16-bit copy of an 8-bit image reads
    back exactly. Clipping at 255 instead would turn every such image nearly white. Values outside
    0..65535 (a 32-bit integer image) are refused."""
    lo, hi = int(arr.min()), int(arr.max())
    if lo < 0 or hi > 65535:
        raise GbenchError(f"{path} holds integer pixels in [{lo}, {hi}], outside 16 bits: save it as an 8- or "
                          "16-bit image")
    return np.round(arr.astype(np.float64) / 257.0).astype(np.uint8)


def load_image_folder(folder: Path | str) -> torch.Tensor:
    """All images directly inside ``folder`` → uint8 (N, C, H, W)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise GbenchError(f"image folder {folder} does not exist: pass a folder of image files")
    files = image_files(folder)
    if not files:
        raise GbenchError(f"image folder {folder} holds no image files ({', '.join(IMAGE_SUFFIXES)}): "
                          "point to the folder that contains the images")
    arrays = [read_image(p) for p in files]
    shape0 = arrays[0].shape
    for p, a in zip(files, arrays):
        if a.shape != shape0:
            raise GbenchError(f"images in {folder} have mixed sizes: {files[0].name} is {_chw(shape0)} but "
                              f"{p.name} is {_chw(a.shape)}; resize them to one size first")
    return torch.from_numpy(np.stack(arrays))


def _chw(shape) -> str:
    return "×".join(str(s) for s in shape)


def load_npz(path: Path | str) -> torch.Tensor:
    """A ``.npz`` of uint8 images → uint8 (N, C, H, W)."""
    path = Path(path)
    if not path.is_file():
        raise GbenchError(f"{path} does not exist: pass an existing .npz file")
    try:
        with np.load(path, allow_pickle=False) as z:
            keys = list(z.keys())
            key = next((k for k in NPZ_KEYS if k in keys), keys[0] if len(keys) == 1 else None)
            if key is None:
                raise GbenchError(f"{path} has arrays {keys} and none is named {' or '.join(NPZ_KEYS)}: "
                                  "save the images under the key 'images'")
            arr = z[key]
            if not isinstance(arr, np.ndarray):  # NpzFile hands back a member without the .npy header as bytes
                raise GbenchError(f"{path}: member {key!r} is not an .npy array (a raw pickle or other bytes): "
                                  "re-save the images with numpy.savez")
    except GbenchError:
        raise
    except (zipfile.BadZipFile, OSError, ValueError, EOFError, KeyError) as e:
        raise GbenchError(f"{path} is not a readable .npz file ({e}); re-save it with numpy.savez") from None
    return torch.from_numpy(np.ascontiguousarray(_to_nchw(arr, path)))


def _to_nchw(arr: np.ndarray, path: Path) -> np.ndarray:
    if arr.dtype != np.uint8:
        raise GbenchError(f"{path} holds {arr.dtype} images; save uint8 images in 0..255 "
                          "(for floats in [-1, 1]: ((x + 1) * 127.5).round().clip(0, 255).astype('uint8'))")
    if arr.ndim == 3:
        arr = arr[:, None]
    if arr.ndim != 4:
        raise GbenchError(f"{path} holds an array of shape {arr.shape}; expected (N, H, W), (N, C, H, W) or (N, H, W, C)")
    if arr.shape[0] == 0:
        raise GbenchError(f"{path} holds no images (N = 0)")
    if arr.shape[1] in (1, 3):
        return arr
    if arr.shape[3] in (1, 3):
        return arr.transpose(0, 3, 1, 2)
    raise GbenchError(f"{path} holds an array of shape {arr.shape}: no axis of size 1 or 3 for channels")


def load_labelled_folder(root: Path | str) -> ImageSet:
    """torchvision ImageFolder layout ``root/<class>/*.png`` → ImageSet with labels."""
    root = Path(root)
    if not root.is_dir():
        raise GbenchError(f"labelled image folder {root} does not exist")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir())
    if not classes:
        raise GbenchError(f"{root} has no class sub-folders: use the layout {root}/<class>/<image>.png")
    images, labels = [], []
    for k, c in enumerate(classes):
        x = load_image_folder(root / c)
        images.append(x)
        labels.append(torch.full((x.shape[0],), k, dtype=torch.int64))
    shapes = {tuple(x.shape[1:]) for x in images}
    if len(shapes) > 1:
        raise GbenchError(f"class folders under {root} have mixed image sizes {sorted(shapes)}; resize them to one size")
    return ImageSet(torch.cat(images), torch.cat(labels), tuple(classes))


def check_input_path(path: Path | str, expected: str) -> Path:
    """``path`` if it is a regular file or a folder; otherwise a GbenchError that says what it is
    instead — missing, a broken symlink or symlink loop, or a FIFO/socket/device — and what to pass
    (``expected``, e.g. "a folder of images or a .npz of uint8 images")."""
    path = Path(path)
    if path.is_file() or path.is_dir():
        return path
    if path.is_symlink():
        raise GbenchError(f"{path} is a broken symlink or a symlink loop: pass {expected}")
    if os.path.lexists(path):
        raise GbenchError(f"{path} is not a regular file or folder (a FIFO, socket or device): pass {expected}")
    raise GbenchError(f"{path} does not exist: pass {expected}")


def load_images(path: Path | str) -> torch.Tensor:
    """A folder of images or a ``.npz`` → uint8 (N, C, H, W)."""
    path = check_input_path(path, "a folder of images or a .npz of uint8 images")
    if path.is_dir():
        return load_image_folder(path)
    if path.suffix == ".npz":
        return load_npz(path)
    raise GbenchError(f"{path} is neither a folder of images nor a .npz file")


def save_image_folder(images: torch.Tensor, folder: Path | str) -> None:
    """Write uint8 (N, C, H, W) as ``000000.png`` … (lossless round trip with load_image_folder)."""
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    arr = images.cpu().numpy()
    for i, a in enumerate(arr):
        im = Image.fromarray(a[0] if a.shape[0] == 1 else a.transpose(1, 2, 0))
        im.save(folder / f"{i:06d}.png")
