"""Optical (DAGM 2007, ten synthetic texture classes): normals pooled, anomalies keep their class.

Raw layout (`Class1.zip` ... `Class10.zip`; the extract stage gives `ClassN/ClassN/...`, a hand
extraction `ClassN/...`: both accepted):
  ClassN/{Train,Test}/NNNN.PNG
  ClassN/{Train,Test}/Label/Labels.txt   header line, then per image (tab separated):
                                         index, label (0/1), image file, 0, mask file (or 0)

Conversion (PROTOCOL section 1): the normals of all ten classes and both splits form one pool (the
75/25 split is ours); each anomaly keeps its source class `ClassN`; output names are built from
(class, split, file) so equal file names of different classes never collide. An anomaly's pixel
mask is the label image its Labels.txt row names (in Label/).
"""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.images import load_mask
from dra.data.rawtools import child, find_dir, require_dir
from dra.errors import DraError

NAME = "optical"
SUBSETS = ("optical",)
LICENCE = "non-commercial research use (DAGM 2007 competition terms)"
HOMEPAGE = "https://hci.iwr.uni-heidelberg.de/content/weakly-supervised-learning-industrial-optical-inspection"
EXPECTED = {"optical": Expected(10500, 3500, 2100)}
CLASSES = tuple(f"Class{i}" for i in range(1, 11))
SPLITS = ("Train", "Test")

FILES = tuple(RawFile(f"{c}.zip", f"https://zenodo.org/records/8086136/files/{c}.zip?download=1", None)
              for c in CLASSES)


def _class_dir(raw: Path, cls: str) -> Path:
    def ok(d: Path) -> bool:
        return d.name.lower() == cls.lower() and all(child(d, s) is not None for s in SPLITS)
    return find_dir(raw, ok, f"folder {cls}/ with Train/ and Test/")


def parse_labels(path: Path) -> list[tuple[int, str, str, int]]:
    """(label, image file, mask file or "", line number) per row after the header line."""
    if not path.is_file():
        raise DraError(f"{path}: Labels.txt not found; every DAGM split folder has Label/Labels.txt")
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if n == 1 or not line.strip():
            continue
        fields = line.strip().split("\t") if "\t" in line else line.split()
        fields = [f.strip() for f in fields]
        if len(fields) < 3:
            raise DraError(f"{path}, line {n}: {line.strip()!r} has {len(fields)} fields; "
                           "expected index, label, image file, 0, mask file (tab separated)")
        if fields[1] not in ("0", "1"):
            raise DraError(f"{path}, line {n}: label {fields[1]!r}; expected 0 or 1")
        mask = fields[4] if len(fields) > 4 and fields[4] not in ("0", "") else ""
        if fields[1] == "1" and not mask:
            raise DraError(f"{path}, line {n}: anomaly {fields[2]!r} names no mask file (field 5); expected one")
        rows.append((int(fields[1]), fields[2], mask, n))
    return rows


def _image(split_dir: Path, name: str) -> Path | None:
    for p in (split_dir / name, split_dir / "0" / name, split_dir / "1" / name):
        if p.is_file():
            return p
    return None


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    out: list[Item] = []
    for cls in CLASSES:
        cdir = _class_dir(raw, cls)
        for split in SPLITS:
            sdir = child(cdir, split)
            labels = child(sdir, "Label")
            labels_txt = (labels / "Labels.txt") if labels else (sdir / "Label" / "Labels.txt")
            for label, name, mask_name, n in parse_labels(labels_txt):
                p = _image(sdir, name)
                if p is None:
                    raise DraError(f"{sdir / name}: image named in {labels_txt}, line {n}, not found")
                mask = None
                if label:
                    m = labels_txt.parent / mask_name
                    if not m.is_file():
                        raise DraError(f"{m}: mask named in {labels_txt}, line {n}, not found")
                    mask = lambda m=m: load_mask(m)  # noqa: E731
                out.append(Item(f"{cls}_{split}_{p.name}", cls if label else "", str(p.relative_to(raw)),
                                path=p, mask=mask))
    return out
