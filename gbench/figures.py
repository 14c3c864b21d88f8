"""Small PNG figures for leaderboards: image grids and line plots."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch


def image_grid(images: torch.Tensor, nrow: int = 8, pad: int = 2, value: int = 255) -> np.ndarray:
    """uint8 (N, C, H, W) → one uint8 (H', W', C) mosaic with ``nrow`` images per row."""
    n, c, h, w = images.shape
    rows = (n + nrow - 1) // nrow
    grid = np.full((rows * (h + pad) + pad, nrow * (w + pad) + pad, c), value, dtype=np.uint8)
    arr = images.cpu().numpy().transpose(0, 2, 3, 1)
    for i in range(n):
        r, k = divmod(i, nrow)
        y, x = pad + r * (h + pad), pad + k * (w + pad)
        grid[y:y + h, x:x + w] = arr[i]
    return grid


def save_grid(images: torch.Tensor, path: Path | str, nrow: int = 8, title: str | None = None) -> Path:
    """Save a uint8 (N, C, H, W) batch as a PNG grid (atomically), with a title above it when given.

    Without a title the PNG holds the mosaic pixel for pixel; with one, the
    mosaic is drawn at its own resolution (matplotlib, nearest-neighbour)
    under the title.
    """
    grid = image_grid(images, nrow)
    pixels = grid[..., 0] if grid.shape[2] == 1 else grid
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # per process: concurrent runs never share one
    try:
        if title is None:
            from PIL import Image

            Image.fromarray(pixels).save(tmp, format="PNG", optimize=True)
        else:
            _titled(pixels, title, tmp)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


def _titled(pixels: np.ndarray, title: str, path: Path, dpi: int = 100) -> None:
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend

    h, w = pixels.shape[:2]
    scale = max(1.0, 480 / w)  # small grids are enlarged so that the title stays readable
    fig = Figure(figsize=(w * scale / dpi, h * scale / dpi + 0.45))
    ax = fig.add_axes((0, 0, 1, h * scale / (h * scale + 45)))
    ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=8, y=0.995, va="top", wrap=True)
    fig.savefig(path, format="png", dpi=dpi)
