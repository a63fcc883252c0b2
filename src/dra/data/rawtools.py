"""Small helpers the dataset modules share: finding a folder in a raw tree, listing images, names.

Raw trees come in several shapes: the `extract` stage puts each archive in a folder named after it,
some archives wrap their content in a same-named folder, and users extract by hand. So a module
never assumes a fixed depth: it looks for the folder it needs (breadth first, sorted, a few levels
deep) and names what it looked for when nothing matches."""

from __future__ import annotations

import contextlib
import os
import sys
from collections import defaultdict
from contextvars import ContextVar
from pathlib import Path
from typing import Callable

from dra.data.images import IMAGE_SUFFIXES, image_size, is_image  # noqa: F401 - image_size: the modules' header reader
from dra.errors import DraError

# Reasons a file in an image folder is not converted, as prepare's summary states them.
HIDDEN = "hidden (the name starts with '.')"
NESTED = "a folder inside an image folder (prepare does not look into it)"
SPECIAL = "not a regular file (a device, pipe or socket)"
_skips: ContextVar[dict | None] = ContextVar("dra_skipped_files", default=None)


@contextlib.contextmanager
def recording_skips():
    """Collect what the listings below pass over while a dataset module lists its raw folder:
    {reason: set of paths}. Outside this block nothing is collected (a probe of a candidate folder)."""
    found: dict[str, set[Path]] = defaultdict(set)
    token = _skips.set(found)
    try:
        yield found
    finally:
        _skips.reset(token)


def skip(path: Path, reason: str) -> None:
    """Note that `path` is left out of the dataset, and why (for prepare's summary)."""
    found = _skips.get()
    if found is not None:
        found[reason].add(Path(path))


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
    """Image files (suffix matched without case: .jpg .JPG .jpeg .png ...), sorted. Whatever else the
    folder holds is noted with its reason for prepare's summary (see `recording_skips`); a link that
    points nowhere is an error naming it (it names an image the dataset lacks)."""
    out = []
    for p in sorted(folder.rglob("*") if recursive else folder.iterdir()):
        if p.name.startswith("."):
            skip(p, HIDDEN)
        elif p.is_dir():
            if not recursive:
                skip(p, NESTED)
        elif not is_image(p):
            skip(p, f"{p.suffix.lower() or 'no suffix'}: not an image type prepare reads ({' '.join(IMAGE_SUFFIXES)})")
        elif p.is_symlink() and not p.exists():
            raise DraError(f"{p}: symbolic link to {os.readlink(p)}, which does not exist; expected an image file "
                           "or a link to one: fix or remove the link")
        elif not p.is_file():
            skip(p, SPECIAL)
        else:
            out.append(p)
    return out


def has_images(folder: Path) -> bool:  # a probe: notes nothing
    return any(p.is_file() and is_image(p) for p in folder.iterdir())


def warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)
