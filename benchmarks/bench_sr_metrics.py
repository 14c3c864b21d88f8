"""SSIM throughput: gbench.ssim on a batch vs scikit-image looped over the batch, in the same run;
and the cost of MATLAB's rounded Y (the SR tables' default) against BasicSR's float Y.

Run:  pytest benchmarks/bench_sr_metrics.py --benchmark-only -s

Reported as ratios (reference time / gbench time, > 1 means gbench is
faster; rounded-Y time / float-Y time), also stored in the benchmark's ``extra_info``. Wall time is never
asserted; equal results are. Both sides run single-threaded (scikit-image's
filters are single-threaded, and on shared cores OpenMP threads distort
PyTorch's numbers); the thread count is restored afterwards.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
import torch
from skimage.metrics import structural_similarity

from gbench.data.natural import random_patches
from gbench.metrics.sr import psnr, rgb_to_y, ssim

BATCH = (16, 3, 256, 256)


def skimage_ssim_loop(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The reference: one structural_similarity call per image, same protocol as gbench.ssim."""
    return np.array([
        structural_similarity(x, y, channel_axis=0, gaussian_weights=True, sigma=1.5,
                              use_sample_covariance=False, data_range=255)
        for x, y in zip(a, b)
    ])


def best_of(fn, rounds: int) -> float:
    times = []
    for _ in range(rounds):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


@pytest.fixture(scope="module")
def batch() -> tuple[torch.Tensor, torch.Tensor]:
    """Real photo patches and a degraded copy (×1/4 bicubic down, ×4 up: the SR baseline)."""
    from gbench.transforms.resize import imresize

    hr = random_patches("test", BATCH[0], BATCH[2], seed=0)
    return hr, imresize(imresize(hr, 0.25, exact=True), 4, exact=True)


def test_ssim_batch_vs_skimage_loop(benchmark, batch, one_thread):
    hr, sr_img = batch
    a, b = hr.numpy(), sr_img.numpy()

    ours = benchmark.pedantic(ssim, args=(hr, sr_img), rounds=5, iterations=1, warmup_rounds=1)
    reference = skimage_ssim_loop(a, b)
    np.testing.assert_allclose(ours.numpy(), reference, rtol=0, atol=1e-6)  # same float64 maths

    t_ours = benchmark.stats.stats.min
    t_ref = best_of(lambda: skimage_ssim_loop(a, b), rounds=5)
    ratio = t_ref / t_ours
    benchmark.extra_info.update(skimage_s=t_ref, gbench_s=t_ours, speedup_vs_skimage=ratio)
    print(f"\nssim {BATCH}: gbench {t_ours * 1e3:.1f} ms, skimage loop {t_ref * 1e3:.1f} ms "
          f"→ gbench is {ratio:.2f}× the speed of skimage")


def sr_scores_on_y(hr: torch.Tensor, sr_img: torch.Tensor, y_convention: str) -> tuple[torch.Tensor, torch.Tensor]:
    """PSNR-Y and SSIM-Y with the SR protocol's 4-pixel crop."""
    return (psnr(sr_img, hr, crop_border=4, y_channel=True, y_convention=y_convention),
            ssim(sr_img, hr, crop_border=4, y_channel=True, y_convention=y_convention))


def test_matlab_y_vs_float_y(benchmark, batch, one_thread):
    hr, sr_img = batch

    p, s = benchmark.pedantic(sr_scores_on_y, args=(hr, sr_img, "matlab"), rounds=5, iterations=1, warmup_rounds=1)
    # Rounded Y is integer levels: scoring them as grayscale images gives the same numbers.
    y_hr, y_sr = (rgb_to_y(x, y_convention="matlab").to(torch.uint8) for x in (hr, sr_img))
    assert torch.equal(p, psnr(y_sr, y_hr, crop_border=4)) and torch.equal(s, ssim(y_sr, y_hr, crop_border=4))
    fp, fs = sr_scores_on_y(hr, sr_img, "float")
    assert (fp > p).all() and (fs > s).all()  # rounding noise only lowers the ×4 bicubic scores here

    t_matlab = benchmark.stats.stats.min
    t_float = best_of(lambda: sr_scores_on_y(hr, sr_img, "float"), rounds=5)
    ratio = t_matlab / t_float
    benchmark.extra_info.update(matlab_y_s=t_matlab, float_y_s=t_float, matlab_over_float=ratio,
                                mean_psnr_drop_db=(fp - p).mean().item(), mean_ssim_drop=(fs - s).mean().item())
    print(f"\npsnr+ssim on Y {BATCH}: matlab (rounded) {t_matlab * 1e3:.1f} ms, float {t_float * 1e3:.1f} ms "
          f"→ ratio {ratio:.2f}; rounding lowers PSNR-Y by {(fp - p).mean().item():.4f} dB, "
          f"SSIM-Y by {(fs - s).mean().item():.5f} on average")
