"""Feature extraction: gbench's `inception-v3-fid` extractor against pytorch-fid's InceptionV3.

Both run the same seeded random weights (no ImageNet file is needed) on the
same 8 uint8 images of 64×64, in the same session; the terminal summary prints
pytorch-fid time / gbench time. pytorch-fid gets the images as its data loader
would (float in [0, 1]); gbench gets the uint8 batch and does its own scaling.
Features must agree to 1e-5 relative; wall time is never asserted. The digits
evaluator's throughput on the 359-image digits test split is timed too. With
``--bench-records DIR`` both become ``performance`` records (images/s).
"""

import pytest
import torch

from gbench.data import digits
from gbench.features import EXTRACTORS, Extractor
from gbench.features.inception import SPEC, FIDInception

N_IMAGES = 8
_timings: dict[str, float] = {}
_features: dict[str, torch.Tensor] = {}


@pytest.fixture(scope="module")
def setup(monkeypatch_module):
    import pytorch_fid.inception as pf

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        net = FIDInception().eval()
        images = torch.randint(0, 256, (N_IMAGES, 3, 64, 64), dtype=torch.uint8)
    state = net.net.state_dict()
    # pytorch-fid downloads its weights unconditionally; give it ours.
    monkeypatch_module.setattr(pf, "load_state_dict_from_url", lambda *a, **k: state)
    ref = pf.InceptionV3([3]).eval()
    return Extractor(SPEC, net, weights_sha256=None, verified=False), ref, images


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def _run(benchmark, name, fn):
    out = benchmark.pedantic(fn, rounds=2, iterations=1)
    _timings[name] = benchmark.stats.stats.min
    _features[name] = out
    return out


def test_pytorch_fid_inception(benchmark, setup):
    benchmark.group = "inception pool3, 8 images"
    _, ref, images = setup

    def forward():
        with torch.no_grad():
            return ref(images.float() / 255)[0].flatten(1)

    _run(benchmark, "pytorch-fid", forward)


def test_gbench_inception(benchmark, setup, report_ratio, bench_record):
    benchmark.group = "inception pool3, 8 images"
    ex, _, images = setup
    ours = _run(benchmark, "gbench", lambda: ex.features(images, batch_size=N_IMAGES))
    if "pytorch-fid" in _features:
        ref = _features["pytorch-fid"]
        assert float((ours - ref).abs().max() / ref.abs().max()) < 1e-5
        report_ratio(f"inception-v3-fid features, {N_IMAGES} images: "
                     f"{_timings['pytorch-fid'] / _timings['gbench']:.2f}× pytorch-fid's speed")
        bench_record("inception-v3-fid features (gbench extractor)",
                     f"{N_IMAGES} uint8 images 3×64×64, one batch, the same seeded weights", "images_per_s",
                     N_IMAGES / _timings["gbench"], reference="pytorch-fid InceptionV3 (pool3)",
                     reference_value=N_IMAGES / _timings["pytorch-fid"])


def test_digits_evaluator(benchmark, report_ratio, bench_record):
    benchmark.group = "digits evaluator, 359 images"
    ex = EXTRACTORS.get("digits-evaluator").load()
    images = digits.load("test").images
    benchmark.pedantic(lambda: ex.extract(images, batch_size=128), rounds=3, iterations=1)
    rate = len(images) / benchmark.stats.stats.min
    report_ratio(f"digits-evaluator: {rate:.0f} images/s (no reference)")
    bench_record("digits-evaluator features", f"digits test split, {len(images)} images 1×32×32, batches of 128",
                 "images_per_s", rate)
