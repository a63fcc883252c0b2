"""The manifest: one row per image of a prepared subset, the only thing later stages read.

Columns: path (relative to the manifest's folder), split (train/test), label (0 normal, 1 anomaly),
anomaly_class (empty exactly for normals), source (the raw file, for traceability), sha256 (of the
prepared file), duplicate_group (the first path of its group of byte-identical images, empty for a
unique image) and mask (the prepared pixel mask of an anomaly, relative path; empty where none).

Every reader goes through `read_manifest`, which validates each row, so a hand-edited or planted
manifest can never point outside its folder, drop a row silently or mislabel an image."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path, PurePosixPath

import pandas as pd

from dra.errors import DraError
from dra.fsutil import sha256_file

COLUMNS = ["path", "split", "label", "anomaly_class", "source", "sha256", "duplicate_group", "mask"]
MANIFEST = "manifest.csv"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


def _where(path: Path, i: int) -> str:
    return f"{path}, row {i + 2}"  # the CSV line: a header line, then rows from 0


def _relative_inside(manifest: Path, i: int, column: str, value: str) -> None:
    p = PurePosixPath(value)
    if not value or value.startswith(("/", "\\")) or p.is_absolute() or (len(value) > 1 and value[1] == ":"):
        raise DraError(f"{_where(manifest, i)}: {column} {value!r}; expected a path relative to the manifest's folder")
    if ".." in p.parts or "\\" in value:
        raise DraError(f"{_where(manifest, i)}: {column} {value!r} leaves the manifest's folder; "
                       "expected a path inside it (no '..')")


def read_manifest(path: str | Path, check_files: bool = True) -> pd.DataFrame:
    """The manifest, every row checked (see the module); `check_files`: each image (and mask) must exist."""
    path = Path(path)
    if not path.is_file():
        raise DraError(f"{path}: manifest not found; run `python -m dra prepare` first")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError, pd.errors.EmptyDataError) as e:
        raise DraError(f"{path}: not a readable manifest ({e}); rerun `python -m dra prepare`") from None
    missing = [c for c in COLUMNS if c not in df.columns]
    if missing:
        raise DraError(f"{path}: manifest lacks columns {missing}; expected {COLUMNS} (rerun `python -m dra prepare`)")
    root = path.parent.resolve()
    for i, row in enumerate(df.itertuples(index=False)):
        if row.label not in ("0", "1"):
            raise DraError(f"{_where(path, i)}: label {row.label!r}; expected 0 (normal) or 1 (anomaly)")
        if row.split not in ("train", "test"):
            raise DraError(f"{_where(path, i)}: split {row.split!r}; expected train or test")
        if (row.label == "0") != (row.anomaly_class == ""):
            want = "empty for a normal (label 0)" if row.label == "0" else "a class name for an anomaly (label 1)"
            raise DraError(f"{_where(path, i)}: anomaly_class {row.anomaly_class!r} with label {row.label}; expected {want}")
        if not _SHA256.match(row.sha256):
            raise DraError(f"{_where(path, i)}: sha256 {row.sha256!r}; expected 64 lower-case hex digits")
        for column in ("path", "mask"):
            value = getattr(row, column)
            if column == "mask" and not value:
                continue
            _relative_inside(path, i, column, value)
            target = (path.parent / value).resolve()
            if root not in target.parents:
                raise DraError(f"{_where(path, i)}: {column} {value!r} resolves to {target}, outside {root}")
            if check_files and not target.is_file():
                raise DraError(f"{_where(path, i)}: {column} {value!r}: file {target} not found")
        if row.mask and row.label != "1":
            raise DraError(f"{_where(path, i)}: mask {row.mask!r} for a normal image; expected masks for anomalies only")
    dup = df["path"].duplicated()
    if dup.any():
        i = int(dup.to_numpy().nonzero()[0][0])
        raise DraError(f"{_where(path, i)}: path {df['path'].iloc[i]!r} appears twice; expected one row per image")
    df["label"] = df["label"].astype(int)
    return df


def verify_files(df: pd.DataFrame, manifest: Path, read) -> None:
    """Call read(i, absolute path, bytes) for each row after checking the bytes' SHA-256 against the
    manifest (each file read once: the caller decodes the same bytes)."""
    root = Path(manifest).parent
    for i, (rel, want) in enumerate(zip(df["path"], df["sha256"])):
        p = root / rel
        data = p.read_bytes()
        got = hashlib.sha256(data).hexdigest()
        if got != want:
            raise DraError(f"{_where(Path(manifest), i)}: {rel} has SHA-256 {got[:16]}..., the manifest says "
                           f"{want[:16]}...; the file changed after prepare: rerun `python -m dra prepare`")
        read(i, p, data)


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
