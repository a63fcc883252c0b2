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


def make_split(df: pd.DataFrame, cls: str | None, seed: int, n_labeled: int = N_LABELED, where: str = "") -> dict:
    """The split of the general setting (`cls` None: labeled anomalies of every class) or of the
    hard setting of class `cls` (labeled anomalies of that class only; the class leaves the test
    set). The setting's name and its grammar are the run key's (dra.plan.runkey.hard_class)."""
    normals = df[df.label == 0]
    anomalies = df[df.label == 1].sort_values("path")
    classes = sorted(anomalies.anomaly_class.unique())
    if cls is None:
        pool = anomalies
        if n_labeled > len(anomalies) / 2:
            raise DraError(f"{where}: {n_labeled} labeled anomalies asked for, but the subset has only "
                           f"{len(anomalies)}; expected at most half of them")
    else:
        if cls not in classes:
            raise DraError(f"{where}: the hard setting of anomaly class {cls!r}: the class is not in the manifest; "
                           f"expected one of {classes}")
        if len(classes) < 2:
            raise DraError(f"{where}: the hard setting needs at least two anomaly classes, found {classes}")
        pool = anomalies[anomalies.anomaly_class == cls]
        if n_labeled > len(pool):
            raise DraError(f"{where}: {n_labeled} labeled anomalies asked for from class {cls!r}, "
                           f"which has only {len(pool)}")
    rng = np.random.default_rng(seed)
    drawn = pool.path.to_numpy()[rng.permutation(len(pool))[:n_labeled]].tolist()
    leave = set(pool.path) if cls is not None else set(drawn)
    # a labeled anomaly's byte-identical twins (the dataset's own duplicates) leave the test set with it
    sha = dict(zip(df.path, df.sha256))
    drawn_sha = {sha[p] for p in drawn}
    twins = sorted(p for p in anomalies.path if p not in leave and sha[p] in drawn_sha)
    leave |= set(twins)
    test = sorted(normals.path[normals.split == "test"].tolist() + [p for p in anomalies.path if p not in leave])
    train = sorted(normals.path[normals.split == "train"].tolist())
    test_sha = {sha[p] for p in test}
    split = {
        "hard_class": cls,
        "seed": seed,
        "train_normal": train,
        "anomalies": drawn,
        "test": test,
        "test_removed_twins": twins,
        # train normals whose bytes are also a test normal's: the dataset's own twins, kept (the paper's split)
        "normal_twins_across_split": sum(sha[p] in test_sha for p in train),
    }
    check_leakage(split, sha, set(anomalies.path), where)
    return split


def check_leakage(split: dict, sha: dict[str, str], anomaly_paths: set[str], where: str = "") -> None:
    """No labeled anomaly and no train normal in the test set, by path and by content (SHA-256): no
    test image has a labeled anomaly's bytes, no test anomaly a train normal's. (A train normal may
    share its bytes with a test normal: a dataset's own twins, counted in the split file.)"""
    test = set(split["test"])
    for key in ("anomalies", "train_normal"):
        leaked = test.intersection(split[key])
        if leaked:
            raise DraError(f"{where}: {len(leaked)} {key} images are also in the test set, e.g. {sorted(leaked)[0]}")
    by_sha: dict[str, list[str]] = {}
    for p in split["test"]:
        by_sha.setdefault(sha[p], []).append(p)
    for p in split["anomalies"]:
        if sha[p] in by_sha:
            raise DraError(f"{where}: labeled anomaly {p} and test image {by_sha[sha[p]][0]} are byte-identical; "
                           "a labeled anomaly's bytes must not be tested")
    for p in split["train_normal"]:
        for q in by_sha.get(sha[p], ()):
            if q in anomaly_paths:
                raise DraError(f"{where}: train normal {p} and test anomaly {q} are byte-identical; "
                               "one image cannot be both")
    labeled_sha = {sha[p] for p in split["anomalies"]}
    for p in split["train_normal"]:
        if sha[p] in labeled_sha:
            raise DraError(f"{where}: train normal {p} is byte-identical to a labeled anomaly; one image cannot be both")


def write_split(manifest: str | Path, setting: str, cls: str | None, seed: int, out: str | Path,
                dataset: str = "", subset: str = "") -> dict:
    """`setting` (its name, recorded) and `cls` (its hard class, None for the general setting)."""
    df = read_manifest(manifest)
    split = {"dataset": dataset, "subset": subset, "setting": setting, "manifest_sha256": manifest_digest(manifest),
             **make_split(df, cls, seed, where=str(manifest))}
    write_text(out, json.dumps(split, indent=1))
    return split


def read_split(path: str | Path) -> dict:
    path = Path(path)
    if not path.is_file():
        raise DraError(f"{path}: split not found; run `python -m dra split` first")
    try:
        split = json.loads(path.read_text())
    except json.JSONDecodeError as e:
        raise DraError(f"{path}: not a readable split ({e}); delete it and rerun `python -m dra split`") from None
    for key in ("train_normal", "anomalies", "test", "manifest_sha256", "test_removed_twins"):
        if key not in split:
            raise DraError(f"{path}: split lacks key {key!r}; delete it and rerun `python -m dra split`")
    return split


def labeled(split: dict, shots: int) -> list[str]:
    if shots > len(split["anomalies"]):
        raise DraError(f"{shots} shots asked for, but the split holds {len(split['anomalies'])} labeled anomalies")
    return split["anomalies"][:shots]
