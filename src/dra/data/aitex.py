"""AITEX fabric defects: 4096x256 strips cut into 16 patches of 256x256, relabelled by their masks.

Raw layout (three .7z archives; each may wrap its folder in a same-named folder, both accepted):
  Defect_images/NNNN_CCC_FF.png      a strip with a defect of class CCC
  Mask_images/NNNN_CCC_FF_mask.png   its defect mask (nonzero = defect)
  NODefect_images/<fabric>/<name>.png defect-free strips

Conversion (PROTOCOL section 1): every patch of a defect-free strip is a normal image; a patch of a
defect strip is an anomaly of the strip's class if its mask patch has a nonzero pixel, and is dropped
otherwise; its pixel mask is the same 256-px slice of the strip's mask. Known quirks: 0044_019_04 and 0097_030_03 have two masks each (their union is used),
0100_025_08 has none (skipped with a warning on stderr). Any other strip without a mask is an error.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import numpy as np

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.images import load_mask, load_rgb
from dra.data.rawtools import find_dir, has_images, image_size, images_in, require_dir, subdirs, warn
from dra.errors import DraError

NAME = "aitex"
SUBSETS = ("aitex",)
LICENCE = "free for research use (AITEX terms, no explicit licence)"
HOMEPAGE = "https://www.aitex.es/afid/"
EXPECTED = {"aitex": Expected(1692, 564, 183)}

_UPLOADS = "https://www.aitex.es/wp-content/uploads/2019/07/"
FILES = (
    RawFile("Defect_images.7z", _UPLOADS + "Defect_images.7z", None),
    RawFile("NODefect_images.7z", _UPLOADS + "NODefect_images.7z", None),
    RawFile("Mask_images.7z", _UPLOADS + "Mask_images.7z", None),
)

CLASSES = {
    "002": "Broken_end", "006": "Broken_yarn", "010": "Broken_pick", "016": "Weft_curling",
    "019": "Fuzzyball", "022": "Cut_selvage", "023": "Crease", "025": "Warp_ball",
    "027": "Knots", "029": "Contamination", "030": "Nep", "036": "Weft_crack",
}
KNOWN_MISSING_MASKS = frozenset({"0100_025_08"})
PATCH = 256
STRIP = (4096, 256)  # width, height
N_PATCHES = STRIP[0] // PATCH
_NAME_RE = re.compile(r"^(\d{4})_(\d{3})_(\d{2})$")


def _image_folder(raw: Path, name: str) -> Path:
    return find_dir(raw, lambda d: d.name == name and has_images(d), f"folder {name}/ holding the AITEX images")


def _normal_folder(raw: Path) -> Path:
    def ok(d: Path) -> bool:
        return d.name == "NODefect_images" and any(has_images(s) for s in subdirs(d))
    return find_dir(raw, ok, "folder NODefect_images/<fabric>/ holding the defect-free AITEX strips")


def _check_strip(path: Path) -> None:
    size = image_size(path)
    if size != STRIP:
        raise DraError(f"{path}: AITEX strip of {size[0]}x{size[1]} pixels; expected {STRIP[0]}x{STRIP[1]}")


@lru_cache(maxsize=4)
def _strip(path: Path) -> np.ndarray:
    a = load_rgb(path)
    if (a.shape[1], a.shape[0]) != STRIP:
        raise DraError(f"{path}: AITEX strip of {a.shape[1]}x{a.shape[0]} pixels; expected {STRIP[0]}x{STRIP[1]}")
    return a


def _patch_loader(path: Path, k: int):
    return lambda: np.ascontiguousarray(_strip(path)[:, k * PATCH:(k + 1) * PATCH])


def defect_class(path: Path) -> str:
    m = _NAME_RE.match(path.stem)
    if not m:
        raise DraError(f"{path}: AITEX defect image name not of the form NNNN_CCC_FF.png")
    code = m.group(2)
    if code not in CLASSES:
        raise DraError(f"{path}: unknown AITEX defect code {code!r}; expected one of {sorted(CLASSES)}")
    return CLASSES[code]


def masks_of(mask_dir: Path, stem: str) -> list[Path]:
    """`<stem>_mask.png`, or the quirky `<stem>_mask1.png`, `<stem>_mask2.png` ..."""
    return sorted(p for p in images_in(mask_dir)
                  if p.stem == f"{stem}_mask" or re.fullmatch(re.escape(stem) + r"_mask\w+", p.stem))


def union_mask(paths: list[Path], strip: Path) -> np.ndarray:
    mask = None
    for p in paths:
        m = load_mask(p)
        if (m.shape[1], m.shape[0]) != STRIP:
            raise DraError(f"{p}: mask of {m.shape[1]}x{m.shape[0]} pixels for {strip.name}; "
                           f"expected {STRIP[0]}x{STRIP[1]} like the strip")
        mask = m if mask is None else (mask | m)
    return mask


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    defect_dir = _image_folder(raw, "Defect_images")
    mask_dir = _image_folder(raw, "Mask_images")
    normal_dir = _normal_folder(raw)
    out: list[Item] = []
    for fabric in subdirs(normal_dir):
        for p in images_in(fabric):
            _check_strip(p)
            for k in range(N_PATCHES):
                out.append(Item(f"{fabric.name}_{p.stem}_p{k:02d}.png", "", f"{p.relative_to(raw)}#patch{k:02d}",
                                load=_patch_loader(p, k)))
    for p in images_in(defect_dir):
        cls = defect_class(p)
        _check_strip(p)
        masks = masks_of(mask_dir, p.stem)
        if not masks:
            if p.stem in KNOWN_MISSING_MASKS:
                warn(f"{p}: no mask in {mask_dir} (a known gap of AITEX); strip skipped")
                continue
            raise DraError(f"{p}: no mask {p.stem}_mask.png in {mask_dir}; every AITEX defect strip needs one")
        mask = union_mask(masks, p)
        for k in range(N_PATCHES):
            patch_mask = np.ascontiguousarray(mask[:, k * PATCH:(k + 1) * PATCH])
            if patch_mask.any():
                out.append(Item(f"{p.stem}_p{k:02d}.png", cls, f"{p.relative_to(raw)}#patch{k:02d}",
                                load=_patch_loader(p, k), mask=lambda m=patch_mask: m))
    return out
