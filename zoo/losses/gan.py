"""Adversarial losses, all computed from discriminator logits.

With D(x) = σ(l(x)) and the identities −log σ(l) = softplus(−l) and
−log(1 − σ(l)) = softplus(l), every loss below is a softplus or a ReLU of the
logits: finite for any logit, with no log(0) (Goodfellow et al. 2014,
"Generative Adversarial Nets", Eq. 1 and Sec. 3; Lim & Ye 2017 / Miyato et
al. 2018 for the hinge loss).

Inputs are logits of shape (N,) (any shape works; the losses average over all
elements); outputs are scalar float32 tensors (logits are upcast so that
bf16/fp16 autocast does not change the loss).
"""

from __future__ import annotations

from typing import Callable

import torch
import torch.nn.functional as F


def d_loss_bce(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Discriminator loss of the minimax game (Eq. 1, ascended by D; here its negation, minimized):
    E[−log D(x)] + E[−log(1 − D(G(z)))] = E[softplus(−l_real)] + E[softplus(l_fake)]."""
    return F.softplus(-real_logits.float()).mean() + F.softplus(fake_logits.float()).mean()


def matching_aware_d_loss(real_right: torch.Tensor, real_wrong: torch.Tensor,
                          fake_right: torch.Tensor) -> torch.Tensor:
    """GAN-CLS's discriminator loss (Reed et al. 2016, Algorithm 1), minimized, from logits (N,) of
    D(x, h) (real image, right text), D(x, ĥ) (real image, wrong text), D(x̂, h) (fake, right text):
    E[−log s_r] + (E[−log(1 − s_w)] + E[−log(1 − s_f)]) / 2, with −log σ(l) = softplus(−l).
    StackGAN's discriminators (Zhang et al. 2017) use the same loss."""
    return F.softplus(-real_right.float()).mean() + 0.5 * (F.softplus(real_wrong.float()).mean()
                                                          + F.softplus(fake_right.float()).mean())


def g_loss_minimax(fake_logits: torch.Tensor) -> torch.Tensor:
    """Generator loss of Eq. 1, minimized by G: E[log(1 − D(G(z)))] = E[−softplus(l_fake)].

    Saturates: d/dl of −softplus(l) is −σ(l) → 0 when D confidently rejects
    the samples (l → −∞), which is the situation early in training (Sec. 3).
    """
    return -F.softplus(fake_logits.float()).mean()


def g_loss_nonsaturating(fake_logits: torch.Tensor) -> torch.Tensor:
    """The "−log D trick" (Sec. 3): maximize log D(G(z)), i.e. minimize
    E[−log D(G(z))] = E[softplus(−l_fake)]; its gradient −(1 − σ(l)) → −1 where
    the minimax gradient vanishes. Same fixed point as Eq. 1."""
    return F.softplus(-fake_logits.float()).mean()


def d_loss_hinge(real_logits: torch.Tensor, fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge discriminator loss: E[max(0, 1 − l_real)] + E[max(0, 1 + l_fake)]."""
    return F.relu(1.0 - real_logits.float()).mean() + F.relu(1.0 + fake_logits.float()).mean()


def g_loss_hinge(fake_logits: torch.Tensor) -> torch.Tensor:
    """Hinge generator loss: E[−l_fake]."""
    return -fake_logits.float().mean()


def d_loss_wasserstein(real_scores: torch.Tensor, fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN critic loss (Arjovsky et al. 2017; Gulrajani et al. 2017, Eq. 3 without the penalty):
    E[D(G(z))] − E[D(x)]; the scores are unbounded critic outputs, not logits."""
    return fake_scores.float().mean() - real_scores.float().mean()


def g_loss_wasserstein(fake_scores: torch.Tensor) -> torch.Tensor:
    """WGAN generator loss: E[−D(G(z))]."""
    return -fake_scores.float().mean()


GAN_LOSSES: dict[str, tuple[Callable, Callable]] = {
    "minimax": (d_loss_bce, g_loss_minimax),
    "non-saturating": (d_loss_bce, g_loss_nonsaturating),
    "hinge": (d_loss_hinge, g_loss_hinge),
    "wasserstein": (d_loss_wasserstein, g_loss_wasserstein),
}


def gan_losses(kind: str) -> tuple[Callable, Callable]:
    """(discriminator loss, generator loss) for ``kind`` in GAN_LOSSES."""
    try:
        return GAN_LOSSES[kind]
    except KeyError:
        raise ValueError(f"unknown GAN loss {kind!r}: choose one of {', '.join(GAN_LOSSES)}") from None
