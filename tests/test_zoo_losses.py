"""zoo.losses: GAN losses against their textbook formulas, stability at extreme
logits, the minimax saturation, and the ELBO / IWAE pieces."""

import math

import pytest
import torch

from zoo.losses import (
    bernoulli_log_likelihood, bits_per_dim, d_loss_bce, d_loss_hinge, dequantize_uint8, g_loss_hinge,
    g_loss_minimax, g_loss_nonsaturating, gan_losses, gaussian_log_likelihood, kl_normal_standard,
    log_mean_exp, normal_log_prob,
)


def test_gan_losses_match_probability_formulas():
    real, fake = torch.tensor([-2.0, 0.3, 1.5]), torch.tensor([-1.0, 0.0, 2.5])
    d_real, d_fake = torch.sigmoid(real), torch.sigmoid(fake)
    expected_d = (-torch.log(d_real)).mean() + (-torch.log(1 - d_fake)).mean()
    torch.testing.assert_close(d_loss_bce(real, fake), expected_d)
    torch.testing.assert_close(g_loss_minimax(fake), torch.log(1 - d_fake).mean())
    torch.testing.assert_close(g_loss_nonsaturating(fake), (-torch.log(d_fake)).mean())
    torch.testing.assert_close(d_loss_hinge(real, fake), (torch.relu(1 - real) + torch.relu(1 + fake)).mean())
    torch.testing.assert_close(g_loss_hinge(fake), -fake.mean())


@pytest.mark.parametrize("kind", ["minimax", "non-saturating", "hinge"])
def test_gan_losses_finite_at_extreme_logits(kind):
    d_fn, g_fn = gan_losses(kind)
    logits = torch.tensor([-1e4, -100.0, 100.0, 1e4], requires_grad=True)
    for loss in (d_fn(logits, logits), g_fn(logits)):
        (grad,) = torch.autograd.grad(loss, logits)
        assert torch.isfinite(loss) and torch.isfinite(grad).all()


def test_unknown_gan_loss_names_choices():
    with pytest.raises(ValueError, match="non-saturating"):
        gan_losses("least-squares")


def test_minimax_generator_gradient_saturates_when_discriminator_is_confident():
    # D(G(z)) ≈ 0: the regime at the start of training (Goodfellow et al. 2014, Sec. 3).
    fake_logits = torch.full((16,), -12.0, requires_grad=True)
    (g_mm,) = torch.autograd.grad(g_loss_minimax(fake_logits), fake_logits)
    (g_ns,) = torch.autograd.grad(g_loss_nonsaturating(fake_logits), fake_logits)
    assert g_ns.norm() / g_mm.norm() > 1e4


def test_kl_closed_form_matches_monte_carlo():
    g = torch.Generator().manual_seed(0)
    mu = torch.randn(3, 4, generator=g, dtype=torch.float64)
    logvar = torch.randn(3, 4, generator=g, dtype=torch.float64) * 0.5
    z = mu + torch.exp(0.5 * logvar) * torch.randn(200_000, 3, 4, generator=g, dtype=torch.float64)
    log_ratio = (normal_log_prob(z.reshape(-1, 4), mu.repeat(200_000, 1), logvar.repeat(200_000, 1))
                 - normal_log_prob(z.reshape(-1, 4))).view(200_000, 3)
    mc, se = log_ratio.mean(0), log_ratio.std(0) / math.sqrt(200_000)
    closed = kl_normal_standard(mu, logvar)
    assert ((mc - closed).abs() < 4 * se + 1e-6).all(), (mc, closed, se)


def test_normal_and_gaussian_log_likelihood_match_torch_distributions():
    g = torch.Generator().manual_seed(1)
    x, mean = torch.randn(5, 2, 3, generator=g), torch.randn(5, 2, 3, generator=g)
    ref = torch.distributions.Normal(mean, 0.3).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_log_likelihood(x, mean, math.log(0.3)), ref)
    torch.testing.assert_close(normal_log_prob(x, mean, 2 * math.log(0.3)), ref)


def test_bernoulli_log_likelihood_is_negative_bce():
    g = torch.Generator().manual_seed(2)
    x, logits = (torch.rand(4, 1, 3, 3, generator=g) > 0.5).float(), torch.randn(4, 1, 3, 3, generator=g) * 30
    ref = torch.distributions.Bernoulli(logits=logits).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(bernoulli_log_likelihood(x, logits), ref)


def test_log_mean_exp_is_stable_and_exact():
    a = torch.tensor([[1000.0, 1000.0], [1000.0 + math.log(3.0), 0.0]], dtype=torch.float64)
    torch.testing.assert_close(log_mean_exp(a, dim=0), torch.tensor([1000.0 + math.log(2.0), 1000.0 - math.log(2.0)],
                                                                      dtype=torch.float64))


def test_bits_per_dim_and_dequantization():
    log_p = torch.tensor([-100.0 * math.log(2.0)])
    torch.testing.assert_close(bits_per_dim(log_p, 100), torch.tensor([1.0], dtype=torch.float64))
    torch.testing.assert_close(bits_per_dim(log_p, 100, bin_width=2 / 256), torch.tensor([8.0], dtype=torch.float64))
    k = torch.tensor([[[[0, 255]]]], dtype=torch.uint8)
    y = dequantize_uint8(k.expand(1000, 1, 1, 2).contiguous(), torch.Generator().manual_seed(0))
    assert y.min() >= -1.0 and y.max() < 1.0
    assert y[:, 0, 0, 0].max() < -1.0 + 2 / 256 and y[:, 0, 0, 1].min() >= 1.0 - 2 / 256
