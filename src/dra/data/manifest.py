"""The manifest: one row per image of a prepared subset, the only thing later stages read."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dra.errors import DraError
from dra.fsutil import sha256_file

COLUMNS = ["path", "split", "label", "anomaly_class", "source", "sha256"]
MANIFEST = "manifest.csv"


def read_manifest(path: str | Path) -> pd.DataFrame:
    path = Path(path)
    if not path.is_file():
        raise DraError(f"{path}: manifest not found; run `python -m dra prepare` first")
    df = pd.read_csv(path, dtype={"path": str, "split": str, "anomaly_class": str, "source": str, "sha256": str},
                     keep_default_na=False)
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DraError(f"{path}: manifest lacks columns {missing}; expected {COLUMNS}")
    bad = ~df["split"].isin(["train", "test"])
    if bad.any():
        raise DraError(f"{path}: split {df['split'][bad].iloc[0]!r} in row {int(bad.idxmax()) + 2}; expected train or test")
    return df


def manifest_digest(path: str | Path) -> str:
    return sha256_file(path)


def subset_counts(df: pd.DataFrame) -> dict:
    """train normals, test normals and anomalies per class: what the paper's Table 5 counts."""
    normal = df[df.label == 0]
    anomalies = df[df.label == 1]
    return {
        "train_normal": int((normal.split == "train").sum()),
        "test_normal": int((normal.split == "test").sum()),
        "anomalies": {c: int(n) for c, n in sorted(anomalies.anomaly_class.value_counts().items())},
    }
