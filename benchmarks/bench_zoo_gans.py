"""Zoo II GANs (progan, stylegan, sagan, biggan) at their quick configs, 3×64×64: the zoo trainer
against a hand-written PyTorch loop, and sampling.

Training: one iteration (k D updates [+ StyleGAN's lazy R1 when due], one G update, the EMA of G),
timed two ways on the same networks, losses (``model.loss``), batch size and data (256 random
uint8 images as ``x / 127.5 - 1``; BigGAN with 10 classes):

* plain: a straightforward loop written here — Adam on D's and on G's parameters (the configs'
  learning rates and betas), the other network's ``requires_grad`` off during an update,
  minibatches from a seeded permutation, the EMA as a ``lerp_`` of G's parameters (buffers
  copied). Iterations 0..N−1 warm up untimed; iterations N..2N−1 are timed;
* trainer: ``zoo.train.train`` from a fresh run directory (no sample grids, logging and the one
  checkpoint at the end only). A run has fixed costs (re-initialization, data checks, the final
  checkpoint), so the trainer's iteration time is (T(2N steps) − T(N steps)) / N: the same
  iterations N..2N−1 as the plain loop (StyleGAN's lazy R1, every 16th iteration from 0, falls
  outside both windows). The benchmark table shows T(2N); the ratio uses the difference.

ProGAN trains at its top level (``progressive=False``) in both loops. The terminal summary prints
images/s (batch size / iteration time) of both and plain time / trainer time with the trainer's
overhead (the issue's target: ≤ 10 %). Only the losses are checked (finite); wall time is never
asserted.

Sampling: 1,000 images from each (untrained) model with gbench's ``generation.sample`` (batches
of 256, eval mode, no autograd, uint8 out), images/s.

Everything runs in pedantic mode with few rounds: the file stays under ~3 minutes on 2 CPU cores.
On a machine other processes keep busy, run it with ``OMP_NUM_THREADS=1``: two OpenMP threads on
busy cores stall (~5× slower iterations); the ratios still scatter by ~±10 % there. With
``--bench-records DIR`` each iteration time (with the plain loop's as the reference) and each
sampling rate becomes a ``performance`` record.
"""

import math
from dataclasses import replace

import pytest
import torch
from _trainer_timing import trainer_iteration_seconds

from gbench.suites.generation import sample
from zoo.models import MODELS
from zoo.train import init_weights

NAMES = ("progan", "stylegan", "sagan", "biggan")
SHAPE, NUM_CLASSES, NUM_IMAGES = (3, 64, 64), 10, 256
N = 3  # timed iterations (after N warm-up ones)
ROUNDS = 2  # the minimum of two is less disturbed by other processes
N_SAMPLES = 1000

_per_iteration: dict[tuple[str, str], float] = {}


@pytest.fixture(scope="module")
def data():
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (NUM_IMAGES, *SHAPE), dtype=torch.uint8, generator=g)
    return images.float() / 127.5 - 1.0, torch.arange(NUM_IMAGES) % NUM_CLASSES


def _build(name):
    spec = MODELS.get(name)
    cfg = spec.make_config("quick", SHAPE, NUM_CLASSES if spec.conditional else None)
    if name == "progan":
        cfg = replace(cfg, progressive=False)  # the top level (64×64) from the first step, in both loops
    return spec.build(cfg), cfg


class PlainLoop:
    """The reference: a hand-written PyTorch GAN loop over the model's own networks and losses."""

    def __init__(self, model, cfg, images, labels):
        self.model, self.tc = init_weights(model, 0), cfg.train
        self.images, self.labels = images, labels if model.conditional else None
        lr_d, lr_g = (cfg.lr_d, cfg.lr_g) if getattr(cfg, "ttur", False) else (self.tc.lr, self.tc.lr)
        self.opt_d = torch.optim.Adam(model.discriminator.parameters(), lr=lr_d, betas=self.tc.betas)
        self.opt_g = torch.optim.Adam(model.generator.parameters(), lr=lr_g, betas=self.tc.betas)
        self.r1_every = cfg.r1_every if getattr(cfg, "r1_gamma", 0) > 0 else 0
        self.order = torch.randperm(len(images), generator=torch.Generator().manual_seed(0))
        self.noise = torch.Generator().manual_seed(0)
        self.batches = 0
        g = model.generator
        self.ema_params = [(p.detach().clone(), p) for p in g.parameters()]
        self.ema_buffers = [(b.detach().clone(), b) for b in g.buffers()]

    def _batch(self):
        size = self.tc.batch_size
        start = self.batches % (len(self.images) // size) * size
        self.batches += 1
        idx = self.order[start:start + size]
        return self.images[idx], None if self.labels is None else self.labels[idx]

    def _update(self, phase, net, opt):
        for m in (self.model.generator, self.model.discriminator):
            m.requires_grad_(m is net)
        opt.zero_grad(set_to_none=True)
        loss, _ = self.model.loss(phase, self._batch(), self.noise)
        loss.backward()
        opt.step()
        return loss.detach()

    def iteration(self, step):
        d, g = self.model.discriminator, self.model.generator
        losses = [self._update("d", d, self.opt_d) for _ in range(self.tc.k_d_steps)]
        if self.r1_every and step % self.r1_every == 0:
            losses.append(self._update("r1", d, self.opt_d))
        losses.append(self._update("g", g, self.opt_g))
        if self.tc.ema_decay > 0:
            with torch.no_grad():
                weight = 1.0 - self.tc.ema_decay_at(step)
                for shadow, live in self.ema_params:
                    shadow.lerp_(live, weight)
                for shadow, live in self.ema_buffers:
                    shadow.copy_(live)
        return losses


@pytest.mark.parametrize("name, loop", [(name, loop) for name in NAMES for loop in ("plain", "trainer")])
def test_train_iteration(benchmark, name, loop, data, tmp_path, report_ratio, bench_record):
    benchmark.group = f"{name} quick 3×64×64: plain N iterations / trainer 2N-step run"
    model, cfg = _build(name)
    if loop == "plain":
        plain = PlainLoop(model, cfg, *data)
        losses = [plain.iteration(step) for step in range(N)]  # warm-up: the trainer's first N iterations
        losses += benchmark.pedantic(lambda: [plain.iteration(step) for step in range(N, 2 * N)],
                                     rounds=ROUNDS, iterations=1)
        losses = [float(v) for group in losses for v in group]
        seconds = benchmark.stats.stats.min / N
    else:
        seconds, losses = trainer_iteration_seconds(benchmark, model, cfg, data, tmp_path, N, ROUNDS)
    assert losses and all(math.isfinite(v) for v in losses)
    _per_iteration[name, loop] = seconds
    benchmark.extra_info.update(seconds_per_iteration=seconds, images_per_s=cfg.train.batch_size / seconds)
    if loop == "trainer":
        _report(report_ratio, bench_record, name, cfg.train)


def _report(report_ratio, bench_record, name, tc):
    updates = f"{tc.k_d_steps} D + 1 G update{', EMA' if tc.ema_decay > 0 else ''}"
    what = f"{name} quick, one iteration (batch {tc.batch_size}, {updates})"
    zoo = _per_iteration[name, "trainer"]
    subject, workload = f"{name} train iteration (zoo trainer)", f"quick, 3×64×64, batch {tc.batch_size}, {updates}"
    if (name, "plain") not in _per_iteration:  # its benchmark was deselected
        report_ratio(f"{what}: trainer {tc.batch_size / zoo:.1f} images/s")
        bench_record(subject, workload, "ms_per_step", zoo * 1e3)
        return
    plain = _per_iteration[name, "plain"]
    bench_record(subject, workload, "ms_per_step", zoo * 1e3, reference="plain PyTorch loop (same networks, losses)",
                 reference_value=plain * 1e3)
    report_ratio(f"{what}: plain {tc.batch_size / plain:.1f} images/s, trainer {tc.batch_size / zoo:.1f} "
                 f"images/s; plain {plain:.3f} s / trainer {zoo:.3f} s = {plain / zoo:.2f}x "
                 f"(trainer overhead {zoo / plain - 1:+.1%}; target ≤ +10 %)")


@pytest.mark.parametrize("name", NAMES)
def test_sample_1000(benchmark, name, report_ratio, bench_record):
    benchmark.group = f"sample {N_SAMPLES:,} images 3×64×64"
    model, _ = _build(name)
    labels = torch.arange(N_SAMPLES) % NUM_CLASSES if model.conditional else None
    images = benchmark.pedantic(sample, args=(model, N_SAMPLES, 0, labels, "cpu"), rounds=2, iterations=1)
    assert images.shape == (N_SAMPLES, *SHAPE) and images.dtype == torch.uint8
    rate = N_SAMPLES / benchmark.stats.stats.min
    benchmark.extra_info["images_per_s"] = rate
    bench_record(f"{name} sample 1,000 (generation.sample)", "quick, untrained, 3×64×64, batches of 256, uint8",
                 "images_per_s", rate)
    report_ratio(f"{name} sample {N_SAMPLES:,} images (batches of 256, eval, no grad): {rate:,.0f} images/s")
