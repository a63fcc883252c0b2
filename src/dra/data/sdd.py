"""KolektorSDD (v1): each part image cut along its height into three, relabelled by the pixel mask.

Raw layout (`KolektorSDD.zip`, possibly inside a `KolektorSDD/` folder):
  kosNN/PartN.jpg          an electrical commutator surface, about 500 x 1250 pixels
  kosNN/PartN_label.bmp    its defect mask (nonzero = defect), same size

Conversion (PROTOCOL section 1): rows [0:H//3], [H//3:2H//3], [2H//3:H] of each image become three
images; a third is an anomaly (class `defect`) if the same rows of the mask hold a nonzero pixel.
Counts: the paper's 594 train normals do not fit a 3:1 split of the normals, so prepare asserts the
54 anomalies and the 3:1 normal split and reports the rest beside the paper's numbers.
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
EXPECTED = {"sdd": Expected(None, None, 54)}
PAPER = Expected(594, 286, 54)  # Table 5, reported beside ours
CLASS = "defect"

FILES = (
    RawFile("KolektorSDD.zip", "https://go.vicos.si/kolektorsdd",
            "65dc621693418585de9c4467d1340ea7958a6181816f0dc2883a1e8b61f9d4dc"),
)


def _is_root(d: Path) -> bool:
    return any(s.name.lower().startswith("kos") and any(s.glob("Part*.jpg")) for s in subdirs(d))


def thirds(height: int) -> list[tuple[int, int]]:
    return [(0, height // 3), (height // 3, 2 * height // 3), (2 * height // 3, height)]


@lru_cache(maxsize=2)
def _image(path: Path) -> np.ndarray:
    return load_rgb(path)


def _third_loader(path: Path, rows: tuple[int, int]):
    return lambda: np.ascontiguousarray(_image(path)[rows[0]:rows[1]])


def _parts(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir()
                  if p.is_file() and p.suffix.lower() == ".jpg" and p.stem.startswith("Part") and "_label" not in p.stem)


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    root = find_dir(raw, _is_root, "KolektorSDD folder of kosNN/PartN.jpg")
    out: list[Item] = []
    for kos in subdirs(root):
        if not kos.name.lower().startswith("kos"):
            continue
        for p in _parts(kos):
            label = p.with_name(f"{p.stem}_label.bmp")
            if not label.is_file():
                raise DraError(f"{label}: mask of {p} not found; every KolektorSDD part needs its _label.bmp")
            mask = load_mask(label)
            w, h = image_size(p)
            if mask.shape != (h, w):
                raise DraError(f"{label}: mask of {mask.shape[1]}x{mask.shape[0]} pixels; expected {w}x{h} like {p.name}")
            for t, rows in enumerate(thirds(h)):
                cls = CLASS if mask[rows[0]:rows[1]].any() else ""
                out.append(Item(f"{kos.name}_{p.stem}_{t}.png", cls, f"{p.relative_to(raw)}#third{t}",
                                load=_third_loader(p, rows)))
    return out


def extra_checks(where: str, counts: dict) -> None:
    """PROTOCOL: assert the 54 anomalies (check_counts did) and the 3:1 normal split; report the rest."""
    train, test = counts["train_normal"], counts["test_normal"]
    want_test = int(round((train + test) * 0.25))
    if test != want_test:
        raise DraError(f"{where}: {test} test normals of {train + test}; expected the 3:1 split ({want_test})")
    print(f"note: {where}: {train} train normals / {test} test normals / {sum(counts['anomalies'].values())} "
          f"anomalies; the paper reports {PAPER.train_normal} / {PAPER.test_normal} / {PAPER.anomalies} "
          "(its 594 does not fit a 3:1 split)", file=sys.stderr)
