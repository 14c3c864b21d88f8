"""Image disturbances of Heusel et al. 2017, for testing how a metric reacts.

Heusel, Ramsauer, Unterthiner, Nessler, Hochreiter, "GANs Trained by a Two
Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017,
appendix "Experiments: FID is consistent with human judgment" (Fig. 1 and
Fig. A): a good metric must grow monotonically as real images are disturbed
more. The six disturbances are implemented here as pure functions

    f(images, alpha, seed=0, ...) -> images

with ``images`` uint8 (N, C, H, W), C in {1, 3}, values 0..255 (checked with
:func:`gbench.images.check_images`; a float batch is an error), and the result
a new uint8 tensor of the same shape on the same device (the input is never
modified). ``alpha`` is the disturbance level; ``alpha = 0`` returns the
images unchanged for every function. Everything random comes from
``numpy.random.default_rng(seed)``, so a call is deterministic given its seed.
The random draws do not depend on ``alpha``: with one seed, the levels of a
disturbance differ only in strength (the same noise image, rectangle
positions, corrupted pixels, replaced indices), as in the paper's figures.

:data:`DISTURBANCES` lists them with the paper's four levels each.
"""

from __future__ import annotations

import math
from typing import Callable, NamedTuple

import numpy as np
import scipy.ndimage
import skimage.transform
import torch
import torch.nn.functional as F

from gbench.errors import GbenchError
from gbench.images import check_images, to_rgb

# Noise image of `gaussian_noise`: "a random noise image whose pixels are
# Gaussian", "scaled to [0, 255]". We read "scaled to [0, 255]" as the
# Gaussian N(127.5, 42.5²) whose ±3σ interval is exactly [0, 255] (a min-max
# rescaling of each sample would make the noise depend on its own extremes),
# clipped to [0, 255] — only 0.27 % of the values are clipped.
NOISE_MEAN = 127.5
NOISE_STD = 42.5

# Swirl extent: the paper sets ρ = 25 px on its CelebA images, which we take to
# be the 64×64 crops of its GAN experiments; ρ scales with the image size so
# that the swirl covers the same fraction of any image.
SWIRL_RADIUS_AT_64 = 25.0

NUM_RECTANGLES = 5

# ITU-R BT.601 luma, the weights PIL's convert("L") uses.
_LUMA = (0.299, 0.587, 0.114)


def _check_alpha(alpha, name: str, high: float | None) -> float:
    """``alpha`` as a float in [0, high] (or [0, ∞) when ``high`` is None)."""
    try:
        a = float(alpha)
    except (TypeError, ValueError):
        raise GbenchError(f"{name}: alpha must be a number, got {alpha!r}") from None
    if not math.isfinite(a) or a < 0 or (high is not None and a > high):
        interval = f"[0, {high:g}]" if high is not None else "[0, ∞)"
        raise GbenchError(f"{name}: alpha = {alpha!r} is outside {interval}: pass a level in that range")
    return a


def _round_to_uint8(x: np.ndarray, like: torch.Tensor) -> torch.Tensor:
    """Float image values → uint8 tensor (round half to even, clip to 0..255) on ``like``'s device."""
    out = np.clip(np.rint(x), 0, 255).astype(np.uint8)
    return torch.from_numpy(out).to(like.device)


def _round_half_up(x: float) -> int:
    # Python's round() rounds halves to even; a count of images or pixels
    # should not depend on that, so halves go up.
    return int(math.floor(x + 0.5))


def gaussian_noise(images, alpha: float, seed: int = 0) -> torch.Tensor:
    """Mix images with a Gaussian noise image: ``(1 − α)·x + α·n`` (Heusel et al. 2017, App. (i)).

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}, 0..255.
        alpha: mixing weight α in [0, 1]; the paper's levels are 0, .25, .5, .75.
        seed: seed of the noise image.

    Returns:
        uint8 (N, C, H, W): ``round((1 − α)·x + α·n)``, where ``n`` is drawn i.i.d.
        per pixel and channel from N(127.5, 42.5²) (±3σ spans [0, 255]) and
        clipped to [0, 255], so the mix stays in range without further clipping.
        At α = 1 the output is the (rounded) noise image itself.
    """
    x = check_images(images)
    a = _check_alpha(alpha, "gaussian_noise", 1.0)
    rng = np.random.default_rng(seed)
    # The noise is drawn even at α = 0 so that every level of one seed sees the
    # same noise image.
    noise = rng.standard_normal(tuple(x.shape), dtype=np.float32) * NOISE_STD + NOISE_MEAN
    np.clip(noise, 0.0, 255.0, out=noise)
    xf = x.cpu().numpy().astype(np.float32)
    return _round_to_uint8((1.0 - a) * xf + a * noise, x)


def gaussian_blur(images, alpha: float, seed: int = 0) -> torch.Tensor:
    """Convolve each channel with a Gaussian of standard deviation σ = α pixels (Heusel et al. 2017, App. (ii)).

    Uses :func:`scipy.ndimage.gaussian_filter` with the kernel truncated at 4σ
    and ``mode="reflect"`` (half-sample symmetric: ``d c b a | a b c d``), so a
    constant image stays constant and the borders get no dark halo. Under this
    boundary every cosine ``cos(π m (i + ½) / H)`` is an eigen-image: blur only
    scales its amplitude, so the mean of any image made of such cosines is kept.

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}, 0..255.
        alpha: σ in pixels, α ≥ 0; the paper's levels are 0, 1, 2, 4. α = 0 is the identity.
        seed: unused (blur is deterministic); kept for the common signature.

    Returns:
        uint8 (N, C, H, W), rounded to nearest.
    """
    x = check_images(images)
    a = _check_alpha(alpha, "gaussian_blur", None)
    if a == 0:
        return x.clone()  # a Gaussian of σ = 0 is the identity; scipy agrees but needs no work
    xf = x.cpu().numpy().astype(np.float32)
    blurred = scipy.ndimage.gaussian_filter(xf, sigma=(0, 0, a, a), mode="reflect", truncate=4.0)
    return _round_to_uint8(blurred, x)


def rectangle_corners(n: int, height: int, width: int, alpha: float, seed: int = 0) -> tuple[int, np.ndarray]:
    """Where :func:`black_rectangles` puts its squares.

    Returns:
        (side, corners): ``side = round(α · min(H, W))`` pixels, and an int64
        array (n, 5, 2) of top-left corners (row, col), each uniform over the
        positions where the whole square fits inside the image.
    """
    a = _check_alpha(alpha, "black_rectangles", 1.0)
    side = _round_half_up(a * min(height, width))
    rng = np.random.default_rng(seed)
    # Uniform [0, 1) draws scaled to the valid range: the draws do not depend on
    # α, so the squares of one seed grow from fixed relative positions.
    u = rng.random((n, NUM_RECTANGLES, 2))
    span = np.array([height - side + 1, width - side + 1])
    corners = np.minimum(np.floor(u * span).astype(np.int64), span - 1)
    return side, corners


def black_rectangles(images, alpha: float, seed: int = 0) -> torch.Tensor:
    """Implant 5 black squares of side α × image size at random positions (Heusel et al. 2017, App. (iii)).

    Each square has side ``round(α · min(H, W))`` and lies entirely inside the
    image (its top-left corner is uniform over the positions where it fits), so
    nothing is clipped at the borders: the blackened area of an image is the
    union of the 5 squares, at most ``5 · side²`` pixels (less where they
    overlap). All channels are set to 0. Positions are independent per image;
    :func:`rectangle_corners` returns them.

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}, 0..255.
        alpha: relative side α in [0, 1]; the paper's levels are 0, .25, .5, .75.
            α = 0 gives squares of side 0, the identity.
        seed: seed of the positions.

    Returns:
        uint8 (N, C, H, W).
    """
    x = check_images(images)
    n, _, h, w = x.shape
    side, corners = rectangle_corners(n, h, w, alpha, seed)
    out = x.clone()
    if side == 0:
        return out
    for i in range(n):
        for r, c in corners[i]:
            out[i, :, r:r + side, c:c + side] = 0
    return out


def swirl(images, alpha: float, seed: int = 0, radius: float | None = None) -> torch.Tensor:
    """Swirl the image around its center with strength α (Heusel et al. 2017, App. (iv)).

    The paper's inverse map: a pixel at polar coordinates (r, θ) around the
    center takes its color from angle ``θ' = θ + α · exp(−5 r / (ln 2 · ρ))``,
    which is exactly :func:`skimage.transform.swirl` with ``strength = α`` and
    ``radius = ρ``. Settings: center at the middle of the pixel grid
    ((W − 1)/2, (H − 1)/2); ``rotation = 0``; bilinear interpolation
    (``order=1``); ``mode="reflect"`` outside the image, so a constant image
    stays constant; ``preserve_range=True``; result rounded to nearest.

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}, 0..255.
        alpha: swirl strength α ≥ 0 (radians at the center); the paper's levels
            are 0, 1, 2, 4. α = 0 is the identity.
        seed: unused (the swirl is deterministic); kept for the common signature.
        radius: swirl extent ρ in pixels; default ``25 · min(H, W) / 64`` (the
            paper's ρ = 25 at 64×64, scaled with the image).

    Returns:
        uint8 (N, C, H, W).
    """
    x = check_images(images)
    a = _check_alpha(alpha, "swirl", None)
    n, _, h, w = x.shape
    rho = SWIRL_RADIUS_AT_64 * min(h, w) / 64 if radius is None else float(radius)
    if not rho > 0:
        raise GbenchError(f"swirl: radius = {radius!r} must be > 0 pixels: pass a positive radius or None")
    if a == 0:
        return x.clone()  # the map is the identity up to float error in cos/sin
    hwc = x.cpu().numpy().transpose(0, 2, 3, 1)  # skimage wants (H, W, C)
    out = np.empty(hwc.shape, dtype=np.float64)
    for i in range(n):
        out[i] = skimage.transform.swirl(hwc[i], center=((w - 1) / 2, (h - 1) / 2), strength=a, radius=rho,
                                         rotation=0, order=1, mode="reflect", preserve_range=True)
    return _round_to_uint8(out.transpose(0, 3, 1, 2), x)


def salt_and_pepper(images, alpha: float, seed: int = 0) -> torch.Tensor:
    """Set a fraction α of the pixels to black or white (Heusel et al. 2017, App. (v)).

    Each pixel location is corrupted independently with probability α (so the
    corrupted count is Binomial(H·W, α) per image); a corrupted location
    becomes 0 or 255 with probability ½ each, in all channels at once (a black
    or white pixel, not colored speckle).

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}, 0..255.
        alpha: probability α in [0, 1]; the paper's levels are 0, .1, .2, .3.
        seed: seed of the corrupted locations and their colors.

    Returns:
        uint8 (N, C, H, W).
    """
    x = check_images(images)
    a = _check_alpha(alpha, "salt_and_pepper", 1.0)
    n, _, h, w = x.shape
    rng = np.random.default_rng(seed)
    where = rng.random((n, 1, h, w)) < a
    white = rng.random((n, 1, h, w)) < 0.5
    value = torch.from_numpy(np.where(white, 255, 0).astype(np.uint8)).to(x.device)
    mask = torch.from_numpy(where).to(x.device)
    return torch.where(mask, value, x)


def _fit_foreign(foreign: torch.Tensor, channels: int, height: int, width: int) -> torch.Tensor:
    """uint8 (M, C', H', W') → uint8 (M, channels, height, width).

    Channels: gray → RGB repeats the channel; RGB → gray is BT.601 luma.
    Size: center-crop the largest region with the target's aspect ratio, then
    resize with antialiased bilinear interpolation (no distortion of shapes).
    """
    y = foreign
    if y.shape[1] != channels:
        if channels == 3:
            y = to_rgb(y)
        else:
            weights = torch.tensor(_LUMA, dtype=torch.float32, device=y.device).view(1, 3, 1, 1)
            y = (y.float() * weights).sum(1, keepdim=True).round().clamp(0, 255).to(torch.uint8)
    fh, fw = y.shape[2], y.shape[3]
    if (fh, fw) == (height, width):
        return y
    # Largest crop with aspect height:width inside fh × fw.
    crop_h, crop_w = min(fh, _round_half_up(fw * height / width)), min(fw, _round_half_up(fh * width / height))
    top, left = (fh - crop_h) // 2, (fw - crop_w) // 2
    y = y[:, :, top:top + crop_h, left:left + crop_w].float()
    y = F.interpolate(y, size=(height, width), mode="bilinear", align_corners=False, antialias=True)
    return y.round().clamp(0, 255).to(torch.uint8)


def contaminate(images, alpha: float, seed: int = 0, *, foreign) -> torch.Tensor:
    """Replace a fraction α of the set by foreign images (Heusel et al. 2017, App. (vi): CelebA ← ImageNet).

    Exactly ``m = round(α · N)`` images (halves round up) are replaced: the
    first ``m`` of a seeded permutation of the N indices get the first ``m``
    of a seeded permutation of the foreign images (distinct foreign images;
    the rest of the set is untouched). Foreign images are converted to the
    set's format: gray → RGB by repeating the channel, RGB → gray by BT.601
    luma; a different size is center-cropped to the set's aspect ratio and
    resized with antialiased bilinear interpolation.

    Args:
        images: uint8 (N, C, H, W), C in {1, 3}, 0..255.
        alpha: fraction α in [0, 1]; the paper's levels are 0, .25, .5, .75.
        seed: seed of which images are replaced and by which foreign images.
        foreign: uint8 (M, C', H', W'), C' in {1, 3}, M ≥ round(α · N).

    Returns:
        uint8 (N, C, H, W).
    """
    x = check_images(images)
    f = check_images(foreign, name="foreign images")
    a = _check_alpha(alpha, "contaminate", 1.0)
    n, c, h, w = x.shape
    m = _round_half_up(a * n)
    if m > f.shape[0]:
        raise GbenchError(f"contaminate: alpha = {a:g} replaces {m} of {n} images but only {f.shape[0]} "
                          f"foreign images were given: pass at least {m} foreign images or a smaller alpha")
    rng = np.random.default_rng(seed)
    targets = torch.from_numpy(rng.permutation(n)[:m])
    sources = torch.from_numpy(rng.permutation(f.shape[0])[:m])
    out = x.clone()
    if m > 0:
        out[targets.to(x.device)] = _fit_foreign(f[sources.to(f.device)], c, h, w).to(x.device)
    return out


class Disturbance(NamedTuple):
    """One row of :data:`DISTURBANCES`."""

    function: Callable[..., torch.Tensor]
    levels: tuple[float, ...]
    description: str


# The paper's four levels per disturbance (Heusel et al. 2017, App., Fig. A).
DISTURBANCES: dict[str, Disturbance] = {
    "gaussian_noise": Disturbance(gaussian_noise, (0.0, 0.25, 0.5, 0.75),
                                  "(1-α)·image + α·Gaussian noise image N(127.5, 42.5²)"),
    "gaussian_blur": Disturbance(gaussian_blur, (0.0, 1.0, 2.0, 4.0),
                                 "Gaussian blur with σ = α pixels"),
    "black_rectangles": Disturbance(black_rectangles, (0.0, 0.25, 0.5, 0.75),
                                    "5 black squares of side α × image size at random positions"),
    "swirl": Disturbance(swirl, (0.0, 1.0, 2.0, 4.0),
                         "swirl around the center with strength α (ρ = 25 px at 64×64)"),
    "salt_and_pepper": Disturbance(salt_and_pepper, (0.0, 0.1, 0.2, 0.3),
                                   "each pixel set to black or white with probability α"),
    "contaminate": Disturbance(contaminate, (0.0, 0.25, 0.5, 0.75),
                               "fraction α of the images replaced by foreign images (needs foreign=...)"),
}
