"""Inception Score: closed forms, parity with the original formula, determinism, bad input."""

import numpy as np
import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics.inception_score import inception_score

# Confident predictions: logit 60 on one class. The other classes get
# probability ~e^-60 ≈ 1e-26 each, far below float64 resolution of the result.
CONFIDENT = 60.0


def _confident_logits(labels, k):
    logits = np.zeros((len(labels), k))
    logits[np.arange(len(labels)), labels] = CONFIDENT
    return logits


def test_uniform_predictions_score_one(rng):
    # p(y|x) = p(y) for every x ⇒ KL = 0 ⇒ IS = exp(0) = 1 in every split
    mean, std = inception_score(np.zeros((200, 10)), splits=5)
    assert mean == pytest.approx(1.0, abs=1e-12) and std == pytest.approx(0.0, abs=1e-12)
    # also when every row is the same non-uniform distribution
    same_row = np.tile(rng.standard_normal(10), (200, 1))
    assert inception_score(same_row, splits=5)[0] == pytest.approx(1.0, abs=1e-12)


def test_confident_balanced_predictions_score_k():
    # one-hot p(y|x), uniform p(y) over K classes ⇒ KL = log K ⇒ IS = K
    k = 7
    labels = np.arange(700) % k
    mean, std = inception_score(_confident_logits(labels, k), splits=1)
    assert mean == pytest.approx(k, rel=1e-12) and std == 0.0


def test_confident_predictions_score_exp_label_entropy(rng):
    # one-hot p(y|x) ⇒ IS = exp(H(p(y))), the label histogram's entropy
    k = 5
    labels = rng.choice(k, size=1000, p=[0.5, 0.2, 0.1, 0.1, 0.1])
    counts = np.bincount(labels, minlength=k) / 1000
    mean, _ = inception_score(_confident_logits(labels, k), splits=1)
    assert mean == pytest.approx(np.exp(-np.sum(counts * np.log(counts))), rel=1e-12)
    # a collapsed generator (one class) scores 1
    assert inception_score(_confident_logits(np.zeros(100, int), k), splits=4)[0] == pytest.approx(1.0, abs=1e-12)


def _openai_inception_score(logits, splits, seed):
    """The original formula (Salimans et al.'s code, torch-fidelity's boundaries) in numpy."""
    preds = logits[np.random.default_rng(seed).permutation(len(logits))]
    preds = np.exp(preds - preds.max(axis=1, keepdims=True))
    preds /= preds.sum(axis=1, keepdims=True)
    n, scores = len(preds), []
    for i in range(splits):
        part = preds[i * n // splits:(i + 1) * n // splits]
        kl = part * (np.log(part) - np.log(np.mean(part, axis=0, keepdims=True)))
        scores.append(np.exp(np.mean(np.sum(kl, axis=1))))
    return np.mean(scores), np.std(scores)  # np.std: ddof=0


def test_matches_original_formula(rng):
    logits = 3.0 * rng.standard_normal((1003, 20))  # N not divisible by splits
    mean, std = inception_score(logits, splits=10, seed=3)
    ref_mean, ref_std = _openai_inception_score(logits, splits=10, seed=3)
    # same maths, softmax via log_softmax vs exp/normalize: float64 rounding only
    assert mean == pytest.approx(ref_mean, rel=1e-12)
    assert std == pytest.approx(ref_std, rel=1e-9)  # std of ~10 close numbers loses ~3 digits


def test_seeded_and_input_type_independent(rng):
    logits = 2.0 * rng.standard_normal((300, 8))
    a = inception_score(logits, splits=3, seed=1)
    assert inception_score(torch.from_numpy(logits), splits=3, seed=1) == a
    assert inception_score(logits, splits=3, seed=1) == a
    assert inception_score(logits, splits=3, seed=2) != a  # another shuffle, other parts
    # with one split the shuffle cannot matter
    one_split = [inception_score(logits, splits=1, seed=s)[0] for s in (1, 2)]
    assert one_split[0] == pytest.approx(one_split[1], rel=1e-13)  # summation order differs


def test_bad_input_is_an_error(rng):
    probs = np.full((20, 4), 0.25)
    with pytest.raises(GbenchError, match="probabilities"):
        inception_score(probs, splits=2)
    with pytest.raises(GbenchError, match=r"\(N, K\)"):
        inception_score(np.zeros(10))
    with pytest.raises(GbenchError, match="NaN"):
        inception_score(np.full((10, 3), np.nan), splits=2)
    with pytest.raises(GbenchError, match="at least 10"):
        inception_score(np.zeros((5, 3)), splits=10)
    with pytest.raises(GbenchError, match="positive integer"):
        inception_score(np.zeros((5, 3)), splits=0)
