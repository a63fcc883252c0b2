"""KolektorSDD (v1): each part image cut along its height into three, relabelled by the pixel mask.

Raw layout (`KolektorSDD.zip`, possibly inside a `KolektorSDD/` folder):
  kosNN/PartN.jpg          an electrical commutator surface, about 500 x 1250 pixels
  kosNN/PartN_label.bmp    its defect mask (nonzero = defect), same size

Conversion (docs/protocol.md, section 1): rows [0:H//3], [H//3:2H//3], [2H//3:H] of each image become
three images; a third is an anomaly (class `defect`) if the same rows of the mask hold a nonzero
pixel, and its pixel mask is those rows of the label. File names are matched without case
(`Part0.jpg`, `part0_label.BMP`).
Counts: 399 images give 1,197 thirds, 54 anomalous and 1,143 normal; the 75/25 split of the normals
puts ceil(0.25 x 1,143) = 286 in the test set, the paper's number. The paper's 594 training normals
do not follow from the data (857 remain): prepare asserts the 54 and the 286 and reports the rest.
"""

from __future__ import annotations

import sys
from functools import lru_cache
from pathlib import Path

import numpy as np

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.images import load_mask, load_rgb
from dra.data.rawtools import find_dir, image_size, require_dir, subdirs
from dra.errors import DraError

NAME = "sdd"
SUBSETS = ("sdd",)
LICENCE = "CC BY-NC-SA 4.0"
HOMEPAGE = "https://www.vicos.si/resources/kolektorsdd/"
EXPECTED = {"sdd": Expected(None, 286, 54)}
PAPER = Expected(594, 286, 54)  # Table 5, reported beside ours
CLASS = "defect"

FILES = (
    RawFile("KolektorSDD.zip", "https://go.vicos.si/kolektorsdd",
            "65dc621693418585de9c4467d1340ea7958a6181816f0dc2883a1e8b61f9d4dc"),
)


def _is_root(d: Path) -> bool:
    return any(s.name.lower().startswith("kos") and _parts(s) for s in subdirs(d))


def thirds(height: int) -> list[tuple[int, int]]:
    return [(0, height // 3), (height // 3, 2 * height // 3), (2 * height // 3, height)]


@lru_cache(maxsize=2)
def _image(path: Path) -> np.ndarray:
    return load_rgb(path)


def _third_loader(path: Path, rows: tuple[int, int]):
    return lambda: np.ascontiguousarray(_image(path)[rows[0]:rows[1]])


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() == ".jpg"
                  and p.stem.lower().startswith("part") and "_label" not in p.stem.lower())


def label_of(part: Path) -> Path:
    """`PartN_label.bmp` beside `PartN.jpg`, matched without case."""
    want = f"{part.stem}_label.bmp".lower()
    for p in part.parent.iterdir():
        if p.name.lower() == want and p.is_file():
            return p
    raise DraError(f"{part.with_name(part.stem + '_label.bmp')}: mask of {part} not found; every KolektorSDD "
                   "part needs its _label.bmp")


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    root = find_dir(raw, _is_root, "KolektorSDD folder of kosNN/PartN.jpg")
    out: list[Item] = []
    for kos in subdirs(root):
        if not kos.name.lower().startswith("kos"):
            continue
        for p in _parts(kos):
            label = label_of(p)
            mask = load_mask(label)
            w, h = image_size(p)
            if mask.shape != (h, w):
                raise DraError(f"{label}: mask of {mask.shape[1]}x{mask.shape[0]} pixels; expected {w}x{h} like {p.name}")
            for t, rows in enumerate(thirds(h)):
                cls = CLASS if mask[rows[0]:rows[1]].any() else ""
                part_mask = np.ascontiguousarray(mask[rows[0]:rows[1]])
                out.append(Item(f"{kos.name}_{p.stem}_{t}.png", cls, f"{p.relative_to(raw)}#third{t}",
                                load=_third_loader(p, rows), mask=(lambda m=part_mask: m) if cls else None))
    return out


def extra_checks(where: str, counts: dict) -> None:
    """The 54 anomalies and 286 test normals are checked; the paper's 594 training normals are reported."""
    print(f"note: {where}: {counts['train_normal']} train normals / {counts['test_normal']} test normals / "
          f"{sum(counts['anomalies'].values())} anomalies; the paper reports {PAPER.train_normal} / "
          f"{PAPER.test_normal} / {PAPER.anomalies} (its {PAPER.train_normal} training normals do not follow "
          "from the data)", file=sys.stderr)
