"""Small PNG figures for leaderboards: image grids and line plots."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from gbench.records import atomic_write


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
    if title is not None:
        # Colour sample grids are illustrations (no metric reads them back): 256 colours keep a
        # grid of textured 64×64 images around 200 KB instead of 700 KB in the repository.
        return save_figure(_titled(pixels, title), path, palette=pixels.ndim == 3)

    def write(tmp: Path) -> None:
        from PIL import Image

        Image.fromarray(pixels).save(tmp, format="PNG", optimize=True)

    return atomic_write(path, write)


def save_figure(fig, path: Path | str, dpi: int = 100, palette: bool = False, **kwargs) -> Path:
    """Save a matplotlib ``Figure`` as an RGB PNG (no alpha channel), atomically; ``palette``
    reduces it to 256 colours (median cut, Floyd–Steinberg dithering) for a smaller file."""
    import io

    from PIL import Image

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=dpi, **kwargs)
    image = Image.open(buffer).convert("RGB")
    if palette:
        image = image.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    return atomic_write(path, lambda tmp: image.save(tmp, format="PNG", optimize=True))


def _titled(pixels: np.ndarray, title: str, dpi: int = 100):
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend

    h, w = pixels.shape[:2]
    scale = max(1.0, 480 / w)  # small grids are enlarged so that the title stays readable
    fig = Figure(figsize=(w * scale / dpi, h * scale / dpi + 0.45))
    ax = fig.add_axes((0, 0, 1, h * scale / (h * scale + 45)))
    ax.imshow(pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=255, interpolation="nearest")
    ax.set_axis_off()
    fig.suptitle(title, fontsize=8, y=0.995, va="top", wrap=True)
    return fig
