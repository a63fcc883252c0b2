"""LAG (large-scale attention-based glaucoma fundus database): an external pseudo-anomaly pool only.

The authors give LAG out on request and it may not be re-uploaded, so its files are placed by hand.
Its layout could not be checked here; the assumption (documented, and the only one this module
makes): a folder of fundus images, possibly in subfolders (e.g. per diagnosis). Every image found
below the raw folder is taken, except those under a folder whose name contains `attention`: LAG
ships attention maps beside the fundus photographs, and those are heat maps, not fundus images.

Output: one subset `lag`, every image a "normal" of the train split (no labels, no expected counts);
the training stage reads it as a pool of outliers for brainmri, headct and hyperkvasir. Names carry
the relative folder (`a/b/c.jpg` -> `a__b__c.jpg.png`) so equal names in two folders stay distinct.
"""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Item
from dra.data.download import RawFile
from dra.data.rawtools import images_in, require_dir, skip
from dra.errors import DraError

NAME = "lag"
SUBSETS = ("lag",)
LICENCE = "by request from the LAG authors; research use, no redistribution"
HOMEPAGE = "https://github.com/smilell/AG-CNN"
EXPECTED: dict = {}
POOL_ONLY = True  # training images only: no test set
SKIP_FOLDERS = ("attention",)

FILES = (
    RawFile("LAG.zip", None, None,
            note=f"from the LAG authors on request (see {HOMEPAGE}; any archive they send, renamed to LAG.zip)"),
)


def _skipped(rel: Path) -> bool:
    return any(s in part.lower() for part in rel.parts[:-1] for s in SKIP_FOLDERS)


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    out = []
    for p in images_in(raw, recursive=True):
        rel = p.relative_to(raw)
        if _skipped(rel):
            skip(p, "in a heat-map folder (its name contains 'attention')")
            continue
        if any(part.startswith(("__MACOSX", ".")) for part in rel.parts):
            skip(p, "in a hidden or __MACOSX folder")
            continue
        name = "__".join(rel.parts[:-1] + (p.name,))
        out.append(Item(name, "", str(rel), "train", path=p))
    if not out:
        raise DraError(f"{raw}: no fundus images found (expected image files, possibly in subfolders)")
    return out
