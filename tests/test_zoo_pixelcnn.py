"""PixelCNN (zoo.models.pixelcnn) and its masked convolutions (zoo.layers.masked):
causality by gradients for type-A/B masks and both block kinds, the exact NLL
against a manual cross-entropy, the receptive-window fast path of the sampler
(its radius is tight, windowed logits equal the full network's, and the fast
sampler draws what a whole-image reference sampler draws), training
at smoke, seeded sampling, the binarized variant, and the C = 1 check."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F

from zoo.layers.masked import MaskedConv2d, causal_mask
from zoo.models import pixelcnn
from zoo.train import train

pytestmark = pytest.mark.usefixtures("one_thread")
SHAPE = (1, 8, 8)


def _model(**changes):
    config = dataclasses.replace(pixelcnn.make_config("smoke", SHAPE), **changes)
    torch.manual_seed(0)
    return pixelcnn.PixelCNN(config)


def _digits(n=16, seed=0, size=8):
    """uint8 digit-like images: dark background, a few bright strokes."""
    g = torch.Generator().manual_seed(seed)
    x = torch.zeros(n, 1, size, size, dtype=torch.uint8)
    strokes = torch.rand(n, 1, size, size, generator=g) > 0.7
    x[strokes] = torch.randint(128, 256, (int(strokes.sum()),), generator=g, dtype=torch.int64).to(torch.uint8)
    return x


def test_masks():
    assert causal_mask(3, "A").tolist() == [[1, 1, 1], [1, 0, 0], [0, 0, 0]]
    assert causal_mask(3, "B").tolist() == [[1, 1, 1], [1, 1, 0], [0, 0, 0]]
    with pytest.raises(ValueError):
        causal_mask(4, "A")
    with pytest.raises(ValueError):
        causal_mask(3, "C")
    conv = MaskedConv2d(1, 1, 3, "B")
    x = torch.randn(1, 1, 5, 5, requires_grad=True)
    conv(x)[0, 0, 2, 2].backward()
    seen = x.grad[0, 0] != 0
    assert not seen[2, 3] and not seen[3].any() and seen[2, 2]


@pytest.mark.parametrize("gated", [True, False])
@pytest.mark.parametrize("binarized", [False, True])
def test_causality_by_gradients(gated, binarized):
    model = _model(gated=gated, layers=3, channels=6, binarized=binarized)
    model.net[0].bias.data.zero_()
    _, h, w = SHAPE
    for i, j in [(0, 0), (0, 5), (3, 0), (4, 4), (7, 7)]:
        # binarized inputs are thresholded (no gradient): probe the network on raw ±x instead
        x = torch.randn(2, 1, h, w, requires_grad=True)
        out = model.net(x)
        out[:, :, i, j].sum().backward()
        g = x.grad.abs().sum((0, 1)).flatten()
        k = i * w + j
        assert torch.all(g[k:] == 0), (i, j)
        if k > 0:
            assert g[:k].sum() > 0, (i, j)


def test_logits_shapes_and_nll_is_cross_entropy():
    model = _model()
    x = _digits(4).float() / 127.5 - 1
    logits = model.logits(x)
    assert logits.shape == (4, 256, 1, 8, 8) and logits.dtype == torch.float32
    levels = _digits(4).long()
    assert torch.equal(model.targets(x), levels)
    manual = -torch.log_softmax(logits, dim=1).gather(1, levels.unsqueeze(1)).squeeze(1).flatten(1).sum(1)
    torch.testing.assert_close(model.nll(x), manual)
    torch.testing.assert_close(model.bits_per_dim(manual), manual.double() / (64 * math.log(2)))
    loss, logs = model.loss("nll", (x, None), None)
    torch.testing.assert_close(loss, manual.mean() / 64)
    torch.testing.assert_close(logs["bits_per_dim"], manual.mean() / (64 * math.log(2)))
    # an untrained model is close to uniform: about 8 bits/dim
    assert 6 < float(logs["bits_per_dim"]) < 10


def test_rows_below_do_not_change_rows_above():
    """The sampler's cache: running on the top r + 1 rows gives the same logits there."""
    model = _model(layers=3)
    x = torch.rand(3, 1, 8, 8) * 2 - 1
    full = model.logits(x)
    for r in (0, 3, 6):
        torch.testing.assert_close(model.logits(x[:, :, :r + 1]), full[..., :r + 1, :])


def test_receptive_radius_is_exact():
    """R = first // 2 + layers · (k // 2): the logits at (i, j) move when an input R rows up or R
    columns aside moves, and never for an input outside rows i − R … i, columns j − R … j + R."""
    model = _model(layers=2, first_kernel_size=3)  # R = 1 + 2 = 3
    r = model.receptive_radius
    assert r == 3
    x = (torch.rand(1, 1, 16, 16) * 2 - 1).requires_grad_(True)
    i, j = 10, 8
    model.logits(x)[0, :, 0, i, j].sum().backward()
    reach = x.grad[0, 0].abs() > 0
    rows, cols = reach.nonzero(as_tuple=True)
    assert rows.min() == i - r and rows.max() == i
    assert cols.min() == j - r and cols.max() == j + r


def test_windowed_logits_match_the_full_network():
    """The sampler's window (rows i − R … i, columns j ± R, clipped to the image) gives the full
    network's logits at (i, j). Tolerance 1e-5: float32 convolutions on inputs of another size
    may sum in another order (observed ≤ 1e-6)."""
    model = _model(layers=2, first_kernel_size=3)
    r = model.receptive_radius
    x = torch.rand(2, 1, 12, 12) * 2 - 1
    full = model.logits(x)
    for i, j in [(0, 0), (0, 11), (5, 0), (5, 6), (11, 11), (11, 3)]:
        top, left = max(0, i - r), max(0, j - r)
        window = model.logits(x[:, :, top:i + 1, left:min(12, j + r + 1)])
        torch.testing.assert_close(window[..., -1, j - left], full[..., i, j], atol=1e-5, rtol=1e-5)


def test_fast_sampler_draws_what_the_reference_draws():
    model = _model(layers=2, first_kernel_size=3, image_shape=(1, 12, 12)).eval()
    """The window against the definition (the whole network on the whole image for every pixel), same noise."""
    fast = model.sample(4, generator=torch.Generator().manual_seed(3))
    slow = model.sample(4, generator=torch.Generator().manual_seed(3), window=False)
    assert torch.equal(fast, slow)
    assert not torch.equal(fast, model.sample(4, generator=torch.Generator().manual_seed(4)))


def test_trains_at_smoke_and_samples(tmp_path):
    config = pixelcnn.make_config("smoke", SHAPE)
    config = dataclasses.replace(config, train=dataclasses.replace(config.train, steps=30, log_every=5,
                                                                  checkpoint_every=0))
    model = pixelcnn.SPEC.build(config)
    history = train(model, config, _digits(64), None, tmp_path, "cpu", seed=0, progress=False)
    losses = [h["nll/loss"] for h in history]
    assert history[-1]["step"] == 30 and all(math.isfinite(v) for v in losses)
    assert losses[-1] < losses[0]
    a = model.sample(5, generator=torch.Generator().manual_seed(1))
    b = model.sample(5, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    assert a.shape == (5, 1, 8, 8) and a.dtype == torch.float32 and a.min() >= -1 and a.max() <= 1
    assert torch.equal(model.targets(a).float() / 127.5 - 1, a)  # exact 8-bit levels
    assert not torch.equal(a, model.sample(5, generator=torch.Generator().manual_seed(2)))


def test_binarized_variant():
    model = _model(binarized=True)
    x = _digits(4).float() / 127.5 - 1
    logits = model.logits(x)
    assert logits.shape == (4, 1, 8, 8)
    bits = (x > 0).float()
    manual = F.binary_cross_entropy_with_logits(logits, bits, reduction="none").flatten(1).sum(1)
    torch.testing.assert_close(model.nll(x), manual)
    loss, _ = model.loss("nll", (x, None), None)
    loss.backward()
    s = model.sample(3, generator=torch.Generator().manual_seed(0))
    assert s.shape == (3, 1, 8, 8) and set(s.unique().tolist()) <= {-1.0, 1.0}


def test_refuses_colour_and_bad_kernels():
    with pytest.raises(ValueError, match="gray-level"):
        pixelcnn.make_config("smoke", (3, 8, 8))
    with pytest.raises(ValueError):
        dataclasses.replace(pixelcnn.make_config("smoke", SHAPE), kernel_size=4)
    assert pixelcnn.SPEC.family == "autoregressive" and not pixelcnn.SPEC.conditional
    assert _model().latent_dim == 0
