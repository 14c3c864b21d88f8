"""zoo.layers: trunk shapes for every supported size and channel count,
conditioning helpers."""

import pytest
import torch
from torch import nn

from zoo.layers import (
    MLP, ConvDecoder, ConvEncoder, check_labels, concat_label_maps, concat_one_hot, num_doublings,
)


@pytest.mark.parametrize("channels,size", [(1, 32), (3, 32), (3, 64), (1, 8)])
def test_conv_trunks_shapes(channels, size):
    dec = ConvDecoder(in_dim=7, out_channels=channels, image_size=size, width=4)
    enc = ConvEncoder(in_channels=channels, image_size=size, width=4, out_dim=5)
    x = dec(torch.randn(2, 7))
    assert x.shape == (2, channels, size, size)
    assert enc(x).shape == (2, 5)


@pytest.mark.parametrize("size", [4, 24, 48, 100])
def test_trunks_reject_sizes_that_are_not_4_times_a_power_of_2(size):
    with pytest.raises(ValueError, match="4·2\\^L"):
        num_doublings(size)


def test_trunk_without_batch_norm_is_per_sample():
    enc = ConvEncoder(1, 32, 4, 3, batch_norm=False).train()
    x = torch.randn(4, 1, 32, 32)
    assert not any(isinstance(m, nn.BatchNorm2d) for m in enc.modules())
    torch.testing.assert_close(enc(x)[:1], enc(x[:1]))


def test_encoder_checks_its_input_shape():
    with pytest.raises(ValueError, match="expects"):
        ConvEncoder(3, 32, 4, 1)(torch.randn(2, 1, 32, 32))


def test_mlp_layout_and_dropout():
    mlp = MLP(6, (5, 4), 3, activation=nn.ReLU, dropout=0.5)
    assert [type(m).__name__ for m in mlp] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU", "Dropout", "Linear"]
    assert mlp(torch.randn(2, 6)).shape == (2, 3)


def test_label_conditioning():
    y = torch.tensor([2, 0])
    v = concat_one_hot(torch.zeros(2, 3), y, 4)
    assert v.tolist() == [[0, 0, 0, 0, 0, 1, 0], [0, 0, 0, 1, 0, 0, 0]]
    maps = concat_label_maps(torch.zeros(2, 1, 5, 5), y, 4)
    assert maps.shape == (2, 5, 5, 5)
    assert (maps[0, 3] == 1).all() and maps[0, [1, 2, 4]].abs().sum() == 0 and (maps[1, 1] == 1).all()
    with pytest.raises(ValueError, match="0..3"):
        check_labels(torch.tensor([4]), 4)
    with pytest.raises(ValueError, match="int64"):
        check_labels(torch.tensor([1.0]), 4)
