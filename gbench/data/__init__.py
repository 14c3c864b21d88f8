"""Datasets: one registry; every dataset yields uint8 (N, C, H, W) per split."""

from gbench.data.base import SPLITS, DatasetSpec, ImageSet
from gbench.registry import Registry

DATASETS: Registry[DatasetSpec] = Registry("dataset")


def _register_builtin() -> None:
    from gbench.data import digits, dsprites, natural, paper, paper_scenes, scenes

    for spec in (digits.SPEC, natural.SPEC, dsprites.SPEC, scenes.SPEC, *paper.SPECS, *paper_scenes.SPECS):
        DATASETS.register(spec.name, spec)


_register_builtin()

__all__ = ["DATASETS", "DatasetSpec", "ImageSet", "SPLITS"]
