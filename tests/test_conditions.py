"""What conditional models are conditioned on: class labels, caption tokens, label maps
(`zoo.layers.check_condition`), and `gbench.fit`'s refusal of a caption/layout model without them."""

import pytest
import torch

from gbench.data import DATASETS
from gbench.errors import GbenchError
from gbench.fit import _conditions
from zoo.layers import check_condition
from zoo.models import MODELS


def test_each_kind_accepts_its_shape_and_range():
    assert check_condition("class", torch.tensor([0, 9]), 10, n=2).shape == (2,)
    assert check_condition("tokens", torch.zeros(3, 7, dtype=torch.int64), 54, n=3).shape == (3, 7)
    maps = torch.full((2, 8, 8), 8, dtype=torch.uint8)
    assert check_condition("layout", maps, 9, n=2, size=8) is maps
    assert check_condition("layout", maps.long(), 9, size=8).dtype == torch.int64


@pytest.mark.parametrize("kind, bad, match", [
    ("tokens", torch.zeros(3, dtype=torch.int64), "int64 \\(N, L\\)"),
    ("tokens", torch.zeros(3, 7, dtype=torch.int32), "int64 \\(N, L\\)"),
    ("tokens", torch.full((3, 7), 54), "0..53"),
    ("layout", torch.zeros(2, 8, 8, dtype=torch.float32), "label maps"),
    ("layout", torch.zeros(2, 8, 4, dtype=torch.uint8), "8×8"),
    ("layout", torch.full((2, 8, 8), 9, dtype=torch.uint8), "0..8"),
    ("layout", torch.zeros(3, 8, 8, dtype=torch.uint8), "expected 2"),
    ("pixels", torch.zeros(2, 8, 8, dtype=torch.uint8), "kind"),
])
def test_bad_conditions_are_refused(kind, bad, match):
    with pytest.raises(ValueError, match=match):
        check_condition(kind, bad, 54 if kind == "tokens" else 9, n=2 if kind != "tokens" else 3, size=8)


def test_fit_passes_class_labels_and_asks_caption_and_layout_models_for_theirs():
    train = DATASETS.get("digits")("train")
    assert _conditions(MODELS.get("dcgan"), "digits", train, None, None) == (None, None)
    labels, k = _conditions(MODELS.get("cgan"), "digits", train, None, None)
    assert labels is train.labels and k == 10
    spec = MODELS.get("cgan")
    as_layout = type(spec)(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "condition": "layout"})
    with pytest.raises(GbenchError, match="must pass the training images' conditions"):
        _conditions(as_layout, "digits", train, None, None)
    with pytest.raises(GbenchError, match="conditions for"):
        _conditions(as_layout, "digits", train, torch.zeros(3, 32, 32, dtype=torch.uint8), 9)
    maps = torch.zeros(len(train), 32, 32, dtype=torch.uint8)
    assert _conditions(as_layout, "digits", train, maps, 9) == (maps, 9)
    with pytest.raises(ValueError, match="condition must be one of"):
        type(spec)(**{**{f: getattr(spec, f) for f in spec.__dataclass_fields__}, "condition": "pixels"})


def test_text_encoder_ignores_padding_and_the_matching_loss_ranks_true_pairs():
    from zoo.layers.text import TextEncoder, matching_loss, mismatched

    torch.manual_seed(0)
    enc = TextEncoder(vocab_size=20, dim=8).eval()
    tokens = torch.tensor([[3, 4, 5, 0, 0], [6, 7, 0, 0, 0]])
    longer = torch.cat([tokens, torch.zeros(2, 4, dtype=torch.int64)], dim=1)  # more padding: same embedding
    with torch.no_grad():
        torch.testing.assert_close(enc(tokens), enc(longer))
    e = torch.randn(6, 8, dtype=torch.float64)
    aligned, shuffled = matching_loss(e * 10, e * 10), matching_loss(e * 10, e.roll(1, 0) * 10)
    assert aligned < 0.05 and shuffled > 1.0  # identical pairs at τ = 0.1: near 0 (cosines of 6 random
    # 8-d vectors stay well below 1); every pair shifted: the true caption loses to a wrong one
    assert torch.equal(mismatched(tokens), tokens.flip(0))


def test_the_trainers_sample_grid_uses_the_first_training_layouts(tmp_path):
    """A layout model's grid is drawn from the first training label maps (class ids would be refused)."""
    import dataclasses

    from zoo.train import train

    spec = MODELS.get("spade")
    cfg = spec.make_config("smoke", (3, 32, 32), 9)
    cfg = dataclasses.replace(cfg, train=dataclasses.replace(cfg.train, steps=2, sample_every=2, grid_size=4))
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    maps = torch.randint(0, 9, (8, 32, 32), dtype=torch.uint8)
    train(spec.build(cfg), cfg, images, maps, tmp_path, "cpu", 0, progress=False)
    assert (tmp_path / "samples_000002.png").is_file()
