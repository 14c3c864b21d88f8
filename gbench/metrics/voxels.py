"""Metrics for generated 3-D shapes on occupancy grids (Achlioptas et al. 2018's protocol, on voxels).

Distances between two shapes:

* **IoU distance** — 1 − |A ∩ B| / |A ∪ B| of the occupied voxels
  (:func:`iou_distance_matrix`); two empty grids are identical: distance 0.
* **Chamfer distance** (Achlioptas et al. 2018, "Learning Representations and
  Generative Models for 3D Point Clouds", Sec. 2) between point sets sampled on the
  shapes' surfaces (:func:`surface_points`)::

      CD(P, Q) = 1/|P| Σ_{p∈P} min_{q∈Q} ‖p − q‖²  +  1/|Q| Σ_{q∈Q} min_{p∈P} ‖p − q‖²

  squared Euclidean distances, each direction averaged (not summed), coordinates in
  the unit cube [0, 1]³ (:func:`chamfer_distance_matrix` for any point sets;
  :func:`voxel_chamfer_matrix` for grids: the same numbers from distance transforms,
  seconds instead of hours for hundreds of shapes on a CPU).

Set metrics on a distance matrix between a generated set G and a reference set R
(Achlioptas et al. 2018, Sec. 3; the reference is a held-out test split):

* **MMD** (minimum matching distance) = 1/|R| Σ_{r∈R} min_{g∈G} d(g, r): how close the
  samples come to each reference shape (fidelity); lower is better.
* **COV** (coverage) = |{argmin_{r∈R} d(g, r) : g ∈ G}| / |R|: the fraction of reference
  shapes that are the nearest neighbour of some sample (diversity); higher is better.
  :func:`mmd_coverage` computes both.
* **1-NNA** (1-nearest-neighbour accuracy, Lopez-Paz & Oquab 2017, "Revisiting
  Classifier Two-Sample Tests"; for shapes Yang et al. 2019, PointFlow): the
  leave-one-out accuracy of the 1-NN classifier that labels every shape of G ∪ R by
  its nearest other shape (:func:`one_nn_accuracy`). 0.5 when G and R come from one
  distribution; → 1 when they are separable; → 0 when G copies R (each sample's
  nearest neighbour is its copy, which has the other label).

Class distribution: :func:`class_distribution_tv`, the total variation distance
½ Σ_c |p_G(c) − p_R(c)| between the class histograms a classifier (the shipped
``voxels-evaluator``) predicts for the two sets; 0 for equal histograms, 1 for disjoint
ones. (The KL divergence of VEEGAN / unrolled GAN would diverge when a sample set
misses a class; TV stays bounded.) The Fréchet distance on that classifier's features
is the ordinary ``fid`` metric with extractor ``voxels-evaluator``.

Occupancy input everywhere: numpy arrays or torch tensors (N, S, S, S) or
(N, 1, S, S, S) (the `voxels` dataset's layout), dtype bool (occupied = True) or
uint8 with **occupied = value > 127** (the datasets' 0/255 convention; a 0/1 uint8 grid
would read as empty, so pass such a grid as bool). Anything else is an error.

Each set metric is registered as a ``run`` metric (measured by the ``shapes3d``
suite): ``mmd_iou``, ``cov_iou``, ``mmd_cd``, ``cov_cd``, ``1nna_iou``, ``1nna_cd``,
``class_tv``. The 1-NNA records hold the accuracy itself, as papers report it; its
best value is 0.5, neither higher nor lower, so its direction is None (no arrow) and
the label says "→ 0.5".
"""

from __future__ import annotations

import numpy as np
import torch

from gbench.errors import GbenchError
from gbench.metrics.spec import MetricSpec, register_metric

# Voxel entries of one float32 block in the IoU products (2²⁵ floats = 128 MB).
_BLOCK_VOXELS = 2**25
# Point-pair distances per Chamfer block (2²⁴ float32 = 64 MB).
_BLOCK_PAIRS = 2**24
UINT8_THRESHOLD = 127


def occupancy(vox, name: str = "voxels") -> torch.Tensor:
    """Validate occupancy grids → bool torch tensor (N, S, S, S) on the input's device.

    Args:
        vox: (N, S, S, S) or (N, 1, S, S, S), numpy or torch, bool or uint8
            (occupied = value > 127).
    """
    if isinstance(vox, np.ndarray):
        t = torch.from_numpy(np.ascontiguousarray(vox))
    elif isinstance(vox, torch.Tensor):
        t = vox.detach()
    else:
        raise GbenchError(f"{name} must be a numpy array or torch tensor of occupancy grids, got "
                          f"{type(vox).__name__} (a lazy source: index it, e.g. grids[:])")
    if t.ndim == 5 and t.shape[1] == 1:
        t = t[:, 0]
    if t.ndim != 4 or len(set(t.shape[1:])) != 1:
        raise GbenchError(f"{name} must have shape (N, S, S, S) or (N, 1, S, S, S), got {tuple(vox.shape)}")
    if t.shape[0] == 0:
        raise GbenchError(f"{name} is empty: need at least one shape")
    if t.dtype == torch.bool:
        return t
    if t.dtype == torch.uint8:
        return t > UINT8_THRESHOLD
    raise GbenchError(f"{name} must be bool or uint8 occupancy (uint8: occupied = value > 127), got {t.dtype}: "
                      "threshold float occupancies yourself, e.g. probs > 0.5")


def iou_distance_matrix(a, b, device: str | torch.device | None = None) -> np.ndarray:
    """1 − IoU between every shape of ``a`` and every shape of ``b``.

    Args:
        a: occupancy (Na, S, S, S) or (Na, 1, S, S, S), bool or uint8 (occupied > 127).
        b: occupancy (Nb, ...) on the same grid.
        device: where the products run (default: ``a``'s device); CUDA speeds up large sets.

    Returns:
        float64 numpy (Na, Nb) in [0, 1]: 1 − |A ∩ B| / |A ∪ B|. Two empty grids have
        distance 0 (equal shapes), an empty and a non-empty one distance 1.

    Intersections are a float32 matrix product of the flattened 0/1 grids, exact
    (integer counts < 2²⁴ for S ≤ 256), in blocks of at most 128 MB per operand.
    """
    oa, ob = occupancy(a, "a"), occupancy(b, "b")
    if oa.shape[1:] != ob.shape[1:]:
        raise GbenchError(f"a and b must be on the same grid, got {tuple(oa.shape[1:])} and {tuple(ob.shape[1:])}")
    device = torch.device(device) if device is not None else oa.device
    fa, fb = oa.flatten(1), ob.flatten(1)
    na, nb = fa.sum(1).to(torch.float64).cpu(), fb.sum(1).to(torch.float64).cpu()
    rows = max(1, _BLOCK_VOXELS // fa.shape[1])
    out = np.empty((len(fa), len(fb)), dtype=np.float64)
    for j in range(0, len(fb), rows):
        bj = fb[j:j + rows].to(device=device, dtype=torch.float32)
        for i in range(0, len(fa), rows):
            inter = (fa[i:i + rows].to(device=device, dtype=torch.float32) @ bj.T).to(torch.float64).cpu()
            union = na[i:i + rows, None] + nb[None, j:j + rows] - inter
            iou = torch.where(union > 0, inter / union.clamp(min=1), torch.ones_like(inter))
            out[i:i + rows, j:j + rows] = (1 - iou).numpy()
    return out


def surface_voxels(vox) -> torch.Tensor:
    """bool (N, S, S, S): occupied voxels with at least one empty 6-neighbour (outside the grid is empty)."""
    o = occupancy(vox)
    p = torch.nn.functional.pad(o[:, None].to(torch.uint8), (1, 1, 1, 1, 1, 1))[:, 0]
    s = o.shape[1]
    inner = torch.ones_like(o)
    for axis in (1, 2, 3):
        for shift in (0, 2):
            idx = [slice(None), slice(1, s + 1), slice(1, s + 1), slice(1, s + 1)]
            idx[axis] = slice(shift, shift + s)
            inner &= p[tuple(idx)].bool()
    return o & ~inner


def surface_samples(vox, n_points: int = 1024, seed: int = 0) -> np.ndarray:
    """int64 (N, n_points): flat (C-order) indices of the surface voxels :func:`surface_points` draws.

    Each shape's draw uses ``numpy.random.default_rng([seed, count])`` (count = its number of
    surface voxels) over its surface voxels in C order, without replacement when count ≥
    ``n_points``, with replacement otherwise; an empty grid gets the centre voxel
    (S/2, S/2, S/2) ``n_points`` times.
    """
    if n_points < 1:
        raise GbenchError(f"n_points must be ≥ 1, got {n_points}")
    surf = surface_voxels(vox).cpu()
    n, s = surf.shape[0], surf.shape[1]
    idx = torch.nonzero(surf.flatten(1)).numpy()  # (K, 2): shape, flat voxel index, sorted
    counts = np.bincount(idx[:, 0], minlength=n)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    out = np.full((n, n_points), np.ravel_multi_index((s // 2,) * 3, (s,) * 3), dtype=np.int64)
    for i in np.flatnonzero(counts):
        c = int(counts[i])
        pick = np.random.default_rng([seed, c]).choice(c, n_points, replace=c < n_points)
        out[i] = idx[starts[i] + pick, 1]
    return out


def _centres(flat: np.ndarray, size: int) -> np.ndarray:
    """Flat voxel indices (...) → float32 (..., 3) voxel centres in the unit cube."""
    return ((np.stack(np.unravel_index(flat, (size,) * 3), axis=-1) + 0.5) / size).astype(np.float32)


def surface_points(vox, n_points: int = 1024, seed: int = 0) -> np.ndarray:
    """Points on the surface of each shape: centres of its surface voxels.

    Args:
        vox: occupancy (N, S, S, S) or (N, 1, S, S, S), bool or uint8 (occupied > 127).
        n_points: points per shape.
        seed: sampling seed.

    Returns:
        float32 numpy (N, n_points, 3): coordinates (x, y, z) in the grid's index order,
        scaled to the unit cube — voxel (i, j, k) has centre ((i, j, k) + ½) / S ∈ [0, 1]³.

    A surface voxel is occupied and has at least one empty 6-neighbour (cells outside
    the grid count as empty). Each shape's points are drawn uniformly from its surface
    voxels, without replacement when it has at least ``n_points`` of them, with
    replacement otherwise, by ``numpy.random.default_rng([seed, count])`` over the
    voxels in C order (:func:`surface_samples`): the points are a function of the shape
    and the seed only, so equal shapes get equal points wherever they sit in a set
    (their Chamfer distance is exactly 0). An empty grid has no surface; it gets
    ``n_points`` copies of the centre of the middle voxel (S/2, S/2, S/2), so every
    distance to it stays finite and an empty sample is simply far from every shape.
    """
    o = occupancy(vox)
    return _centres(surface_samples(o, n_points, seed), o.shape[1])


def _points(p, name: str) -> torch.Tensor:
    t = torch.from_numpy(np.ascontiguousarray(p)) if isinstance(p, np.ndarray) else p
    if not isinstance(t, torch.Tensor) or t.ndim != 3 or t.shape[2] != 3 or t.shape[0] == 0 or t.shape[1] == 0:
        raise GbenchError(f"{name} must be point sets (N, P, 3) with N, P ≥ 1, got "
                          f"{tuple(getattr(p, 'shape', ())) or type(p).__name__}")
    if not t.is_floating_point() or not bool(torch.isfinite(t).all()):
        raise GbenchError(f"{name} must hold finite float coordinates, got {t.dtype}")
    return t.detach().to(torch.float32)


def chamfer_distance_matrix(pa, pb, device: str | torch.device | None = None) -> np.ndarray:
    """Chamfer distance between every point set of ``pa`` and every one of ``pb``.

    Args:
        pa: float (Na, P, 3) point sets (e.g. :func:`surface_points`), numpy or torch.
        pb: float (Nb, Q, 3).
        device: where the distances run (default: ``pa``'s device).

    Returns:
        float64 numpy (Na, Nb): Achlioptas et al.'s CD (module docstring): mean over P of
        the squared distance to the nearest point of Q, plus the mean over Q of the
        squared distance to the nearest point of P.

    Batched with ``torch.cdist`` over blocks of pairs (at most 2²⁴ point pairs per
    block), in float32 with direct differences (not the |x|² + |y|² − 2x·y expansion),
    so a point's distance to itself is exactly 0 and CD(P, P) = 0. For point sets drawn
    from occupancy grids, :func:`voxel_chamfer_matrix` gives the same matrix orders of
    magnitude faster (n_points² distances per pair cost ~10 ms on a CPU core at 1,024 points).
    """
    a, b = _points(pa, "pa"), _points(pb, "pb")
    device = torch.device(device) if device is not None else a.device
    a, b = a.to(device), b.to(device)
    na, nb, p, q = a.shape[0], b.shape[0], a.shape[1], b.shape[1]
    per_block = max(1, _BLOCK_PAIRS // (p * q))
    cols = min(nb, per_block)
    rows = max(1, per_block // cols)
    out = np.empty((na, nb), dtype=np.float64)
    for i in range(0, na, rows):
        ai = a[i:i + rows]
        for j in range(0, nb, cols):
            bj = b[j:j + cols]
            x = ai[:, None].expand(-1, len(bj), -1, -1).reshape(-1, p, 3)
            y = bj[None].expand(len(ai), -1, -1, -1).reshape(-1, q, 3)
            d2 = torch.cdist(x, y, compute_mode="donot_use_mm_for_euclid_dist").square_()
            cd = d2.min(2).values.double().mean(1) + d2.min(1).values.double().mean(1)
            out[i:i + len(ai), j:j + len(bj)] = cd.reshape(len(ai), len(bj)).cpu().numpy()
    return out


def _point_transforms(flat: np.ndarray, size: int) -> torch.Tensor:
    """uint16 (N, S³): per shape, the squared Euclidean distance transform (voxel units²) of its
    sampled point set ``flat`` (N, P) flat voxel indices — integers ≤ 3 S² (< 2¹⁶ for S ≤ 128)."""
    from scipy.ndimage import distance_transform_edt

    out = np.empty((flat.shape[0], size**3), dtype=np.uint16)
    for i, row in enumerate(flat):
        free = np.ones(size**3, dtype=bool)
        free[row] = False
        out[i] = np.rint(distance_transform_edt(free.reshape((size,) * 3)) ** 2).ravel()
    return torch.from_numpy(out)


def _histograms(flat: np.ndarray, size: int, device: torch.device) -> torch.Tensor:
    """float64 (N, S³) point counts per voxel of sampled indices ``flat`` (N, P)."""
    idx = torch.from_numpy(flat).to(device)
    counts = torch.zeros((flat.shape[0], size**3), dtype=torch.float64, device=device)
    return counts.scatter_add_(1, idx, torch.ones(idx.shape, dtype=torch.float64, device=device))


def voxel_chamfer_matrix(a, b, n_points: int = 1024, seed: int = 0,
                         device: str | torch.device | None = None) -> np.ndarray:
    """The Chamfer distance matrix of the grids' surface points, without pairwise point distances.

    Args:
        a: occupancy (Na, S, S, S) or (Na, 1, S, S, S), bool or uint8 (occupied > 127).
        b: occupancy (Nb, ...) on the same grid.
        n_points, seed: as :func:`surface_points` (the points drawn are the same).
        device: where the products run (default: ``a``'s device).

    Returns:
        float64 numpy (Na, Nb), equal (to float64 rounding) to
        ``chamfer_distance_matrix(surface_points(a, n_points, seed), surface_points(b, n_points, seed))``.

    Every sampled point is a voxel centre, so the squared distance from a point to the
    nearest point of another set is that set's squared Euclidean distance transform
    (exact, ``scipy.ndimage.distance_transform_edt``) read at the point's voxel. One
    distance transform per shape and one matrix product per direction —
    (point histogram of a) · (transform of b) / n_points — replace the n_points²
    distances per pair: a 500 × 500 matrix at 32³ takes seconds on a CPU where
    ``torch.cdist`` takes hours.
    """
    oa, ob = occupancy(a, "a"), occupancy(b, "b")
    if oa.shape[1:] != ob.shape[1:]:
        raise GbenchError(f"a and b must be on the same grid, got {tuple(oa.shape[1:])} and {tuple(ob.shape[1:])}")
    size = oa.shape[1]
    if size > 128:
        raise GbenchError(f"voxel_chamfer_matrix supports grids up to 128³, got {size}³: use chamfer_distance_matrix")
    device = torch.device(device) if device is not None else oa.device
    sa, sb = surface_samples(oa, n_points, seed), surface_samples(ob, n_points, seed)
    ea, eb = _point_transforms(sa, size), _point_transforms(sb, size)  # 2 bytes per voxel and shape
    rows = max(1, _BLOCK_VOXELS // (4 * size**3))  # four float64 operands of ≤ 64 MB each
    scale = 1.0 / (n_points * size * size)  # mean over the points; voxel units² → unit cube
    out = np.empty((len(sa), len(sb)), dtype=np.float64)
    for j in range(0, len(sb), rows):
        hbj = _histograms(sb[j:j + rows], size, device)
        ebj = eb[j:j + rows].to(device=device, dtype=torch.float64)
        for i in range(0, len(sa), rows):
            hai = _histograms(sa[i:i + rows], size, device)
            eai = ea[i:i + rows].to(device=device, dtype=torch.float64)
            cd = (hai @ ebj.T + eai @ hbj.T) * scale
            out[i:i + rows, j:j + rows] = cd.cpu().numpy()
    return out


def _distances(d, name: str, shape: tuple | None = None) -> np.ndarray:
    t = d.detach().cpu().numpy() if isinstance(d, torch.Tensor) else np.asarray(d)
    if t.ndim != 2 or 0 in t.shape or not np.issubdtype(t.dtype, np.number):
        raise GbenchError(f"{name} must be a non-empty distance matrix (rows, cols), got {t.dtype} {t.shape}")
    if shape is not None and t.shape != shape:
        raise GbenchError(f"{name} must have shape {shape} to match the other matrices, got {t.shape}")
    if not np.isfinite(t).all():
        raise GbenchError(f"{name} contains NaN or Inf distances")
    return t.astype(np.float64)


def mmd_coverage(d_gen_ref) -> tuple[float, float]:
    """MMD and coverage (Achlioptas et al. 2018) from generated-to-reference distances.

    Args:
        d_gen_ref: (n_gen, n_ref) distances, e.g. :func:`iou_distance_matrix` (samples, test)
            or :func:`chamfer_distance_matrix`.

    Returns:
        (mmd, coverage): mmd = mean over reference shapes of the distance to the nearest
        generated shape (lower is better); coverage = fraction of reference shapes that
        are the nearest reference shape of at least one generated shape (higher is
        better). A sample equidistant from several reference shapes matches the first
        (numpy's argmin), so a reference set with duplicate shapes cannot be fully covered.
    """
    d = _distances(d_gen_ref, "d_gen_ref")
    mmd = float(d.min(axis=0).mean())
    coverage = len(np.unique(d.argmin(axis=1))) / d.shape[1]
    return mmd, float(coverage)


def one_nn_accuracy(d_gg, d_rr, d_gr) -> float:
    """Leave-one-out 1-NN two-sample test accuracy over G ∪ R (Lopez-Paz & Oquab 2017; Yang et al. 2019).

    Args:
        d_gg: (n_g, n_g) distances within the generated set (diagonal ignored).
        d_rr: (n_r, n_r) within the reference set (diagonal ignored).
        d_gr: (n_g, n_r) generated to reference.

    Returns:
        Accuracy in [0, 1] of labelling every shape by its nearest other shape in G ∪ R:
        0.5 is ideal (indistinguishable sets), ≈ 1 separable sets, 0 a G that copies R.
        Ties: when a shape's nearest same-set and nearest other-set distances are equal it
        counts as half right (so a tie never favours either set, whatever the order).
        Each set needs ≥ 2 shapes (a leave-one-out neighbour in its own set).
    """
    gr = _distances(d_gr, "d_gr")
    n_g, n_r = gr.shape
    gg = _distances(d_gg, "d_gg", (n_g, n_g)).copy()
    rr = _distances(d_rr, "d_rr", (n_r, n_r)).copy()
    if n_g < 2 or n_r < 2:
        raise GbenchError(f"1-NN accuracy needs ≥ 2 shapes per set, got {n_g} generated and {n_r} reference")
    np.fill_diagonal(gg, np.inf)
    np.fill_diagonal(rr, np.inf)
    same = np.concatenate([gg.min(1), rr.min(1)])
    other = np.concatenate([gr.min(1), gr.min(0)])
    right = (same < other) + 0.5 * (same == other)
    return float(right.mean())


def class_distribution_tv(pred_fake, pred_real, num_classes: int) -> float:
    """Total variation distance between the predicted-class histograms of two sets.

    Args:
        pred_fake: int (N,) predicted class ids of the samples, or their logits (N, K)
            (argmax taken); numpy or torch.
        pred_real: int (M,) (or logits (M, K)) of the reference set.
        num_classes: K; ids must lie in 0..K−1.

    Returns:
        ½ Σ_c |p_fake(c) − p_real(c)| ∈ [0, 1], p = class frequencies: 0 when the
        classifier sees the same class mix, 1 when the sets share no class.
    """
    hists = []
    for name, p in (("pred_fake", pred_fake), ("pred_real", pred_real)):
        a = p.detach().cpu().numpy() if isinstance(p, torch.Tensor) else np.asarray(p)
        if a.ndim == 2 and a.shape[1] == num_classes and np.issubdtype(a.dtype, np.floating):
            a = a.argmax(1)
        if a.ndim != 1 or len(a) == 0 or not np.issubdtype(a.dtype, np.integer):
            raise GbenchError(f"{name} must be integer class ids (N,) or logits (N, {num_classes}), got "
                              f"{a.dtype} {a.shape}")
        if a.min() < 0 or a.max() >= num_classes:
            raise GbenchError(f"{name} holds class ids outside 0..{num_classes - 1}")
        hists.append(np.bincount(a, minlength=num_classes) / len(a))
    return float(0.5 * np.abs(hists[0] - hists[1]).sum())


_IOU = {"distance": "1 - IoU", "uint8_occupied": "> 127", "reference": "test split"}
_CD = {"distance": "chamfer (squared, mean per direction)", "cd_points": 1024, "points": "surface voxel centres",
       "coords": "unit cube", "reference": "test split"}

register_metric(
    MetricSpec("mmd_iou", "MMD-IoU", False, "minimum matching distance (Achlioptas et al. 2018) with the 1 − IoU "
               "distance: mean over test shapes of the distance to the nearest sample", decimals=3, protocol=_IOU),
    MetricSpec("cov_iou", "COV-IoU", True, "coverage (Achlioptas et al. 2018), 1 − IoU: fraction of test shapes "
               "that are some sample's nearest neighbour", decimals=3, protocol=_IOU),
    MetricSpec("mmd_cd", "MMD-CD (×10³)", False, "minimum matching distance with the Chamfer distance on surface "
               "points (unit cube, squared, mean)", decimals=2, scale=1e3, protocol=_CD),
    MetricSpec("cov_cd", "COV-CD", True, "coverage with the Chamfer distance on surface points", decimals=3,
               protocol=_CD),
    MetricSpec("1nna_iou", "1-NNA-IoU (→ 0.5)", None, "leave-one-out 1-NN two-sample accuracy (Lopez-Paz & Oquab "
               "2017; Yang et al. 2019), 1 − IoU distance: 0.5 ideal, 1 separable, 0 copies", decimals=3,
               protocol=_IOU | {"ties": "half right"}),
    MetricSpec("1nna_cd", "1-NNA-CD (→ 0.5)", None, "leave-one-out 1-NN two-sample accuracy with the Chamfer "
               "distance: 0.5 ideal", decimals=3, protocol=_CD | {"ties": "half right"}),
    MetricSpec("class_tv", "class TV", False, "total variation between the class histograms voxels-evaluator "
               "predicts for samples and test shapes", decimals=3, protocol={"classifier": "voxels-evaluator"}),
)
