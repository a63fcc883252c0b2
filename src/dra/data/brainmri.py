"""BrainMRI (Kaggle navoneel/brain-mri-images-for-brain-tumor-detection): `no/` normal, `yes/` tumor.

Raw layout (a Kaggle download, account needed: placed by hand): `no/` and `yes/`, possibly inside
`brain_tumor_dataset/` (the Kaggle archive holds both copies; the shallowest is read). File
extensions are of mixed case (.jpg .JPG .jpeg .png): matched without case. Normals get the 75/25
split; JPEGs are re-encoded as PNG named `<old name>.png`.
"""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.rawtools import child, find_dir, images_in, require_dir

NAME = "brainmri"
SUBSETS = ("brainmri",)
LICENCE = "see the Kaggle page (no licence stated there)"
HOMEPAGE = "https://www.kaggle.com/datasets/navoneel/brain-mri-images-for-brain-tumor-detection"
EXPECTED = {"brainmri": Expected(73, 25, 155)}
CLASS = "tumor"

FILES = (
    RawFile("brain-mri-images-for-brain-tumor-detection.zip", None, None,
            note=f"from {HOMEPAGE} (Kaggle account needed; `kaggle datasets download -d "
                 "navoneel/brain-mri-images-for-brain-tumor-detection` names it so, the web button names it "
                 "archive.zip: rename it)"),
)


def _root(raw: Path) -> Path:
    return find_dir(raw, lambda d: child(d, "no") is not None and child(d, "yes") is not None,
                    "BrainMRI folders no/ and yes/")


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    root = _root(raw)
    out = [Item(p.name, "", str(p.relative_to(raw)), path=p) for p in images_in(child(root, "no"))]
    out += [Item(p.name, CLASS, str(p.relative_to(raw)), path=p) for p in images_in(child(root, "yes"))]
    return out
