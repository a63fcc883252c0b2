"""Read run folders (metrics.json) into one tidy frame: one row per run."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from dra.errors import DraError
from dra.plan import Run

KEYS = ["variant", "dataset", "subset", "setting", "shots", "seed"]
FIELDS = ["auroc", "aupr", "seconds", "train_seconds", "images_per_second", "peak_memory_mb", "device", "epochs",
          "iterations", "images_seen", "n_train_normal", "n_labeled", "n_test", "pseudo_source", "git_commit",
          "config_digest"]


def read_metrics(path: Path) -> dict:
    try:
        m = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DraError(f"{path}: unreadable run metrics ({e})") from None
    spec = m.get("spec", {})
    row = {k: spec.get(k) for k in KEYS}
    row.update({k: m.get(k) for k in FIELDS})
    row["torch"] = m.get("versions", {}).get("torch")
    row["path"] = str(Path(path).parent)
    return row


def find_metrics(runs_dir: Path) -> list[Path]:
    return sorted(Path(runs_dir).glob("*/*/*/*/*shot/seed*/metrics.json"))


def runs_frame(paths: list[Path]) -> pd.DataFrame:
    return pd.DataFrame([read_metrics(p) for p in paths], columns=KEYS + FIELDS + ["torch", "path"])


def load_layout(arg: str) -> dict:
    """A table's or figure's layout, given as JSON text or @file (what the rules pass)."""
    return json.loads(Path(arg[1:]).read_text() if arg.startswith("@") else arg)


def layout_runs(layout: dict, results: Path) -> tuple[pd.DataFrame, int]:
    """The runs a layout shows that exist under `results`, and how many are missing."""
    keys = [Run(v, *c[:3], k, seed) for c in layout["cells"] for v, k in layout["columns"] if v == c[3]
            for seed in layout["seeds"]]
    paths = [Path(r.path(str(results))) / "metrics.json" for r in keys]
    found = [p for p in paths if p.is_file()]
    return runs_frame(found), len(paths) - len(found)
