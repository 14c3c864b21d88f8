"""PixelCNN sampling: the receptive-window sampler against the definition.

Run:  pytest benchmarks/bench_pixelcnn.py --benchmark-only

Workload: the `quick` PixelCNN (16 channels, 4 gated blocks, receptive radius
R = 7) at 1×32×32, untrained weights from seed 0 (the cost does not depend on
the weights), 16 samples from a seeded generator on one thread. gbench runs
the network on the window of rows i − R … i and columns j ± R for pixel (i, j);
the reference runs it on the whole image for every pixel (``window=False``),
which is what the raster-order factorization means when written down
directly. Both draw the same samples (asserted), so the ratio compares like
with like. Wall time is never asserted.
"""

import pytest
import torch

from zoo.models import pixelcnn

N = 16
_seconds: dict[str, float] = {}


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return pixelcnn.PixelCNN(pixelcnn.make_config("quick", (1, 32, 32))).eval()


def _sample(model, window):
    return model.sample(N, generator=torch.Generator().manual_seed(0), window=window)


@pytest.mark.parametrize("window", [True, False], ids=["window", "whole-image"])
def test_sample(benchmark, model, one_thread, report_ratio, window):
    benchmark.group = "pixelcnn sampling"
    out = benchmark.pedantic(lambda: _sample(model, window), rounds=2 if window else 1, iterations=1)
    assert torch.equal(out, _sample(model, not window)) if not window else out.shape == (N, 1, 32, 32)
    _seconds["window" if window else "whole"] = benchmark.stats.stats.min
    if len(_seconds) == 2:
        report_ratio(f"pixelcnn quick sampling, {N} images at 32×32, one thread: window "
                     f"{_seconds['window'] / N:.3f} s/image, whole image {_seconds['whole'] / N:.3f} s/image, "
                     f"ratio {_seconds['whole'] / _seconds['window']:.1f}×")
