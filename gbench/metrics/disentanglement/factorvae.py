"""FactorVAE disentanglement score.

Kim & Mnih, "Disentangling by Factorising", ICML 2018, Sec. 4 (Fig. 2):

  1. normalize each latent by its standard deviation s_j over the data
     (``num_variance_estimate`` observations);
  2. one vote: pick a factor k uniformly, draw a batch of ``batch_size``
     observations in which factor k is fixed (to a uniformly drawn value) and
     every other factor varies, encode it, and take
     d* = argmin_j Var_batch(z_j) / s_j² — the latent that moved least;
     the vote is the pair (d*, k);
  3. the classifier is the majority vote: latent j predicts the factor with
     most training votes in column j; the score is its accuracy on
     ``num_eval`` fresh votes.

As disentanglement_lib's ``compute_factor_vae`` (variances with ddof=1; votes
as an F × L count matrix; ties resolved to the lowest factor index), with one
deliberate difference: disentanglement_lib prunes collapsed latents and then
takes the argmin *within the active latents* but records that position as a
latent index, which mislabels votes whenever a latent before it was pruned;
here the argmin is mapped back to the latent's own index. With no pruned
latent the two agree exactly.

Pruning (disentanglement_lib's ``prune_dims``, threshold 0.05 in its
published configs): a latent is active iff its standard deviation over the
variance sample is ≥ ``prune_threshold``. (disentanglement_lib compares the
standard deviation, ``sqrt(variance) >= threshold``, and so does this code.)
Collapsed latents of a VAE sit at the prior mean with tiny variance; without
pruning their near-zero in-batch variance would win every argmin.

Meaning: a representation whose latents are the factors (any order or
rescaling) scores 1; one that ignores the factors scores about chance
(≈ 1 / F for F factors, a little more from fitting the majority vote).

The representation is a function of factors, so callers compose rendering
and encoding, e.g. for dSprites
``represent = lambda f: encoder(dsprites.render(f))`` with
``sample_factors=dsprites.sample_factors,
sample_fixed_factor=dsprites.sample_fixed_factor``.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, register_metric
from gbench.metrics.disentanglement._common import as_codes

Sampler = Callable[[int, np.random.Generator], np.ndarray]
FixedFactorSampler = Callable[[int, int, np.random.Generator], np.ndarray]


def uniform_sampler(factor_sizes) -> Sampler:
    """``sample(n, rng) -> int64 (n, F)``: each factor independent and uniform on 0..size−1."""
    sizes = tuple(int(s) for s in factor_sizes)

    def sample(n: int, rng: np.random.Generator) -> np.ndarray:
        return np.stack([rng.integers(0, s, n) for s in sizes], axis=1).astype(np.int64)

    return sample


def fixed_factor_sampler(sample: Sampler, factor_sizes) -> FixedFactorSampler:
    """``sample_fixed(n, k, rng) -> int64 (n, F)``: ``sample(n, rng)`` with column k set to one uniform value."""
    sizes = tuple(int(s) for s in factor_sizes)

    def sample_fixed(n: int, factor: int, rng: np.random.Generator) -> np.ndarray:
        f = np.array(sample(n, rng), dtype=np.int64)
        f[:, factor] = rng.integers(0, sizes[factor])
        return f

    return sample_fixed


def majority_vote_accuracy(train_votes: np.ndarray, eval_votes: np.ndarray) -> tuple[float, float]:
    """Train and eval accuracy of the majority-vote classifier (Kim & Mnih 2018, Sec. 4).

    Args:
        train_votes, eval_votes: int (F, L) counts: votes[k, j] = number of
            batches with factor k fixed whose least-varying latent was j.

    Returns:
        (train accuracy, eval accuracy) in [0, 1].
    """
    classifier = np.argmax(train_votes, axis=0)  # (L,) factor predicted from each latent
    columns = np.arange(train_votes.shape[1])
    train = train_votes[classifier, columns].sum() / train_votes.sum()
    evaluation = eval_votes[classifier, columns].sum() / eval_votes.sum()
    return float(train), float(evaluation)


def _encode(represent, factors: np.ndarray, num_latents: int | None) -> np.ndarray:
    codes = as_codes(represent(factors), "represent(factors)")
    if codes.shape[0] != factors.shape[0]:
        raise GbenchError(
            f"represent must return one code per factor row: got {codes.shape[0]} codes for {factors.shape[0]} rows"
        )
    if num_latents is not None and codes.shape[1] != num_latents:
        raise GbenchError(f"represent returned {codes.shape[1]} latents, earlier {num_latents}: it must be fixed")
    return codes


def _votes(represent, sample_fixed_factor, num_factors, num_votes, batch_size, rng, scale2, active,
           rows_per_call) -> np.ndarray:
    """Count ``num_votes`` (factor, least-varying latent) votes: int64 (F, L)."""
    num_latents = scale2.shape[0]
    votes = np.zeros((num_factors, num_latents), dtype=np.int64)
    active_idx = np.flatnonzero(active)
    per_call = max(1, rows_per_call // batch_size)
    done = 0
    while done < num_votes:
        # Batches are drawn one by one (so the random stream does not depend on rows_per_call)
        # and encoded together: the representation is applied row-wise.
        todo = min(per_call, num_votes - done)
        fixed = np.empty(todo, dtype=np.int64)
        batches = []
        for b in range(todo):
            fixed[b] = rng.integers(num_factors)
            batch = np.asarray(sample_fixed_factor(batch_size, int(fixed[b]), rng), dtype=np.int64)
            if batch.shape != (batch_size, num_factors):
                raise GbenchError(
                    f"sample_fixed_factor returned shape {batch.shape}, expected {(batch_size, num_factors)}"
                )
            batches.append(batch)
        codes = _encode(represent, np.concatenate(batches), num_latents).reshape(todo, batch_size, num_latents)
        local = np.var(codes, axis=1, ddof=1)  # (todo, L)
        least = active_idx[np.argmin(local[:, active_idx] / scale2[active_idx], axis=1)]
        np.add.at(votes, (fixed, least), 1)
        done += todo
    return votes


def factorvae_score(represent: Callable[[np.ndarray], np.ndarray], factor_sizes, rng, *, batch_size: int = 64,
                    num_train: int = 800, num_eval: int = 400, num_variance_estimate: int = 10000,
                    prune_threshold: float = 0.05, sample_factors: Sampler | None = None,
                    sample_fixed_factor: FixedFactorSampler | None = None,
                    rows_per_call: int = 4096) -> dict[str, float]:
    """FactorVAE score (Kim & Mnih 2018, Sec. 4), disentanglement_lib's estimator.

    Args:
        represent: maps int64 (n, F) factor indices to codes (n, L) (numpy or
            torch, finite), row by row (each code depends only on its own
            row; rows are encoded in stacks of up to ``rows_per_call``).
        factor_sizes: number of values of each factor, length F.
        rng: ``numpy.random.Generator`` (or an int seed for one) — every draw
            comes from it.
        batch_size: observations per vote (paper and disentanglement_lib: 64).
        num_train, num_eval: votes to fit / evaluate the majority vote
            (disentanglement_lib: 10,000 / 5,000; the smaller defaults here
            keep CPU runs short, at a standard error of ≈ 0.025 / √(num_eval/400)
            on a score near 0.5).
        num_variance_estimate: observations for the global standard deviations.
        prune_threshold: latents with standard deviation below it are
            ignored (disentanglement_lib: 0.05).
        sample_factors: ``(n, rng) -> int (n, F)`` draws from the factor
            distribution; default: independent uniform factors.
        sample_fixed_factor: ``(n, k, rng) -> int (n, F)`` draws with factor k
            fixed; default: ``sample_factors`` with column k set to a uniform value.
        rows_per_call: largest stack of rows passed to ``represent`` at once.

    Returns:
        dict with ``eval_accuracy`` (the score, in [0, 1]),
        ``train_accuracy`` and ``num_active_dims``. With no active latent
        both accuracies are 0.
    """
    sizes = tuple(int(s) for s in factor_sizes)
    if not sizes or min(sizes) < 1:
        raise GbenchError(f"factor_sizes must list at least one positive size, got {factor_sizes!r}")
    if batch_size < 2:
        raise GbenchError(f"batch_size must be ≥ 2 (a variance needs two observations), got {batch_size}")
    if num_train < 1 or num_eval < 1 or num_variance_estimate < 2:
        raise GbenchError("num_train and num_eval must be ≥ 1 and num_variance_estimate ≥ 2")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    sample_factors = sample_factors or uniform_sampler(sizes)
    sample_fixed_factor = sample_fixed_factor or fixed_factor_sampler(sample_factors, sizes)

    variance_factors = np.asarray(sample_factors(num_variance_estimate, rng), dtype=np.int64)
    expected = (num_variance_estimate, len(sizes))
    if variance_factors.shape != expected:
        raise GbenchError(f"sample_factors returned shape {variance_factors.shape}, expected {expected}")
    codes = np.concatenate([
        _encode(represent, variance_factors[i:i + rows_per_call], None)
        for i in range(0, num_variance_estimate, rows_per_call)
    ])
    scale2 = np.var(codes, axis=0, ddof=1)
    # A zero-variance latent is never active, even with prune_threshold=0: it cannot be normalized.
    active = (np.sqrt(scale2) >= prune_threshold) & (scale2 > 0.0)
    if not active.any():
        return {"eval_accuracy": 0.0, "train_accuracy": 0.0, "num_active_dims": 0}

    args = (represent, sample_fixed_factor, len(sizes))
    train_votes = _votes(*args, num_train, batch_size, rng, scale2, active, rows_per_call)
    eval_votes = _votes(*args, num_eval, batch_size, rng, scale2, active, rows_per_call)
    train_accuracy, eval_accuracy = majority_vote_accuracy(train_votes, eval_votes)
    return {"eval_accuracy": eval_accuracy, "train_accuracy": train_accuracy, "num_active_dims": int(active.sum())}


register_metric(MetricSpec(
    "factorvae_score", "FactorVAE", True, "FactorVAE score: majority-vote accuracy (Kim & Mnih 2018)", decimals=3,
    consumes="codes", protocol={"factorvae_batch": 64}))
