"""k-nearest-neighbour fidelity/diversity metrics.

Each sample x of a set X gets a ball B(x, r_k(x)), r_k(x) = distance from x to
its k-th nearest neighbour in X other than itself; the union of balls
estimates the support ("manifold") of X's distribution.

* Improved precision and recall (Kynkäänniemi et al. 2019, "Improved Precision
  and Recall Metric for Assessing Generative Models"): precision = the
  fraction of fake samples inside the real manifold, recall = the fraction of
  real samples inside the fake manifold. "Inside" is ``d ≤ r`` as in the
  authors' code.
* Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity
  Metrics for Generative Models"):
      density  = 1/(k M) Σⱼ Σᵢ 1[Yⱼ ∈ B(Xᵢ, r_k(Xᵢ))]
      coverage = 1/N Σᵢ 1[∃ j: Yⱼ ∈ B(Xᵢ, r_k(Xᵢ))]
  for N real samples Xᵢ and M fake Yⱼ; "inside" is ``d < r`` as in the
  authors' ``prdc`` package (then identical sets give density exactly 1).

Distances are exact Euclidean distances in float64 (compared squared, which
preserves every comparison), computed in row blocks of at most
``_BLOCK_ELEMENTS`` entries (128 MB), so 10k × 10k sets never hold the full
10⁸-entry matrix. Runs on the features' device.
"""

from __future__ import annotations

import torch

from gbench.errors import GbenchError
from gbench.metrics._arrays import as_features, same_dim
from gbench.metrics.spec import FeatureInputs, MetricSpec, Score, register_metric

# Entries of one block of the distance matrix: 2²⁴ float64 = 128 MB (plus a
# boolean mask of 16 MB per comparison).
_BLOCK_ELEMENTS = 2**24


def precision_recall(real_feats, fake_feats, k: int = 3) -> tuple[float, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) with k-NN manifolds.

    Args:
        real_feats: (N, d) features of real samples; fake_feats: (M, d) of
            generated ones; numpy or torch, any device (computed on
            real_feats' device in float64). N, M > k.
        k: neighbourhood size (3 in the paper).

    Returns:
        (precision, recall) in [0, 1]: the fraction of fake samples within
        r_k of some real sample, and of real samples within r_k of some fake one.
    """
    real, fake = _check_inputs(real_feats, fake_feats, k)
    r_real = _knn_radii_sq(real, k)
    r_fake = _knn_radii_sq(fake, k)
    fake_covered = torch.zeros(fake.shape[0], dtype=torch.bool, device=real.device)
    real_covered = []
    for start, d2 in _distance_blocks(real, fake):
        r = r_real[start:start + d2.shape[0], None]
        fake_covered |= (d2 <= r).any(dim=0)
        real_covered.append((d2 <= r_fake[None, :]).any(dim=1))
    return float(fake_covered.double().mean()), float(torch.cat(real_covered).double().mean())


def density_coverage(real_feats, fake_feats, k: int = 5) -> tuple[float, float]:
    """Density and coverage (Naeem et al. 2020) with k-NN balls around the real samples.

    Args:
        real_feats: (N, d) real features; fake_feats: (M, d) generated ones;
            numpy or torch, any device (computed on real_feats' device in
            float64). N > k, M ≥ 1.
        k: neighbourhood size (5 in the paper).

    Returns:
        (density, coverage): density ≥ 0 (≈ 1 when the distributions match,
        unbounded above); coverage in [0, 1].
    """
    real, fake = _check_inputs(real_feats, fake_feats, k, min_fake=1)
    r_real = _knn_radii_sq(real, k)
    inside_count = torch.zeros(fake.shape[0], dtype=torch.float64, device=real.device)
    covered = []
    for start, d2 in _distance_blocks(real, fake):
        r = r_real[start:start + d2.shape[0], None]
        inside = d2 < r
        inside_count += inside.sum(dim=0)
        # The nearest fake sample is inside the ball iff any is.
        covered.append(inside.any(dim=1))
    density = float(inside_count.sum()) / (k * fake.shape[0])
    return density, float(torch.cat(covered).double().mean())


# --- pieces ---------------------------------------------------------------------


def _check_inputs(real_feats, fake_feats, k, min_fake: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Validate k and both feature sets; a k-NN radius needs k + 1 rows."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise GbenchError(f"k must be a positive integer, got {k!r}")
    real = as_features(real_feats, "real_feats", min_rows=k + 1)
    fake = as_features(fake_feats, "fake_feats", min_rows=k + 1 if min_fake is None else min_fake).to(real.device)
    same_dim(real, fake, "real_feats", "fake_feats")
    return real, fake


def _distance_blocks(x: torch.Tensor, y: torch.Tensor):
    """Yield (start, D²) with D²[i, j] = ‖x[start + i] − y[j]‖², float64, in row blocks.

    ‖x‖² + ‖y‖² − 2 xᵀy in float64 (one matmul per block); rounding can make a
    zero distance slightly negative, so it is clamped at 0. For identical
    sets the real–real and real–fake passes are the very same computation, so
    a k-th neighbour sits exactly on its ball's boundary in both.
    """
    rows = max(1, _BLOCK_ELEMENTS // max(1, y.shape[0]))
    y_sq = (y * y).sum(dim=1)
    for start in range(0, x.shape[0], rows):
        xb = x[start:start + rows]
        d2 = xb @ y.T
        d2.mul_(-2.0).add_((xb * xb).sum(dim=1)[:, None]).add_(y_sq[None, :]).clamp_(min=0.0)
        yield start, d2


def _knn_radii_sq(x: torch.Tensor, k: int) -> torch.Tensor:
    """Squared distance from each row of x to its k-th nearest other row: (N,) float64.

    The (k+1)-th smallest distance in a row counts the row itself (distance 0)
    as the first, as the authors' code does.
    """
    # topk keeps only k + 1 values per row (kthvalue would copy the whole block).
    radii = [torch.topk(d2, k + 1, dim=1, largest=False).values[:, -1] for _, d2 in _distance_blocks(x, x)]
    return torch.cat(radii)


PR_K, DC_K = 3, 5  # Kynkäänniemi et al. 2019; Naeem et al. 2020


def _pr(inputs: FeatureInputs) -> tuple[float, float]:
    return inputs.shared("pr", lambda: precision_recall(inputs.require_real("precision/recall"), inputs.fake, k=PR_K))


def _dc(inputs: FeatureInputs) -> tuple[float, float]:
    return inputs.shared("dc", lambda: density_coverage(inputs.require_real("density/coverage"), inputs.fake, k=DC_K))


register_metric(
    MetricSpec("precision", "Precision", True,
               "fraction of samples inside the real k-NN manifold (Kynkäänniemi et al. 2019)", decimals=3,
               consumes="features", compute=lambda i: Score(_pr(i)[0], None, {"pr_k": PR_K}),
               protocol={"pr_k": PR_K}, group="pr"),
    MetricSpec("recall", "Recall", True,
               "fraction of real images inside the sample k-NN manifold (Kynkäänniemi et al. 2019)", decimals=3,
               consumes="features", compute=lambda i: Score(_pr(i)[1], None, {"pr_k": PR_K}),
               protocol={"pr_k": PR_K}, group="pr"),
    MetricSpec("density", "Density", True, "k-NN density of samples in real balls (Naeem et al. 2020)", decimals=3,
               consumes="features", compute=lambda i: Score(_dc(i)[0], None, {"dc_k": DC_K}),
               protocol={"dc_k": DC_K}, group="dc"),
    MetricSpec("coverage", "Coverage", True, "fraction of real balls containing a sample (Naeem et al. 2020)",
               decimals=3, consumes="features", compute=lambda i: Score(_dc(i)[1], None, {"dc_k": DC_K}),
               protocol={"dc_k": DC_K}, group="dc"),
)
