"""The GPU path (issue 16, item 3): TF32 + channels-last extraction within its documented
tolerance, bf16 autocast training, pinned asynchronous batches. Skipped without CUDA (CI has
none); the CPU-side checks of the same options always run."""

import pytest
import torch

from gbench.errors import GbenchError

cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")


def test_cuda_only_options_are_refused_on_the_cpu():
    from gbench.features import EXTRACTORS

    for option in ("channels_last", "tf32"):
        with pytest.raises(GbenchError, match=f"{option} is a CUDA-only option"):
            EXTRACTORS.get("digits-evaluator").load("cpu", **{option: True})


def test_tf32_flags_are_restored_after_extraction():
    from gbench.features.base import _tf32

    before = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    with _tf32(True):
        assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    assert (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) == before


@cuda
def test_tf32_channels_last_features_within_tolerance():
    """Features of the fast CUDA path against float32 on the CPU: TF32 rounds the inputs of each
    product to a 10-bit mantissa (~5e-4 relative), accumulated in float32 over a few hundred
    terms per layer; bound: 1e-2 of the features' scale, FID within 1 % (see Extractor)."""
    from gbench.data import DATASETS
    from gbench.features import EXTRACTORS
    from gbench.metrics import FeatureStats, frechet_distance

    spec = EXTRACTORS.get("digits-evaluator")
    test, train = DATASETS.get("digits")("test").images, DATASETS.get("digits")("train").images[:359]
    cpu = spec.load("cpu")
    fast = spec.load("cuda", channels_last=True, tf32=True)
    a, b = cpu.features(test), fast.features(test)
    scale = a.std().item()
    assert (a - b).abs().max().item() <= 1e-2 * scale
    fid = {name: frechet_distance(*FeatureStats().update(ext.features(test)).compute(),
                                  *FeatureStats().update(ext.features(train)).compute())
           for name, ext in (("cpu", cpu), ("cuda", fast))}
    assert fid["cuda"] == pytest.approx(fid["cpu"], rel=1e-2)


@cuda
def test_bf16_autocast_training_and_pinned_batches():
    from zoo.models import MODELS
    from zoo.train import train
    from zoo.train.sampler import BatchSampler, Minibatches

    images = torch.randint(0, 256, (64, 1, 32, 32), dtype=torch.uint8)
    sampler = BatchSampler(64, 16, seed=0)
    with Minibatches(images, None, sampler, "cuda") as on_gpu, Minibatches(images, None, sampler, "cpu") as on_cpu:
        assert torch.equal(on_gpu(3)[0].cpu(), on_cpu(3)[0])  # pinned, asynchronous: the same values
    spec = MODELS.get("dcgan")
    config = spec.make_config("smoke", (1, 32, 32), None)
    assert config.train.amp == "bf16"
    model = spec.build(config)
    import tempfile

    with tempfile.TemporaryDirectory() as run_dir:
        history = train(model, config, images, None, run_dir, "cuda", seed=0, progress=False)
    assert history and all(torch.isfinite(torch.tensor(v)) for e in history for v in e.values())
