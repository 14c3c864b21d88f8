"""`scenes`: factor distributions, rendering against the documented geometry, label maps that agree
with the pixels, paint order, splits, the lazy source, and captions that parse back to the factors."""

import itertools
import math
import pickle
from dataclasses import replace

import numpy as np
import pytest
import torch
from matplotlib.path import Path as PolygonPath

from gbench.data import DATASETS, scenes
from gbench.data import scenes_factors as sf
from gbench.data import scenes_render
from gbench.errors import GbenchError


@pytest.fixture(scope="module")
def factors():
    return scenes.sample_factors(200, np.random.default_rng(0))


@pytest.fixture(scope="module")
def rendered(factors):
    return scenes.render(factors, 64, layers=True)


# ---------------------------------------------------------------- factors


def test_factor_distributions_follow_the_card():
    f = scenes.sample_factors(6000, np.random.default_rng(1))
    p = f.present
    assert p.dtype == bool and p.shape == (6000, 3) and p[:, 0].all() and not (p[:, 1:] & ~p[:, :-1]).any()
    for k in (1, 2, 3):
        assert abs((f.num_objects == k).mean() - 1 / 3) < 0.03
    assert set(f.shape[p]) == set(range(5)) and set(f.colour[p]) == set(range(8))
    size = f.size[p]
    small = (size >= 0.08) & (size <= 0.12)
    large = (size >= 0.15) & (size <= 0.21)
    assert (small | large).all() and abs(large.mean() - 0.5) < 0.03
    assert np.array_equal(f.large[p], large)
    assert ((f.x >= f.size) & (f.x <= 1 - f.size) & (f.y >= f.size) & (f.y <= 1 - f.size))[p].all()
    assert (np.abs(f.angle) <= math.pi / 9).all()
    # the separation rule: overlaps happen, but no two centres closer than 0.6 (r_a + r_b)
    d = np.hypot(f.x[:, :, None] - f.x[:, None, :], f.y[:, :, None] - f.y[:, None, :])
    pair = p[:, :, None] & p[:, None, :] & ~np.eye(3, dtype=bool)
    assert (d >= 0.6 * (f.size[:, :, None] + f.size[:, None, :]))[pair].all()
    assert (d < f.size[:, :, None] + f.size[:, None, :])[pair].any()  # circumscribed discs do overlap
    # colours inside their named boxes, boxes pairwise disjoint
    err = np.abs(f.rgb.astype(int) - sf.PALETTE[f.colour])
    assert (err <= sf.COLOUR_JITTER)[p].all()
    for a, b in itertools.combinations(range(8), 2):
        assert np.abs(sf.PALETTE[a] - sf.PALETTE[b]).max() > 2 * sf.COLOUR_JITTER
    # absent slots are zeros
    assert (f.size[~p] == 0).all() and (f.rgb[~p] == 0).all()
    for layout, prob in zip(range(3), sf.LAYOUT_PROBS):
        assert abs((f.layout == layout).mean() - prob) < 0.03
    regions = f.region_classes
    for slot in range(3):
        for cls in set(regions[:, slot]) - {-1}:
            lo, hi = sf.BG_BOX[cls]
            rgb = f.bg_rgb[regions[:, slot] == cls, slot]
            assert ((rgb >= lo) & (rgb <= hi)).all()
    assert (f.bg_rgb[regions == -1] == 0).all()
    assert ((f.horizon >= 0.3) & (f.horizon <= 0.55)).all() and (f.hill[f.layout != sf.LAND] == 0).all()


def test_sampling_is_deterministic_by_seed():
    a, b = (scenes.sample_factors(50, np.random.default_rng(3)) for _ in range(2))
    c = scenes.sample_factors(50, np.random.default_rng(4))
    for name in vars(a):
        assert np.array_equal(getattr(a, name), getattr(b, name))
    assert not np.array_equal(a.x, c.x)


def test_class_label_is_shape_and_colour_of_the_largest_object():
    f = scenes.split_factors("train")
    rows = np.arange(len(f))
    k = np.argmax(np.where(f.present, f.size, -1), axis=1)
    assert np.array_equal(f.labels, f.shape[rows, k] * 8 + f.colour[rows, k])
    assert scenes.CLASSES[8 * 3 + 4] == "blue star" and len(scenes.CLASSES) == 40
    counts = np.bincount(f.labels, minlength=40)
    assert counts.min() > 380 and counts.max() < 620  # 500 expected per class


# ---------------------------------------------------------------- rendering


def test_render_shapes_dtypes_and_sizes(factors):
    for size in (32, 64, 128):
        images, labels = scenes.render(factors[:8], size)
        assert images.shape == (8, 3, size, size) and images.dtype == torch.uint8
        assert labels.shape == (8, size, size) and labels.dtype == torch.uint8 and labels.max() <= 8


def test_render_is_deterministic_and_row_independent(factors, rendered, monkeypatch):
    images, labels, _ = rendered
    again = scenes.render(factors, 64)
    assert torch.equal(again[0], images) and torch.equal(again[1], labels)
    monkeypatch.setattr(scenes_render, "RENDER_PIXELS", 7 * 64 * 64)  # steps of 7 images: other neighbours
    odd = np.random.default_rng(0).permutation(len(factors))[:50]
    part = scenes.render(factors[odd], 64)
    assert torch.equal(part[0], images[odd]) and torch.equal(part[1], labels[odd])
    assert torch.equal(scenes.render(factors[5], 64)[0][0], images[5])


def reference_render(f, s):
    """The documented geometry, written plainly: float64, every pixel, polygons by matplotlib.

    Returns label maps (N, s, s), owners (N, s, s): −1 region, else the object slot on top, and
    the number of objects covering each pixel (N, s, s)."""
    c = (np.arange(s) + 0.5) / s
    X, Y = np.meshgrid(c, c)  # X varies along columns
    star = [(r * math.cos(math.pi / 2 + k * math.pi / 5), r * math.sin(math.pi / 2 + k * math.pi / 5))
            for k, r in zip(range(10), [1.0, 0.5] * 5)]
    polygons = {"square": [(-0.7, -0.7), (0.7, -0.7), (0.7, 0.7), (-0.7, 0.7)],
                "triangle": [(0, 1), (-math.sqrt(3) / 2, -0.5), (math.sqrt(3) / 2, -0.5)], "star": star}
    labels = np.empty((len(f), s, s), dtype=np.int64)
    owner = np.full((len(f), s, s), -1)
    depth = np.zeros((len(f), s, s), dtype=np.int64)
    for i in range(len(f)):
        hz = f.horizon[i] + f.tilt[i] * (X - 0.5) + f.hill[i] * np.sin(2 * np.pi * 1.3 * X + f.hill_phase[i])
        shore = (X - f.shore_x[i]) * np.cos(f.shore_angle[i]) + (Y - f.shore_y[i]) * np.sin(f.shore_angle[i]) < 0
        water = {sf.LAND: np.zeros_like(shore), sf.SEA: np.ones_like(shore), sf.SHORE: shore}[f.layout[i]]
        labels[i] = np.where(Y < hz, sf.SKY, np.where(water, sf.WATER, f.ground[i]))
        for k in np.flatnonzero(f.present[i]):
            dx, dy = (X - f.x[i, k]) / f.size[i, k], (Y - f.y[i, k]) / f.size[i, k]
            a = f.angle[i, k]
            u, v = np.cos(a) * dx - np.sin(a) * dy, -np.sin(a) * dx - np.cos(a) * dy
            shape = sf.SHAPES[f.shape[i, k]]
            if shape == "circle":
                inside = u * u + v * v <= 0.81
            elif shape == "ring":
                inside = (u * u + v * v <= 0.95**2) & (u * u + v * v >= 0.25)
            else:
                inside = PolygonPath(polygons[shape]).contains_points(np.stack([u.ravel(), v.ravel()], 1)).reshape(s, s)
            labels[i][inside] = 4 + f.shape[i, k]
            owner[i][inside] = k
            depth[i] += inside
    return labels, owner, depth


def test_label_maps_match_a_plain_rasterisation_of_the_documented_geometry(factors, rendered):
    _, labels, layers = rendered
    want, owner, depth = reference_render(factors, 64)
    assert (depth >= 2).sum() > 100  # objects overlap: the paint order is tested here too
    # float32 against float64 may differ only for pixel centres on an edge
    assert (labels.numpy() != want).mean() < 1e-4
    lay = layers.numpy().astype(int)
    assert (np.where(lay >= 3, lay - 3, -1) != owner).mean() < 1e-4  # which object is on top
    small = scenes.sample_factors(20, np.random.default_rng(9))
    for size in (32, 128):
        assert (scenes.render(small, size)[1].numpy() != reference_render(small, size)[0]).mean() < 1e-4


def test_every_region_and_object_is_visible(factors, rendered):
    _, labels, layers = rendered
    for i in range(len(factors)):
        regions = set(factors.region_classes[i][factors.region_classes[i] >= 0])
        assert regions <= set(labels[i].unique().tolist())
        for k in np.flatnonzero(factors.present[i]):
            assert (layers[i] == 3 + k).sum() > 4  # no object is hidden by the others


def test_pixels_agree_with_the_label_map(factors, rendered):
    images, labels, layers = rendered
    px = images.permute(0, 2, 3, 1).numpy().astype(int)  # (N, S, S, 3)
    lab, lay = labels.numpy(), layers.numpy().astype(int)
    rows = np.arange(len(factors))[:, None, None]
    obj = lay >= 3
    # object pixels: exactly the rgb of the object on top, which lies in its named colour's box
    slot = np.where(obj, lay - 3, 0)
    assert np.array_equal(px[obj], factors.rgb[rows, slot][obj].astype(int))
    assert np.array_equal(lab[obj], (4 + factors.shape[rows, slot])[obj])
    colour = factors.colour[rows, slot][obj]
    assert (np.abs(px[obj] - sf.PALETTE[colour]) <= sf.COLOUR_JITTER).all()
    # region pixels: base ± the class's texture amplitude, inside the class's documented range
    region = ~obj
    assert np.array_equal(lab[region], factors.region_classes[rows, np.minimum(lay, 2)][region])
    base = factors.bg_rgb[rows, np.minimum(lay, 2)].astype(int)
    for cls in range(4):
        m = region & (lab == cls)
        amp = np.array(sf.BG_AMPLITUDE[cls])
        assert (np.abs(px[m] - base[m]) <= amp).all()
        lo, hi = np.array(sf.BG_BOX[cls][0]) - amp, np.array(sf.BG_BOX[cls][1]) + amp
        assert ((px[m] >= lo) & (px[m] <= hi)).all()
        assert px[m].std(axis=0).max() > 3  # textured, not flat


def one_scene(**objects):
    """A 1-row SceneFactors: land/grass background, objects given as lists per field."""
    f = scenes.sample_factors(1, np.random.default_rng(0))
    k = len(objects["shape"])
    pad = lambda v, fill=0: np.array([list(v) + [fill] * (3 - k)])  # noqa: E731
    fields = {name: pad(objects[name]).astype(float) for name in ("size", "x", "y", "angle")}
    return replace(f, present=pad([True] * k, False).astype(bool), shape=pad(objects["shape"]),
                   colour=pad(objects["colour"]), rgb=sf.PALETTE[pad(objects["colour"])].astype(np.uint8),
                   layout=np.array([sf.LAND]), ground=np.array([sf.GRASS]), **fields)


def test_paint_order_is_slot_order_and_rings_show_what_is_behind():
    square, circle, ring = sf.SHAPES.index("square"), sf.SHAPES.index("circle"), sf.SHAPES.index("ring")
    red, blue = sf.COLOURS.index("red"), sf.COLOURS.index("blue")
    both = dict(size=[0.2, 0.1], x=[0.5, 0.5], y=[0.5, 0.5], angle=[0.0, 0.0])
    images, labels = scenes.render(one_scene(shape=[square, circle], colour=[red, blue], **both), 64)
    assert labels[0, 32, 32] == 4 + circle and tuple(images[0, :, 32, 32]) == tuple(sf.PALETTE[blue])
    assert labels[0, 32, 40] == 4 + square  # the square shows around the circle
    images, labels = scenes.render(one_scene(shape=[circle, square], colour=[blue, red],
                                             **{**both, "size": [0.1, 0.2]}), 64)
    assert labels[0, 32, 32] == 4 + square and (labels == 4 + circle).sum() == 0  # covered entirely
    # a ring on top of a square: its hole shows the square, not the background
    _, labels = scenes.render(one_scene(shape=[square, ring], colour=[red, blue], **both), 64)
    assert labels[0, 32, 32] == 4 + square and labels[0, 32, 32 + 5] == 4 + ring


def test_same_scene_at_every_size():
    f = scenes.sample_factors(20, np.random.default_rng(5))
    fractions = [np.stack([np.bincount(lab.ravel(), minlength=9) / lab.size for lab in scenes.render(f, s)[1].numpy()])
                 for s in (32, 64, 128)]  # (20, 9) class fractions per size
    assert np.abs(fractions[0] - fractions[2]).max() < 0.04 and np.abs(fractions[1] - fractions[2]).max() < 0.02


def test_bad_inputs_are_one_clear_error(factors):
    with pytest.raises(GbenchError, match="size"):
        scenes.render(factors[:2], 8)
    with pytest.raises(GbenchError, match="shape must be"):
        scenes.render(replace(factors[:2], shape=factors.shape[:2] + 7), 64)
    with pytest.raises(GbenchError, match="shape"):
        replace(factors[:2], x=factors.x[:1])
    with pytest.raises(GbenchError, match="SceneFactors"):
        scenes.render(np.zeros((2, 5)), 64)
    with pytest.raises(GbenchError, match="unknown split"):
        scenes.load_split("val")


# ---------------------------------------------------------------- splits and the lazy source


def test_splits_are_fixed_and_the_registered_dataset_renders_lazily():
    assert len(scenes.split_factors("train")) == 20_000 and len(scenes.split_factors("test")) == 5_000
    fresh = scenes.sample_factors(5_000, np.random.default_rng([scenes.SPLIT_SEED, 1]))
    assert np.array_equal(fresh.x, scenes.split_factors("test").x)
    assert not np.isin(scenes.split_factors("test").x[:, 0], scenes.split_factors("train").x[:, 0]).any()
    spec = DATASETS.get("scenes")
    assert spec.shape == (3, 64, 64) and spec.num_classes == 40 and spec.profile == "embedded"
    test = spec("test")
    from zoo.train.sampler import is_uint8_source

    src = test.images
    assert is_uint8_source(src) and isinstance(src, scenes.RenderedImages) and len(test) == 5_000
    assert src.shape == (5_000, 3, 64, 64) and test.classes == scenes.CLASSES
    want = scenes.render(scenes.split_factors("test")[:6], 64)[0]
    assert torch.equal(src[:6], want) and torch.equal(src[3], want[3]) and torch.equal(src[-5000], want[0])
    assert torch.equal(src[torch.tensor([4, 1])], want[[4, 1]]) and torch.equal(src[np.array([2])], want[[2]])
    mask = np.zeros(5_000, dtype=bool)
    mask[[0, 5]] = True
    assert torch.equal(src[mask], want[[0, 5]]) and torch.equal(src.subset([5, 0])[:], want[[5, 0]])
    assert torch.equal(pickle.loads(pickle.dumps(src))[1], want[1])
    with pytest.raises(IndexError):
        src[5_000]
    assert torch.equal(test.labels, torch.from_numpy(scenes.split_factors("test").labels))


def test_load_split_gives_everything_for_any_rows():
    part = scenes.load_split("test", 64, slice(10, 16))
    assert part.images.shape == (6, 3, 64, 64) and part.label_maps.shape == (6, 64, 64) and len(part) == 6
    assert np.array_equal(part.indices, np.arange(10, 16)) and len(part.captions) == 6
    picked = scenes.load_split("test", 64, [15, 10])
    assert torch.equal(picked.images, part.images[[5, 0]]) and picked.captions == (part.captions[5], part.captions[0])
    assert torch.equal(part.labels, torch.from_numpy(scenes.split_factors("test").labels[10:16]))
    assert scenes.load_split("test", 32, 3).images.shape == (1, 3, 32, 32)


# ---------------------------------------------------------------- captions


def matches(parsed, f, i):
    """Is there an assignment of mentions to present objects under which every mentioned attribute
    and relation is true of row i?"""
    slots = np.flatnonzero(f.present[i])
    objects = parsed["objects"]
    if len(objects) != len(slots):
        return False
    row = f[i]
    for perm in itertools.permutations(slots):
        ok = all(o["shape"] == sf.SHAPES[f.shape[i, k]] and o["colour"] == sf.COLOURS[f.colour[i, k]]
                 and o["size"] in (None, "large" if f.large[i, k] else "small") for o, k in zip(objects, perm))
        ok = ok and all(sf.relation(row, perm[a], perm[b])[0] == rel for rel, a, b in parsed["relations"])
        if ok:
            return True
    return False


def test_captions_parse_back_to_the_factors():
    f = scenes.sample_factors(400, np.random.default_rng(2))
    seen_background = 0
    for i in range(len(f)):
        text = scenes.caption(f[i], np.random.default_rng(i))
        parsed = scenes.parse_caption(text)
        assert matches(parsed, f, i), text
        assert len(parsed["relations"]) == f.num_objects[i] - 1
        if parsed["background"] is not None:
            seen_background += 1
            named = tuple(sf.BACKGROUNDS[c] for c in sorted(f.region_classes[i, 1:]) if c >= 0)
            assert parsed["background"] == named, text
    assert seen_background > 300


def test_relations_are_the_dominant_axis_of_the_centres():
    f = one_scene(shape=[0, 1], colour=[0, 1], size=[0.1, 0.1], x=[0.2, 0.8], y=[0.5, 0.6], angle=[0, 0])
    assert sf.relation(f, 0, 1)[0] == "left" and sf.relation(f, 1, 0)[0] == "right"
    f = one_scene(shape=[0, 1], colour=[0, 1], size=[0.1, 0.1], x=[0.5, 0.6], y=[0.2, 0.8], angle=[0, 0])
    assert sf.relation(f, 0, 1)[0] == "above" and sf.relation(f, 1, 0)[0] == "below"


def test_the_grammar_parses_its_examples_and_uses_every_word():
    parsed = scenes.parse_caption("a large red circle to the left of a small blue square, above green grass")
    assert parsed == {"objects": [{"size": "large", "colour": "red", "shape": "circle"},
                                  {"size": "small", "colour": "blue", "shape": "square"}],
                      "relations": [("left", 0, 1)], "background": ("grass",)}
    parsed = scenes.parse_caption("There is an orange hoop beneath a tiny violet disc, which is right of a huge "
                                  "black star, over the sea and a sandy beach")
    assert [o["shape"] for o in parsed["objects"]] == ["ring", "circle", "star"]
    assert parsed["objects"][0]["size"] is None and parsed["objects"][1]["colour"] == "purple"
    assert parsed["relations"] == [("below", 0, 1), ("right", 1, 2)] and parsed["background"] == ("sand", "water")
    # every synonym is produced by the generator (so the parser is tested on each)
    f = scenes.sample_factors(300, np.random.default_rng(4))
    words = set(" ".join(scenes.caption(f[i], np.random.default_rng(i)) for i in range(300)).split())
    from gbench.data import scenes_captions as sc

    for table in (sc.SIZE_WORDS, sc.COLOUR_WORDS, sc.SHAPE_WORDS, sc.RELATION_WORDS, sc.BACKGROUND_WORDS):
        for synonyms in table.values():
            assert {w for phrase in synonyms for w in phrase.split()} <= words


@pytest.mark.parametrize("text", ["a red circle near a blue square", "a large crimson circle", "three circles",
                                  "a red circle, above lava", "a red circle, which is above a blue star"])
def test_parse_rejects_what_the_grammar_cannot_say(text):
    with pytest.raises(GbenchError, match="cannot parse caption"):
        scenes.parse_caption(text)


def test_split_captions_are_a_function_of_split_and_index():
    a = scenes.split_captions("train", [3, 4])
    assert a == scenes.split_captions("train", [3, 4]) and a[1] == scenes.split_captions("train", [4])[0]
    assert a != scenes.split_captions("test", [3, 4])
