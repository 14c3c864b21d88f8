"""Building blocks shared by the zoo's models. A model file composes these; it
does not copy them."""

from zoo.layers.conditioning import (
    CONDITIONS, check_condition, check_labels, concat_label_maps, concat_one_hot, one_hot,
)
from zoo.layers.equalized import EqualizedConv2d, EqualizedLinear, MinibatchStddev, PixelNorm
from zoo.layers.conv import ConvDecoder, ConvEncoder, down_block, num_doublings, up_block
from zoo.layers.init import dcgan_init_
from zoo.layers.masks import MASK_KINDS, center_mask, free_form_mask, make_masks
from zoo.layers.mlp import MLP
from zoo.layers.sync_bn import SyncBatchNorm, convert_sync_batchnorm, revert_sync_batchnorm

__all__ = [
    "MLP", "ConvDecoder", "ConvEncoder", "up_block", "down_block", "num_doublings",
    "EqualizedLinear", "EqualizedConv2d", "PixelNorm", "MinibatchStddev",
    "one_hot", "concat_one_hot", "concat_label_maps", "check_labels", "check_condition", "CONDITIONS",
    "dcgan_init_",
    "MASK_KINDS", "center_mask", "free_form_mask", "make_masks",
    "SyncBatchNorm", "convert_sync_batchnorm", "revert_sync_batchnorm",
]
