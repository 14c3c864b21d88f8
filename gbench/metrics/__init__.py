"""Metrics: a pure function for the maths of each, plus streaming states, and
one registered :class:`~gbench.metrics.spec.MetricSpec` per metric (importing
this package registers them all).

Generation: Fréchet distance (FID), Inception Score, KID, precision/recall,
density/coverage. Super-resolution: PSNR, SSIM, the HF energy ratio.
Disentanglement: MIG, SAP, DCI, FactorVAE score. Conditional samples on
`scenes`: caption consistency, layout mIoU, R-precision. (``imresize`` is
re-exported from :mod:`gbench.transforms`.)
"""

from gbench.metrics import fid, sharpness  # noqa: F401  (register "fid" and "hf_ratio")
from gbench.metrics import conditioned, ppl  # noqa: F401  (register the scene metrics and PPL, after the sample metrics)
from gbench.metrics import voxels  # noqa: F401  (register the voxel-shape metrics: MMD/COV/1-NNA, class TV)
from gbench.metrics import inpainting  # noqa: F401  (register the hole-aware PSNR/SSIM/L1)
from gbench.metrics.disentanglement import dci, factorvae_score, mig, sap
from gbench.metrics.frechet import FrechetReference, frechet_distance
from gbench.metrics.inception_score import inception_score
from gbench.metrics.kid import kid
from gbench.metrics.prdc import density_coverage, precision_recall
from gbench.transforms.resize import check_divisible, imresize, mod_crop  # re-exported: a public name
from gbench.metrics.sr import psnr, rgb_to_y, ssim
from gbench.metrics.stats import FeatureStats

__all__ = [
    "FeatureStats", "FrechetReference", "check_divisible", "dci", "density_coverage",
    "factorvae_score", "frechet_distance", "imresize", "inception_score", "kid", "mig", "mod_crop",
    "precision_recall", "psnr", "rgb_to_y", "sap", "ssim",
]
