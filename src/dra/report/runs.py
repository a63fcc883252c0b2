"""Read run metrics files (metrics.json) into one tidy frame: one row per run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dra.errors import DraError

KEYS = ["variant", "dataset", "subset", "setting", "shots", "seed"]
FIELDS = ["auroc", "aupr", "pixel_auroc", "aupro", "seconds", "train_seconds", "images_per_second", "peak_memory_mb",
          "device", "device_type", "threads", "amp", "torch", "budget", "epochs", "iterations", "images_seen",
          "n_train_normal", "n_labeled", "n_test", "pseudo_source", "git_commit", "config_digest"]


def read_metrics(path: Path) -> dict:
    try:
        m = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DraError(f"{path}: unreadable run metrics ({e}); delete its run folder and rerun") from None
    spec = m.get("spec", {})
    row = {k: spec.get(k) for k in KEYS}
    row.update({k: m.get(k) for k in FIELDS})
    row["torch"] = m.get("versions", {}).get("torch")
    row["budget"] = spec.get("budget", 1.0)
    row["path"] = str(Path(path).parent)
    missing = [k for k in KEYS if row[k] is None]
    if missing:
        raise DraError(f"{path}: run metrics lack {missing} in their spec; not a run of this pipeline")
    return row


def runs_frame(paths: list[Path]) -> pd.DataFrame:
    return pd.DataFrame([read_metrics(p) for p in paths], columns=KEYS + FIELDS + ["path"])

