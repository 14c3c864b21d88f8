"""R-precision (AttnGAN, R = 1): closed forms, chance level, ties, seeding and folds."""

import math

import numpy as np
import pytest
import torch

from gbench.errors import GbenchError
from gbench.metrics.r_precision import r_precision, r_precision_hits


def test_identical_orthogonal_embeddings_are_all_hits():
    # Row i = e_i: cosine 1 with its own caption, 0 with every other one.
    e = np.eye(200)
    assert r_precision(e, e) == (1.0, 0.0)
    # torch input, any float dtype, and a scaled copy (cosine ignores the norm).
    assert r_precision(torch.eye(200, dtype=torch.float32), 3 * torch.eye(200, dtype=torch.float64)) == (1.0, 0.0)


def test_random_embeddings_are_at_chance(rng):
    # Independent isotropic embeddings: each image's true caption is first among 100
    # exchangeable candidates with probability 1/100. Hits ~ Binomial(N, 0.01) (very
    # nearly: different images share caption draws), sd = sqrt(0.01·0.99/N) ≈ 0.0014 for
    # N = 5,000; 5 sd is a tolerance that a correct implementation fails about once in 10⁶.
    n = 5000
    mean, _ = r_precision(rng.standard_normal((n, 16)), rng.standard_normal((n, 16)))
    assert abs(mean - 0.01) <= 5 * math.sqrt(0.01 * 0.99 / n)


def test_exact_negative_is_a_miss(rng):
    img = rng.standard_normal((300, 8))
    txt = img.copy()
    txt[7] = -img[7]  # cosine −1: ranks last among any other captions
    hits = r_precision_hits(img, txt)
    assert not hits[7] and hits.sum() == 299  # the others match themselves exactly (cosine 1)
    assert r_precision(img, -img)[0] == 0.0


def test_ties_count_as_misses():
    # Every caption is the same vector: the true caption ties with all 99 others.
    e = np.ones((150, 4))
    assert r_precision(e, e) == (0.0, 0.0)


def test_deterministic_by_seed_and_seed_matters(rng):
    img, txt = rng.standard_normal((1000, 8)), rng.standard_normal((1000, 8))
    txt = img + 1.5 * txt  # partly matched: hits depend on which captions are drawn
    a, b = r_precision(img, txt, seed=3), r_precision(img, txt, seed=3)
    assert a == b
    assert not np.array_equal(r_precision_hits(img, txt, seed=3), r_precision_hits(img, txt, seed=4))


def test_mismatched_never_include_the_true_row(rng):
    # With N = mismatched + 1 every other row is drawn, so the result is seed-free and
    # equals "is the true caption the best of all N".
    img, txt = rng.standard_normal((100, 8)), rng.standard_normal((100, 8))
    best = np.argmax((img / np.linalg.norm(img, axis=1, keepdims=True))
                     @ (txt / np.linalg.norm(txt, axis=1, keepdims=True)).T, axis=1)
    for seed in range(3):
        assert np.array_equal(r_precision_hits(img, txt, seed=seed), best == np.arange(100))


def test_fold_std(rng):
    e = np.eye(400)
    half = e.copy()
    half[200:] *= -1  # first half all hits, second half all misses
    assert r_precision(e, half, folds=2) == (0.5, 0.5)
    assert r_precision(e, half, folds=1) == (0.5, 0.0)
    mean, std = r_precision(e, half, folds=4)  # folds: 1, 1, 0, 0
    assert (mean, std) == (0.5, 0.5)
    # Interleaved hits and misses: every fold is at 0.5, so no spread.
    alt = e.copy()
    alt[1::2] *= -1
    assert r_precision(e, alt, folds=10) == (0.5, 0.0)


def test_refusals():
    e = np.eye(99)
    with pytest.raises(GbenchError, match="at least 100"):
        r_precision(e, e)
    assert r_precision(e, e, mismatched=98)[0] == 1.0
    with pytest.raises(GbenchError, match="same shape"):
        r_precision(np.eye(200), np.eye(200)[:, :10])
    with pytest.raises(GbenchError, match="folds"):
        r_precision(np.eye(200), np.eye(200), folds=0)
    with pytest.raises(GbenchError, match=r"\(N, d\)"):
        r_precision(np.ones(200), np.ones(200))
