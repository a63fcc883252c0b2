"""Pixel-level localisation metrics: pixel AUROC and the area under the PRO curve (AU-PRO).

Both take anomaly maps (float, N x H x W, higher = more anomalous) and ground-truth masks
(bool, N x H x W, True = defect pixel) as numpy arrays and return a Python float. Scores are
compared in float32: that halves the memory on real data, and scores that differ only beyond
float32 precision count as tied.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage
from sklearn.metrics import roc_auc_score

from dra.errors import DraError


def _checked(maps, masks) -> tuple[np.ndarray, np.ndarray]:
    """Return (float32 maps, bool masks) after checking shape, dtype and finiteness.

    The float32 conversion copies only when the input is not float32 already; the finiteness
    check uses min and max, so it allocates nothing of the maps' size.
    """
    maps = np.asarray(maps, dtype=np.float32)
    masks = np.asarray(masks)
    if masks.dtype != np.bool_:
        raise DraError(f"masks must be a boolean array (True = defect pixel), got dtype {masks.dtype}")
    if maps.ndim != 3 or masks.ndim != 3:
        raise DraError(f"maps and masks must be N x H x W arrays, got shapes {maps.shape} and {masks.shape}")
    if maps.shape != masks.shape:
        raise DraError(f"maps and masks differ in shape: {maps.shape} vs {masks.shape}")
    if maps.size and not (np.isfinite(maps.min()) and np.isfinite(maps.max())):
        raise DraError("maps hold NaN or infinite scores (after conversion to float32)")
    return maps, masks


def _defect_counts(masks: np.ndarray) -> tuple[int, int]:
    """(defect pixels, defect-free pixels); both must be non-zero for either metric to exist."""
    n_defect = int(np.count_nonzero(masks))
    n_ok = masks.size - n_defect
    if n_defect == 0:
        raise DraError("masks hold no defect pixel: the metric is undefined")
    if n_ok == 0:
        raise DraError("masks hold no defect-free pixel: the metric is undefined")
    return n_defect, n_ok


def pixel_auroc(maps, masks) -> float:
    """AUROC of the pixel scores against the pixel labels, over all pixels of all images.

    Computed by scikit-learn's roc_auc_score on the flattened arrays (views when the inputs
    are contiguous float32 / bool). Raises DraError on a shape mismatch, non-finite scores,
    or masks that are all defect or all defect-free (AUROC undefined).
    """
    maps, masks = _checked(maps, masks)
    _defect_counts(masks)
    return float(roc_auc_score(masks.reshape(-1), maps.reshape(-1)))


def _area_up_to(x: np.ndarray, y: np.ndarray, limit: float) -> float:
    """Trapezoidal area under the polyline (x, y) from x[0] = 0 up to x = limit.

    x must be non-decreasing and reach at least `limit`. The polyline is cut at `limit`, its
    value there found by linear interpolation between the two points around it, so no area
    beyond `limit` is counted: the area is at most limit * max(y).
    """
    k = int(np.searchsorted(x, limit, side="right"))  # x[:k] <= limit < x[k:]
    xs, ys = x[:k], y[:k]
    if k < len(x):
        x0, y0, x1, y1 = x[k - 1], y[k - 1], x[k], y[k]  # x0 <= limit < x1, so x1 > x0
        y_at_limit = y0 + (y1 - y0) * (limit - x0) / (x1 - x0)
        xs = np.append(xs, limit)
        ys = np.append(ys, y_at_limit)
    return float(np.sum((xs[1:] - xs[:-1]) * (ys[1:] + ys[:-1])) / 2.0)


def pro_curve(maps, masks, connectivity: int = 8) -> tuple[np.ndarray, np.ndarray]:
    """The exact PRO curve: (fpr, pro) float64 arrays, from (0, 0) to (1, 1), fpr non-decreasing.

    For a threshold t, PRO(t) is the mean over all connected defect components (of all images)
    of the fraction of the component's pixels with score >= t, and FPR(t) the fraction of all
    defect-free pixels (normal images included) with score >= t. Every distinct score is a
    threshold; pixels with equal scores enter together.

    Components follow the MVTec AD evaluation code, which labels with a 3 x 3 structure of ones
    (8-connectivity); connectivity=4 uses scipy.ndimage.label's default cross instead.

    The curve is built without sorting all pixels: the defect-free scores are sorted once
    (float32, no index array), and only the defect pixels are sorted with their weights
    1 / (number of components * size of their component). Between two consecutive distinct
    defect scores only defect-free pixels enter, so that stretch of the curve is one horizontal
    segment; each distinct defect score d therefore contributes the point just before it enters,
    (FPR(> d), PRO(> d)), and the point after, (FPR(>= d), PRO(>= d)). This is the same polyline
    as the one through the points of every distinct score, minus points lying on its segments.
    """
    if connectivity not in (4, 8):
        raise DraError(f"connectivity must be 4 or 8, got {connectivity!r}")
    maps, masks = _checked(maps, masks)
    _, n_ok = _defect_counts(masks)
    structure = ndimage.generate_binary_structure(2, 1 if connectivity == 4 else 2)

    defect_scores, inverse_sizes = [], []
    n_components = 0
    for image_map, image_mask in zip(maps, masks):
        labels, n = ndimage.label(image_mask, structure=structure)
        if n == 0:
            continue
        n_components += n
        sizes = np.bincount(labels.reshape(-1), minlength=n + 1)
        defect_scores.append(image_map[image_mask])
        inverse_sizes.append(1.0 / sizes[labels[image_mask]])
    scores = np.concatenate(defect_scores)
    weights = np.concatenate(inverse_sizes) / n_components

    ok_scores = maps[~masks]
    ok_scores.sort()

    order = np.argsort(scores, kind="stable")[::-1]  # descending
    scores = scores[order]
    weights = weights[order]
    group_ends = np.flatnonzero(np.append(scores[1:] != scores[:-1], True))
    thresholds = scores[group_ends]
    pro_after = np.minimum(np.cumsum(weights)[group_ends], 1.0)  # clip cumsum rounding only
    pro_before = np.concatenate(([0.0], pro_after[:-1]))
    ok_above = n_ok - np.searchsorted(ok_scores, thresholds, side="right")  # ok scores > d
    ok_at_or_above = n_ok - np.searchsorted(ok_scores, thresholds, side="left")  # ok scores >= d

    n_points = 2 * len(thresholds) + 2
    fpr = np.empty(n_points)
    pro = np.empty(n_points)
    fpr[0] = pro[0] = 0.0
    fpr[1:-1:2] = ok_above / n_ok
    fpr[2:-1:2] = ok_at_or_above / n_ok
    pro[1:-1:2] = pro_before
    pro[2:-1:2] = pro_after
    fpr[-1] = pro[-1] = 1.0
    return fpr, pro


def aupro(maps, masks, fpr_limit: float = 0.3, connectivity: int = 8) -> float:
    """Normalised area under the PRO curve up to FPR = fpr_limit (Bergmann et al., IJCV 2021).

    The exact PRO curve (see pro_curve) is integrated with the trapezoidal rule from FPR 0 to
    fpr_limit, its value at fpr_limit interpolated linearly between the two points around it,
    and the area is divided by fpr_limit, so the result lies in [0, 1]. Raises DraError on a
    shape mismatch, non-finite scores, masks without defect or without defect-free pixels, or
    fpr_limit outside (0, 1].
    """
    limit = float(fpr_limit)
    if not 0.0 < limit <= 1.0:
        raise DraError(f"fpr_limit must lie in (0, 1], got {fpr_limit!r}")
    fpr, pro = pro_curve(maps, masks, connectivity=connectivity)
    area = _area_up_to(fpr, pro, limit)
    # The cut at the limit bounds the area by limit * 1; the clip only absorbs rounding.
    return float(min(max(area / limit, 0.0), 1.0))
