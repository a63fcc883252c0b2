"""Small helpers the dataset modules share: finding a folder in a raw tree, listing images, names.

Raw trees come in several shapes: the `extract` stage puts each archive in a folder named after it,
some archives wrap their content in a same-named folder, and users extract by hand. So a module
never assumes a fixed depth: it looks for the folder it needs (breadth first, sorted, a few levels
deep) and names what it looked for when nothing matches."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from dra.data.images import image_size, is_image  # noqa: F401 - image_size: the modules' header reader
from dra.errors import DraError


def require_dir(raw: Path, dataset: str) -> Path:
    raw = Path(raw)
    if not raw.is_dir():
        raise DraError(f"{raw}: raw folder of {dataset} not found (python -m dra datasets says where its files go)")
    return raw


def subdirs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(("__MACOSX", ".")))


def find_dir(raw: Path, ok: Callable[[Path], bool], what: str, max_depth: int = 4) -> Path:
    """The shallowest folder under `raw` (itself included) for which `ok` holds; ties: sorted order."""
    level = [Path(raw)]
    for _ in range(max_depth + 1):
        for d in level:
            if ok(d):
                return d
        level = [s for d in level for s in subdirs(d)]
        if not level:
            break
    raise DraError(f"{raw}: no {what} found (searched {max_depth} folder levels deep)")


def child(folder: Path, name: str) -> Path | None:
    """`folder/name`, matching the name without case; None if absent."""
    exact = folder / name
    if exact.is_dir():
        return exact
    for p in subdirs(folder):
        if p.name.lower() == name.lower():
            return p
    return None


def images_in(folder: Path, recursive: bool = False) -> list[Path]:
    """Image files (suffix matched without case: .jpg .JPG .jpeg .png ...), sorted."""
    it = folder.rglob("*") if recursive else folder.iterdir()
    return sorted(p for p in it if p.is_file() and is_image(p) and not p.name.startswith("."))


def has_images(folder: Path) -> bool:
    return any(p.is_file() and is_image(p) for p in folder.iterdir())


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
