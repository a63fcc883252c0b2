"""General and hard splits (PROTOCOL section 2): one JSON per (dataset, subset, setting, seed)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from dra.data.manifest import manifest_digest, read_manifest
from dra.errors import DraError
from dra.fsutil import write_text

N_LABELED = 10  # the ten-shot draw; the one-shot anomaly is its first element


def hard_class(setting: str) -> str | None:
    if setting == "general":
        return None
    if setting.startswith("hard-"):
        return setting[len("hard-"):]
    raise DraError(f"setting {setting!r}: expected 'general' or 'hard-<anomaly class>'")


def make_split(df: pd.DataFrame, setting: str, seed: int, n_labeled: int = N_LABELED, where: str = "") -> dict:
    normals = df[df.label == 0]
    anomalies = df[df.label == 1].sort_values("path")
    classes = sorted(anomalies.anomaly_class.unique())
    cls = hard_class(setting)
    if cls is None:
        pool = anomalies
        if n_labeled > len(anomalies) / 2:
            raise DraError(f"{where}: {n_labeled} labeled anomalies asked for, but the subset has only "
                           f"{len(anomalies)}; expected at most half of them")
    else:
        if cls not in classes:
            raise DraError(f"{where}: setting {setting!r} names anomaly class {cls!r}, "
                           f"which is not in the manifest; expected one of {classes}")
        if len(classes) < 2:
            raise DraError(f"{where}: the hard setting needs at least two anomaly classes, found {classes}")
        pool = anomalies[anomalies.anomaly_class == cls]
        if n_labeled > len(pool):
            raise DraError(f"{where}: {n_labeled} labeled anomalies asked for from class {cls!r}, "
                           f"which has only {len(pool)}")
    rng = np.random.default_rng(seed)
    drawn = pool.path.to_numpy()[rng.permutation(len(pool))[:n_labeled]].tolist()
    leave = set(pool.path) if cls is not None else set(drawn)
    test = sorted(normals.path[normals.split == "test"].tolist() + [p for p in anomalies.path if p not in leave])
    split = {
        "setting": setting,
        "seed": seed,
        "train_normal": sorted(normals.path[normals.split == "train"].tolist()),
        "anomalies": drawn,
        "test": test,
    }
    check_leakage(split, where)
    return split


def check_leakage(split: dict, where: str = "") -> None:
    test = set(split["test"])
    for key in ("anomalies", "train_normal"):
        leaked = test.intersection(split[key])
        if leaked:
            raise DraError(f"{where}: {len(leaked)} {key} images are also in the test set, e.g. {sorted(leaked)[0]}")


def write_split(manifest: str | Path, setting: str, seed: int, out: str | Path,
                dataset: str = "", subset: str = "") -> dict:
    df = read_manifest(manifest)
    split = {"dataset": dataset, "subset": subset, "manifest_sha256": manifest_digest(manifest),
             **make_split(df, setting, seed, where=str(manifest))}
    write_text(out, json.dumps(split, indent=1))
    return split


def read_split(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DraError(f"{path}: split not found; run `python -m dra split` first")
    split = json.loads(path.read_text())
    for key in ("train_normal", "anomalies", "test", "manifest_sha256"):
        if key not in split:
            raise DraError(f"{path}: split lacks key {key!r}")
    return split


def labeled(split: dict, shots: int) -> list[str]:
    if shots > len(split["anomalies"]):
        raise DraError(f"{shots} shots asked for, but the split holds {len(split['anomalies'])} labeled anomalies")
    return split["anomalies"][:shots]
