"""`scenes` rendering throughput at 64×64: the vectorised renderer against a per-image PIL loop.

Run:  pytest benchmarks/ --benchmark-only -k bench_scenes
(or name this file: ``pytest benchmarks/bench_scenes.py --benchmark-only``).

Workload: 2,048 scenes (``sample_factors`` with seed 0) rendered at 64×64 —
images and label maps — by ``scenes.render`` (torch on the CPU, whatever threads
torch has; the target is ≥ 5,000 images/s on 2 cores), and the first 256 of them by
a naive reference: one image at a time, the regions and textures from the
documented formulas in numpy, the objects drawn with ``PIL.ImageDraw`` (polygons
and ellipses), the colours looked up per layer. The reference draws the same
scenes (its label maps agree on ≥ 97 % of the pixels; PIL's edges differ), so the
ratio compares like with like. Also timed: the renderer on one thread, and random
batches of 64 from the lazy ``RenderedImages`` source, as the trainer reads them.

The terminal summary prints images/s and reference time / gbench time per image,
measured in the same session. Wall time is never asserted.
"""

import math

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from gbench.data import scenes
from gbench.data import scenes_factors as sf
from gbench.data.scenes_render import BG_AMPLITUDE, grain_tiles, texture_params

N, N_REFERENCE, SIZE = 2048, 256, 64
_per_image: dict[str, float] = {}
_reported: set[str] = set()


@pytest.fixture(scope="module")
def factors():
    return scenes.sample_factors(N, np.random.default_rng(0))


def _outline(shape: str) -> list[tuple[float, float]]:
    if shape == "square":
        return [(-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7)]
    if shape == "triangle":
        return [(0.0, 1.0), (-math.sqrt(3) / 2, -0.5), (math.sqrt(3) / 2, -0.5)]
    return [(r * math.cos(math.pi / 2 + k * math.pi / 5), r * math.sin(math.pi / 2 + k * math.pi / 5))
            for k, r in zip(range(10), [1.0, 0.5] * 5)]


def reference_scene(f: sf.SceneFactors, i: int, s: int = SIZE) -> tuple[np.ndarray, np.ndarray]:
    """One scene the naive way: uint8 (3, s, s) image and uint8 (s, s) label map."""
    c = (np.arange(s) + 0.5) / s
    X, Y = np.meshgrid(c, c)
    hz = f.horizon[i] + f.tilt[i] * (X - 0.5) + f.hill[i] * np.sin(2 * np.pi * 1.3 * X + f.hill_phase[i])
    shore = (X - f.shore_x[i]) * np.cos(f.shore_angle[i]) + (Y - f.shore_y[i]) * np.sin(f.shore_angle[i]) < 0
    water = {sf.LAND: np.zeros_like(shore), sf.SEA: np.ones_like(shore), sf.SHORE: shore}[int(f.layout[i])]
    sky = Y < hz
    layer = Image.fromarray(np.where(sky, 0, np.where(water, 2, 1)).astype(np.uint8), mode="L")
    draw = ImageDraw.Draw(layer)
    for k in np.flatnonzero(f.present[i]):
        shape, r, a = sf.SHAPES[f.shape[i, k]], f.size[i, k] * s, f.angle[i, k]
        cx, cy = f.x[i, k] * s - 0.5, f.y[i, k] * s - 0.5  # PIL puts integer coordinates at pixel centres
        if shape in ("circle", "ring"):
            outer = (0.9 if shape == "circle" else 0.95) * r
            box = [cx - outer, cy - outer, cx + outer, cy + outer]
            if shape == "circle":
                draw.ellipse(box, fill=3 + int(k))
            else:
                draw.ellipse(box, outline=3 + int(k), width=max(1, round(0.45 * r)))
        else:
            draw.polygon([(cx + r * (u * math.cos(a) - v * math.sin(a)), cy - r * (u * math.sin(a) + v * math.cos(a)))
                          for u, v in _outline(shape)], fill=3 + int(k))
    layer = np.asarray(layer)
    tp = {key: value[0] for key, value in texture_params(f.texture[i:i + 1]).items()}
    grain = grain_tiles(s)[tp["tile"]].numpy()
    nodes = tp["cloud_nodes"]
    pos = c * 4
    lo = np.minimum(np.floor(pos).astype(int), 3)
    h = (pos - lo) ** 2 * (3 - 2 * (pos - lo))  # smoothstep between the 5 nodes
    noise = [nodes[r][lo] * (1 - h) + nodes[r][lo + 1] * h for r in range(4)]
    clouds = 0.5 * (noise[0][:, None] * noise[1][None, :] + noise[2][:, None] * noise[3][None, :])
    t_sky = 1.4 * Y / hz - 0.7 + 0.3 * clouds
    wobble = tp["wobble"] * np.sin(2 * np.pi * tp["wobble_freq"] * X + tp["wobble_phase"])
    t_water = 0.6 * np.sin(2 * np.pi * tp["wave_freq"] * Y + tp["wave_phase"] + wobble) + 0.4 * grain
    if f.ground[i] == sf.GRASS:
        t_land = 0.6 * grain + 0.4 * clouds
    else:
        b = tp["ripple_angle"]
        t_land = 0.5 * np.sin(2 * np.pi * tp["ripple_freq"] * (X * np.cos(b) + Y * np.sin(b)) + tp["ripple_phase"]) \
            + 0.5 * grain
    t = np.clip(np.choose(np.minimum(layer, 2), [t_sky, t_land, t_water]), -1, 1)
    regions = f.region_classes[i]
    base = np.concatenate([f.bg_rgb[i], f.rgb[i]]).astype(np.float64)
    amp = np.zeros((6, 3))
    for slot in range(3):
        if regions[slot] >= 0:
            amp[slot] = BG_AMPLITUDE[regions[slot]]
    image = np.clip(np.floor(base[layer] + amp[layer] * t[..., None] + 0.5), 0, 255).astype(np.uint8)
    classes = np.concatenate([np.maximum(regions, 0), sf.SHAPE_CLASS_OFFSET + f.shape[i]]).astype(np.uint8)
    return image.transpose(2, 0, 1), classes[layer]


def test_render_vectorised(benchmark, factors, report_ratio):
    benchmark.group = "scenes 64×64"
    images, labels = benchmark.pedantic(lambda: scenes.render(factors, SIZE), rounds=5, iterations=1)
    assert images.shape == (N, 3, SIZE, SIZE) and labels.shape == (N, SIZE, SIZE)
    _per_image["gbench"] = benchmark.stats.stats.min / N
    benchmark.extra_info["images_per_s"] = 1 / _per_image["gbench"]
    report_ratio(f"scenes render {SIZE}×{SIZE}: {1 / _per_image['gbench']:,.0f} images/s "
                 f"(torch threads {torch.get_num_threads()}; target ≥ 5,000 on 2 cores)")
    _report(report_ratio)


def test_render_vectorised_one_thread(benchmark, factors, report_ratio):
    """The same on one core (torch.set_num_threads(1), restored after): the number that other
    processes on the machine disturb least (two OpenMP threads stall when a core is busy)."""
    benchmark.group = "scenes 64×64"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        benchmark.pedantic(lambda: scenes.render(factors, SIZE), rounds=5, iterations=1)
    finally:
        torch.set_num_threads(threads)
    _per_image["gbench, one thread"] = benchmark.stats.stats.min / N
    report_ratio(f"scenes render {SIZE}×{SIZE}, one thread: {N / benchmark.stats.stats.min:,.0f} images/s")
    _report(report_ratio)


def test_reference_pil_loop(benchmark, factors, report_ratio):
    benchmark.group = "scenes 64×64"
    part = factors[:N_REFERENCE]
    out = benchmark.pedantic(lambda: [reference_scene(part, i) for i in range(N_REFERENCE)], rounds=1, iterations=1)
    _per_image["reference"] = benchmark.stats.stats.min / N_REFERENCE
    want = np.stack([label for _, label in out])
    got = scenes.render(part, SIZE)[1].numpy()
    agree = (want == got).mean()
    assert agree >= 0.97, f"the reference draws other scenes: label maps agree on {agree:.3f} of pixels"
    report_ratio(f"scenes reference (per-image numpy + PIL): {1 / _per_image['reference']:,.0f} images/s; "
                 f"label maps agree with gbench on {100 * agree:.1f} % of pixels")
    _report(report_ratio)


def test_lazy_random_batches(benchmark, report_ratio):
    benchmark.group = "scenes 64×64"
    source = scenes.load("train").images
    batches = [torch.from_numpy(np.random.default_rng(b).choice(len(source), 64, replace=False)) for b in range(16)]
    benchmark.pedantic(lambda: [source[idx] for idx in batches], rounds=3, iterations=1)
    report_ratio(f"scenes lazy train source, random batches of 64: {16 * 64 / benchmark.stats.stats.min:,.0f} images/s")


def _report(report_ratio):
    """Once the reference and a gbench variant are both timed: reference / gbench per image."""
    if "reference" not in _per_image:
        return
    for name in ("gbench", "gbench, one thread"):
        if name in _per_image and name not in _reported:
            _reported.add(name)
            report_ratio(f"scenes render: reference {_per_image['reference'] * 1e3:.2f} ms / {name} "
                         f"{_per_image[name] * 1e3:.3f} ms per image = {_per_image['reference'] / _per_image[name]:.1f}×")
