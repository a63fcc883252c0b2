"""Hand-made run folders (scores.csv + metrics.json) as the training stage writes them, for the
report tests: the metrics computed from the scores as written, the scores' digest recorded."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from dra.evaluate import image_metrics
from dra.plan.runkey import Run


def write_run(results: Path, variant: str, dataset: str, subset: str, setting: str, shots: int, seed: int,
              labels, scores, classes=None, budget: float = 1.0, weights: str = "imagenet", image_size: int = 224,
              params: dict | None = None, ids=None) -> Path:
    """A run folder under results/runs/...; returns its folder."""
    run = Run(variant, dataset, subset, setting, shots, seed)
    folder = Path(run.dir(str(results)))
    folder.mkdir(parents=True, exist_ok=True)
    labels = np.asarray(labels, dtype=int)
    classes = ["" if y == 0 else "defect" for y in labels] if classes is None else list(classes)
    ids = [f"test/{c or 'good'}/{i:04d}.png" for i, c in enumerate(classes)] if ids is None else list(ids)
    table = pd.DataFrame({"id": ids, "label": labels, "anomaly_class": classes,
                          "score": np.asarray(scores, dtype=np.float32).astype(np.float64)})
    table.to_csv(folder / "scores.csv", index=False, float_format="%.9g")
    back = pd.read_csv(folder / "scores.csv", keep_default_na=False)
    m = image_metrics(back.label.to_numpy(), back.score.to_numpy(), back.anomaly_class.to_numpy())
    spec = {"variant": variant, "method": variant, "dataset": dataset, "subset": subset, "setting": setting,
            "shots": shots, "seed": seed, "image_size": image_size, "params": params or {}, "weights": weights,
            "budget": budget}
    info = {**m, "spec": spec, "git_commit": "abc123", "pixel_auroc": None, "aupro": None,
            "scores_sha256": hashlib.sha256((folder / "scores.csv").read_bytes()).hexdigest()}
    (folder / "metrics.json").write_text(json.dumps(info, indent=1))
    return folder


def files(folders: list[Path]) -> list[Path]:
    return [f / name for f in folders for name in ("metrics.json", "scores.csv")]


def layout(name: str, rows: list, variants: list[str], shots: int = 10, seeds=(0,), **extra) -> dict:
    return {"name": name, "caption": name, "rows": [list(r) for r in rows],
            "cells": [[*r, v] for r in rows for v in variants], "columns": [[v, shots] for v in variants],
            "seeds": list(seeds), "metrics": ["auroc"], "labels": {}, "kind": "bars", **extra}
