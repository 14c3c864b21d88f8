"""Feature extractors: one registry of named, versioned specs.

    >>> spec = EXTRACTORS.get("digits-evaluator")     # no I/O yet
    >>> ok, reason = spec.availability()               # for `gbench list`
    >>> ex = spec.load(device="cpu")                   # resolves + verifies weights
    >>> out = ex.extract(images_uint8, batch_size=64)  # {"features": (N, d), "logits": (N, K)}

Importing this package loads no weights and touches no network; the heavy
pieces (torchvision, pytorch-fid) are imported when a network is built.
"""

from gbench.features.base import Extractor, ExtractorSpec, WeightsInfo
from gbench.features.shipped import EvaluatorSpec, LoadedEvaluator
from gbench.features.weights import resolve_weights
from gbench.registry import Registry

EXTRACTORS: Registry[ExtractorSpec] = Registry("extractor")
# The domain evaluators gbench trains and ships (`gbench evaluators train`); those that
# give features for FID/KID/PR are also extractors.
EVALUATORS: Registry[EvaluatorSpec] = Registry("evaluator")


def _register_builtin() -> None:
    from gbench.features import (digits_evaluator, inception, scenes_evaluator, scenes_matcher, scenes_segmenter,
                                 voxels_evaluator)

    for module in (inception, digits_evaluator, scenes_evaluator, voxels_evaluator):
        EXTRACTORS.register(module.SPEC.name, module.SPEC)
    for module in (digits_evaluator, scenes_evaluator, scenes_segmenter, scenes_matcher, voxels_evaluator):
        EVALUATORS.register(module.EVALUATOR.name, module.EVALUATOR)


_register_builtin()

from gbench.features.digits_evaluator import train_digits_evaluator  # noqa: E402  (the CLI's `evaluators train digits`)

__all__ = ["EVALUATORS", "EXTRACTORS", "EvaluatorSpec", "Extractor", "ExtractorSpec", "LoadedEvaluator", "WeightsInfo",
           "resolve_weights", "train_digits_evaluator"]
