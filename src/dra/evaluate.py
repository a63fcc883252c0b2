"""Scores -> a run's image metrics (scikit-learn; no torch). One function, `image_metrics`, gives every
per-run image metric, so the training stage that writes metrics.json and the table stage that checks
it against scores.csv compute them identically.

- auroc, aupr: over the whole test set;
- operating points from scikit-learn's ROC curve: the TPR reached at a false-positive rate of at most
  1 % and 5 % (the best threshold that keeps FPR within the bound), and the lowest FPR at which at
  least 95 % of the anomalies are caught;
- class_auroc: per anomaly class of the test set, that class's anomalies against every test normal
  (in a hard setting: each unseen class).

A test set with a single label has no ROC: every metric is None and `undefined` says why."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score, roc_curve

from dra.errors import DraError

OPERATING_POINTS = ("tpr_at_fpr_1", "tpr_at_fpr_5", "fpr_at_tpr_95")
IMAGE_METRICS = ("auroc", "aupr", *OPERATING_POINTS)  # the scalar ones, each in [0, 1]


def _checked(labels, scores, where: str) -> tuple[np.ndarray, np.ndarray]:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if len(labels) != len(scores):
        raise DraError(f"{where}: {len(labels)} labels but {len(scores)} scores")
    if not np.isfinite(scores).all():
        raise DraError(f"{where}: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    if not np.isin(labels, (0, 1)).all():
        raise DraError(f"{where}: labels must be 0 (normal) or 1 (anomaly), found {sorted(set(labels.tolist()))[:5]}")
    return labels.astype(np.int64), scores


def single_label(labels: np.ndarray) -> str | None:
    """Why a test set has no ROC (one label only), or None."""
    present = np.unique(labels)
    if len(present) == 2:
        return None
    if len(present) == 0:
        return "the test set is empty"
    return f"the test set holds only {'anomalies' if present[0] == 1 else 'normals'} (label {present[0]}): no ROC"


def operating_points(labels, scores, where: str = "") -> dict:
    """TPR at FPR <= 1 % and <= 5 %, and the lowest FPR with TPR >= 95 %. With one label only, each is
    None and `undefined` gives the reason."""
    labels, scores = _checked(labels, scores, where)
    reason = single_label(labels)
    if reason:
        return {**dict.fromkeys(OPERATING_POINTS), "undefined": reason}
    fpr, tpr, _ = roc_curve(labels, scores, drop_intermediate=False)
    return {"tpr_at_fpr_1": float(tpr[fpr <= 0.01].max()),  # fpr[0] == 0: never empty
            "tpr_at_fpr_5": float(tpr[fpr <= 0.05].max()),
            "fpr_at_tpr_95": float(fpr[tpr >= 0.95].min()),  # tpr[-1] == 1: never empty
            "undefined": None}


def per_class_auroc(labels, scores, classes, where: str = "") -> dict[str, float]:
    """{anomaly class: AUROC of its anomalies against all normals}; empty without normals."""
    labels, scores = _checked(labels, scores, where)
    classes = np.asarray(["" if c is None or c != c else str(c) for c in classes], dtype=object)
    if len(classes) != len(labels):
        raise DraError(f"{where}: {len(classes)} anomaly classes for {len(labels)} labels")
    normal = labels == 0
    if not normal.any():
        return {}
    out = {}
    for cls in sorted(set(classes[labels == 1])):
        pick = normal | ((labels == 1) & (classes == cls))
        out[cls] = float(roc_auc_score(labels[pick], scores[pick]))
    return out


def image_metrics(labels, scores, classes=None, where: str = "") -> dict:
    """Every per-run image metric: auroc, aupr, the operating points, `undefined` (None, or why the
    test set has no ROC) and, given the test images' anomaly classes, class_auroc."""
    labels, scores = _checked(labels, scores, where)
    points = operating_points(labels, scores, where)
    out = {"auroc": None, "aupr": None, **points}
    if not points["undefined"]:
        out.update(auroc=float(roc_auc_score(labels, scores)), aupr=float(average_precision_score(labels, scores)))
    if classes is not None:
        out["class_auroc"] = {} if points["undefined"] else per_class_auroc(labels, scores, classes, where)
    return out


def metrics(labels: np.ndarray, scores: np.ndarray, where: str = "", classes=None) -> dict:
    """`image_metrics` for a finished run, whose test set must hold normals and anomalies."""
    labels = np.asarray(labels)
    reason = single_label(labels)
    if reason:
        raise DraError(f"{where}: the test set needs normals and anomalies, found labels {np.unique(labels)} ({reason})")
    return image_metrics(labels, scores, classes, where)
