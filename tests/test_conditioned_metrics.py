"""Scene metrics of conditional samples: caption consistency (closed-form cases), inputs, records."""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from gbench.data.scenes import COLOURS, SHAPES, load_split, parse_caption
from gbench.data.scenes_factors import GRASS, LAND, SAND, SEA, SHORE
from gbench.errors import GbenchError
from gbench.metrics.conditioned import ConditionedInputs, MissingCondition, caption_scores, layout_miou
from gbench.metrics.spec import METRICS


def readout(objects, layout=LAND, ground=GRASS):
    """A one-image readout: objects = [(shape, colour, size, x, y), ...] (≤ 3)."""
    r = {k: np.zeros((1, 3), dtype=np.int64) for k in ("shape", "colour")}
    r.update({k: np.zeros((1, 3)) for k in ("size", "x", "y")})
    r["present"] = np.zeros((1, 3), dtype=bool)
    for k, (shape, colour, size, x, y) in enumerate(objects):
        r["present"][0, k] = True
        r["shape"][0, k], r["colour"][0, k] = SHAPES.index(shape), COLOURS.index(colour)
        r["size"][0, k], r["x"][0, k], r["y"][0, k] = size, x, y
    return SimpleNamespace(**r, layout=np.array([layout]), ground=np.array([ground]))


CAPTION = "a large red circle to the left of a small blue square, above green grass"
RED_CIRCLE = ("circle", "red", 0.18, 0.25, 0.5)
BLUE_SQUARE = ("square", "blue", 0.10, 0.75, 0.5)


@pytest.mark.parametrize("objects, layout, ground, found", [
    ([RED_CIRCLE, BLUE_SQUARE], LAND, GRASS, 8),                       # 3 + 3 attributes, 1 relation, grass
    ([BLUE_SQUARE, RED_CIRCLE], LAND, GRASS, 8),                       # detection order does not matter
    ([("circle", "red", 0.18, 0.75, 0.5), ("square", "blue", 0.10, 0.25, 0.5)], LAND, GRASS, 7),  # relation wrong
    ([("circle", "purple", 0.18, 0.25, 0.5), BLUE_SQUARE], LAND, GRASS, 7),                    # one colour wrong
    ([("circle", "red", 0.10, 0.25, 0.5), BLUE_SQUARE], LAND, GRASS, 7),                       # one size wrong
    ([BLUE_SQUARE], LAND, GRASS, 4),                                   # object missing: its 3 and the relation
    ([RED_CIRCLE, BLUE_SQUARE], SEA, GRASS, 7),                        # water instead of grass
    ([RED_CIRCLE, BLUE_SQUARE], SHORE, SAND, 7),                       # sand and water: no grass
    ([RED_CIRCLE, BLUE_SQUARE], SHORE, GRASS, 8),                      # grass (and unnamed water) is there
    ([], LAND, SAND, 0),
])
def test_caption_scores_count_each_attribute_once(objects, layout, ground, found):
    got, total = caption_scores([parse_caption(CAPTION)], readout(objects, layout, ground))
    assert (int(got[0]), int(total[0])) == (found, 8)


def test_two_mentions_never_share_one_detected_object():
    cap = parse_caption("a red circle to the left of a red circle")  # 2 + 2 attributes + 1 relation
    got, total = caption_scores([cap], readout([("circle", "red", 0.1, 0.3, 0.3)]))
    assert (int(got[0]), int(total[0])) == (2, 5)
    got, _ = caption_scores([cap], readout([("circle", "red", 0.1, 0.3, 0.3), ("circle", "red", 0.1, 0.7, 0.3)]))
    assert int(got[0]) == 5


def test_true_factors_find_every_attribute_of_their_captions():
    # The caption grammar says only true things: read with the exact factors, every attribute is found.
    scenes = load_split("test", 32, slice(0, 300))
    got, total = caption_scores([parse_caption(c) for c in scenes.captions], scenes.factors)
    assert (got == total).all() and total.min() >= 2


def test_conditioned_inputs_check_their_arguments():
    images = torch.zeros((2, 3, 64, 64), dtype=torch.uint8)
    with pytest.raises(GbenchError, match="64×64"):
        ConditionedInputs(torch.zeros((2, 3, 32, 32), dtype=torch.uint8))
    with pytest.raises(GbenchError, match="1 captions for 2 images"):
        ConditionedInputs(images, captions=["a red circle"])
    with pytest.raises(GbenchError, match="label maps of shape"):
        ConditionedInputs(images, label_maps=torch.zeros((2, 32, 32), dtype=torch.uint8))
    with pytest.raises(GbenchError, match="float"):
        ConditionedInputs(images.float())
    with pytest.raises(MissingCondition, match="layout_miou needs the label maps"):
        layout_miou(ConditionedInputs(images, captions=["a red circle"] * 2))


def test_scene_metrics_are_registered_as_conditioned():
    for name in ("caption_consistency", "layout_miou", "r_precision"):
        spec = METRICS.get(name)
        assert spec.consumes == "conditioned" and spec.higher_is_better and spec.compute is not None
        assert not spec.scoreable  # not from features: `gbench score` does not offer it


def test_layout_metrics_share_one_segmentation_and_read_the_confusion():
    """layout mIoU and pixel accuracy of one inputs: the segmenter runs once; a segmenter that
    returns the conditioning maps themselves gives 1 and 1, one that is always wrong gives 0."""
    from gbench.metrics.conditioned import layout_pixel_accuracy

    maps = torch.zeros((2, 64, 64), dtype=torch.uint8)
    maps[:, :32] = 3
    calls = []

    class Segmenter:  # stands in for the loaded scenes-segmenter through gbench.features.scenes_segmenter.segment
        pass

    def run(shift):
        inputs = ConditionedInputs(torch.zeros((2, 3, 64, 64), dtype=torch.uint8), label_maps=maps,
                                   load=lambda name: Segmenter())
        with pytest.MonkeyPatch.context() as mp:
            mp.setattr("gbench.features.scenes_segmenter.segment",
                       lambda net, images, batch_size: calls.append(1) or (maps.long() + shift) % 9)
            return layout_miou(inputs).value, layout_pixel_accuracy(inputs).value

    assert run(0) == (1.0, 1.0) and len(calls) == 1
    assert run(1) == (0.0, 0.0)
    for name in ("layout_miou", "pixel_accuracy"):
        assert METRICS.get(name).consumes == "conditioned"
