"""zoo super-resolution: the shared residual / sub-pixel layers, SRResNet and
SRGAN networks (Ledig et al. 2017, Fig. 4), the VGG content loss, the
training degradation, SRGAN's initialisation from SRResNet, smoke training."""

import dataclasses

import pytest
import torch
from torch import nn
from torchvision.models.vgg import cfgs, make_layers

from zoo.layers.residual import ResidualBlock
from zoo.layers.upsample import SubPixelUpsample, upsampler
from zoo.losses.perceptual import VGG19_LAYERS, VGGContentLoss, vgg19_features
from zoo.models import srgan, srresnet
from zoo.models.srgan import SRGANDiscriminator, state_digest
from zoo.models.srresnet import SRResNetGenerator, bicubic_downsample
from zoo.train import train


pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def random_vgg19_state():
    """A torchvision-layout VGG-19 state dict with random weights (no ImageNet file needed)."""
    torch.manual_seed(0)
    return {f"features.{k}": v for k, v in make_layers(cfgs["E"]).state_dict().items()}


def _hr_patches(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    # smooth random images, so that downsampling and SR are meaningful
    x = torch.rand(n, 3, size // 4, size // 4, generator=g)
    return (torch.nn.functional.interpolate(x, size=(size, size), mode="bilinear") * 2 - 1).clamp(-1, 1)


def test_paper_generator_architecture():
    config = srresnet.make_config("full")
    assert (config.num_blocks, config.channels, config.image_shape, config.scale) == (16, 64, (3, 96, 96), 4)
    assert config.train.lr == 1e-4 and config.train.steps == 10 ** 6 and config.train.batch_size == 16
    g = SRResNetGenerator(3, 4, config.num_blocks, config.channels)
    assert sum(isinstance(m, ResidualBlock) for m in g.modules()) == 16
    shuffles = [m for m in g.modules() if isinstance(m, nn.PixelShuffle)]
    assert [s.upscale_factor for s in shuffles] == [2, 2]
    assert sum(isinstance(m, nn.PReLU) for m in g.modules()) == 1 + 16 + 2  # head, one per block, one per upsampler
    assert sum(isinstance(m, nn.BatchNorm2d) for m in g.modules()) == 2 * 16 + 1
    assert g.head[0].kernel_size == (9, 9) and g.tail.kernel_size == (9, 9)
    lr = torch.randn(2, 3, 6, 5)
    assert g(lr).shape == (2, 3, 24, 20)  # ×4, any LR size (fully convolutional)


def test_generator_long_skip_and_blocks_are_residual():
    block = ResidualBlock(4).eval()
    nn.init.zeros_(block.body[-1].weight)  # last BN scale 0: the residual branch is silenced
    x = torch.randn(2, 4, 5, 5)
    torch.testing.assert_close(block(x), x)
    with pytest.raises(ValueError, match="odd"):
        ResidualBlock(4, kernel_size=2)
    with pytest.raises(ValueError, match="expects"):
        block(torch.randn(2, 3, 5, 5))
    plain = ResidualBlock(4, batch_norm=False)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())


def test_subpixel_upsampler():
    up = SubPixelUpsample(8, factor=2)
    assert up.conv.out_channels == 32 and up(torch.randn(1, 8, 3, 4)).shape == (1, 8, 6, 8)
    assert len(upsampler(8, 4)) == 2 and len(upsampler(8, 8)) == 3
    with pytest.raises(ValueError, match="power of two"):
        upsampler(8, 3)


def test_discriminator_matches_the_paper_and_returns_one_logit_per_image():
    d = SRGANDiscriminator((3, 96, 96), width=64, hidden=1024)
    convs = [m for m in d.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [64, 64, 128, 128, 256, 256, 512, 512]
    assert [c.stride[0] for c in convs] == [1, 2, 1, 2, 1, 2, 1, 2]
    assert sum(isinstance(m, nn.BatchNorm2d) for m in d.modules()) == 7  # none on the input layer
    linears = [m for m in d.modules() if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(512 * 6 * 6, 1024), (1024, 1)]
    small = SRGANDiscriminator((3, 32, 32), width=4, hidden=8)
    assert small(torch.randn(5, 3, 32, 32)).shape == (5,)
    with pytest.raises(ValueError, match="expects"):
        small(torch.randn(5, 3, 48, 48))


def test_vgg_content_loss_is_zero_for_identical_inputs_and_differentiable(random_vgg19_state):
    loss = VGGContentLoss(random_vgg19_state, layer="54")
    assert len(loss.features) == VGG19_LAYERS["54"] and isinstance(loss.features[-1], nn.ReLU)
    assert not any(p.requires_grad for p in loss.parameters())
    hr = _hr_patches(2, 32)
    assert loss(hr, hr).item() == 0.0
    sr = (hr + 0.1 * torch.randn_like(hr)).requires_grad_(True)
    value = loss(sr, hr)
    value.backward()
    assert value.item() > 0 and torch.isfinite(sr.grad).all() and sr.grad.abs().sum() > 0
    loss.train()
    assert not loss.training  # a fixed network stays in eval mode


def test_vgg_features_take_torchvision_weights_and_refuse_bad_ones(random_vgg19_state):
    net = vgg19_features(random_vgg19_state, layer="22")
    torch.testing.assert_close(net[0].weight, random_vgg19_state["features.0.weight"])
    missing = {k: v for k, v in random_vgg19_state.items() if k != "features.2.weight"}
    with pytest.raises(ValueError, match="features.2.weight"):
        vgg19_features(missing, layer="22")
    wrong = {**random_vgg19_state, "features.0.weight": torch.zeros(1)}
    with pytest.raises(ValueError, match="shape"):
        vgg19_features(wrong)
    with pytest.raises(ValueError, match="layer"):
        vgg19_features(random_vgg19_state, layer="33")


def test_training_degradation_is_matlab_bicubic_away_from_the_border():
    from gbench.transforms.resize import imresize_float

    hr = _hr_patches(2, 64, seed=3)
    lr = bicubic_downsample(hr, 4)
    assert lr.shape == (2, 3, 16, 16)
    levels = (lr + 1) * 127.5
    torch.testing.assert_close(levels, levels.round())  # on 8-bit levels, like a saved LR image
    matlab = imresize_float((hr.double() + 1) * 127.5, 1 / 4)
    inner = (slice(None), slice(None), slice(2, -2), slice(2, -2))
    # identical up to the final rounding (float32 vs float64 can flip a .5 tie)
    assert (levels[inner].double() - matlab[inner]).abs().max() <= 0.5 + 1e-3
    with pytest.raises(ValueError, match="multiple of scale"):
        bicubic_downsample(hr[..., :30], 4)


def test_srresnet_trains_at_smoke_and_upscales(tmp_path):
    config = srresnet.make_config("smoke")
    model = srresnet.build(config)
    hr = _hr_patches(8, config.image_shape[1])
    before = [p.detach().clone() for p in model.parameters()]
    history = train(model, config, hr, None, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps and all(torch.isfinite(torch.tensor(h["g/loss"])) for h in history)
    assert any(not torch.equal(a, b) for a, b in zip(before, model.parameters()))
    sr = model.upscale(torch.zeros(1, 3, 5, 7))
    assert sr.shape == (1, 3, 20, 28) and model.training  # mode restored
    with pytest.raises(TypeError, match="upscale"):
        model.sample(2)
    with pytest.raises(ValueError, match="multiple of scale"):
        dataclasses.replace(config, image_shape=(3, 18, 18))


def test_srgan_starts_from_the_trained_srresnet(tmp_path, random_vgg19_state):
    base = srresnet.build(srresnet.make_config("smoke"))
    torch.manual_seed(1)
    base.reset_parameters()
    state = base.generator.state_dict()
    config = srgan.make_config("smoke", content_loss="vgg54", generator_init=state_digest(state))
    model = srgan.build(config, random_vgg19_state, state)
    model.reset_parameters()  # what the trainer does when a run starts
    for k, v in state.items():
        torch.testing.assert_close(model.generator.state_dict()[k], v)
    assert not any(k.startswith("content") for k in model.state_dict())  # the VGG is not part of checkpoints
    assert config.adversarial_weight == 1e-3

    history = train(model, config, _hr_patches(8, 16), None, tmp_path, "cpu", seed=0, progress=False)
    assert {"d/loss", "g/loss", "g/content", "g/adversarial"} <= set(history[-1])

    with pytest.raises(ValueError, match="digest"):
        srgan.build(dataclasses.replace(config, generator_init="0" * 64), random_vgg19_state, state)
    with pytest.raises(ValueError, match="vgg19_state"):
        srgan.build(config, None, state)
    mse = srgan.build(srgan.make_config("smoke", content_loss="mse"))
    assert mse.content is None


def test_srgan_paper_schedule_drops_the_learning_rate():
    config = srgan.make_config("full", content_loss="mse")
    assert config.lr_decay_step == 100_000 and config.train.steps == 200_000 and config.train.lr == 1e-4
    small = dataclasses.replace(srgan.make_config("smoke", content_loss="mse"), lr_decay_step=2)
    phases = srgan.build(small).phases(small.train)
    assert [(p.name, p.lr, p.start, p.stop) for p in phases] == [
        ("d", 1e-4, 0, 2), ("g", 1e-4, 0, 2), ("d_late", pytest.approx(1e-5), 2, None),
        ("g_late", pytest.approx(1e-5), 2, None)]


def test_registry_specs_patch_shape_and_needs():
    from zoo.models import MODELS

    assert MODELS.get("srresnet").family == MODELS.get("srgan").family == "sr"
    spec = MODELS.get("srgan")
    assert spec.init_from == "srresnet" and set(spec.needs) == {"generator_state", "vgg19_state"}
    assert srresnet.patch_shape("smoke") == (3, 16, 16) and srresnet.patch_shape("full") == (3, 96, 96)
    assert srresnet.make_config("smoke", (1, 16, 16)).image_shape == (1, 16, 16)  # gray patches keep C
    with pytest.raises(ValueError, match="patch"):
        srresnet.make_config("smoke", (3, 32, 32))
    state = srresnet.build(srresnet.make_config("smoke")).generator.state_dict()
    config = spec.make_config("smoke", (3, 16, 16), None, generator_state=state, vgg19_state=None)
    assert config.generator_init == state_digest(state) and config.content_loss == "mse"  # SRGAN-MSE without VGG
