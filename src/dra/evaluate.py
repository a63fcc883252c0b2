"""Scores -> AUROC and AUPR (scikit-learn)."""

from __future__ import annotations

import numpy as np
from sklearn.metrics import average_precision_score, roc_auc_score

from dra.errors import DraError


def metrics(labels: np.ndarray, scores: np.ndarray, where: str = "") -> dict:
    labels, scores = np.asarray(labels), np.asarray(scores, dtype=np.float64)
    if not np.isfinite(scores).all():
        raise DraError(f"{where}: {int((~np.isfinite(scores)).sum())} scores are NaN or infinite")
    if len(np.unique(labels)) < 2:
        raise DraError(f"{where}: the test set needs normals and anomalies, found labels {np.unique(labels)}")
    return {"auroc": float(roc_auc_score(labels, scores)), "aupr": float(average_precision_score(labels, scores))}
