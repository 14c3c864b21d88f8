"""`3d-gan`: volumetric GAN of object shapes (occupancy grids).

Wu, Zhang, Xue, Freeman & Tenenbaum 2016, "Learning a Probabilistic Latent
Space of Object Shapes via 3D Generative-Adversarial Modeling" (Sec. 3.1):

* G maps a 200-d latent z to a 64×64×64 occupancy grid with five volumetric
  transposed convolutions, kernels 4×4×4, stride 2, channels 512-256-128-64-1
  (4³ → 8³ → 16³ → 32³ → 64³), batch norm and ReLU between them, a sigmoid at
  the end; no pooling, no linear layers. z is drawn i.i.d. uniform on [0, 1]
  (the authors' released sampler, ``torch.rand``), and their convolutions
  carry no bias.
* D "mirrors the generator, except that it uses Leaky ReLU": strided
  volumetric convolutions 64-128-256-512 with LeakyReLU (slope 0.2) and batch
  norm between them, then a 4×4×4 convolution to one logit (sigmoid: the
  probability that the grid is real). Read as a mirror, G's output layer (no
  batch norm) becomes D's input layer without batch norm, as in DCGAN. With
  batch norm there, real and fake batches are normalized separately, so D
  cannot see how much of a grid is occupied: at the quick preset G then
  drifted to nearly empty grids (0.1 % of voxels after 500 iterations; data
  4.5 %). D sees occupancies in [0, 1]: real grids {0, 1}, generated ones G's
  probabilities.
* Binary cross-entropy GAN loss (G: the non-saturating −log D(G(z))), Adam
  with lr 0.0025 for G and 1e-5 for D, β1 = 0.5, batch 100.
* Adaptive training: "the discriminator learns much faster than the
  generator", so D is updated only when its accuracy on the batch is at most
  80 % (``d_accuracy_gate``). The trainer's ``Phase.skip_if`` does it: D's loss
  logs ``too_accurate`` (accuracy > gate) and the update is then skipped — no
  backward pass, no Adam step — while the D loss and accuracy are still logged
  (``d/accuracy``, ``d/too_accurate``) and the trainer counts the skipped
  updates (``d/skipped``). The accuracy is that of the D forward pass of the
  update itself (real logits > 0, fake logits < 0, over 2 × batch), before the
  step; the paper says "in the last batch".

Data and samples: ``image_shape`` is (1, S, S, S), S = 4·2^L (32 for the
embedded voxel set, 64 as in the paper). Training data are uint8 occupancy
grids {0, 255} (or floats in [-1, 1]); ``generate`` / ``sample`` return float
(N, 1, S, S, S) in [-1, 1], the occupancy probability p mapped to 2p − 1, so
a voxel is occupied when the output is > 0 (p > 0.5): gbench thresholds there
to get uint8 {0, 255} grids. ``preview`` renders samples as shaded isometric
views (N, 1, 64, 64) in [-1, 1], for the trainer's sample grids
(:func:`isometric_view`).

Deviations from the paper:

* At 32³ (the embedded data) G and D have one resolution level fewer: G is
  4³ → 8³ → 16³ → 32³ with channels 256-128-64-1 (the 512-channel level is
  dropped, as DCGAN's trunks drop one level at 32×32), D 64-128-256 → logit.
  At 64³ the layers and channels are the paper's.
* Widths: ``ngf`` / ``ndf`` are the channels of G's last and D's first hidden
  layer (64 in the paper); the smoke and quick presets use a width multiplier
  (ngf = ndf = 8 at quick, 1/8 of the paper's) so that training fits CPU
  minutes; the full preset uses the paper's widths.
* The quick preset (1,500 iterations of batch 16) also changes the learning
  rates (G 0.0025 → 1e-3, D 1e-5 → 1e-4) and the latent (z ~ N(0, I) instead
  of U[0, 1]); the measured reasons are at :data:`PRESETS`. Smoke and full
  keep the paper's.
* The paper gives no iteration count: the full preset runs 25,000 iterations
  of batch 100. Weights start from N(0, 0.02) (DCGAN's init; the paper names
  none). D's input and logit convolutions have a bias (only G's release is
  public; its convolutions have none).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from zoo.layers import dcgan_init_
from zoo.models.base import ModelSpec, PRESET_NAMES, evaluating, rand, randn
from zoo.models.gan import GAN
from zoo.train import Phase, TrainConfig

LATENTS = ("uniform", "normal")
PREVIEW_SIZE = 64


@dataclass(frozen=True)
class GAN3DConfig:
    """Hyper-parameters of 3D-GAN.

    Attributes:
        image_shape: (1, S, S, S) occupancy grids, S = 4·2^L, L ≥ 1 (32 or 64).
        train: optimization settings: ``batch_size``, ``betas`` (0.5, 0.999),
            ``steps``; ``train.lr`` is not used (G and D have their own rates).
        latent_dim: size of z (200).
        latent: "uniform" (z ~ U[0, 1]^d, the authors' sampler) or "normal".
        ngf, ndf: channels of G's last hidden layer / D's first layer (64).
        lr_g, lr_d: Adam learning rates of G and D (0.0025, 1e-5).
        d_accuracy_gate: D is updated only when its batch accuracy is ≤ this
            (0.8); 1.0 = always (the gate never closes).
        loss: "non-saturating" (binary cross-entropy, the paper's) or another
            of :data:`zoo.losses.GAN_LOSSES`.
    """

    image_shape: tuple[int, int, int, int]
    train: TrainConfig
    latent_dim: int = 200
    latent: str = "uniform"
    ngf: int = 64
    ndf: int = 64
    lr_g: float = 0.0025
    lr_d: float = 1e-5
    d_accuracy_gate: float = 0.8
    loss: str = "non-saturating"

    def __post_init__(self):
        _levels(self.image_shape)
        if self.latent not in LATENTS:
            raise ValueError(f"latent must be one of {LATENTS}, got {self.latent!r}")
        if not 0.0 <= self.d_accuracy_gate <= 1.0:
            raise ValueError(f"d_accuracy_gate must be in [0, 1], got {self.d_accuracy_gate}")
        if min(self.latent_dim, self.ngf, self.ndf) < 1:
            raise ValueError(f"latent_dim, ngf and ndf must be ≥ 1, got {self.latent_dim}, {self.ngf}, {self.ndf}")


def _levels(image_shape) -> int:
    """L for a (1, S, S, S) grid with S = 4·2^L, L ≥ 1."""
    shape = tuple(int(s) for s in image_shape)
    size = shape[-1] if len(shape) == 4 else 0
    levels = int(round(math.log2(size / 4))) if size >= 8 else 0
    if len(shape) != 4 or shape[0] != 1 or len(set(shape[1:])) != 1 or levels < 1 or 4 * 2 ** levels != size:
        raise ValueError(f"3d-gan models occupancy grids: image_shape must be (1, S, S, S) with S = 4·2^L "
                         f"(8, 16, 32, 64, ...), got {tuple(image_shape)}")
    return levels


class Generator3D(nn.Module):
    """z (N, latent_dim) → occupancy probabilities (N, 1, S, S, S) in (0, 1).

    A 4³ transposed convolution of the 1³ input to ngf·2^(L−1) channels, L−1
    up-sampling layers halving the channels, a last one to 1 channel; batch norm
    and ReLU after every layer but the last, a sigmoid after it. No biases.
    """

    def __init__(self, latent_dim: int, size: int, ngf: int):
        super().__init__()
        levels = _levels((1, size, size, size))
        channels = [ngf * 2 ** (levels - 1 - i) for i in range(levels)]
        layers: list[nn.Module] = [nn.ConvTranspose3d(latent_dim, channels[0], 4, 1, 0, bias=False),
                                   nn.BatchNorm3d(channels[0]), nn.ReLU()]
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.ConvTranspose3d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm3d(c_out), nn.ReLU()]
        layers += [nn.ConvTranspose3d(channels[-1], 1, 4, 2, 1, bias=False), nn.Sigmoid()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1, 1))


class Discriminator3D(nn.Module):
    """Occupancies (N, 1, S, S, S) in [0, 1] → logits (N,): G's mirror.

    L strided 4³ convolutions ndf → ndf·2^(L−1) channels, each followed by
    LeakyReLU(0.2) and, except the first (the mirror of G's output layer, which
    has none), by batch norm before it; then a 4³ convolution of the 4³ map to
    one logit.
    """

    def __init__(self, size: int, ndf: int):
        super().__init__()
        levels = _levels((1, size, size, size))
        channels = [ndf * 2 ** i for i in range(levels)]
        layers: list[nn.Module] = [nn.Conv3d(1, channels[0], 4, 2, 1), nn.LeakyReLU(0.2)]  # no BN at the input
        for c_in, c_out in zip(channels, channels[1:]):
            layers += [nn.Conv3d(c_in, c_out, 4, 2, 1, bias=False), nn.BatchNorm3d(c_out), nn.LeakyReLU(0.2)]
        layers.append(nn.Conv3d(channels[-1], 1, 4, 1, 0))
        self.net = nn.Sequential(*layers)

    def forward(self, occupancy: torch.Tensor) -> torch.Tensor:
        return self.net(occupancy).flatten(1).squeeze(1)


class GAN3D(GAN):
    """3D-GAN: the game of :class:`zoo.models.gan.GAN` on occupancy grids, with
    D's adaptive update (see the module docstring).

    Shapes: x float (N, 1, S, S, S) in [-1, 1] (occupancy 2p − 1); z (N, latent_dim).
    """

    def __init__(self, config: GAN3DConfig):
        size = config.image_shape[-1]
        super().__init__(config, Generator3D(config.latent_dim, size, config.ngf),
                         Discriminator3D(size, config.ndf), weight_init=dcgan_init_)

    def phases(self, train: TrainConfig) -> list[Phase]:
        return [
            Phase("d", (self.discriminator,), self.config.lr_d, train.betas, updates=train.k_d_steps,
                  skip_if="too_accurate"),
            Phase("g", (self.generator,), self.config.lr_g, train.betas),
        ]

    def latents(self, n: int, generator: torch.Generator | None, device: torch.device) -> torch.Tensor:
        """z (n, latent_dim): U[0, 1] (``latent="uniform"``) or N(0, I), drawn on the generator's
        device (a seeded CPU generator gives the same z whatever the model's device)."""
        draw = rand if self.config.latent == "uniform" else randn  # sharded per rank in data-parallel training
        return draw((n, self.latent_dim), generator, device)

    def generate(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """G(z) as 2p − 1: (N, latent_dim) → (N, 1, S, S, S) in [-1, 1]; occupied where > 0."""
        return self.generator(z) * 2.0 - 1.0

    def discriminate(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        """Logits (N,) of D on x in [-1, 1], shown to D as occupancies (x + 1) / 2 in [0, 1]."""
        return self.discriminator((x + 1.0) * 0.5)

    def loss(self, phase, batch, generator):
        x, _ = batch
        z = self.latents(x.shape[0], generator, x.device)
        if phase == "d":
            with torch.no_grad():
                fake = self.generate(z)
            real_logits, fake_logits = self.discriminate(x), self.discriminate(fake)
            correct = (real_logits.detach() > 0).sum() + (fake_logits.detach() < 0).sum()
            accuracy = correct.float() / (2 * x.shape[0])
            logs = {"accuracy": accuracy, "too_accurate": accuracy > self.config.d_accuracy_gate,
                    "real_logit": real_logits.detach().mean(), "fake_logit": fake_logits.detach().mean()}
            return self.d_loss(real_logits, fake_logits), logs
        if phase == "g":
            fake = self.generate(z)
            return self.g_loss(self.discriminate(fake)), {"occupancy": (fake.detach() > 0).float().mean()}
        raise ValueError(f"{type(self).__name__} has phases 'd' and 'g', not {phase!r}")

    def sample(self, n: int, generator: torch.Generator | None = None,
               labels: torch.Tensor | None = None) -> torch.Tensor:
        """n grids, float32 (n, 1, S, S, S) in [-1, 1] (occupied where > 0), on the model's device;
        z from ``generator`` (global RNG if None), decoded in eval mode without autograd."""
        with evaluating(self):
            return self.generate(self.latents(n, generator, self.device)).float()

    def preview(self, x: torch.Tensor) -> torch.Tensor:
        """Grids (N, 1, S, S, S) in [-1, 1] → shaded isometric views (N, 1, 64, 64) in [-1, 1]
        of their occupied voxels (> 0): the trainer's sample grids."""
        return isometric_view(x > 0, PREVIEW_SIZE) * 2.0 - 1.0


def isometric_view(occupancy: torch.Tensor, size: int = PREVIEW_SIZE, up: int = 2) -> torch.Tensor:
    """Shaded isometric renderings of occupancy grids (orthographic ray casting).

    The camera looks at the grid's centre from its (+, +, +) corner (the three
    axes at equal angles), with grid axis ``up`` (0, 1 or 2 of (D, H, W))
    pointing up in the picture. Each pixel's ray walks the grid voxel by voxel
    (Amanatides & Woo 1987) to its first occupied voxel; the face it entered
    through sets the brightness (top faces brightest, the two side
    orientations darker), depth dims it slightly; the background is white.

    Args:
        occupancy: bool or numeric (N, 1, S, S, S) or (N, S, S, S); non-zero = occupied.
        size: output height = width in pixels.
        up: the grid axis drawn vertically.

    Returns:
        float32 (N, 1, size, size) in [0, 1], on the input's device.
    """
    occ = occupancy.squeeze(1) if occupancy.ndim == 5 else occupancy
    if occ.ndim != 4 or len(set(occ.shape[1:])) != 1:
        raise ValueError(f"expected occupancy grids (N, 1, S, S, S) or (N, S, S, S), got {tuple(occupancy.shape)}")
    if up not in (0, 1, 2):
        raise ValueError(f"up must be a grid axis 0, 1 or 2, got {up}")
    n, s = occ.shape[0], occ.shape[1]
    flat = (occ != 0).reshape(n, -1)
    device = occ.device
    # camera: rays along −(1, 1, 1)/√3, the picture's vertical is grid axis ``up``
    view = -torch.ones(3, dtype=torch.float64) / math.sqrt(3.0)
    world_up = torch.zeros(3, dtype=torch.float64)
    world_up[up] = 1.0
    right = torch.linalg.cross(view, world_up)
    right = right / right.norm()
    cam_up = torch.linalg.cross(right, view)
    extent = s * math.sqrt(3.0) / 2  # the grid's bounding sphere
    frame = s * 2 / math.sqrt(6.0)  # half the grid's projected height: the picture frames the whole grid
    pix = (torch.arange(size, dtype=torch.float64) + 0.5) / size * 2 - 1
    v, u = torch.meshgrid(-pix, pix, indexing="ij")  # image rows go down
    origins = (s / 2 + frame * (u[..., None] * right + v[..., None] * cam_up) - 2 * extent * view).reshape(-1, 3)
    # entry into the box [0, S]³: the ray descends on every axis, so it enters through the upper planes
    t_planes = (s - origins) / view  # (P, 3)
    t_enter, face = t_planes.max(1)
    t_exit = (-origins / view).min(1).values
    live = t_enter < t_exit
    start = origins + (t_enter + 1e-6)[:, None] * view
    idx = torch.floor(start).clamp(0, s - 1).to(torch.int64)
    t_next = (idx - origins) / view  # where the ray crosses each axis' lower voxel plane
    delta = 1.0 / abs(float(view[0]))
    hit_t = torch.full((n, idx.shape[0]), math.inf, dtype=torch.float64)
    hit_face = torch.zeros((n, idx.shape[0]), dtype=torch.int64)
    t_here = t_enter.clone()
    rays = torch.arange(idx.shape[0])
    for _ in range(3 * s):
        live &= (idx >= 0).all(1)
        if not live.any():
            break
        linear = (idx.clamp(0, s - 1) * torch.tensor([s * s, s, 1])).sum(1)
        filled = flat[:, linear.to(device)].cpu() & live & torch.isinf(hit_t)
        hit_t = torch.where(filled, t_here, hit_t)
        hit_face = torch.where(filled, face, hit_face)
        axis = t_next.argmin(1)  # step into the neighbour across the nearest plane
        t_here = t_next[rays, axis]
        idx[rays, axis] -= 1
        t_next[rays, axis] += delta
        face = axis
    shade = torch.full((3,), 0.55, dtype=torch.float64)
    shade[up] = 0.85
    shade[[a for a in range(3) if a != up][0]] = 0.4
    near, far = extent, 3 * extent  # the depth range of points inside the bounding sphere
    dim = 1.0 - 0.5 * ((hit_t - near) / (far - near)).clamp(0, 1)
    image = torch.where(torch.isinf(hit_t), torch.ones_like(hit_t), shade[hit_face] * dim)
    return image.float().view(n, 1, size, size).to(device)


# Costs measured on one core (torch.set_num_threads(1)) of a busy 2-core machine, 1×32³ `voxels` grids.
PRESETS = {
    "smoke": dict(latent_dim=16, ngf=4, ndf=4,
                  train=TrainConfig(steps=4, batch_size=8, log_every=1, checkpoint_every=2)),
    # quick: 0.38–0.40 s per iteration (batch 16, ngf = ndf = 8), 1,500 iterations ≈ 600 core-seconds (about 6
    # minutes on two cores). Measured on `voxels` (300 samples against 300 test grids, 1 − IoU): MMD 0.828 /
    # COV 0.013 after 600 iterations (nearly collapsed), 0.571 / 0.360 after 900, 0.559 / 0.403 after 1,200,
    # 0.550 / 0.420 after 1,500; the voxel-wise Bernoulli baseline 0.83 / 0.02, real train shapes 0.44 / 0.56.
    # At this budget the paper's rates (G 0.0025, D 1e-5) leave D behind from the start (D's logit on fakes
    # +5 after 400 iterations, G fooling a near-random D; MMD 0.99) and U[0, 1] latents collapse to one
    # shape (mean pairwise IoU distance of samples 0.01 after 600 iterations, 0.30 with N(0, I)); so quick
    # uses G 1e-3, D 1e-4 and N(0, I) z. D still skips about half its updates at the 80 % gate. Batch 32 for
    # 600 iterations (the cost of batch 16 × 1,200) reached only MMD 0.655 / COV 0.240.
    "quick": dict(ngf=8, ndf=8, latent="normal", lr_g=1e-3, lr_d=1e-4,
                  train=TrainConfig(steps=1500, batch_size=16, log_every=20, checkpoint_every=100,
                                    sample_every=0)),
    "full": dict(ngf=64, ndf=64,
                 train=TrainConfig(steps=25_000, batch_size=100, log_every=100, checkpoint_every=2000,
                                   sample_every=2000, grid_size=36)),
}


def make_config(preset: str, image_shape: tuple[int, int, int, int],
                num_classes: int | None = None) -> GAN3DConfig:
    """The ``3d-gan`` config for a preset (smoke | quick | full) and grid shape (1, S, S, S);
    unconditional, so ``num_classes`` is ignored."""
    if preset not in PRESET_NAMES:
        raise ValueError(f"unknown preset {preset!r}: choose one of {', '.join(PRESET_NAMES)}")
    _levels(image_shape)
    return GAN3DConfig(image_shape=tuple(int(s) for s in image_shape), **PRESETS[preset])


SPEC = ModelSpec(
    name="3d-gan", family="voxel", conditional=False, make_config=make_config, build=GAN3D, presets=PRESETS,
    description="Wu et al. 2016: volumetric transposed-conv G (200-d uniform z) and mirrored D on occupancy grids, "
                "BCE, Adam(G 0.0025, D 1e-5, β1 0.5), D updated only while its accuracy ≤ 80 %",
)
