"""Small PNG figures for leaderboards: image grids and line plots."""

from __future__ import annotations

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


def save_grid(images: torch.Tensor, path: Path | str, nrow: int = 8) -> Path:
    """Save a uint8 (N, C, H, W) batch as a PNG grid (atomically)."""
    import os

    from PIL import Image

    grid = image_grid(images, nrow)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp")
    Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid).save(tmp, format="PNG", optimize=True)
    os.replace(tmp, path)
    return path
