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
from dra.data.images import is_image, max_pixels
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


def _check_npy_header(path: Path) -> None:
    """The header's shape must fit the file and the pixel limit before anything is allocated: np.load
    allocates what the header declares (a 1 kB file can declare terabytes: a MemoryError that does
    not name the file)."""
    fmt = np.lib.format
    with open(path, "rb") as f:
        version = fmt.read_magic(f)
        read = fmt.read_array_header_1_0 if version == (1, 0) else fmt.read_array_header_2_0
        shape, _, dtype = read(f, max_header_size=10_000)
        have = path.stat().st_size - f.tell()
    declared = int(np.prod(shape, dtype=object)) * dtype.itemsize
    if declared != have:
        raise ValueError(f"its header declares {shape} {dtype} ({declared:,} bytes), the file holds {have:,}")
    if len(shape) >= 2 and shape[0] * shape[1] > max_pixels():
        raise DraError(f"{path}: tile of {shape[1]}x{shape[0]} pixels, larger than the {max_pixels():,} pixels "
                       "decoded; expected a Mastcam tile (64 x 64)")


def npy_rgb(path: Path) -> np.ndarray:
    """H x W x 3 uint8 from a multispectral tile (see the module's decision)."""
    try:
        _check_npy_header(path)
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
