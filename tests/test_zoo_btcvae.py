"""zoo's dSprites VAE family: the minibatch-weighted total-correlation estimator
(what it measures), the 64×64 network of the β-VAE papers (shapes), and the
three registered models at the smoke preset."""

import dataclasses
import math

import pytest
import torch
from torch import nn

from zoo.layers.burgess import BurgessDecoder, BurgessEncoder
from zoo.losses.tc import mws_log_densities, pairwise_log_density, total_correlation
from zoo.models import MODELS
from zoo.models.btcvae import BurgessVAE, latent_traversal
from zoo.train import train

NAMES = ["burgess-vae", "burgess-beta-vae", "beta-tcvae"]


pytestmark = pytest.mark.usefixtures("one_thread")  # see conftest.py


# ---------------------------------------------------------------- TC estimator (Chen et al. 2018, MWS)


def _overlapping_posteriors(m, latents, rho, sigma, seed):
    """A minibatch whose posteriors N(μ_j, σ² I) have means ~ N(0, C), C = I except corr(μ_0, μ_1) = ρ.

    The aggregate posterior is then close to N(0, C + σ² I), whose total correlation
    is −½ log(1 − r²) with r = ρ / (1 + σ²) (0 for ρ = 0).
    """
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(m, latents, generator=g)
    mu = a.clone()
    mu[:, 1] = rho * a[:, 0] + math.sqrt(1.0 - rho**2) * a[:, 1]
    logvar = torch.full((m, latents), 2.0 * math.log(sigma))
    z = mu + sigma * torch.randn(m, latents, generator=g)
    r = rho / (1.0 + sigma**2)
    return z, mu, logvar, -0.5 * math.log(1.0 - r * r)


def test_pairwise_log_density_matches_torch_distributions():
    z, mu, logvar, _ = _overlapping_posteriors(5, 3, 0.5, 0.7, seed=0)
    expected = torch.distributions.Normal(mu[None], torch.exp(0.5 * logvar[None])).log_prob(z[:, None])
    torch.testing.assert_close(pairwise_log_density(z, mu, logvar), expected)


def test_mws_tc_is_its_constant_offset_for_a_factorized_aggregate_and_the_true_tc_when_correlated():
    # MWS reads every log-density low by log N when the minibatch mixture describes
    # q(z) (overlapping posteriors, large M), so its TC is the true TC + (L − 1)·log N
    # (zoo.losses.tc docstring). With M = 2048, L = 3, σ = 0.5, over 10 seeds the
    # factorized case measured 0.005 to 0.016 nats and the correlated one 0.34 to 0.39
    # (true 0.365): tolerances 0.05 and 0.1.
    seed, m, latents, n = 0, 2048, 3, 20_000
    offset = (latents - 1) * math.log(n)
    z, mu, logvar, true_tc = _overlapping_posteriors(m, latents, 0.0, 0.5, seed)
    assert true_tc == 0.0
    factorized = total_correlation(z, mu, logvar, n).mean().item() - offset
    assert abs(factorized) < 0.05
    z, mu, logvar, true_tc = _overlapping_posteriors(m, latents, 0.9, 0.5, seed)
    correlated = total_correlation(z, mu, logvar, n).mean().item() - offset
    assert correlated == pytest.approx(true_tc, abs=0.1)
    assert correlated > factorized + 0.25


def test_mws_with_identical_posteriors_gives_exactly_the_offset():
    # Every q(z|x_j) is N(0, I): logsumexp over j adds log M to each density, so
    # TC = −(L − 1)·log M + (L − 1)·log(N·M) = (L − 1)·log N, whatever the samples.
    m, latents, n = 64, 10, 20_000
    z = torch.randn(m, latents, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    zeros = torch.zeros(m, latents, dtype=torch.float64)
    tc = total_correlation(z, zeros, zeros, n)
    torch.testing.assert_close(tc, torch.full((m,), (latents - 1) * math.log(n), dtype=torch.float64))


def test_mws_validates_its_inputs():
    z = torch.zeros(4, 2)
    with pytest.raises(ValueError, match="dataset_size"):
        mws_log_densities(z, z, z, 0)
    with pytest.raises(ValueError, match="at least 2"):
        mws_log_densities(z[:1], z[:1], z[:1], 10)
    with pytest.raises(ValueError, match=r"\(M, L\)"):
        pairwise_log_density(z, z[:, :1], z)


# ---------------------------------------------------------------- the 64×64 network


def test_burgess_trunks_have_the_papers_layers_and_shapes():
    enc, dec = BurgessEncoder(1, 64, out_dim=20), BurgessDecoder(10, 1, 64)
    convs = [m for m in enc.modules() if isinstance(m, nn.Conv2d)]
    assert [c.out_channels for c in convs] == [32, 32, 64, 64]
    assert all(c.kernel_size == (4, 4) and c.stride == (2, 2) for c in convs)
    assert [l.out_features for l in enc.modules() if isinstance(l, nn.Linear)] == [256, 20]
    deconvs = [m for m in dec.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert [c.out_channels for c in deconvs] == [32, 32, 64, 64][::-1][1:] + [1]
    assert [l.out_features for l in dec.modules() if isinstance(l, nn.Linear)] == [256, 64 * 4 * 4]
    x = torch.randn(3, 1, 64, 64)
    assert enc(x).shape == (3, 20)
    assert dec(torch.randn(3, 10)).shape == (3, 1, 64, 64)


@pytest.mark.parametrize("channels,size,width", [(1, 32, 4), (3, 64, 8), (1, 16, 2)])
def test_burgess_trunks_scale_with_width_and_size(channels, size, width):
    enc, dec = BurgessEncoder(channels, size, out_dim=6, width=width), BurgessDecoder(3, channels, size, width)
    assert dec(torch.randn(2, 3)).shape == (2, channels, size, size)
    assert enc(torch.randn(2, channels, size, size)).shape == (2, 6)
    with pytest.raises(ValueError, match="expects"):
        enc(torch.randn(2, channels, size // 2, size // 2))
    with pytest.raises(ValueError, match="multiple of 16"):
        BurgessEncoder(1, 24, out_dim=2)


# ---------------------------------------------------------------- the registered models


def _dsprites_like(n, seed=0):
    """Binary 64×64 images in {-1, 1}: a random white rectangle on black."""
    g = torch.Generator().manual_seed(seed)
    x = torch.full((n, 1, 64, 64), -1.0)
    for i in range(n):
        r, c = torch.randint(8, 40, (2,), generator=g).tolist()
        x[i, :, r:r + 16, c:c + 12] = 1.0
    return x


@pytest.mark.parametrize("name", NAMES)
def test_model_trains_at_smoke_and_exposes_codes(tmp_path, name):
    spec = MODELS.get(name)
    assert spec.family == "vae" and not spec.conditional
    config = spec.make_config("smoke", (1, 64, 64), None)
    config = dataclasses.replace(config, dataset_size=16)
    model = spec.build(config)
    assert isinstance(model, BurgessVAE) and model.latent_dim == 10
    images = _dsprites_like(16)
    history = train(model, config, images, None, tmp_path, "cpu", seed=0, progress=False)
    assert history[-1]["step"] == config.train.steps
    assert all(math.isfinite(v) for h in history for v in h.values())
    assert ("vae/tc_mws" in history[-1]) == (config.objective == "tc")

    x = images[:5]
    codes = model.encode_mean(x)
    assert codes.shape == (5, 10) and codes.dtype == torch.float32
    mu, _ = model.posterior(x)
    torch.testing.assert_close(codes, mu.detach())
    recon = model.reconstruct(x)
    assert recon.shape == x.shape and recon.min() >= -1 and recon.max() <= 1
    nll, elbo = model.reconstruction_nll(x), model.elbo(x, generator=torch.Generator().manual_seed(0))
    assert nll.shape == elbo.shape == (5,) and nll.dtype == torch.float64
    assert (nll > 0).all() and torch.isfinite(elbo).all()
    assert model.latent_kl(x).shape == (5, 10) and (model.latent_kl(x) >= 0).all()
    assert model.sample(3, generator=torch.Generator().manual_seed(1)).shape == (3, 1, 64, 64)
    assert model.training  # evaluation helpers restore the mode


def test_objectives_weigh_what_the_papers_say():
    x = _dsprites_like(8)
    g = lambda: torch.Generator().manual_seed(0)  # noqa: E731 - the same posterior sample for every model
    losses, logs = {}, {}
    for name in NAMES:
        spec = MODELS.get(name)
        torch.manual_seed(0)  # the same initial weights for all three
        model = spec.build(spec.make_config("smoke", (1, 64, 64), None))
        losses[name], logs[name] = model.loss("vae", (x, None), g())
    rec, kl, tc = logs["beta-tcvae"]["rec"], logs["beta-tcvae"]["kl"], logs["beta-tcvae"]["tc_mws"]
    for name in NAMES:  # same weights and posterior sample: the same reconstruction and KL terms
        torch.testing.assert_close((logs[name]["rec"], logs[name]["kl"]), (rec, kl))
    torch.testing.assert_close(losses["burgess-vae"], kl - rec)  # β = 1: the negative ELBO
    torch.testing.assert_close(losses["burgess-beta-vae"], 4.0 * kl - rec)  # β · KL
    torch.testing.assert_close(losses["beta-tcvae"], kl - rec + 3.0 * tc)  # MI + 4·TC + dim-KL = KL + 3·TC


def test_config_rejects_what_the_model_cannot_do():
    spec = MODELS.get("beta-tcvae")
    config = spec.make_config("smoke", (1, 64, 64), None)
    with pytest.raises(ValueError, match="objective"):
        dataclasses.replace(config, objective="factor")
    with pytest.raises(ValueError, match="unconditional"):
        dataclasses.replace(config, num_classes=3)
    with pytest.raises(ValueError, match="dataset_size"):
        dataclasses.replace(config, dataset_size=0)
    with pytest.raises(ValueError, match="multiple of 16"):
        spec.build(spec.make_config("smoke", (1, 8, 8), None))


def test_latent_traversal_moves_one_latent_per_row():
    spec = MODELS.get("burgess-vae")
    torch.manual_seed(0)
    model = spec.build(spec.make_config("smoke", (1, 64, 64), None))
    x = _dsprites_like(1)
    values = torch.linspace(-2.5, 2.5, 5)
    grid = latent_traversal(model, x, [3, 0], values)
    assert grid.shape == (10, 1, 64, 64) and grid.min() >= -1 and grid.max() <= 1
    for row, latent in enumerate([3, 0]):
        z = model.encode_mean(x).repeat(5, 1)
        z[:, latent] = values
        with torch.no_grad():
            torch.testing.assert_close(grid[5 * row:5 * (row + 1)], model.generate(z))
