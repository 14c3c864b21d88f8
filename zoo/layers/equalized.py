"""Progressive-GAN layers: equalized learning rate, pixelwise feature
normalization and the minibatch standard deviation feature.

Karras, Aila, Laine & Lehtinen 2018, "Progressive Growing of GANs for Improved
Quality, Stability, and Variation", Sec. 3 and 4; StyleGAN (Karras et al.
2019) reuses all three, and adds the learning-rate multiplier of its mapping
network (App. C: λ' = 0.01·λ).

* Equalized learning rate (Sec. 4.1): weights are stored as ŵ ~ N(0, 1) and
  scaled at runtime, w = c·ŵ with He's constant c = gain / √fan_in (He et al.
  2015). Adam's update of ŵ is invariant to the scale of its gradient, so
  every layer learns at the same speed whatever its fan-in.
* Pixelwise feature normalization (Sec. 4.2):
  b_{x,y} = a_{x,y} / √( (1/C) Σ_j (a^j_{x,y})² + ε ), ε = 1e-8.
* Minibatch standard deviation (Sec. 3): the standard deviation of every
  feature at every pixel over a group of samples, averaged to one number per
  group and appended to each sample as a constant feature map.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

LEAKY_SLOPE = 0.2  # every ProGAN / StyleGAN activation is LeakyReLU(0.2)
HE_GAIN = math.sqrt(2.0)  # He et al. 2015's gain for (leaky) ReLU layers; 1 for linear outputs


def he_constant(fan_in: int, gain: float = HE_GAIN) -> float:
    """c = gain / √fan_in: the standard deviation He's initializer would give the weights."""
    return gain / math.sqrt(fan_in)


class _Equalized(nn.Module):
    """Weight ŵ and bias b̂ with runtime scales, as in the authors' ``get_weight``:

    * equalized:   ŵ ~ N(0, 1/lr_mul²), w = ŵ · c · lr_mul;
    * not equalized (plain He init): ŵ ~ N(0, (c/lr_mul)²), w = ŵ · lr_mul;
    * b̂ = bias_init / lr_mul, b = b̂ · lr_mul.

    Either way w ~ N(0, c²) at initialization; ``lr_mul`` slows the layer's
    learning by that factor (StyleGAN's mapping network: 0.01).
    """

    def __init__(self, weight_shape: tuple[int, ...], fan_in: int, bias: bool, gain: float,
                 lr_mul: float, bias_init: float, equalized: bool):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(weight_shape))
        self.bias = nn.Parameter(torch.empty(weight_shape[0])) if bias else None
        he = he_constant(fan_in, gain)
        self.equalized, self.lr_mul, self.bias_init = equalized, lr_mul, bias_init
        self.init_std = 1.0 / lr_mul if equalized else he / lr_mul
        self.weight_scale = he * lr_mul if equalized else lr_mul  # constants of the config, not state
        self.reset_parameters()

    def reset_parameters(self) -> None:
        nn.init.normal_(self.weight, 0.0, self.init_std)
        if self.bias is not None:
            nn.init.constant_(self.bias, self.bias_init / self.lr_mul)

    def scaled(self) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The effective (w, b) the layer applies."""
        bias = self.bias * self.lr_mul if self.bias is not None else None
        return self.weight * self.weight_scale, bias


class EqualizedLinear(_Equalized):
    """y = x·wᵀ + b with the runtime scaling above: (N, in_features) → (N, out_features).

    Args:
        gain: √2 before a LeakyReLU, 1 for a linear output (D's score, styles).
        lr_mul: learning-rate multiplier (StyleGAN mapping network: 0.01).
        bias_init: the initial effective bias.
        equalized: False = plain He-initialized weights (the ablation).
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, gain: float = HE_GAIN,
                 lr_mul: float = 1.0, bias_init: float = 0.0, equalized: bool = True):
        super().__init__((out_features, in_features), in_features, bias, gain, lr_mul, bias_init, equalized)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, *self.scaled())


class EqualizedConv2d(_Equalized):
    """k×k convolution, stride 1, "same" padding, with the runtime scaling above:
    (N, in_channels, H, W) → (N, out_channels, H, W); fan_in = in_channels·k²."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, bias: bool = True,
                 gain: float = HE_GAIN, equalized: bool = True):
        super().__init__((out_channels, in_channels, kernel_size, kernel_size), in_channels * kernel_size ** 2,
                         bias, gain, 1.0, 0.0, equalized)
        self.padding = kernel_size // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x, *self.scaled(), padding=self.padding)


class PixelNorm(nn.Module):
    """b = a / √(mean_c a² + ε) over the channel dimension (dim 1), any shape (N, C, ...)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStddev(nn.Module):
    """Appends one feature map: (N, C, H, W) → (N, C + 1, H, W).

    The batch is split into N/G groups of G samples (sample n belongs to group
    n mod N/G, as in the authors' code); for each group
    s = mean over (c, h, w) of √(Var_group[x_{c,h,w}] + 1e-8) (population
    variance) is appended to every sample of the group as a constant map.
    G = ``group_size`` if it divides N, else the whole minibatch (the paper's
    Sec. 3 formulation). Computed in float32.
    """

    def __init__(self, group_size: int = 4):
        super().__init__()
        if group_size < 2:
            raise ValueError(f"group_size must be ≥ 2 (a std over one sample is 0), got {group_size}")
        self.group_size = group_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n, c, h, w = x.shape
        g = self.group_size if n % self.group_size == 0 else n
        y = x.float().reshape(g, n // g, c, h, w)
        std = torch.sqrt(y.var(dim=0, unbiased=False) + 1e-8).mean(dim=(1, 2, 3))  # (N/G,)
        feature = std.repeat(g)[:, None, None, None].expand(n, 1, h, w)
        return torch.cat([x, feature.to(x.dtype)], dim=1)
