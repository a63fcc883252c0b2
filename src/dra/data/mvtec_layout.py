"""The MVTec layout `<subset>/train/good`, `<subset>/test/good`, `<subset>/test/<class>`.

Shared by MVTec AD and by any folder in that layout (the generated demo data)."""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Item
from dra.data.images import is_image
from dra.errors import DraError


def find_subset_dir(raw: Path, subset: str) -> Path:
    for candidate in (raw / subset, *(p / subset for p in sorted(raw.iterdir()) if p.is_dir())):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise DraError(f"{raw / subset}: no MVTec-layout folder for subset {subset!r} "
                   f"(expected {subset}/train/good, {subset}/test/good and {subset}/test/<class>)")


def _images(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image(p))


def items(raw: Path, subset: str) -> list[Item]:
    root = find_subset_dir(raw, subset)
    out = []
    for split in ("train", "test"):
        good = root / split / "good"
        if not good.is_dir():
            raise DraError(f"{good}: missing folder of normal {split} images")
        out += [Item(p.name, "", str(p.relative_to(raw)), split, path=p) for p in _images(good)]
    for cls_dir in sorted(p for p in (root / "test").iterdir() if p.is_dir() and p.name != "good"):
        out += [Item(p.name, cls_dir.name, str(p.relative_to(raw)), "test", path=p) for p in _images(cls_dir)]
    return out


def discover_subsets(raw: Path) -> tuple[str, ...]:
    if not raw.is_dir():
        raise DraError(f"{raw}: raw folder not found")
    found = tuple(sorted(p.name for p in raw.iterdir() if (p / "train" / "good").is_dir()))
    if not found:
        raise DraError(f"{raw}: no subset folders in MVTec layout (<subset>/train/good) found")
    return found
