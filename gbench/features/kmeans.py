"""Single-layer K-means features (Coates, Lee & Ng 2011).

Coates, Lee, Ng, "An Analysis of Single-Layer Networks in Unsupervised Feature
Learning", AISTATS 2011 — the "K-means (triangle)" pipeline, which Radford,
Metz & Chintala 2016 (DCGAN, Table 1) use as the baseline for CIFAR-10
classification from unsupervised features. Following the paper and its
published MATLAB code (``kmeans_demo.m``):

  1. ``w × w`` patches (w = 6) cut from uint8 images, as vectors of length
     D = C·w·w in channel-major order, values in the 0..255 scale;
  2. per-patch brightness/contrast normalization (Sec. 3.1.1):
     ``x ← (x − mean(x)) / sqrt(var(x) + 10)`` (var over the D entries with
     N − 1 normalization, as MATLAB's ``var``; the constant 10 is for the
     0..255 scale and keeps flat patches from being blown up into noise);
  3. ZCA whitening fitted on random patches (Sec. 3.1.1):
     ``x ← (x − m) · V diag(1 / sqrt(λ + ε)) Vᵀ`` with ``C = V diag(λ) Vᵀ``
     the patch covariance and ε = 0.1;
  4. a dictionary of K centroids ``c_k`` by K-means on the whitened patches;
  5. the "triangle" encoding (Sec. 3.2, K-means clustering):
     ``f_k(x) = max(0, μ(z) − z_k)``, ``z_k = ‖x − c_k‖₂``, ``μ(z)`` the mean
     of ``z`` over the K centroids — about half of the f_k are 0;
  6. the encoding of every patch (stride 1) gives a K-channel map, which is
     sum-pooled over its 4 quadrants → 4K features per image (Sec. 3.3).

Coates then standardizes each feature (fitted on the training features) and
trains an L2-SVM; that is the classifier's job, not this extractor's:
:meth:`KMeansFeatures.transform` returns the raw pooled features.

Deviation from the MATLAB code: K-means starts from k-means++ seeds
(:func:`sklearn.cluster.kmeans_plusplus`) instead of ``0.1 · randn``. The
latter leaves many centroids without points, which the code then sets to zero
(dead features); k-means++ spreads the seeds over the data and never picks
the same patch twice (the black background of digits is one patch repeated
many times). The iterations are Lloyd's, as in ``run_kmeans.m``.
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.images import check_images

CONTRAST_EPS = 10.0  # Coates' code, for values in 0..255
WHITEN_EPS = 0.1  # Coates' code
# Rows × columns of float32 work per chunk in assignment and encoding (~64 MiB
# per tensor): bounds memory whatever the number of images or centroids.
_CHUNK_FLOATS = 1 << 24


def _patch_grid(images: torch.Tensor, patch: int, stride: int) -> torch.Tensor:
    """uint8 (N, C, H, W) → view (N, R, S, C, w, w) of every patch at positions (r, s)·stride."""
    # A strided view, no copy: reshaping it to (…, C·w·w) gives the channel-major
    # order of torch.nn.functional.unfold, several times faster than im2col here.
    return images.unfold(2, patch, stride).unfold(3, patch, stride).permute(0, 2, 3, 1, 4, 5)


def sample_patches(images, num_patches: int, patch: int = 6, seed: int = 0) -> torch.Tensor:
    """Random ``patch × patch`` patches, uniform over images and positions.

    Args:
        images: uint8 (N, C, H, W) with H, W ≥ ``patch``.
        num_patches: how many patches to cut.
        patch: side w of a patch in pixels.
        seed: seed of the image indices and positions.

    Returns:
        float32 (num_patches, C·w·w), values 0..255, entries in channel-major
        (c, row, col) order, the order :meth:`KMeansFeatures.encode` uses.
    """
    x = check_images(images)
    n, c, h, w = x.shape
    rng = np.random.default_rng(seed)
    which = torch.from_numpy(rng.integers(0, n, num_patches))
    rows = torch.from_numpy(rng.integers(0, h - patch + 1, num_patches))
    cols = torch.from_numpy(rng.integers(0, w - patch + 1, num_patches))
    grid = _patch_grid(x.cpu(), patch, 1)
    return grid[which, rows, cols].reshape(num_patches, c * patch * patch).float()


def normalize_patches(x: torch.Tensor, eps: float = CONTRAST_EPS) -> torch.Tensor:
    """Per-patch brightness and contrast normalization (Coates et al. 2011, Sec. 3.1.1).

    Args:
        x: float (M, D) patches in the 0..255 scale.
        eps: added to the variance; 10 for the 0..255 scale.

    Returns:
        float (M, D): ``(x − mean) / sqrt(var + eps)`` per row, var with N − 1.
    """
    centered = x - x.mean(dim=1, keepdim=True)
    # Unbiased variance, as MATLAB's var; written out because torch.var_mean
    # over a short last dimension is several times slower.
    var = (centered * centered).sum(dim=1, keepdim=True) / (x.shape[1] - 1)
    return centered / torch.sqrt(var + eps)


def zca_whitening(x: torch.Tensor, eps: float = WHITEN_EPS) -> tuple[torch.Tensor, torch.Tensor]:
    """Fit ZCA whitening (Coates et al. 2011, Sec. 3.1.1; ε = 0.1 as in their code).

    Args:
        x: float (M, D) normalized patches, M ≥ 2.
        eps: regularizer added to the covariance's eigenvalues. Directions with
            variance λ come out with variance λ / (λ + ε): ≈ 1 where λ ≫ ε,
            damped where λ ≲ ε (pixel noise is not amplified).

    Returns:
        (mean (D,), P (D, D)) in ``x``'s dtype, computed in float64; whitened
        patches are ``(x − mean) @ P``. P is symmetric.
    """
    xd = x.double()
    mean = xd.mean(dim=0)
    cov = torch.cov(xd.T)  # N − 1, as MATLAB's cov
    lam, vec = torch.linalg.eigh(cov)
    lam = lam.clamp(min=0)  # round-off can make a zero eigenvalue slightly negative
    p = (vec * torch.rsqrt(lam + eps)) @ vec.T
    return mean.to(x.dtype), p.to(x.dtype)


def _nearest(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Index of the nearest centroid for each row of x (M, D) → int64 (M,)."""
    # argmin ‖x − c‖² = argmax (x·c − ½‖c‖²); rows in chunks to bound memory.
    half_sq = 0.5 * (centroids * centroids).sum(dim=1)
    rows = max(1, _CHUNK_FLOATS // len(centroids))
    return torch.cat([(xc @ centroids.T - half_sq).argmax(dim=1) for xc in x.split(rows)])


def kmeans(x: torch.Tensor, k: int, iterations: int = 50, seed: int = 0) -> torch.Tensor:
    """K-means (Lloyd's algorithm) seeded by k-means++.

    As Coates' ``run_kmeans.m`` (50 iterations), with k-means++ seeds
    (:func:`sklearn.cluster.kmeans_plusplus`, ``random_state=seed``) instead
    of ``0.1 · randn``. A centroid that loses all its points keeps its position.
    Stops early when no assignment changes.

    Args:
        x: float32 (M, D), M ≥ k.
        k: number of centroids.
        iterations: at most this many Lloyd steps.
        seed: seed of the k-means++ draws.

    Returns:
        float32 (k, D) centroids.
    """
    from sklearn.cluster import kmeans_plusplus  # here, not at the top: sklearn.cluster is slow to import

    seeds, _ = kmeans_plusplus(x.numpy(), k, random_state=seed)
    centroids = torch.from_numpy(seeds).to(x.dtype)
    labels = None
    for _ in range(iterations):
        new = _nearest(x, centroids)
        if labels is not None and torch.equal(new, labels):
            break
        labels = new
        counts = torch.bincount(labels, minlength=k)
        sums = torch.zeros_like(centroids).index_add_(0, labels, x)
        filled = counts > 0
        centroids[filled] = sums[filled] / counts[filled, None].to(x.dtype)
    return centroids


def triangle_encode(x: torch.Tensor, centroids: torch.Tensor) -> torch.Tensor:
    """Triangle activation (Coates et al. 2011, Sec. 3.2): ``f_k = max(0, μ(z) − z_k)``.

    Args:
        x: float (M, D) whitened patches.
        centroids: float (K, D).

    Returns:
        float (M, K), ≥ 0, with ``z_k = ‖x − c_k‖₂`` and ``μ(z)`` the mean over k.
    """
    # ‖x‖² + ‖c‖² − 2 x·c in one matrix product; in-place ops keep one (M, K) buffer.
    z = torch.addmm((centroids * centroids).sum(dim=1), x, centroids.T, alpha=-2)
    z.add_((x * x).sum(dim=1, keepdim=True)).clamp_(min=0).sqrt_()  # round-off can go slightly below 0
    return z.sub_(z.mean(dim=1, keepdim=True)).neg_().clamp_(min=0)


def quadrant_sum_pool(maps: torch.Tensor) -> torch.Tensor:
    """Sum-pool (N, K, R, S) maps over their 4 quadrants → (N, 4K).

    Quadrants split at ``ceil(R/2)`` and ``ceil(S/2)`` (MATLAB's
    ``round(R/2)``), ordered top-left, bottom-left, top-right, bottom-right as
    in Coates' code; features are quadrant-major (all K of the first quadrant
    first).
    """
    r, s = (maps.shape[2] + 1) // 2, (maps.shape[3] + 1) // 2
    q = [maps[:, :, :r, :s], maps[:, :, r:, :s], maps[:, :, :r, s:], maps[:, :, r:, s:]]
    return torch.cat([m.sum(dim=(2, 3)) for m in q], dim=1)


class KMeansFeatures:
    """Coates et al. 2011 single-layer K-means (triangle) features, 4K per image.

    Example::

        fx = KMeansFeatures(k=1600).fit(train_images, num_patches=400_000)
        feats = fx.transform(images)        # float32 (N, 6400)

    Args:
        k: number of centroids K (the paper's best CIFAR-10 result uses 1600).
        patch: patch side w in pixels (the paper: 6).
        stride: step between encoded patches (the paper: 1).
        seed: seed of the fitted patches and of K-means.
        iterations: most Lloyd steps of K-means (Coates' code: 50).

    After :meth:`fit`: ``mean_`` (D,), ``whitening_`` (D, D), ``centroids_``
    (K, D), all float32, and ``channels_``.
    """

    def __init__(self, k: int = 1600, patch: int = 6, stride: int = 1, seed: int = 0, iterations: int = 50):
        for name, value in (("k", k), ("patch", patch), ("stride", stride), ("iterations", iterations)):
            if not isinstance(value, int) or value < 1:
                raise GbenchError(f"KMeansFeatures: {name} = {value!r} must be a positive integer")
        self.k, self.patch, self.stride, self.seed, self.iterations = k, patch, stride, seed, iterations
        self.mean_ = self.whitening_ = self.centroids_ = None
        self.channels_ = None

    def _check(self, images, fitted: bool) -> torch.Tensor:
        x = check_images(images)
        if min(x.shape[2:]) < self.patch:
            raise GbenchError(f"KMeansFeatures: images of size {tuple(x.shape[2:])} are smaller than the "
                              f"{self.patch}×{self.patch} patch: use larger images or a smaller patch")
        if fitted:
            if self.centroids_ is None:
                raise GbenchError("KMeansFeatures: transform called before fit: call fit(train_images) first")
            if x.shape[1] != self.channels_:
                raise GbenchError(f"KMeansFeatures: fitted on {self.channels_}-channel images, got {x.shape[1]}: "
                                  "pass images with the channels it was fitted on")
        return x

    def fit(self, images, num_patches: int = 100_000) -> "KMeansFeatures":
        """Fit the whitening and the dictionary on random patches of ``images``.

        Args:
            images: uint8 (N, C, H, W), C in {1, 3}.
            num_patches: random patches to fit on (Coates' code: 400,000 for
                K = 1600); at least K.

        Returns:
            self.
        """
        x = self._check(images, fitted=False)
        if num_patches < max(self.k, 2):
            raise GbenchError(f"KMeansFeatures: num_patches = {num_patches} is fewer than k = {self.k} "
                              "centroids: pass more patches or a smaller k")
        patches = normalize_patches(sample_patches(x, num_patches, self.patch, self.seed))
        self.mean_, self.whitening_ = zca_whitening(patches)
        self.centroids_ = kmeans((patches - self.mean_) @ self.whitening_, self.k, self.iterations, self.seed)
        self.channels_ = x.shape[1]
        return self

    def encode(self, images) -> torch.Tensor:
        """Triangle activations of every patch, before pooling.

        Args:
            images: uint8 (N, C, H, W), C as fitted. All N at once: use
                :meth:`transform` for large sets.

        Returns:
            float32 (N, K, R, S), R = (H − w) // stride + 1, S likewise.
        """
        x = self._check(images, fitted=True)
        n, _, h, w = x.shape
        rows, cols = (h - self.patch) // self.stride + 1, (w - self.patch) // self.stride + 1
        device = x.device
        p = normalize_patches(_patch_grid(x, self.patch, self.stride).reshape(n * rows * cols, -1).float())
        p = (p - self.mean_.to(device)) @ self.whitening_.to(device)
        f = triangle_encode(p, self.centroids_.to(device))
        return f.reshape(n, rows, cols, self.k).permute(0, 3, 1, 2)

    def transform(self, images) -> torch.Tensor:
        """4K quadrant-pooled triangle features per image, in memory-bounded chunks.

        Args:
            images: uint8 (N, C, H, W), C as fitted.

        Returns:
            float32 (N, 4K), ≥ 0, on the images' device.
        """
        x = self._check(images, fitted=True)
        h, w = x.shape[2:]
        positions = ((h - self.patch) // self.stride + 1) * ((w - self.patch) // self.stride + 1)
        per_image = positions * (self.k + self.centroids_.shape[1])
        chunk = max(1, _CHUNK_FLOATS // per_image)
        return torch.cat([quadrant_sum_pool(self.encode(b)) for b in x.split(chunk)])
