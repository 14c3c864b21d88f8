"""Datasets: one registry; every dataset yields uint8 (N, C, H, W) per split ((N, C, D, H, W) for voxels)."""

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.registry import Registry

DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _register_builtin() -> None:
    from gbench.data import digits, dsprites, natural, paper, paper_scenes, paper_voxels, scenes, voxels

    for spec in (digits.SPEC, natural.SPEC, dsprites.SPEC, scenes.SPEC, *voxels.SPECS, *paper.SPECS,
                 *paper_scenes.SPECS, *paper_voxels.SPECS):
        DATASETS.register(spec.name, spec)


_register_builtin()

__all__ = ["DATASETS", "DatasetSpec", "ImageSet", "SPLITS"]
