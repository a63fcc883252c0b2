"""What a run writes, each file appearing only when complete: scores.csv (one row per test image),
metrics.json (the metrics and everything needed to trace them: data digests, spec, code, device),
and where asked its trained model and every test map."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dra.fsutil import atomic_path, ensure_free, nbytes_of, sha256_file, write_text
from dra.methods.rundata import RunData

SCORES = "scores.csv"
METRICS = "metrics.json"


def write_scores(out: Path, test: RunData, scores: dict[str, np.ndarray]) -> tuple[str, pd.DataFrame]:
    """scores.csv: id, label, anomaly class, the score and each per-head part. Returns the file's
    SHA-256, which metrics.json records so that the table stage can tell the two belong together,
    and the file read back: the run's metrics are computed from what it wrote, as the table stage
    recomputes them."""
    table = pd.DataFrame({"id": test.test_paths, "label": test.test_labels, "anomaly_class": test.test_classes,
                          "score": scores["score"]})
    for k in sorted(scores):
        if k != "score":
            table[k] = scores[k]
    with atomic_path(out / SCORES) as tmp:
        table.to_csv(tmp, index=False, float_format="%.9g")
        digest = sha256_file(tmp)
        written = pd.read_csv(tmp, dtype={"id": str, "anomaly_class": str}, keep_default_na=False)
    return digest, written


def write_metrics(out: Path, info: dict) -> None:
    write_text(out / METRICS, json.dumps(info, indent=1, default=str))


def save_model(model: torch.nn.Module, path: Path) -> None:
    """The trained model's weights (weights only), for a later step that builds on the run."""
    weights = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    ensure_free(path.parent, nbytes_of(weights) + (1 << 20), f"the model {path.name}")
    with atomic_path(path, suffix=".pt") as tmp:
        torch.save(weights, tmp)


def save_maps(path: Path, ids: list[str], maps: np.ndarray) -> None:
    """Every test image's anomaly map at the input's size, float16, compressed."""
    ensure_free(path.parent, maps.nbytes + (1 << 20), f"the anomaly maps {path.name}")  # an upper bound
    with atomic_path(path, suffix=".npz") as tmp:
        with open(tmp, "wb") as f:
            np.savez_compressed(f, ids=np.array(ids), maps=maps)
