"""`voxels` rendering throughput: the separable vectorised renderer against a per-shape full-grid loop.

Run:  pytest benchmarks/bench_voxels.py --benchmark-only

Workload: 2,000 solids (``sample_params`` with seed 0, 200 per class) rendered at
32³ by ``voxels.render`` on one thread (numpy; the target is ≥ 1,000 shapes/s on
one core), the same at 64³, and the first 200 of them by a naive reference: one shape
at a time, the float64 coordinates of all S³ voxel centres turned into the solid's
frame and tested against the documented formulas of each class (no separation into
horizontal × vertical terms). The reference draws the same solids (its grids agree
on ≥ 99.99 % of voxels; the rest lie within float32 rounding of a surface), so the
ratio compares like with like.

The terminal summary prints shapes/s and reference time / gbench time per shape,
measured in the same session. Wall time is never asserted.
"""

import numpy as np
import pytest
import torch

from gbench.data import voxels as V

N, N_REFERENCE = 2000, 200
_per_shape: dict[str, float] = {}


@pytest.fixture(scope="module")
def params():
    return V.sample_params(N, np.random.default_rng(0))


def reference_solid(p: V.VoxelParams, i: int, s: int = 32) -> np.ndarray:
    """One solid the naive way: bool (s, s, s), every voxel centre tested in float64."""
    c = (np.arange(s) + 0.5) * 2 / s - 1
    X, Y, Z = np.meshgrid(c - p.center[i, 0], c - p.center[i, 1], c - p.center[i, 2], indexing="ij")
    cos, sin = np.cos(p.angle[i]), np.sin(p.angle[i])
    u, v, w = cos * X + sin * Y, cos * Y - sin * X, Z
    d = p.dims[i]
    rho = np.hypot(u, v)

    def box(hu, hv, lo, hi, cu=0.0, cv=0.0):
        return (np.abs(u - cu) <= hu) & (np.abs(v - cv) <= hv) & (w >= lo) & (w <= hi)

    def legs(a, b, leg, lo, hi):
        return np.any([box(leg, leg, lo, hi, su * a, sv * b) for su in (-1, 1) for sv in (-1, 1)], axis=0)

    name = V.CLASSES[p.labels[i]]
    if name == "cube":
        return box(d[0], d[0], -d[0], d[0])
    if name == "box":
        return box(d[0], d[1], -d[2], d[2])
    if name in ("sphere", "ellipsoid"):
        a, b, cz = (d[0], d[0], d[0]) if name == "sphere" else d[:3]
        return (u / a) ** 2 + (v / b) ** 2 + (w / cz) ** 2 <= 1
    if name == "cylinder":
        return (rho <= d[0]) & (np.abs(w) <= d[1])
    if name == "cone":
        return (np.abs(w) <= d[1] / 2) & (rho <= d[0] * (0.5 - w / d[1]))
    if name == "torus":
        return (rho - d[0]) ** 2 + w ** 2 <= d[1] ** 2
    if name == "table":
        a, b, t, leg, inset, h = d[:6]
        top = box(a, b, h / 2 - 2 * t, h / 2)
        return top | legs(a - leg - inset, b - leg - inset, leg, -h / 2, h / 2 - 2 * t)
    if name == "chair":
        a, b, t, leg, seat_h, back_h, back_t = d[:7]
        floor = -(seat_h + 2 * t + back_h) / 2
        seat_lo, seat_hi = floor + seat_h, floor + seat_h + 2 * t
        back = box(a, back_t, seat_hi, seat_hi + back_h, 0.0, -b + back_t)
        return box(a, b, seat_lo, seat_hi) | legs(a - leg, b - leg, leg, floor, seat_lo) | back
    base_r, base_t, pole_r, pole_h, r0, r1, shade_h = d[:7]
    floor = -(2 * base_t + pole_h + shade_h) / 2
    pole_top = floor + 2 * base_t + pole_h
    frac = (w - pole_top) / shade_h
    base = (rho <= base_r) & (w >= floor) & (w <= floor + 2 * base_t)
    pole = (rho <= pole_r) & (w >= floor + 2 * base_t) & (w <= pole_top)
    return base | pole | ((frac >= 0) & (frac <= 1) & (rho <= r0 + (r1 - r0) * frac))


def test_render_32_one_thread(benchmark, params, one_thread, report_ratio):
    benchmark.group = "voxels render"
    out = benchmark.pedantic(lambda: V.render(params, 32), rounds=5, iterations=1)
    assert out.shape == (N, 1, 32, 32, 32)
    _per_shape["gbench 32³"] = benchmark.stats.stats.min / N
    benchmark.extra_info["shapes_per_s"] = 1 / _per_shape["gbench 32³"]
    report_ratio(f"voxels render 32³, one thread: {1 / _per_shape['gbench 32³']:,.0f} shapes/s "
                 "(target ≥ 1,000 on one core)")
    _report(report_ratio)


def test_render_64_one_thread(benchmark, params, one_thread, report_ratio):
    benchmark.group = "voxels render"
    part = params[:500]
    benchmark.pedantic(lambda: V.render(part, 64), rounds=3, iterations=1)
    _per_shape["gbench 64³"] = benchmark.stats.stats.min / len(part)
    report_ratio(f"voxels render 64³, one thread: {1 / _per_shape['gbench 64³']:,.0f} shapes/s")


def test_reference_full_grid_loop(benchmark, params, report_ratio):
    benchmark.group = "voxels render"
    part = params[:N_REFERENCE]
    out = benchmark.pedantic(lambda: [reference_solid(part, i) for i in range(N_REFERENCE)], rounds=1, iterations=1)
    _per_shape["reference"] = benchmark.stats.stats.min / N_REFERENCE
    agree = (np.stack(out) == (V.render(part, 32)[:, 0].numpy() > 0)).mean()
    assert agree >= 0.9999, f"the reference draws other solids: grids agree on {agree:.5f} of voxels"
    report_ratio(f"voxels reference (per-shape float64 full grid, 32³): {1 / _per_shape['reference']:,.0f} shapes/s; "
                 f"grids agree with gbench on {100 * agree:.3f} % of voxels")
    _report(report_ratio)


def test_lazy_random_batches(benchmark, one_thread, report_ratio):
    benchmark.group = "voxels render"
    source = V.load("train").images
    batches = [torch.from_numpy(np.random.default_rng(b).choice(len(source), 64, replace=False)) for b in range(16)]
    benchmark.pedantic(lambda: [source[idx] for idx in batches], rounds=3, iterations=1)
    report_ratio(f"voxels lazy train source (32³), random batches of 64, one thread: "
                 f"{16 * 64 / benchmark.stats.stats.min:,.0f} shapes/s")


def _report(report_ratio):
    if "reference" in _per_shape and "gbench 32³" in _per_shape and not _per_shape.get("reported"):
        _per_shape["reported"] = 1.0
        ref, ours = _per_shape["reference"], _per_shape["gbench 32³"]
        report_ratio(f"voxels render 32³: reference {ref * 1e3:.2f} ms / gbench {ours * 1e3:.3f} ms per shape "
                     f"= {ref / ours:.1f}×")
