"""Weight initializations named by the paper that prescribes them."""

from __future__ import annotations

from torch import nn


def dcgan_init_(module: nn.Module, std: float = 0.02) -> None:
    """Radford et al. 2016, Sec. 4: "All weights were initialized from a
    zero-centered Normal distribution with standard deviation 0.02."

    Applied with ``model.apply(dcgan_init_)``: conv, transposed-conv and linear
    weights ~ N(0, std²), biases 0; batch-norm scales ~ N(1, std²), shifts 0
    (as in the authors' and PyTorch's reference code); 2-D and 3-D layers alike
    (3D-GAN uses the same init). Uses the global RNG.
    """
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Conv3d, nn.ConvTranspose3d, nn.Linear)):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, (nn.BatchNorm2d, nn.BatchNorm3d)):
        nn.init.normal_(module.weight, 1.0, std)
        nn.init.zeros_(module.bias)
