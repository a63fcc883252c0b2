"""ELPV solar cells: `labels.csv` gives each cell a defect probability and a type (mono / poly).

Raw layout: `labels.csv` beside `images/cellNNNN.png`, as in github zae-bayern/elpv-dataset and in
the PyPI package `elpv-dataset` (installed under site-packages/elpv_dataset/data/, or inside its
wheel). Without `--raw`, prepare reads the installed package.

labels.csv is whitespace separated: image path, defect probability, type. Probability 0 is a normal
image; 1 is an anomaly of class `mono` or `poly` (by type); 1/3 and 2/3 are dropped (PROTOCOL).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.rawtools import find_dir, require_dir
from dra.errors import DraError

NAME = "elpv"
SUBSETS = ("elpv",)
LICENCE = "CC BY-NC-SA 4.0"
HOMEPAGE = "https://github.com/zae-bayern/elpv-dataset"
EXPECTED = {"elpv": Expected(1131, 377, 715, per_class={"mono": 313, "poly": 402})}

WHEEL = "elpv_dataset-1.0.0.post1-py3-none-any.whl"
FILES = (
    RawFile(WHEEL, "https://files.pythonhosted.org/packages/f3/3f/"
                   "22e4483e0aa5bcc4295751e1d55112481991ca64cf97e82e88bdcb1f0afe/" + WHEEL,
            "85e31c1126ee9b48e62d3a0232c58f58b2d189b0814a45c13642fa0415af4a4c",
            note="from PyPI (pip download elpv-dataset==1.0.0.post1 --no-deps)", size_mb=91),
)
TYPES = ("mono", "poly")
_TOL = 1e-6


def default_raw() -> Path:
    """The data folder of the installed `elpv-dataset` package."""
    spec = importlib.util.find_spec("elpv_dataset")
    if spec is None or spec.origin is None:
        raise DraError("elpv: no --raw given and the package elpv-dataset is not installed; "
                       "pip install elpv-dataset==1.0.0.post1, or pass --raw <folder with labels.csv and images/>")
    data = Path(spec.origin).parent / "data"
    if not (data / "labels.csv").is_file():
        raise DraError(f"{data}: the installed elpv-dataset package has no labels.csv here")
    return data


def _root(raw: Path) -> Path:
    return find_dir(raw, lambda d: (d / "labels.csv").is_file() and (d / "images").is_dir(),
                    "ELPV folder with labels.csv and images/")


def parse_labels(path: Path) -> list[tuple[str, float, str, int]]:
    """(image path, probability, type, line number) per row; a malformed row is an error naming it."""
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 3:
            raise DraError(f"{path}, line {n}: {line.strip()!r} has {len(fields)} fields; "
                           "expected 3 (image path, defect probability, type)")
        image, prob_s, kind = fields
        if image.startswith("/") or ".." in Path(image).parts:
            raise DraError(f"{path}, line {n}: image path {image!r}; expected a path inside the dataset folder")
        try:
            prob = float(prob_s)
        except ValueError:
            raise DraError(f"{path}, line {n}: defect probability {prob_s!r} is not a number") from None
        if not any(abs(prob - v) < _TOL for v in (0.0, 1 / 3, 2 / 3, 1.0)):
            raise DraError(f"{path}, line {n}: defect probability {prob_s!r}; expected 0, 1/3, 2/3 or 1")
        if kind not in TYPES:
            raise DraError(f"{path}, line {n}: type {kind!r}; expected one of {list(TYPES)}")
        rows.append((image, prob, kind, n))
    if not rows:
        raise DraError(f"{path}: no rows")
    return rows


def items(raw: Path | None, subset: str) -> list[Item]:
    raw = default_raw() if raw is None else require_dir(raw, NAME)
    root = _root(raw)
    labels = root / "labels.csv"
    out: list[Item] = []
    for image, prob, kind, n in parse_labels(labels):
        if abs(prob) < _TOL:
            cls = ""
        elif abs(prob - 1.0) < _TOL:
            cls = kind
        else:
            continue  # 1/3 and 2/3: dropped
        p = root / image
        if not p.is_file():
            raise DraError(f"{p}: image named in {labels}, line {n}, not found")
        out.append(Item(p.name, cls, str(p.relative_to(raw)), path=p))
    return out
