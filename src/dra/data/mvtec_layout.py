"""The MVTec layout `<subset>/train/good`, `<subset>/test/good`, `<subset>/test/<class>`, and
optionally `<subset>/ground_truth/<class>/<name>_mask.png` (pixel masks of the anomalies).

Shared by MVTec AD (which ships every mask) and by any folder in that layout (a dataset of your own,
the generated demo data), where masks are used when a ground_truth/ folder is there."""

from __future__ import annotations

from pathlib import Path

from dra.data.base import Item
from dra.data.images import is_image, load_mask
from dra.data.rawtools import HIDDEN, images_in, skip
from dra.errors import DraError

MASKS = "ground_truth"


def find_subset_dir(raw: Path, subset: str) -> Path:
    for candidate in (raw / subset, *(p / subset for p in sorted(raw.iterdir()) if p.is_dir())):
        if (candidate / "train").is_dir() and (candidate / "test").is_dir():
            return candidate
    raise DraError(f"{raw / subset}: no MVTec-layout folder for subset {subset!r} "
                   f"(expected {subset}/train/good, {subset}/test/good and {subset}/test/<class>)")


def _listing(folder: Path) -> list[Path]:
    """The image files of a folder without noting the rest (masks, probes for emptiness)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and is_image(p) and not p.name.startswith("."))


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in (root / "test").iterdir() if p.is_dir() and p.name != "good"
                  and not p.name.startswith("."))


def _note_strays(root: Path) -> None:
    """What lies in train/ and test/ besides good/ and the class folders is not read: say so."""
    for split in ("train", "test"):
        for p in sorted((root / split).iterdir()):
            if p.name.startswith("."):
                skip(p, HIDDEN)
            elif not p.is_dir():
                skip(p, f"a file directly in {split}/ (images go in {split}/good/"
                        + (" or test/<class>/)" if split == "test" else ")"))
            elif split == "train" and p.name != "good":
                skip(p, "a folder in train/ other than good/ (training images are normals)")


def mask_of(root: Path, cls: str, image: Path) -> Path:
    """`ground_truth/<class>/<stem>_mask.<ext>` (any image suffix); an error naming it when absent."""
    folder = root / MASKS / cls
    found = [p for p in (_listing(folder) if folder.is_dir() else []) if p.stem == f"{image.stem}_mask"]
    if not found:
        raise DraError(f"{folder / (image.stem + '_mask.png')}: mask of {image} not found; with a {MASKS}/ "
                       "folder, every anomaly needs its mask")
    return found[0]


def items(raw: Path, subset: str, require_masks: bool = False) -> list[Item]:
    root = find_subset_dir(raw, subset)
    _note_strays(root)
    out = []
    for split in ("train", "test"):
        good = root / split / "good"
        if not good.is_dir():
            raise DraError(f"{good}: missing folder of normal {split} images")
        images = images_in(good)
        if not images:
            raise DraError(f"{good}: folder of normal {split} images holds no images; expected at least one")
        out += [Item(p.name, "", str(p.relative_to(raw)), split, path=p) for p in images]
    with_masks = require_masks or (root / MASKS).is_dir()
    for cls_dir in _class_dirs(root):
        for p in images_in(cls_dir):
            mask = None
            if with_masks:
                m = mask_of(root, cls_dir.name, p)
                mask = lambda m=m: load_mask(m)  # noqa: E731
            out.append(Item(p.name, cls_dir.name, str(p.relative_to(raw)), "test", path=p, mask=mask))
    return out


def empty_class_folders(raw: Path, subset: str) -> list[str]:
    return [d.name for d in _class_dirs(find_subset_dir(raw, subset)) if not _listing(d)]


def discover_subsets(raw: Path) -> tuple[str, ...]:
    if not raw.is_dir():
        raise DraError(f"{raw}: raw folder not found")
    found = tuple(sorted(p.name for p in raw.iterdir() if (p / "train" / "good").is_dir()))
    if not found:
        raise DraError(f"{raw}: no subset folders in MVTec layout (<subset>/train/good) found")
    return found
