"""Losses shared by the zoo's models: adversarial losses from logits and the
pieces of variational bounds."""

from zoo.losses.elbo import (
    DEQUANTIZED_BIN_WIDTH, bernoulli_log_likelihood, bits_per_dim, dequantize_uint8, gaussian_log_likelihood, kl_normal_standard,
    log_mean_exp, normal_log_prob,
)
from zoo.losses.gan import (
    GAN_LOSSES, d_loss_bce, d_loss_hinge, g_loss_hinge, g_loss_minimax, g_loss_nonsaturating, gan_losses,
)
from zoo.losses.gan import d_loss_wasserstein, g_loss_wasserstein
from zoo.losses.penalties import drift_penalty, gradient_penalty, r1_penalty

__all__ = [
    "GAN_LOSSES", "gan_losses", "d_loss_bce", "d_loss_hinge", "g_loss_minimax", "g_loss_nonsaturating",
    "g_loss_hinge", "d_loss_wasserstein", "g_loss_wasserstein", "gradient_penalty", "r1_penalty", "drift_penalty",
    "kl_normal_standard", "normal_log_prob", "bernoulli_log_likelihood",
    "gaussian_log_likelihood", "log_mean_exp", "bits_per_dim", "dequantize_uint8", "DEQUANTIZED_BIN_WIDTH",
]
