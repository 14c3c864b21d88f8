"""zoo inpainting: hole masks (centre squares, free-form strokes) and the
patch-based inpainting GAN (Demir & Ünal 2018): loss terms, the composite
``complete``, smoke training and resume."""

import math

import pytest
import torch

from zoo.layers import MASK_KINDS, center_mask, free_form_mask, make_masks
from zoo.layers.masks import FREE_FORM_TOLERANCE

pytestmark = pytest.mark.usefixtures("one_thread")


# ---------------------------------------------------------------- masks

@pytest.mark.parametrize("size,ratio", [(64, 0.25), (32, 0.1), (64, 0.5), (33, 0.3)])
def test_center_mask_is_a_centred_square_of_the_closest_area(size, ratio):
    m = center_mask(3, size, ratio)
    assert m.dtype == torch.bool and m.shape == (3, 1, size, size)
    assert torch.equal(m[0], m[2])
    rows = m[0, 0].any(1).nonzero().squeeze(1)
    cols = m[0, 0].any(0).nonzero().squeeze(1)
    side = len(rows)
    assert len(cols) == side and int(m[0].sum()) == side * side  # a filled square
    assert rows[0] == cols[0] == (size - side) // 2  # centred (the extra pixel, if any, below/right)
    # Closest square area: one pixel row more or less would be further from the target.
    target = ratio * size * size
    assert abs(side ** 2 - target) <= min(abs((side + 1) ** 2 - target), abs((side - 1) ** 2 - target))
    assert abs(side ** 2 / size ** 2 - ratio) <= (2 * side + 1) / size ** 2  # within one pixel row and column


def test_center_mask_hand_made_case():
    m = center_mask(1, 4, 0.25)[0, 0]  # 2×2 hole in the middle of a 4×4 image
    expected = torch.tensor([[0, 0, 0, 0], [0, 1, 1, 0], [0, 1, 1, 0], [0, 0, 0, 0]], dtype=torch.bool)
    assert torch.equal(m, expected)


@pytest.mark.parametrize("size,ratio", [(64, 0.1), (64, 0.4), (32, 0.25), (48, 0.6)])
def test_free_form_masks_reach_the_ratio_within_the_stated_tolerance(size, ratio):
    m = free_form_mask(40, size, ratio, torch.Generator().manual_seed(0))
    assert m.dtype == torch.bool and m.shape == (40, 1, size, size)
    holes = m.sum((1, 2, 3)).float()
    assert (holes - ratio * size * size).abs().max() <= FREE_FORM_TOLERANCE
    assert len({x.numpy().tobytes() for x in m}) == 40  # all different


def test_free_form_masks_are_strokes_not_noise():
    # Brush strokes are thick: most hole pixels have a hole neighbour on both sides in some direction.
    m = free_form_mask(20, 64, 0.3, torch.Generator().manual_seed(1))[:, 0]
    inner = m[:, 1:-1, 1:-1]
    horizontal = m[:, 1:-1, :-2] & m[:, 1:-1, 2:]
    vertical = m[:, :-2, 1:-1] & m[:, 2:, 1:-1]
    assert (inner & (horizontal | vertical)).sum() / inner.sum() > 0.8
    isolated = inner & ~m[:, :-2, 1:-1] & ~m[:, 2:, 1:-1] & ~m[:, 1:-1, :-2] & ~m[:, 1:-1, 2:]
    assert isolated.sum() == 0


def test_free_form_masks_are_seeded():
    a = free_form_mask(8, 32, 0.3, torch.Generator().manual_seed(5))
    b = free_form_mask(8, 32, 0.3, torch.Generator().manual_seed(5))
    c = free_form_mask(8, 32, 0.3, torch.Generator().manual_seed(6))
    assert torch.equal(a, b) and not torch.equal(a, c)
    g = torch.Generator().manual_seed(5)
    first, second = free_form_mask(8, 32, 0.3, g), free_form_mask(8, 32, 0.3, g)
    assert torch.equal(first, a) and not torch.equal(first, second)  # the generator advances


def test_make_masks_dispatches_and_rejects_bad_arguments():
    assert MASK_KINDS == ("center", "free")
    assert torch.equal(make_masks("center", 2, 16, 0.25), center_mask(2, 16, 0.25))
    g1, g2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    assert torch.equal(make_masks("free", 2, 16, 0.25, g1), free_form_mask(2, 16, 0.25, g2))
    with pytest.raises(ValueError, match="unknown mask kind 'square'"):
        make_masks("square", 2, 16, 0.25)
    for ratio in (0.0, 1.0, -0.1, 1.5, math.nan):
        with pytest.raises(ValueError, match=r"ratio must be a number in \(0, 1\)"):
            make_masks("free", 2, 16, ratio, torch.Generator())


# ---------------------------------------------------------------- the model

import dataclasses  # noqa: E402  (grouped with the model tests they serve)

import torch.nn.functional as F  # noqa: E402

from zoo.models import MODELS, inpaint  # noqa: E402
from zoo.models.inpaint import PatchInpaint, reconstruction_l1  # noqa: E402
from zoo.train import LOG, train  # noqa: E402
from _kill import Killed, assert_same_state, kill_after  # noqa: E402  (tests/ is on sys.path)


def _model(discriminator="both", shape=(3, 32, 32), **changes):
    config = inpaint.make_config("smoke", shape)
    config = dataclasses.replace(config, discriminator=discriminator, **changes)
    torch.manual_seed(0)
    return PatchInpaint(config)


def _images(n=6, shape=(3, 32, 32), seed=0):
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(n, shape[0], shape[1] // 4, shape[2] // 4, generator=g)  # smooth images: something to infer
    return (F.interpolate(x, size=shape[1:], mode="bilinear") * 2 - 1).clamp(-1, 1)


def test_networks_shapes_and_the_shared_discriminator_trunk():
    for c, size in [(1, 32), (3, 64), (3, 40)]:
        model = _model(shape=(c, size, size))
        x, mask = _images(2, (c, size, size)), center_mask(2, size, 0.25)
        out, completed = model.fill(x, mask)
        assert out.shape == (2, c, size, size) and out.abs().max() <= 1.0
        global_logits, patch_logits = model.discriminator(completed)
        assert global_logits.shape == (2,) and patch_logits.shape == (2, size // 8 - 2, size // 8 - 2)
    ablation = _model("global")
    assert ablation.discriminator.patch is None
    logits, patch = ablation.discriminator(_images(2))
    assert logits.shape == (2,) and patch is None
    # Both heads read the same trunk: its parameters get gradients from each head alone.
    both = _model("both")
    for head in (0, 1):
        both.zero_grad()
        both.discriminator(_images(2))[head].sum().backward()
        assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in both.discriminator.trunk.parameters())
    assert both.generator.encoder[0].in_channels == 3 + 1  # masked image + mask channel


def test_config_rejects_bad_settings():
    with pytest.raises(ValueError, match="multiple of 8"):
        inpaint.make_config("smoke", (3, 36, 36))
    with pytest.raises(ValueError, match="at least 32"):
        inpaint.make_config("smoke", (3, 16, 16))
    config = inpaint.make_config("smoke", (3, 32, 32))
    for changes, message in [({"discriminator": "patch"}, "discriminator"),
                             ({"mask_ratios": (0.5, 0.2)}, "mask_ratios"),
                             ({"mask_kinds": ("square",)}, "mask_kinds"), ({"l1_region": "edge"}, "l1_region"),
                             ({"loss": "lsgan"}, "unknown GAN loss"), ({"edge_kernel": 4}, "odd")]:
        with pytest.raises(ValueError, match=message):
            dataclasses.replace(config, **changes)


def test_l1_term_is_averaged_over_the_whole_image_by_default():
    # Hand-made: a 2×2 one-channel image whose top-left pixel is the hole.
    output = torch.zeros(1, 1, 2, 2)
    target = torch.tensor([[[[0.5, 1.0], [0.0, 0.25]]]])
    mask = torch.tensor([[[[True, False], [False, False]]]])
    assert reconstruction_l1(output, target, mask, "image").item() == pytest.approx((0.5 + 1.0 + 0.0 + 0.25) / 4)
    assert reconstruction_l1(output, target, mask, "hole").item() == pytest.approx(0.5)
    assert inpaint.make_config("full", (3, 256, 256)).l1_region == "image"


def _fixed_masks(model, mask):
    model.training_masks = lambda n, generator: mask[:n]


@pytest.mark.parametrize("discriminator", ["both", "global"])
def test_generator_loss_is_the_weighted_sum_of_its_terms(discriminator):
    model = _model(discriminator)
    x = _images(4)
    mask = free_form_mask(4, 32, 0.3, torch.Generator().manual_seed(2))
    _fixed_masks(model, mask)
    loss, logs = model.loss("g", (x, None), torch.Generator().manual_seed(0))

    # Independent recomputation from the networks (batch norm in train mode: batch statistics, as in loss).
    cfg = model.config
    out = model.generator(x * (~mask).float(), mask.float())
    completed = mask * out + (~mask) * x
    l1 = (out - x).abs().mean()  # the whole image (the paper's reconstruction loss)
    trunk = model.discriminator.trunk(completed)
    adv_global = F.softplus(-model.discriminator.global_head(trunk)).mean()  # −log D(x̂), non-saturating
    expected = cfg.l1_weight * l1 + cfg.global_weight * adv_global
    assert (cfg.l1_weight, cfg.global_weight, cfg.patch_weight) == (0.995, 0.0025, 0.0025)
    if discriminator == "global":
        assert "adv_patch" not in logs
    else:
        adv_patch = F.softplus(-model.discriminator.patch(trunk)).mean()  # averaged over patches
        expected = expected + cfg.patch_weight * adv_patch
        torch.testing.assert_close(logs["adv_patch"], adv_patch.detach())
    torch.testing.assert_close(logs["l1"], l1.detach())
    torch.testing.assert_close(logs["adv_global"], adv_global.detach())
    torch.testing.assert_close(loss, expected)  # float32 sums: default tolerance (1.3e-6 relative)


def test_discriminator_loss_sums_the_heads_binary_cross_entropies():
    model = _model("both")
    x = _images(4)
    mask = center_mask(4, 32, 0.25)
    _fixed_masks(model, mask)
    loss, _ = model.loss("d", (x, None), torch.Generator().manual_seed(0))
    with torch.no_grad():
        fake = torch.where(mask, model.generator(x.masked_fill(mask, 0.0), mask.float()), x)
    (rg, rp), (fg, fp) = model.discriminator(x), model.discriminator(fake)
    bce = F.binary_cross_entropy_with_logits
    expected = (bce(rg, torch.ones_like(rg)) + bce(fg, torch.zeros_like(fg))
                + bce(rp, torch.ones_like(rp)) + bce(fp, torch.zeros_like(fp)))
    torch.testing.assert_close(loss, expected)


def test_training_masks_come_from_the_noise_generator():
    model = _model()
    a = model.training_masks(5, torch.Generator().manual_seed(3))
    b = model.training_masks(5, torch.Generator().manual_seed(3))
    assert torch.equal(a, b) and a.dtype == torch.bool and a.shape == (5, 1, 32, 32)
    low, high = model.config.mask_ratios
    ratios = [model.training_masks(2, torch.Generator().manual_seed(s)).float().mean().item() for s in range(12)]
    assert all(low - 1 / 32 <= r <= high + 1 / 32 for r in ratios)  # centre squares: within one pixel row
    assert len(set(ratios)) > 6


def test_complete_keeps_the_known_pixels_exactly_and_fills_the_hole():
    model = _model().train()
    x = _images(5)
    mask = free_form_mask(5, 32, 0.3, torch.Generator().manual_seed(1))
    y = model.complete(x, mask, batch_size=2)
    assert y.dtype == torch.float32 and y.shape == x.shape and y.abs().max() <= 1.0
    known = (~mask).expand_as(x)
    assert torch.equal(y[known], x[known])
    assert not torch.equal(y[~known], x[~known])
    assert model.training and not y.requires_grad  # eval mode inside, training mode restored
    # The hole's content depends only on the known pixels, and not on how the input is batched.
    noisy = torch.where(mask, torch.rand_like(x), x)
    torch.testing.assert_close(model.complete(noisy, mask, batch_size=5), y)
    with pytest.raises(ValueError, match="mask must be bool"):
        model.complete(x, mask.float())
    with pytest.raises(ValueError, match="x must be float"):
        model.complete(x[:, :1], mask)
    with pytest.raises(NotImplementedError, match="complete"):
        model.sample(2)
    with pytest.raises(NotImplementedError, match="complete"):
        model.generate(torch.zeros(2, 1))


def test_registered_and_trains_at_smoke_then_resumes_to_identical_weights(tmp_path):
    spec = MODELS.get("patch-inpaint")
    assert spec.family == "inpainting" and not spec.conditional
    assert all(p["train"].sample_every == 0 for p in spec.presets.values())
    config = dataclasses.replace(spec.make_config("smoke", (3, 32, 32)), train=dataclasses.replace(
        spec.make_config("smoke", (3, 32, 32)).train, steps=3, checkpoint_every=2))
    images = ((_images(12) + 1) * 127.5).round().to(torch.uint8)

    straight = spec.build(config)
    history = train(straight, config, images, None, tmp_path / "a", "cpu", seed=1, progress=False)
    assert [h["step"] for h in history] == [1, 2, 3]
    assert {"d/loss", "g/loss", "g/l1", "g/adv_global", "g/adv_patch", "g/hole_ratio"} <= set(history[-1])

    victim = spec.build(config)
    kill_after(victim, calls=2 * 2 + 2)  # dies in the G update of iteration 3, after the checkpoint at 2
    with pytest.raises(Killed):
        train(victim, config, images, None, tmp_path / "b", "cpu", seed=1, progress=False)
    resumed = spec.build(config)
    assert train(resumed, config, images, None, tmp_path / "b", "cpu", seed=1, progress=False) == history
    assert (tmp_path / "b" / LOG).read_text() == (tmp_path / "a" / LOG).read_text()
    assert_same_state(straight, resumed)
