"""BigGAN's orthogonal regularization.

Brock, Donahue & Simonyan 2019, "Large Scale GAN Training for High Fidelity
Natural Image Synthesis", Sec. 3.1, Eq. 3: the off-diagonal variant

    R_β(W) = β ‖WᵀW ⊙ (1 − I)‖²_F

penalizes the pairwise similarity of filters but not their norms (the full
orthogonality penalty of Brock et al. 2017 was too limiting). A weight of
shape (out, in, k, k) is read as the matrix whose out rows are the flattened
filters, and the Gram matrix is taken over filters (out × out), as in the
authors' code (``utils.ortho``). Its gradient is 4β ((W Wᵀ) ⊙ (1 − I)) W.

Deviation: the BigGAN code adds 2β ((W Wᵀ) ⊙ (1 − I)) W to the gradient
directly, i.e. half the gradient of Eq. 3 as written; here Eq. 3 is the loss
and autograd differentiates it.
"""

from __future__ import annotations

from typing import Iterable

import torch


def orthogonal_penalty(weight: torch.Tensor) -> torch.Tensor:
    """‖W Wᵀ ⊙ (1 − I)‖²_F for W = weight.flatten(1) (rows = filters); a float32 scalar, ≥ 0,
    zero iff the filters are pairwise orthogonal (whatever their norms)."""
    w = weight.float().flatten(1)
    with torch.autocast(w.device.type, enabled=False):  # the Gram matrix in float32 even under bf16 autocast
        gram = w @ w.T
    off_diagonal = gram - torch.diag_embed(torch.diagonal(gram))
    return (off_diagonal ** 2).sum()


def orthogonal_regularization(weights: Iterable[torch.Tensor], beta: float = 1e-4) -> torch.Tensor:
    """R_β summed over ``weights`` (Eq. 3; β = 1e-4 in the paper); 1-D tensors (biases, gains) are skipped."""
    terms = [orthogonal_penalty(w) for w in weights if w.ndim >= 2]
    if not terms:
        return torch.zeros(())
    return beta * torch.stack(terms).sum()
