"""The LPIPS network (Zhang et al., 2018) with its backbone from gbench's resolver.

``lpips.LPIPS`` has two sets of weights:
  * its small linear calibration layers ("lin"), shipped inside the lpips
    package (``lpips/weights/v0.1/{alex,vgg}.pth``) — loaded by lpips itself;
  * the ImageNet backbone (torchvision's AlexNet or VGG-16), which lpips would
    download through torchvision. We build it random (``pnet_rand=True``) and
    load torchvision's file found by :func:`gbench.features.weights.resolve_known`,
    so the same search order, sha256 check and "never download unless allowed"
    rule apply as for every other pretrained file.

The returned module takes float images in [-1, 1], (N, 3, H, W), as lpips does.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gbench.errors import GbenchError
from gbench.features.weights import load_state_dict, resolve_known, sha256_file

# LPIPS net name -> torchvision backbone file (in KNOWN_WEIGHTS)
BACKBONE_FILES = {"alex": "alexnet-owt-7be5be79.pth", "vgg": "vgg16-397923af.pth"}


@dataclass(frozen=True)
class LoadedLPIPS:
    """An LPIPS module ready to use, and what a record must say about it.

    Attributes:
        model: ``lpips.LPIPS`` in eval mode, no gradients; ``model(a, b)`` with
            a, b float (N, 3, H, W) in [-1, 1] → distances (N, 1, 1, 1).
        net: ``alex`` or ``vgg``.
        weights_sha256: sha256 of the backbone file loaded.
        verified: whether that digest matched the known one.
    """

    model: nn.Module
    net: str
    weights_sha256: str
    verified: bool

    def distance(self, a: torch.Tensor, b: torch.Tensor, device, crop: int = 0) -> torch.Tensor:
        """LPIPS of uint8 image pairs (N, C, H, W) → float (N,), computed on ``device`` (the
        model's), ``crop`` border pixels removed first; 1-channel images are replicated to RGB,
        the network's input."""
        from gbench.images import to_rgb, uint8_to_float

        h, w = a.shape[-2:]
        x, y = (uint8_to_float(to_rgb(t)[..., crop:h - crop, crop:w - crop]).to(device) for t in (a, b))
        with torch.no_grad():
            return self.model(x, y).flatten()


def try_load_lpips(net: str, device, weights_path=None, allow_download: bool = False,
                   allow_unverified: bool = False) -> tuple[LoadedLPIPS | None, str]:
    """(LoadedLPIPS, "") when the backbone resolves — without downloading unless allowed — else
    (None, why: which file is missing and where to put it), for callers that go on without LPIPS."""
    from gbench.features.weights import find_weights

    filename = _check_net(net)
    if not allow_download and find_weights(filename, weights_path) is None:
        return None, (f"{filename} not found (LPIPS-{net} ImageNet backbone; put it in --weights DIR, "
                      "$GBENCH_WEIGHTS or the torch hub cache, or pass --download)")
    try:
        return load_lpips(net, device, weights_path=weights_path, allow_download=allow_download,
                          allow_unverified=allow_unverified), ""
    except GbenchError as e:
        return None, str(e)


def _check_net(net: str) -> str:
    if net not in BACKBONE_FILES:
        raise GbenchError(f"unknown LPIPS network {net!r}: choose one of {', '.join(BACKBONE_FILES)}")
    return BACKBONE_FILES[net]


def _resolve(net: str, weights_path, allow_download: bool, allow_unverified: bool):
    filename = _check_net(net)
    try:
        return resolve_known(filename, explicit_path=weights_path, allow_download=allow_download,
                             allow_unverified=allow_unverified)
    except GbenchError as e:
        raise GbenchError(f"LPIPS ({net}) unavailable: {e}") from None


def lpips_availability(net: str = "alex") -> tuple[bool, str]:
    """Can LPIPS with this backbone load here without downloading? (ok, reason-if-not)."""
    try:
        _resolve(net, None, allow_download=False, allow_unverified=False)
    except GbenchError as e:
        return False, str(e)
    return True, ""


def load_backbone(lp: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Copy torchvision ``features.<i>.<param>`` tensors into lpips's slices.

    lpips splits torchvision's ``features`` into ``slice1..sliceK`` but keeps
    each layer's original index as its name, so ``features.3.weight`` lives at
    ``net.slice2.3.weight`` for AlexNet. Every backbone parameter must be filled.
    """
    layers: dict[str, nn.Module] = {}
    for k in range(1, lp.net.N_slices + 1):
        layers.update(getattr(lp.net, f"slice{k}")._modules)
    filled = set()
    for key, value in state.items():
        parts = key.split(".")
        if parts[0] != "features":
            continue  # the classifier is not part of LPIPS
        if len(parts) != 3 or parts[1] not in layers:
            raise GbenchError(f"backbone weights have an unexpected key {key!r}: use torchvision's original file")
        param = getattr(layers[parts[1]], parts[2])
        if param.shape != value.shape:
            raise GbenchError(f"backbone weight {key} has shape {tuple(value.shape)}, expected "
                              f"{tuple(param.shape)}: use torchvision's original file")
        with torch.no_grad():
            param.copy_(value)
        filled.add((parts[1], parts[2]))
    expected = {(i, n) for i, m in layers.items() for n, _ in m.named_parameters(recurse=False)}
    if filled != expected:
        missing = sorted(f"features.{i}.{n}" for i, n in expected - filled)
        raise GbenchError(f"backbone weights lack {', '.join(missing)}: use torchvision's original file")


def load_lpips(net: str = "alex", device: str | torch.device = "cpu", weights_path=None,
               allow_download: bool = False, allow_unverified: bool = False) -> LoadedLPIPS:
    """Build ``lpips.LPIPS(net=net)`` (v0.1) with the backbone from the resolver.

    Args:
        net: ``alex`` (the LPIPS paper's default) or ``vgg``.
        device: where the module runs.
        weights_path: explicit backbone file, or a directory holding it.
        allow_download: let the resolver download the backbone into the torch hub cache.
        allow_unverified: accept a backbone file whose sha256 does not match.

    Raises:
        GbenchError: "LPIPS (<net>) unavailable: ..." when the backbone file
            cannot be found or is refused.
    """
    path, verified = _resolve(net, weights_path, allow_download, allow_unverified)
    import lpips

    with warnings.catch_warnings():
        # lpips passes torchvision's deprecated `pretrained=` argument.
        warnings.simplefilter("ignore", UserWarning)
        # pretrained=False: lpips would load its calibration layers with a plain torch.load, which
        # unpickles anything before torch 2.6; gbench loads the same file with weights_only=True.
        lp = lpips.LPIPS(net=net, version="0.1", pretrained=False, pnet_rand=True, verbose=False)
    linear = Path(lpips.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    lp.load_state_dict(torch.load(linear, map_location="cpu", weights_only=True), strict=False)  # as lpips does
    load_backbone(lp, load_state_dict(path))
    lp = lp.eval().requires_grad_(False).to(device)
    return LoadedLPIPS(model=lp, net=net, weights_sha256=sha256_file(path), verified=verified)
