"""DCGAN (quick, digits 1×32×32): the zoo trainer and gbench's sampling against plain PyTorch loops.

Run:  pytest benchmarks/bench_dcgan.py --benchmark-only

Training, one iteration (one D update, one G update, batch 64, Adam lr 2e-4, β 0.5/0.999):

* gbench: ``zoo.train.train`` on the digits train split (uint8, converted per minibatch), the
  model's own loss (``GAN.loss``: softplus form of the non-saturating loss), the trainer's
  update logic (requires_grad of the other network off, Adam per phase). Its iteration time is
  (T(2N steps) − T(N steps)) / N from fresh runs (``_trainer_timing``), cancelling its fixed
  costs (initialization, data checks, the final checkpoint);
* reference: a hand-written loop over copies of the same initialized G and D — the same
  minibatches (``BatchSampler``: a minibatch is read for the G update too, as the trainer reads
  one per update though G's loss uses only its size), the same noise draws, BCE-with-logits
  (``F.binary_cross_entropy_with_logits``) for D on real/fake and the non-saturating G loss, D's
  weights without gradients during G's update (as the trainer; PyTorch's DCGAN example computes
  them and throws them away). Iterations 0..N−1 warm up untimed, N..2N−1 are timed.

Both give the same first-iteration losses (asserted to 1e-5 relative), so the ratio (plain /
trainer) compares the same work.

Sampling 1,000 images in batches of 256 from the (untrained) quick generator, uint8 out:
``gbench.suites.generation.sample`` (``model.sample``: eval mode and no autograd, then
``float_to_uint8``, which also checks for NaN) against ``G.eval()`` and a ``torch.no_grad()`` loop
of ``G(z)``, quantized as ``((x + 1) · 127.5).round().clamp(0, 255)``: the same forward passes of
the same batch size. The first batch's images must be identical (both draw its noise from a
generator seeded with the seed; gbench may seed later chunks separately).

Both run on one torch thread (shared cores make OpenMP threads stall). Wall time is never
asserted. With ``--bench-records DIR`` each result becomes a ``performance`` record.
"""

import copy
import math

import pytest
import torch
import torch.nn.functional as F
from _trainer_timing import trainer_iteration_seconds, trainer_run

from gbench.data import digits
from gbench.suites.generation import sample
from zoo.models import MODELS
from zoo.train import BatchSampler, init_weights

N = 10  # timed iterations (after N warm-up ones)
ROUNDS = 3
N_SAMPLES, SAMPLE_BATCH = 1000, 256
_seconds: dict[str, float] = {}


@pytest.fixture(scope="module")
def setup():
    images = digits.load("train").images  # uint8 (1438, 1, 32, 32)
    spec = MODELS.get("dcgan")
    cfg = spec.make_config("quick", tuple(images.shape[1:]))
    return spec.build(cfg), cfg, images


class PlainDCGAN:
    """The reference: a plain PyTorch DCGAN loop over copies of the model's initialized networks."""

    def __init__(self, model, cfg, images):
        init_weights(model, 0)  # the weights the trainer starts from with seed 0
        self.G, self.D = copy.deepcopy(model.generator), copy.deepcopy(model.discriminator)
        tc = cfg.train
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=tc.lr, betas=tc.betas)
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=tc.lr, betas=tc.betas)
        self.images, self.latent_dim, self.batch_size = images, cfg.latent_dim, tc.batch_size
        self.order = BatchSampler(len(images), tc.batch_size, seed=0)
        self.noise = torch.Generator().manual_seed(0)
        self.batches = 0

    def _batch(self):
        x = self.images[self.order(self.batches)].float() / 127.5 - 1
        self.batches += 1
        return x

    def _z(self):
        return torch.randn(self.batch_size, self.latent_dim, generator=self.noise)

    def iteration(self):
        x = self._batch()
        self.D.requires_grad_(True)
        self.opt_d.zero_grad(set_to_none=True)
        with torch.no_grad():
            fake = self.G(self._z())
        real_logits, fake_logits = self.D(x).view(-1), self.D(fake).view(-1)
        loss_d = (F.binary_cross_entropy_with_logits(real_logits, torch.ones_like(real_logits))
                  + F.binary_cross_entropy_with_logits(fake_logits, torch.zeros_like(fake_logits)))
        loss_d.backward()
        self.opt_d.step()

        self._batch()  # the trainer reads a minibatch for G's update too
        self.D.requires_grad_(False)
        self.opt_g.zero_grad(set_to_none=True)
        fake_logits = self.D(self.G(self._z())).view(-1)
        loss_g = F.binary_cross_entropy_with_logits(fake_logits, torch.ones_like(fake_logits))
        loss_g.backward()
        self.opt_g.step()
        return float(loss_d.detach()), float(loss_g.detach())


@pytest.mark.parametrize("loop", ["plain", "trainer"])
def test_train_iteration(benchmark, setup, loop, tmp_path, one_thread, report_ratio, bench_record):
    benchmark.group = "dcgan quick 1×32×32: plain N iterations / trainer 2N-step run"
    model, cfg, images = setup
    if loop == "plain":
        plain = PlainDCGAN(model, cfg, images)
        for _ in range(N):
            plain.iteration()
        losses = benchmark.pedantic(lambda: [plain.iteration() for _ in range(N)], rounds=ROUNDS, iterations=1)
        losses = [v for pair in losses for v in pair]
        seconds = benchmark.stats.stats.min / N
    else:
        # the same work: the same first-iteration losses (up to float32 rounding; softplus vs BCE)
        logged, first = trainer_run(model, cfg, (images, None), tmp_path / "one", 1), PlainDCGAN(model, cfg, images)
        assert (logged["d/loss"], logged["g/loss"]) == pytest.approx(first.iteration(), rel=1e-5)
        seconds, losses = trainer_iteration_seconds(benchmark, model, cfg, (images, None), tmp_path, N, ROUNDS)
    assert losses and all(math.isfinite(v) for v in losses)
    _seconds[loop] = seconds
    benchmark.extra_info["seconds_per_iteration"] = seconds
    if len(_seconds.keys() & {"plain", "trainer"}) == 2:
        plain, zoo = _seconds["plain"], _seconds["trainer"]
        bench_record("dcgan train iteration (zoo trainer)",
                     f"quick, digits 1×32×32, batch {cfg.train.batch_size}, 1 D + 1 G update", "ms_per_step",
                     zoo * 1e3, reference="plain PyTorch loop (same networks, BCE)", reference_value=plain * 1e3,
                     threads=1)
        report_ratio(f"dcgan quick, one iteration: plain {plain * 1e3:.1f} ms / trainer {zoo * 1e3:.1f} ms "
                     f"= {plain / zoo:.2f}x")


def plain_sample(generator, n, latent_dim, seed):
    """The reference: ``G(z)`` in batches of 256 under no_grad, eval mode, quantized to uint8."""
    g = torch.Generator().manual_seed(seed)
    generator.eval()
    out = []
    with torch.no_grad():
        for i in range(0, n, SAMPLE_BATCH):
            x = generator(torch.randn(min(SAMPLE_BATCH, n - i), latent_dim, generator=g))
            out.append(((x + 1) * 127.5).round().clamp(0, 255).to(torch.uint8))
    return torch.cat(out)


@pytest.mark.parametrize("side", ["plain", "gbench"])
def test_sample_1000(benchmark, setup, side, one_thread, report_ratio, bench_record):
    benchmark.group = f"dcgan quick: sample {N_SAMPLES:,} images, uint8"
    model, cfg, _ = setup
    init_weights(model, 0)
    if side == "plain":
        images = benchmark.pedantic(plain_sample, args=(model.generator, N_SAMPLES, cfg.latent_dim, 0),
                                    rounds=ROUNDS, iterations=1)
    else:
        images = benchmark.pedantic(sample, args=(model, N_SAMPLES, 0, None, "cpu"), rounds=ROUNDS, iterations=1)
        # the first batch's noise is a generator seeded with the seed on both sides (later batches may
        # draw from other streams: gbench seeds each chunk, so that shards draw the same images)
        first = plain_sample(model.generator, SAMPLE_BATCH, cfg.latent_dim, 0)
        assert torch.equal(images[:SAMPLE_BATCH], first)
    assert images.shape == (N_SAMPLES, 1, 32, 32) and images.dtype == torch.uint8
    _seconds[f"sample {side}"] = benchmark.stats.stats.min
    if "sample plain" in _seconds and "sample gbench" in _seconds:
        plain, ours = (N_SAMPLES / _seconds[f"sample {s}"] for s in ("plain", "gbench"))
        bench_record("dcgan sample 1,000 (generation.sample)",
                     f"quick, untrained, 1×32×32, batches of {SAMPLE_BATCH}, uint8", "images_per_s", ours,
                     reference="plain G(z) loop under no_grad", reference_value=plain, threads=1)
        report_ratio(f"dcgan sample {N_SAMPLES:,}: gbench {ours:,.0f} images/s, plain {plain:,.0f} images/s "
                     f"= {ours / plain:.2f}x")
