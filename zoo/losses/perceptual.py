"""Content loss in the feature space of a pretrained VGG-19.

Ledig et al. 2017, "Photo-Realistic Single Image Super-Resolution Using a
Generative Adversarial Network" (SRGAN), Eq. 5:

    l_VGG/i,j = 1/(W_ij H_ij) Σ_x Σ_y (φ_ij(I_HR)_x,y − φ_ij(G(I_LR))_x,y)²

where φ_ij is the feature map of the j-th convolution (after its ReLU)
before the i-th max-pooling of VGG-19 (Simonyan & Zisserman 2015), e.g.
φ5,4 for SRGAN-VGG54 and φ2,2 for SRGAN-VGG22. Sec. 3.2: the feature maps
are rescaled by 1/12.75 "to obtain VGG losses of a scale that is comparable
to the MSE loss". Like the common implementations we average over channels
too (a mean over all elements), which is Eq. 5 divided by the channel count.

The network is torchvision's VGG-19 ``features`` built without weights; its
ImageNet weights come from a state dict the caller provides (torchvision's
``vgg19-dcbb9e9d.pth`` layout, keys ``features.<i>.weight|bias``). zoo never
looks for or downloads files: gbench resolves the file with its weights
resolver and passes the loaded state dict in.
"""

from __future__ import annotations

import torch
from torch import nn

# φ_ij → number of torchvision ``vgg19().features`` modules up to and
# including the ReLU after conv i_j (module 35 is the ReLU after conv5_4,
# module 36 the fifth max-pooling).
VGG19_LAYERS = {"22": 9, "54": 36}
# torchvision's ImageNet models expect [0, 1] RGB normalized with these.
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
SRGAN_FEATURE_SCALE = 1.0 / 12.75  # Ledig et al. Sec. 3.2


def vgg19_features(state_dict: dict[str, torch.Tensor], layer: str = "54") -> nn.Sequential:
    """VGG-19 convolutional layers up to φ_layer, with weights from ``state_dict``.

    Built with torchvision's own VGG-19 layer list (``make_layers(cfgs["E"])``,
    what ``vgg19(weights=None).features`` builds, without allocating the
    123M-parameter classifier that a content loss never uses), truncated
    after the ReLU of conv ``layer``.

    Args:
        state_dict: torchvision VGG-19 tensors; every ``features.<i>.weight``
            and ``.bias`` of the kept layers must be present with the right
            shape (other keys, e.g. the classifier, are ignored).
        layer: "54" (φ5,4) or "22" (φ2,2).

    Returns:
        ``nn.Sequential`` in eval mode with no gradients for its parameters:
        (N, 3, H, W) normalized RGB → (N, C_ij, H / 2^(i−1), W / 2^(i−1)).

    Raises:
        ValueError: unknown layer, missing key or wrong shape (the message
            names the key).
    """
    from torchvision.models.vgg import cfgs, make_layers

    if layer not in VGG19_LAYERS:
        raise ValueError(f"unknown VGG-19 layer {layer!r}: choose one of {', '.join(VGG19_LAYERS)}")
    features = make_layers(cfgs["E"], batch_norm=False)[:VGG19_LAYERS[layer]]
    for key, param in features.state_dict().items():
        full = f"features.{key}"
        if full not in state_dict:
            raise ValueError(f"VGG-19 state dict lacks {full}: pass torchvision's vgg19 weights (vgg19-dcbb9e9d.pth)")
        value = state_dict[full]
        if tuple(value.shape) != tuple(param.shape):
            raise ValueError(f"VGG-19 weight {full} has shape {tuple(value.shape)}, expected {tuple(param.shape)}: "
                             "pass torchvision's vgg19 weights")
        with torch.no_grad():
            param.copy_(value)
    return features.eval().requires_grad_(False)


class VGGContentLoss(nn.Module):
    """SRGAN's VGG content loss (Eq. 5) between a restored image and its reference.

    Args:
        state_dict: torchvision VGG-19 weights (see :func:`vgg19_features`).
        layer: "54" (SRGAN-VGG54, the paper's SRGAN) or "22".
        feature_scale: multiplies the feature maps before the squared
            difference (1/12.75 in the paper).

    ``forward(sr, hr)``: float (N, 3, H, W) in [-1, 1] each → scalar
    mean((s·φ(sr) − s·φ(hr))²). Gradients flow into ``sr``; the target
    features are computed without autograd. The VGG stays in eval mode.
    """

    def __init__(self, state_dict: dict[str, torch.Tensor], layer: str = "54",
                 feature_scale: float = SRGAN_FEATURE_SCALE):
        super().__init__()
        self.features = vgg19_features(state_dict, layer)
        self.layer, self.feature_scale = layer, feature_scale
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> "VGGContentLoss":
        return super().train(False)  # a fixed measuring network: never in training mode

    def phi(self, x: torch.Tensor) -> torch.Tensor:
        """Scaled features s·φ(x) of images x (N, 3, H, W) in [-1, 1]."""
        if x.ndim != 4 or x.shape[1] != 3:
            raise ValueError(f"VGG content loss needs RGB images (N, 3, H, W) in [-1, 1], got {tuple(x.shape)}")
        x = ((x + 1.0) * 0.5 - self.mean) / self.std
        return self.features(x) * self.feature_scale

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        if sr.shape != hr.shape:
            raise ValueError(f"sr has shape {tuple(sr.shape)} but hr has {tuple(hr.shape)}")
        with torch.no_grad():
            target = self.phi(hr)
        return (self.phi(sr) - target).float().square().mean()
