"""`inception-v3-fid`: the FID Inception network, as pytorch-fid runs it.

Network: pytorch-fid's port of TensorFlow's ``inception-2015-12-05`` graph
(Heusel et al., 2017, the network behind every published FID), built from
torchvision's Inception-v3 skeleton with pytorch-fid's patched blocks
(``FIDInceptionA/C/E_1/E_2``: TF's average pooling excludes padding, and the
last block max-pools). It mirrors ``pytorch_fid.inception.fid_inception_v3``
without its unconditional download: the weights come from gbench's resolver.

Preprocessing (as ``pytorch_fid.inception.InceptionV3.forward``): uint8 → /255
to [0, 1]; bilinear resize to 299×299 (``align_corners=False``, no
antialiasing); then ``2x − 1`` to [-1, 1]. Grayscale input is repeated to RGB.

Outputs:
  * features: the 2048-d final average pool ("pool3"), for FID/KID/PR;
  * logits: the 1008 class logits *without the bias*, ``pool3 @ W.T``. The
    original Inception Score code (Salimans et al., 2016, improved-gan
    ``inception_score.py``) multiplies pool3 by the ``softmax/logits`` weight
    matrix and never adds the bias; torch-fidelity's ``logits_unbiased``
    reproduces this for the same reason. All 1008 outputs are kept, as there.

Weights: ``pt_inception-2015-12-05-6726825d.pth`` (pytorch-fid's release). No
full sha256 is published with pytorch-fid (nor found in any installed
package), so the file is verified against the 8-hex-digit sha256 prefix in its
name — the torch hub convention, as ``torch.hub.load_state_dict_from_url(
check_hash=True)`` checks it. See :data:`gbench.features.weights.KNOWN_WEIGHTS`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gbench.features.base import ExtractorSpec, WeightsInfo
from gbench.features.weights import KNOWN_WEIGHTS

NAME = "inception-v3-fid"
VERSION = "1"
FILENAME = "pt_inception-2015-12-05-6726825d.pth"
FEATURE_DIM = 2048
NUM_LOGITS = 1008
SIZE = 299


def fid_inception_skeleton() -> nn.Module:
    """torchvision's Inception-v3 with pytorch-fid's FID blocks; random weights, no I/O.

    Its parameter names are exactly those of the pytorch-fid weights file.
    """
    import torchvision
    from pytorch_fid.inception import FIDInceptionA, FIDInceptionC, FIDInceptionE_1, FIDInceptionE_2

    # init_weights=False: the weights are overwritten anyway, and torchvision's
    # truncated-normal init is slow (pytorch-fid issue #28).
    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False,
                                          num_classes=NUM_LOGITS)
    # The same replacements, in the same order, as pytorch_fid.inception.fid_inception_v3.
    net.Mixed_5b = FIDInceptionA(192, pool_features=32)
    net.Mixed_5c = FIDInceptionA(256, pool_features=64)
    net.Mixed_5d = FIDInceptionA(288, pool_features=64)
    net.Mixed_6b = FIDInceptionC(768, channels_7x7=128)
    net.Mixed_6c = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6d = FIDInceptionC(768, channels_7x7=160)
    net.Mixed_6e = FIDInceptionC(768, channels_7x7=192)
    net.Mixed_7b = FIDInceptionE_1(1280)
    net.Mixed_7c = FIDInceptionE_2(2048)
    return net


class FIDInception(nn.Module):
    """``forward(uint8 (N, 3, H, W)) -> (pool3 (N, 2048), logits (N, 1008))``.

    ``self.net`` holds the torchvision/pytorch-fid modules, so
    ``self.net.load_state_dict`` takes the pytorch-fid weights file as it is.
    """

    def __init__(self):
        super().__init__()
        self.net = fid_inception_skeleton()

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        n = self.net
        x = x.float() / 255.0
        x = F.interpolate(x, size=(SIZE, SIZE), mode="bilinear", align_corners=False)
        x = 2 * x - 1
        # The layer sequence of pytorch-fid's blocks 0-3 (its MaxPool2d(3, 2)
        # are torchvision's maxpool1/maxpool2).
        for layer in (n.Conv2d_1a_3x3, n.Conv2d_2a_3x3, n.Conv2d_2b_3x3, n.maxpool1,
                      n.Conv2d_3b_1x1, n.Conv2d_4a_3x3, n.maxpool2,
                      n.Mixed_5b, n.Mixed_5c, n.Mixed_5d, n.Mixed_6a, n.Mixed_6b, n.Mixed_6c, n.Mixed_6d,
                      n.Mixed_6e, n.Mixed_7a, n.Mixed_7b, n.Mixed_7c):
            x = layer(x)
        pool3 = F.adaptive_avg_pool2d(x, (1, 1)).flatten(1)
        logits = pool3 @ n.fc.weight.T  # no bias: see the module docstring
        return pool3, logits


def _load_weights(model: nn.Module, state: dict) -> None:
    model.net.load_state_dict(state)


def _weights() -> WeightsInfo:
    known = KNOWN_WEIGHTS[FILENAME]
    return WeightsInfo(filename=FILENAME, sha256=known.sha256, url=known.url,
                       hint="see `gbench list` for where to put it")


SPEC = ExtractorSpec(
    name=NAME,
    version=VERSION,
    description="pytorch-fid's FID Inception-v3 (TF inception-2015-12-05): 2048-d pool3, 1008 logits",
    profile="paper",
    feature_dim=FEATURE_DIM,
    num_logits=NUM_LOGITS,
    input="uint8 (N, 3 or 1, H, W), any size (bilinearly resized to 299×299)",
    channels=3,
    image_size=None,
    build=FIDInception,
    weights=_weights,
    load_weights=_load_weights,
)
