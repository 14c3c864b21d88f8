"""The `sr` suite's comparison figure: the same detailed crop of each test image,
one column per method (bicubic | SRResNet | SRGAN | HR), one row per image.

Each method's crops are saved as a strip under the run's work folder as soon
as the method is scored, and the figure is composed from the strips found
there, so runs that score the methods separately (``--models srgan``) still
give the full figure. Grayscale crops are shown as gray RGB tiles.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gbench.data.folder import read_image
from gbench.images import to_rgb
from gbench.records import atomic_write
from gbench.metrics.sr import rgb_to_y

FIGURE_CROP = 128         # HR pixels per side of each comparison tile
FIGURE_IMAGES = 3         # test images shown per set
COLUMN_TITLES = {"bicubic": "bicubic", "srresnet": "SRResNet", "srgan": "SRGAN"}
GRID = 16                 # crop windows start on this grid (keeps the search cheap)


def detail_crop_box(hr: torch.Tensor, size: int) -> tuple[int, int, int]:
    """(top, left, side) of the size×size window (on a 16-pixel grid) with the most luma gradient energy.

    ``hr`` is uint8 (1, C, H, W), C in {1, 3}; ``side`` is ``size`` or the image's shorter side if smaller.
    """
    side = min(size, hr.shape[2], hr.shape[3])
    y = (rgb_to_y(hr) if hr.shape[1] == 3 else hr.double())[0, 0]
    g = (y[1:, :-1] - y[:-1, :-1]).square() + (y[:-1, 1:] - y[:-1, :-1]).square()
    best, box = -1.0, (0, 0, side)
    for top in range(0, g.shape[0] - side + 2, GRID):
        for left in range(0, g.shape[1] - side + 2, GRID):
            e = g[top:top + side, left:left + side].sum().item()
            if e > best:
                best, box = e, (top, left, side)
    return box


def _boxes(hrs: list[torch.Tensor]) -> tuple[list[tuple[int, int, int]], int]:
    """The crop boxes of the shown images and their common side."""
    boxes = [detail_crop_box(hr, FIGURE_CROP) for hr in hrs[:FIGURE_IMAGES]]
    return boxes, min(b[2] for b in boxes)


def _tiles(images: list[torch.Tensor], boxes, side: int) -> torch.Tensor:
    """uint8 (K, 3, side, side): the boxed crop of each image, gray as gray RGB."""
    return torch.stack([to_rgb(x)[0, :, t:t + side, l:l + side] for x, (t, l, _) in zip(images, boxes)])


def crops_path(work_dir: Path, model: str) -> Path:
    return work_dir / "crops" / f"{model}.png"


def save_crops(work_dir: Path, model: str, hrs: list[torch.Tensor], srs: list[torch.Tensor]) -> None:
    """Save ``model``'s crops of the shown images as one vertical strip, uint8 RGB (K·side, side) (atomically)."""
    from PIL import Image

    boxes, side = _boxes(hrs)
    strip = _tiles(srs, boxes, side).permute(1, 0, 2, 3).reshape(3, -1, side)
    atomic_write(crops_path(work_dir, model), lambda tmp: Image.fromarray(strip.permute(1, 2, 0).numpy()).save(tmp, "PNG"))


def save_figure(path: Path, work_dir: Path, models: tuple[str, ...], hrs: list[torch.Tensor]) -> list[str]:
    """Compose the comparison PNG at ``path`` from the strips saved so far (by this or an earlier run).

    Columns are ``models`` in order (those with a strip of the right size)
    and then HR, each titled; rows are the first ``FIGURE_IMAGES`` test images.
    Returns the column titles.
    """
    boxes, side = _boxes(hrs)
    rows = len(boxes)
    columns, titles = [], []
    for model in models:
        p = crops_path(work_dir, model)
        strip = torch.tensor(read_image(p)) if p.is_file() else None
        if strip is not None and tuple(strip.shape) == (3, rows * side, side):  # a stale strip is left out
            columns.append(strip.view(3, rows, side, side).permute(1, 0, 2, 3))
            titles.append(COLUMN_TITLES.get(model, model))
    columns.append(_tiles(hrs, boxes, side))
    titles.append("HR")
    atomic_write(path, lambda tmp: _draw(columns, titles, tmp))
    return titles


def _draw(columns: list[torch.Tensor], titles: list[str], path: Path, dpi: int = 100) -> None:
    """A rows × columns grid of tiles, each drawn pixel for pixel (small tiles enlarged by a whole
    factor, so that the titles fit), with a title above each column."""
    from matplotlib.figure import Figure  # the object API: no pyplot state, no GUI backend

    rows, side = columns[0].shape[0], columns[0].shape[2]
    px = side * max(1, -(-96 // side))  # tile side in figure pixels
    pad, head = 4, 24                   # pixels between tiles; pixels for the titles
    w, h = len(columns) * (px + pad) + pad, head + rows * (px + pad)
    fig = Figure(figsize=(w / dpi, h / dpi), dpi=dpi)
    for j, (column, title) in enumerate(zip(columns, titles)):
        for i in range(rows):
            left, top = pad + j * (px + pad), head + i * (px + pad)
            ax = fig.add_axes((left / w, 1 - (top + px) / h, px / w, px / h))
            ax.imshow(column[i].permute(1, 2, 0).numpy(), interpolation="nearest")
            ax.set_axis_off()
            if i == 0:
                ax.set_title(title, fontsize=10, pad=4)
    fig.savefig(path, format="png", dpi=dpi, metadata={"Software": None})


def comparison_section(records, models: tuple[str, ...]) -> list[str]:
    """Leaderboard lines embedding each comparison figure linked from ``records``."""
    out = []
    for path in sorted({r.artifacts["comparison"] for r in records if "comparison" in r.artifacts}):
        present = {r.model for r in records if r.artifacts.get("comparison") == path}
        columns = " | ".join([m for m in models if m in present] + ["HR"])
        out += [f"Comparison (the most detailed {FIGURE_CROP}×{FIGURE_CROP} HR crop of each image; "
                f"columns {columns}):", "", f"![{columns}]({path})", ""]
    return out


__all__ = ["FIGURE_CROP", "FIGURE_IMAGES", "detail_crop_box", "save_crops", "save_figure", "comparison_section"]
