"""HeadCT (Kaggle felipekitamura/head-ct-hemorrhage): `labels.csv` says which scans show a hemorrhage.

Raw layout (a Kaggle download, account needed: placed by hand):
  labels.csv               header `id, hemorrhage`, then one row per image
  head_ct/head_ct/NNN.png  image `{id:03d}.png` (a single `head_ct/` level is accepted too)

Conversion: hemorrhage 0 is normal (75/25 split), 1 is an anomaly of class `hemorrhage`. Some images
are RGBA: every image is re-encoded as RGB.
"""

from __future__ import annotations

import csv
from pathlib import Path

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.images import load_rgb
from dra.data.rawtools import find_dir, require_dir
from dra.errors import DraError

NAME = "headct"
SUBSETS = ("headct",)
LICENCE = "see the Kaggle page (terms not verified here)"
HOMEPAGE = "https://www.kaggle.com/datasets/felipekitamura/head-ct-hemorrhage"
EXPECTED = {"headct": Expected(75, 25, 100)}
CLASS = "hemorrhage"

FILES = (
    RawFile("head-ct-hemorrhage.zip", None, None,
            note=f"from {HOMEPAGE} (Kaggle account needed; `kaggle datasets download -d "
                 "felipekitamura/head-ct-hemorrhage` names it so, the web button names it archive.zip: rename it)"),
)


def _root(raw: Path) -> Path:
    return find_dir(raw, lambda d: (d / "labels.csv").is_file() and (d / "head_ct").is_dir(),
                    "HeadCT folder with labels.csv and head_ct/")


def _image_dir(root: Path) -> Path:
    inner = root / "head_ct" / "head_ct"
    return inner if inner.is_dir() else root / "head_ct"


def parse_labels(path: Path) -> list[tuple[int, int, int]]:
    """(id, hemorrhage, line number) per row; a malformed row is an error naming file and line."""
    with open(path, newline="") as f:
        reader = csv.reader(f)
        header = [h.strip().lower() for h in next(reader, [])]
        if header[:2] != ["id", "hemorrhage"]:
            raise DraError(f"{path}, line 1: header {header!r}; expected 'id, hemorrhage'")
        rows, seen = [], {}
        for row in reader:
            n = reader.line_num
            if not any(c.strip() for c in row):
                continue
            if len(row) != 2:
                raise DraError(f"{path}, line {n}: {row!r} has {len(row)} fields; expected 2 (id, hemorrhage)")
            try:
                ident, label = int(row[0].strip()), int(row[1].strip())
            except ValueError:
                raise DraError(f"{path}, line {n}: {row!r}; expected an integer id and hemorrhage 0 or 1") from None
            if label not in (0, 1) or ident < 0:
                raise DraError(f"{path}, line {n}: {row!r}; expected an id >= 0 and hemorrhage 0 or 1")
            if ident in seen:
                first, first_label = seen[ident]
                what = ("with two different labels" if first_label != label else "twice")
                raise DraError(f"{path}, line {n}: id {ident} is listed {what} (line {first}: hemorrhage "
                               f"{first_label}, line {n}: hemorrhage {label}); expected one row per image")
            seen[ident] = (n, label)
            rows.append((ident, label, n))
    if not rows:
        raise DraError(f"{path}: no rows after the header")
    return rows


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    root = _root(raw)
    labels = root / "labels.csv"
    images = _image_dir(root)
    out = []
    for ident, label, n in parse_labels(labels):
        p = images / f"{ident:03d}.png"
        if not p.is_file():
            raise DraError(f"{p}: image of id {ident} ({labels}, line {n}) not found")
        out.append(Item(p.name, CLASS if label else "", str(p.relative_to(raw)), load=lambda p=p: load_rgb(p)))
    return out
