"""Perceptual path length (Karras, Laine & Aila 2019, "A Style-Based Generator
Architecture for GANs", Sec. 4.1, Eq. 2 and 3).

How much the image changes, perceptually, per unit step along an interpolation
in latent space. In Z (spherical interpolation of normalized Gaussian z):

    l_Z = E[ 1/ε² · d(G(slerp(z₁, z₂; t)), G(slerp(z₁, z₂; t + ε))) ],   z₁, z₂ ~ N(0, I)

and in W (linear interpolation of mapped w = f(z), synthesis g):

    l_W = E[ 1/ε² · d(g(lerp(f(z₁), f(z₂); t)), g(lerp(f(z₁), f(z₂); t + ε))) ]

with ε = 1e-4 and d the LPIPS distance (VGG-16). t ~ U(0, 1) for "full" paths;
for "end" paths t = 0 — the official code (stylegan ``metrics/perceptual_path_length.py``)
draws ``tf.random_uniform([n], 0.0, 1.0 if sampling == 'full' else 0.0)``, i.e. the
end point t = 0 only (by symmetry of the path distribution it stands for t = 1 too).
As in that code, the per-layer noise inputs are fixed between the two ends of a path,
and the mean is taken over the paths whose value lies within the 1st and 99th
percentiles (``np.percentile(..., 1, 'lower')`` / ``(..., 99, 'higher')``).

Deviations from the official code:
* no face crop and no 256² downsampling before LPIPS (our images are small, not
  aligned faces): the whole image is compared;
* the noise is drawn per path (a seeded copy of one generator for both ends), not one
  noise image shared by a whole minibatch;
* slerp runs on the unit sphere as in the official ``slerp`` and the result is scaled
  by √D, the typical norm of D-dim Gaussian z: identical for StyleGAN (its mapping
  pixel-normalizes z first), and keeps z in-distribution for GANs without that norm;
* where LPIPS weights do not resolve (offline), d is a stand-in named in the record:
  ‖φ(a)/‖φ(a)‖ − φ(b)/‖φ(b)‖‖² with φ the domain evaluator's features (see make_distance);
* the zoo's synthesis clamps images to [-1, 1] (the official compares unclamped outputs);
* the std over the kept paths is returned as a spread; the official reports the mean only.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, register_metric

SPACES = ("z", "w")
SAMPLINGS = ("full", "end")


def slerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """The official StyleGAN slerp on the unit sphere, scaled by √D.

    a, b: (N, D); t: (N,) → (N, D). ``t`` may leave [0, 1] (t + ε): the great circle
    is simply continued.
    """
    a = a / a.norm(dim=-1, keepdim=True)
    b = b / b.norm(dim=-1, keepdim=True)
    d = (a * b).sum(-1, keepdim=True)
    p = t[:, None] * torch.acos(d.clamp(-1.0, 1.0))
    c = b - d * a
    c = c / c.norm(dim=-1, keepdim=True)
    out = a * torch.cos(p) + c * torch.sin(p)
    return out / out.norm(dim=-1, keepdim=True) * math.sqrt(a.shape[-1])


def lerp(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """a + t(b − a); a, b: (N, ...), t: (N,)."""
    return a + t.reshape(-1, *[1] * (a.ndim - 1)).to(a.dtype) * (b - a)


def path_length(generate: Callable, distance: Callable, latents_a, latents_b, t, eps: float = 1e-4,
                space: str = "z") -> np.ndarray:
    """Per-path 1/ε² · d(G(interp(a, b; t)), G(interp(a, b; t + ε))) → float64 numpy (N,).

    Args:
        generate: latents (N, D) → images (N, C, H, W); called once per end, so a
            caller that fixes noise must give the same noise on both calls.
        distance: (images a, images b) → (N,) distances.
        latents_a, latents_b: path ends (N, D): Gaussian z (``space="z"``, slerp)
            or mapped w (``space="w"``, lerp).
        t: (N,) positions on the paths.
    """
    if space not in SPACES:
        raise GbenchError(f"PPL space must be one of {SPACES}, got {space!r}")
    if not eps > 0:
        raise GbenchError(f"PPL eps must be > 0, got {eps!r}")
    a, b = torch.as_tensor(latents_a), torch.as_tensor(latents_b)
    t = torch.as_tensor(t, dtype=a.dtype, device=a.device)
    interp = slerp if space == "z" else lerp
    d = distance(generate(interp(a, b, t)), generate(interp(a, b, t + eps)))
    return torch.as_tensor(d).detach().double().cpu().numpy().reshape(-1) / eps ** 2


def percentile_filter(dist: np.ndarray, percentiles: tuple[float, float] | None = (1, 99)) -> np.ndarray:
    """The values within [lo, hi] percentiles (official: 'lower' / 'higher' interpolation); None keeps all."""
    dist = np.asarray(dist, dtype=np.float64)
    if percentiles is None:
        return dist
    lo = np.percentile(dist, percentiles[0], method="lower")
    hi = np.percentile(dist, percentiles[1], method="higher")
    return dist[(lo <= dist) & (dist <= hi)]


def perceptual_path_length(model, distance: Callable, n_paths: int, space: str = "z", sampling: str = "full",
                           eps: float = 1e-4, seed: int = 0, batch_size: int = 64,
                           percentiles: tuple[float, float] | None = (1, 99)) -> tuple[float, float, dict]:
    """PPL of a zoo generator: (mean, std over the kept paths, details).

    ``space="z"``: any model with ``latent_dim`` and ``generate(z)``; a style-based model
    (``mapping`` + ``synthesis``) is run as synthesis(mapping(z)) with fixed noise.
    ``space="w"``: needs ``mapping(z) -> w`` and ``synthesis(ws, generator=...)``.
    All randomness (z pairs, t, noise seeds) comes from ``torch.Generator().manual_seed(seed)``,
    drawn batch by batch: the same (seed, batch_size) gives the same paths; another batch_size
    draws other paths (same distribution).
    details: n_paths, n_kept, distances (all, float64 (n_paths,)), the protocol used.
    """
    if sampling not in SAMPLINGS:
        raise GbenchError(f"PPL sampling must be one of {SAMPLINGS}, got {sampling!r}")
    if n_paths < 1 or batch_size < 1:
        raise GbenchError(f"n_paths and batch_size must be ≥ 1, got {n_paths}, {batch_size}")
    styled = hasattr(model, "mapping") and hasattr(model, "synthesis")
    if space == "w" and not styled:
        raise GbenchError(f"PPL in W needs a model with mapping(z) and synthesis(w) (StyleGAN), got {type(model).__name__}")
    device = getattr(model, "device", torch.device("cpu"))
    gen = torch.Generator().manual_seed(seed)
    dists = []
    was_training = isinstance(model, torch.nn.Module) and model.training
    if isinstance(model, torch.nn.Module):
        model.eval()  # no dropout / batch statistics: both ends must see the same network
    try:
        with torch.no_grad():
            for start in range(0, n_paths, batch_size):
                n = min(batch_size, n_paths - start)
                z = torch.randn((2, n, model.latent_dim), generator=gen).to(device)
                t = torch.rand(n, generator=gen) * (1.0 if sampling == "full" else 0.0)
                noise_seed = int(torch.randint(0, 2 ** 62, (), generator=gen))
                if styled:
                    # The same noise on both ends: a fresh copy of one seeded generator per call.
                    def synth(ws, s=noise_seed):
                        return model.synthesis(ws, generator=torch.Generator().manual_seed(s)).float()
                    generate = synth if space == "w" else (lambda zz: synth(model.mapping(zz)))
                    a, b = (model.mapping(z[0]), model.mapping(z[1])) if space == "w" else (z[0], z[1])
                else:
                    def generate(zz):
                        return model.generate(zz).float()
                    a, b = z[0], z[1]
                dists.append(path_length(generate, distance, a, b, t.to(device), eps=eps, space=space))
    finally:
        if was_training:
            model.train()
    dist = np.concatenate(dists)
    kept = percentile_filter(dist, percentiles)
    details = {"n_paths": int(n_paths), "n_kept": int(kept.size), "distances": dist, "ppl_eps": eps,
               "ppl_space": space, "ppl_sampling": sampling, "ppl_percentiles": percentiles,
               "ppl_distance": getattr(distance, "name", None)}
    return float(kept.mean()), float(kept.std()), details


def make_distance(lpips, extractor, device) -> tuple[Callable, str]:
    """(distance(a, b) -> float (N,) tensor, its name) for PPL.

    Images: float (N, C, H, W) in [-1, 1], or uint8 (converted). They are never
    quantized to uint8 here: a step of ε = 1e-4 changes pixels by far less than 1/255.

    * ``lpips`` (a :class:`gbench.features.lpips_net.LoadedLPIPS`, from ``try_load_lpips``):
      its module on [-1, 1] floats, 1-channel images replicated to RGB → "lpips-<net>";
    * else ``extractor`` (a domain evaluator whose network has ``forward_float`` or
      ``outputs(...).features`` on [-1, 1] floats): a stand-in, the squared L2 distance
      of L2-normalized features → "features-<extractor name>".
    """
    from gbench.images import to_rgb, uint8_to_float

    def as_float(x):
        x = torch.as_tensor(x)
        return (uint8_to_float(x) if x.dtype == torch.uint8 else x.float()).to(device)

    if lpips is not None:
        def lpips_distance(a, b):
            with torch.no_grad():
                return lpips.model(to_rgb(as_float(a)), to_rgb(as_float(b))).flatten()
        lpips_distance.name = f"lpips-{lpips.net}"
        return lpips_distance, lpips_distance.name
    if extractor is None:
        raise GbenchError("PPL needs a distance: LPIPS weights did not resolve and no feature extractor was given")
    net = extractor.net
    if hasattr(net, "forward_float"):
        def feats(x):
            return net.forward_float(x)[0]
    elif hasattr(net, "outputs"):
        def feats(x):
            return net.outputs(x).features
    else:
        raise GbenchError(f"{extractor.name} takes only uint8 images, which would round away PPL's ε-steps: "
                          "use LPIPS or a domain evaluator (forward_float)")
    channels = extractor.spec.channels

    def feature_distance(a, b):
        x, y = as_float(a), as_float(b)
        if channels == 3:
            x, y = to_rgb(x), to_rgb(y)
        with torch.no_grad():
            fx, fy = (torch.nn.functional.normalize(feats(v).double(), dim=1) for v in (x, y))
        return ((fx - fy) ** 2).sum(1)
    feature_distance.name = f"features-{extractor.name}"
    return feature_distance, feature_distance.name


def metric_name(space: str, sampling: str) -> str:
    """The registered metric of one PPL variant: ``("w", "end") → "ppl_w_end"``."""
    if space not in SPACES or sampling not in SAMPLINGS:
        raise GbenchError(f"PPL space/sampling must be in {SPACES} × {SAMPLINGS}, got {space!r}, {sampling!r}")
    return f"ppl_{space}_{sampling}"


# One metric per (space, sampling), as the paper's Table 3 has one column each; the protocol is the
# paper's (100k paths, LPIPS-VGG); a record's protocol says what its run used.
register_metric(*(MetricSpec(
    metric_name(space, sampling), f"PPL {space.upper()} {sampling}", False,
    f"perceptual path length in {space.upper()}, {'t ~ U(0, 1)' if sampling == 'full' else 'end points t = 0'} "
    "(Karras et al. 2019, Eq. 2/3): LPIPS change per ε-step along latent interpolations, 1st–99th percentile mean",
    decimals=1, consumes="run",
    protocol={"ppl_eps": 1e-4, "ppl_paths": 100_000, "ppl_sampling": sampling, "ppl_space": space,
              "ppl_percentiles": (1, 99), "ppl_lpips_net": "vgg", "ppl_crop": False},
    spread="std over the kept paths",
) for space in SPACES for sampling in SAMPLINGS))
