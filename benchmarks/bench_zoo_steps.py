"""One training iteration of the wave-2 models that `bench_zoo_gans.py` does not time, at quick.

Run:  pytest benchmarks/bench_zoo_steps.py --benchmark-only

``bench_zoo_gans.py`` times ProGAN, StyleGAN, SAGAN and BigGAN against a hand-written loop; the
models here have no reference implementation to run, so only gbench's time is reported
(ms per iteration, no ratio): one iteration of ``zoo.train.train`` at each model's quick config
(its batch size, all its phases for that iteration: e.g. 3D-GAN's D update — skipped when D's
accuracy is above 80 % — and G update), as (T(2N steps) − T(N steps)) / N from fresh runs
(``_trainer_timing``), which cancels a run's fixed costs.

Data: seeded random inputs of the shapes the suites use — PixelCNN 1×32×32 (digits); 3D-GAN 32³
occupancy (voxels); the inpainting GAN, SPADE, StackGAN Stage-I and GAN-INT-CLS 3×64×64
(scenes), with 9-class blocky label maps for SPADE and captions of 12 token ids (vocabulary 64)
for the text models. The cost of an iteration does not depend on the values. GAN-INT-CLS and
StackGAN pre-train their caption encoder for ``text_steps`` iterations first; that phase is
switched off here (``text_steps=0``) so the iterations timed are GAN iterations. StackGAN
Stage-II needs a trained Stage-I and is not timed.

Wall time is never asserted; losses must be finite. With ``--bench-records DIR`` each time
becomes a ``performance`` record.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from _trainer_timing import trainer_iteration_seconds

from zoo.models import MODELS, with_overrides

N = 3  # timed iterations (the 2N-step run minus the N-step run)
ROUNDS = 2
NUM_IMAGES, VOCAB, LABEL_CLASSES, CAPTION_LENGTH = 64, 64, 9, 12

# name → (data shape, condition: None | "maps" | "captions", config overrides)
MODELS_TIMED = {
    "pixelcnn": ((1, 32, 32), None, {}),
    "3d-gan": ((1, 32, 32, 32), None, {}),
    "patch-inpaint": ((3, 64, 64), None, {}),
    "spade": ((3, 64, 64), "maps", {}),
    "stackgan1": ((3, 64, 64), "captions", {"text_steps": 0}),
    "gan-int-cls": ((3, 64, 64), "captions", {"text_steps": 0}),
}


def _data(shape, condition):
    """(uint8 images or occupancy volumes, conditions or None), seeded."""
    g = torch.Generator().manual_seed(0)
    if len(shape) == 4:  # volumes: occupancy 0 or 255
        images = (torch.rand(NUM_IMAGES, *shape, generator=g) < 0.2).to(torch.uint8) * 255
    else:
        images = torch.randint(0, 256, (NUM_IMAGES, *shape), dtype=torch.uint8, generator=g)
    if condition == "maps":  # 4×4 cells of one class each, upsampled: regions, as scenes' label maps
        cells = torch.randint(0, LABEL_CLASSES, (NUM_IMAGES, 1, 4, 4), generator=g).float()
        return images, F.interpolate(cells, size=shape[1:], mode="nearest")[:, 0].to(torch.uint8)
    if condition == "captions":  # word ids 1..VOCAB−1 (0 pads)
        return images, torch.randint(1, VOCAB, (NUM_IMAGES, CAPTION_LENGTH), generator=g)
    return images, None


@pytest.mark.parametrize("name", MODELS_TIMED)
def test_train_iteration(benchmark, name, tmp_path, report_ratio, bench_record):
    shape, condition, overrides = MODELS_TIMED[name]
    benchmark.group = f"{name} quick: trainer 2N-step run"
    spec = MODELS.get(name)
    classes = {"maps": LABEL_CLASSES, "captions": VOCAB}.get(condition)
    cfg = spec.make_config("quick", shape, classes)
    cfg = with_overrides(cfg, overrides) if overrides else cfg
    seconds, losses = trainer_iteration_seconds(benchmark, spec.build(cfg), cfg, _data(shape, condition),
                                                tmp_path, N, ROUNDS)
    assert losses and all(math.isfinite(v) for v in losses)
    benchmark.extra_info["seconds_per_iteration"] = seconds
    size = "×".join(map(str, shape))
    workload = f"quick, {size}, batch {cfg.train.batch_size}" + (", text_steps=0" if overrides else "")
    bench_record(f"{name} train iteration (zoo trainer)", workload, "ms_per_step", seconds * 1e3)
    report_ratio(f"{name} quick, one iteration ({workload}): {seconds * 1e3:.0f} ms (no reference)")
