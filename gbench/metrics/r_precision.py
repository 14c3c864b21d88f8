"""R-precision of caption–image matching (Xu et al. 2018, AttnGAN), with R = 1.

For each image i of N, its own caption and ``mismatched`` captions of other
images (drawn at random, seeded, without replacement from the N − 1 other rows)
are ranked by the cosine similarity of their embeddings to the image's
embedding. Image i is a hit when its own caption ranks first, strictly: a tie
between the true caption and a mismatched one counts as a miss (the
conservative reading; with float embeddings of real networks ties are
essentially impossible). R-precision = hits / N.

Spread: like AttnGAN and DM-GAN, which report mean ± std over splits of the
generated set, the images are split in index order into ``folds`` contiguous,
near-equal folds (``numpy.array_split``); the std is the population std
(``numpy.std``, ddof = 0, as in their code) of the per-fold R-precisions. The
mismatched captions are always drawn from the whole set, not from the fold, so
the fold size does not change how hard an image's ranking is.

The maths only: the embeddings come from a caption–image matching network
(``scenes-matcher`` for ``scenes``; AttnGAN used its DAMSM encoders).
"""

from __future__ import annotations

import numpy as np

from gbench.errors import GbenchError


def _as_matrix(x, name: str) -> np.ndarray:
    if hasattr(x, "detach"):  # torch tensor, any device / dtype
        x = x.detach().cpu().double().numpy()
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise GbenchError(f"r_precision: {name} must be (N, d) embeddings, got shape {tuple(x.shape)}")
    if not np.isfinite(x).all():
        raise GbenchError(f"r_precision: {name} contains NaN or infinite values")
    return x


def _unit_rows(x: np.ndarray) -> np.ndarray:
    norm = np.linalg.norm(x, axis=1, keepdims=True)
    # A zero row has no direction: its cosine with anything is taken as 0.
    return x / np.where(norm > 0, norm, 1.0)


def r_precision_hits(image_emb, text_emb, mismatched: int = 99, seed: int = 0) -> np.ndarray:
    """Per-image hits: bool (N,), True iff image i's own caption strictly outranks its
    ``mismatched`` random others by cosine similarity. Arguments as :func:`r_precision`."""
    img, txt = _as_matrix(image_emb, "image_emb"), _as_matrix(text_emb, "text_emb")
    if img.shape != txt.shape:
        raise GbenchError(f"r_precision: image_emb {img.shape} and text_emb {txt.shape} must have the same shape "
                          "(row i of each is one image and its caption)")
    n = len(img)
    mismatched = int(mismatched)
    if mismatched < 1:
        raise GbenchError(f"r_precision: mismatched must be ≥ 1, got {mismatched}")
    if n < mismatched + 1:
        raise GbenchError(f"r_precision: {n} image–caption pairs cannot give {mismatched} mismatched captions "
                          f"per image: pass at least {mismatched + 1} pairs, or lower mismatched")
    img, txt = _unit_rows(img), _unit_rows(txt)
    true = np.einsum("nd,nd->n", img, txt)
    rng = np.random.default_rng(seed)
    hits = np.empty(n, dtype=bool)
    for i in range(n):
        # Draw among the n − 1 other rows: indices ≥ i shift up by one to skip row i.
        others = rng.choice(n - 1, size=mismatched, replace=False)
        others += others >= i
        hits[i] = true[i] > (txt[others] @ img[i]).max()  # strict: a tie is a miss
    return hits


def r_precision(image_emb, text_emb, mismatched: int = 99, seed: int = 0, folds: int = 10) -> tuple[float, float]:
    """R-precision (R = 1) of matched embeddings, mean ± std over folds.

    Args:
        image_emb: (N, d) image embeddings, torch or numpy (any float dtype; computed in float64).
        text_emb: (N, d) embeddings of the captions; row i is image i's true caption.
        mismatched: number of other images' captions ranked against the true one (AttnGAN: 99).
        seed: seeds the draw of mismatched captions (same seed ⇒ same result).
        folds: number of contiguous folds the std is taken over (1 ⇒ std 0).

    Returns:
        (mean, std): mean = hits / N in [0, 1] over all images; std = population std of the
        per-fold R-precisions. Chance level is 1 / (mismatched + 1).

    Raises GbenchError when N < mismatched + 1, folds ∉ [1, N], or the shapes disagree.
    """
    hits = r_precision_hits(image_emb, text_emb, mismatched, seed)
    folds = int(folds)
    if not 1 <= folds <= len(hits):
        raise GbenchError(f"r_precision: folds must be in [1, {len(hits)}], got {folds}")
    per_fold = [part.mean() for part in np.array_split(hits, folds)]
    return float(hits.mean()), float(np.std(per_fold))
