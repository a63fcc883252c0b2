"""The Describable Textures Dataset (Cimpoi et al., CVPR 2014): the textures of AHL's Perlin-mask
pseudo anomalies, an external pool only (like LAG).

Raw layout (`dtd-r1.0.1.tar.gz` from the VGG group's page): `dtd/images/<category>/<name>.jpg`, 47
categories of 120 images (5,640); `dtd/labels/` and `dtd/imdb/` are not read. Output: one subset
`dtd`, every image a training "normal" (no labels, no test set), named `<category>__<name>.jpg.png`.
Offline, `texture_source: synthetic` in the AHL variants' parameters generates noise textures instead.
"""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Item
from dra.data.download import RawFile
from dra.data.rawtools import find_dir, images_in, require_dir, subdirs
from dra.errors import DraError

NAME = "dtd"
SUBSETS = ("dtd",)
LICENCE = "research use (the DTD authors' terms)"
HOMEPAGE = "https://www.robots.ox.ac.uk/~vgg/data/dtd/"
EXPECTED: dict = {}
POOL_ONLY = True  # training images only: no test set
CATEGORIES = 47

FILES = (
    RawFile("dtd-r1.0.1.tar.gz", "https://www.robots.ox.ac.uk/~vgg/data/dtd/download/dtd-r1.0.1.tar.gz", None,
            note=f"from {HOMEPAGE} (dtd-r1.0.1.tar.gz, 600 MB; or set `texture_source: synthetic` for AHL's "
                 "variants to generate noise textures instead)", size_mb=600),
)


def _images_dir(raw: Path) -> Path:
    return find_dir(raw, lambda d: d.name == "images" and any(images_in(s) for s in subdirs(d)),
                    "DTD folder images/<category>/ of texture images")


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    root = _images_dir(raw)
    out = [Item(f"{cat.name}__{p.name}", "", str(p.relative_to(raw)), "train", path=p)
           for cat in subdirs(root) for p in images_in(cat)]
    if not out:
        raise DraError(f"{root}: no texture images found (expected images/<category>/*.jpg)")
    return out
