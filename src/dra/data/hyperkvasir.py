"""Hyper-Kvasir, upper GI tract: anatomical landmarks are normal, four pathological findings anomalies.

Raw layout (`hyper-kvasir-labeled-images.zip`; the tree starts at `labeled-images/`, accepted at any
of the first few levels):
  upper-gi-tract/anatomical-landmarks/<landmark>/*.jpg      normal (pylorus, retroflex-stomach, z-line)
  upper-gi-tract/pathological-findings/<finding>/*.jpg      anomaly class <finding> (barretts,
                                                            barretts-short-segment, esophagitis-a,
                                                            esophagitis-b-d)
Normals get the 75/25 split; their names carry the landmark folder. JPEGs are re-encoded as PNG.
"""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.rawtools import find_dir, images_in, require_dir, subdirs

NAME = "hyperkvasir"
SUBSETS = ("hyperkvasir",)
LICENCE = "CC BY 4.0"
HOMEPAGE = "https://datasets.simula.no/hyper-kvasir/"
EXPECTED = {"hyperkvasir": Expected(2021, 674, 757)}
CLASSES = ("barretts", "barretts-short-segment", "esophagitis-a", "esophagitis-b-d")

FILES = (
    RawFile("hyper-kvasir-labeled-images.zip",
            "https://datasets.simula.no/downloads/hyper-kvasir/hyper-kvasir-labeled-images.zip", None,
            size_mb=3900),
)


def _root(raw: Path) -> Path:
    return find_dir(raw, lambda d: d.name == "upper-gi-tract" and (d / "anatomical-landmarks").is_dir()
                    and (d / "pathological-findings").is_dir(),
                    "folder upper-gi-tract/ with anatomical-landmarks/ and pathological-findings/", max_depth=5)


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    root = _root(raw)
    out: list[Item] = []
    for landmark in subdirs(root / "anatomical-landmarks"):
        out += [Item(f"{landmark.name}_{p.name}", "", str(p.relative_to(raw)), path=p)
                for p in images_in(landmark)]
    for finding in subdirs(root / "pathological-findings"):
        out += [Item(p.name, finding.name, str(p.relative_to(raw)), path=p) for p in images_in(finding)]
    return out
