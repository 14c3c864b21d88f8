"""gbench: evaluation and benchmarking for deep generative models in vision.

Public names: ``frechet_distance``, ``FrechetReference``, ``FeatureStats``,
``inception_score``, ``kid``, ``precision_recall``, ``density_coverage``,
``psnr``, ``ssim``, ``imresize``, ``mig``, ``sap``, ``dci``,
``factorvae_score``, each documented in its docstring (shapes, dtypes, the
paper it implements). Importing gbench loads no weights and touches no network.
"""

from gbench.metrics import (
    FeatureStats, FrechetReference, dci, density_coverage, factorvae_score, frechet_distance,
    imresize, inception_score, kid, mig, precision_recall, psnr, sap, ssim,
)

__version__ = "0.1.0"

__all__ = [
    "FeatureStats", "FrechetReference", "dci", "density_coverage", "factorvae_score",
    "frechet_distance", "imresize", "inception_score", "kid", "mig", "precision_recall", "psnr", "sap", "ssim",
]
