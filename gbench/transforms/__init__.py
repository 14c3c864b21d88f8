"""Image transforms: uint8 (N, C, H, W) in, uint8 out.

* :mod:`gbench.transforms.resize` — MATLAB-compatible antialiased bicubic
  ``imresize`` (how SR benchmark LR images were made), ``mod_crop``;
* :mod:`gbench.transforms.corruptions` — the disturbances of Heusel et al.
  2017 (noise, blur, rectangles, swirl, salt and pepper, contamination).

Transforms are not metrics: they make the inputs that metrics score.
"""

from gbench.transforms.resize import check_divisible, imresize, mod_crop

__all__ = ["check_divisible", "imresize", "mod_crop"]
