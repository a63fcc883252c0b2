"""Mastcam (Mars rover multispectral novelty detection, Zenodo record 3732485): the official split.

Raw layout (`train_typical.zip`, `test_typical.zip`, `test_novel.zip`; each may wrap its folder in a
same-named folder, both accepted):
  train_typical/<tile>        normal training images
  test_typical/<tile>         normal test images
  test_novel/<class>/<tile>   anomalies, one folder per novel class (eleven)
  test_novel/all/             a second copy of (most of) the novel tiles: never read (it would count
                              them twice)

A tile is an image file, or (as Zenodo ships it) a `.npy` array of H x W x bands. Decision: from a
`.npy` tile the first three bands are taken as the colour image, float values on the 0..255 scale
(0..1 if the maximum is at most 1) rounded to uint8; a one-band tile is replicated to grey. The paper
says it uses the shorter-wavelength (colour) channels and does not say more.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dra.data.base import Expected, Item
from dra.data.download import RawFile
from dra.data.images import is_image
from dra.data.rawtools import find_dir, require_dir, subdirs
from dra.errors import DraError

NAME = "mastcam"
SUBSETS = ("mastcam",)
LICENCE = "CC BY 4.0"
HOMEPAGE = "https://zenodo.org/records/3732485"
EXPECTED = {"mastcam": Expected(9302, 426, 451)}
SKIP_CLASSES = ("all",)

FILES = tuple(RawFile(f"{n}.zip", f"https://zenodo.org/records/3732485/files/{n}.zip?download=1", None)
              for n in ("train_typical", "test_typical", "test_novel"))


def _is_tile(p: Path) -> bool:
    return p.is_file() and not p.name.startswith(".") and (is_image(p) or p.suffix.lower() == ".npy")


def tiles(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if _is_tile(p))


def _has_tiles(d: Path) -> bool:
    return any(_is_tile(p) for p in d.iterdir())


def npy_rgb(path: Path) -> np.ndarray:
    """H x W x 3 uint8 from a multispectral tile (see the module's decision)."""
    try:
        a = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as e:
        raise DraError(f"{path}: unreadable or truncated .npy tile ({e})") from None
    if a.ndim == 2:
        a = a[:, :, None]
    if a.ndim != 3 or a.shape[2] in (0, 2):
        raise DraError(f"{path}: tile of shape {a.shape}; expected H x W x bands with 1 or at least 3 bands")
    a = a[:, :, :3] if a.shape[2] >= 3 else np.repeat(a[:, :, :1], 3, axis=2)
    if a.dtype == np.uint8:
        return np.ascontiguousarray(a)
    a = a.astype(np.float64)
    if not np.isfinite(a).all():
        raise DraError(f"{path}: tile holds NaN or infinite values")
    if a.size and a.max() <= 1.0:
        a = a * 255.0
    return np.clip(np.rint(a), 0, 255).astype(np.uint8)


def _item(p: Path, raw: Path, cls: str, split: str) -> Item:
    if p.suffix.lower() == ".npy":
        return Item(p.stem + ".png", cls, str(p.relative_to(raw)), split, load=lambda: npy_rgb(p))
    return Item(p.name, cls, str(p.relative_to(raw)), split, path=p)


def items(raw: Path, subset: str) -> list[Item]:
    raw = require_dir(raw, NAME)
    out: list[Item] = []
    for folder, split in (("train_typical", "train"), ("test_typical", "test")):
        d = find_dir(raw, lambda d, f=folder: d.name == f and _has_tiles(d), f"folder {folder}/ of Mastcam tiles")
        out += [_item(p, raw, "", split) for p in tiles(d)]
    novel = find_dir(raw, lambda d: d.name == "test_novel" and any(_has_tiles(s) for s in subdirs(d)),
                     "folder test_novel/<class>/ of Mastcam tiles")
    for cdir in subdirs(novel):
        if cdir.name in SKIP_CLASSES:
            continue
        out += [_item(p, raw, cdir.name, "test") for p in tiles(cdir)]
    return out
