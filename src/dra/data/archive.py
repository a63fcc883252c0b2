"""Safe extraction of the raw archives: .zip (and .whl), .tar, .tar.gz/.tgz, .tar.xz, .tar.bz2, .7z.

Every member is checked before it is written: absolute paths, `..` components, drive letters,
device files and links that point outside the target are refused with an error naming the archive
and the member. Extraction goes into a temporary folder beside the target, which is renamed into
place only when every archive extracted completely; after extraction the tree is walked once more
and any link that resolves outside it is refused (the last line of defence for formats whose link
targets cannot be read up front)."""

from __future__ import annotations

import lzma
import os
import stat
import tarfile
import zipfile
from pathlib import Path, PurePosixPath
from typing import Iterable

from dra.errors import DraError
from dra.fsutil import atomic_dir, disk_full_error, ensure_free, remove_stale_temporaries

ZIP_SUFFIXES = (".zip", ".whl")
TAR_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.xz", ".txz", ".tar.bz2", ".tbz2")
SEVENZIP_SUFFIXES = (".7z",)


def archive_kind(path: str | Path) -> str | None:
    name = Path(path).name.lower()
    for kind, suffixes in (("zip", ZIP_SUFFIXES), ("tar", TAR_SUFFIXES), ("7z", SEVENZIP_SUFFIXES)):
        if name.endswith(suffixes):
            return kind
    return None


def archive_stem(path: str | Path) -> str:
    """`Class1.zip` -> `Class1`, `x.tar.xz` -> `x`: the folder each archive is extracted into."""
    name = Path(path).name
    for suffix in sorted(ZIP_SUFFIXES + TAR_SUFFIXES + SEVENZIP_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return name


def _check_name(archive: Path, name: str) -> PurePosixPath:
    norm = name.replace("\\", "/")
    p = PurePosixPath(norm)
    if norm.startswith("/") or p.is_absolute() or (len(norm) > 1 and norm[1] == ":"):
        raise DraError(f"{archive}: refusing member {name!r}: absolute path")
    if ".." in p.parts:
        raise DraError(f"{archive}: refusing member {name!r}: '..' leaves the target folder")
    return p


def _inside(member: PurePosixPath, link_target: str, relative_to_member: bool) -> bool:
    """Does a link `member -> link_target` stay inside the target folder?"""
    target = link_target.replace("\\", "/")
    if target.startswith("/") or (len(target) > 1 and target[1] == ":"):
        return False
    base = list(member.parent.parts) if relative_to_member else []
    for part in PurePosixPath(target).parts:
        if part == "..":
            if not base:
                return False
            base.pop()
        elif part != ".":
            base.append(part)
    return True


def _extract_zip(archive: Path, dest: Path, shown: Path) -> None:
    try:
        with zipfile.ZipFile(archive) as zf:
            infos = zf.infolist()
            # the sizes the members declare (a CRC or size mismatch is an error while reading)
            ensure_free(shown, sum(i.file_size for i in infos), f"the {len(infos)} members of {archive.name}")
            for info in infos:
                member = _check_name(archive, info.filename)
                mode = info.external_attr >> 16
                if stat.S_ISLNK(mode) and not _inside(member, zf.read(info).decode("utf-8", "replace"), True):
                    raise DraError(f"{archive}: refusing member {info.filename!r}: link leaves the target folder")
            zf.extractall(dest)  # a CRC mismatch raises BadZipFile while reading
    except zipfile.BadZipFile as e:
        raise DraError(f"{archive}: not a readable zip archive ({e}); download it again") from None


def _check_tar_member(archive: Path, m: tarfile.TarInfo) -> None:
    member = _check_name(archive, m.name)
    if m.issym() and not _inside(member, m.linkname, True):
        raise DraError(f"{archive}: refusing member {m.name!r}: link to {m.linkname!r} leaves the target folder")
    if m.islnk() and not _inside(member, m.linkname, False):
        raise DraError(f"{archive}: refusing member {m.name!r}: hard link to {m.linkname!r} leaves the target folder")
    if m.isdev() or m.isfifo():
        raise DraError(f"{archive}: refusing member {m.name!r}: device or pipe")


def _extract_tar(archive: Path, dest: Path, shown: Path) -> None:
    # One pass over the (possibly xz-compressed, 5 GB) stream: each member is checked, then written.
    # A refusal part-way leaves only the temporary folder, which extract_all removes.
    try:
        with tarfile.open(archive) as tf:
            for m in tf:
                _check_tar_member(archive, m)
                if hasattr(tarfile, "data_filter"):
                    tf.extract(m, dest, filter="data")
                else:  # pragma: no cover - Python without extraction filters; the member was checked above
                    tf.extract(m, dest)
    except tarfile.FilterError as e:
        raise DraError(f"{archive}: refusing member: {e}") from None
    except OSError as e:
        if (full := disk_full_error(e, shown, f"the members of {archive.name}")) is not None:
            raise full from None
        raise DraError(f"{archive}: not a readable (or a truncated) tar archive ({e}); download it again") from None
    except (tarfile.TarError, EOFError, lzma.LZMAError) as e:
        raise DraError(f"{archive}: not a readable (or a truncated) tar archive ({e}); download it again") from None


def _extract_7z(archive: Path, dest: Path, shown: Path) -> None:
    try:
        import py7zr
    except ImportError:  # pragma: no cover - py7zr is a dependency
        raise DraError(f"{archive}: extracting .7z needs the py7zr package (pip install py7zr)") from None
    try:
        with py7zr.SevenZipFile(archive, mode="r") as zf:
            infos = zf.list()
            for info in infos:
                _check_name(archive, info.filename)
                if info.is_symlink:
                    raise DraError(f"{archive}: refusing member {info.filename!r}: links are not accepted in .7z archives")
            ensure_free(shown, sum(i.uncompressed or 0 for i in infos), f"the {len(infos)} members of {archive.name}")
            zf.extractall(path=dest)
    except DraError:
        raise
    except OSError as e:
        if (full := disk_full_error(e, shown, f"the members of {archive.name}")) is not None:
            raise full from None
        raise DraError(f"{archive}: not a readable (or a truncated) 7z archive ({e}); download it again") from None
    except (py7zr.exceptions.ArchiveError, py7zr.exceptions.AbsolutePathError, py7zr.exceptions.PasswordRequired,
            EOFError, lzma.LZMAError, ValueError) as e:
        raise DraError(f"{archive}: not a readable (or a truncated) 7z archive ({e}); download it again") from None


def _check_tree(dest: Path, archive: Path) -> None:
    root = dest.resolve()
    for dirpath, dirnames, filenames in os.walk(dest):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if p.is_symlink():
                target = p.resolve()
                if target != root and root not in target.parents:
                    raise DraError(f"{archive}: refusing {p.relative_to(dest)}: link leaves the target folder")


def extract_into(archive: str | Path, dest: str | Path, shown: str | Path | None = None) -> None:
    """Extract one archive into an existing folder (no atomicity; see extract_all). `shown`: the
    folder that messages name (the final one, where `dest` is a temporary)."""
    archive, dest = Path(archive), Path(dest)
    shown = Path(shown) if shown is not None else dest
    if not archive.is_file():
        raise DraError(f"{archive}: archive not found")
    kind = archive_kind(archive)
    if kind == "zip":
        _extract_zip(archive, dest, shown)
    elif kind == "tar":
        _extract_tar(archive, dest, shown)
    elif kind == "7z":
        _extract_7z(archive, dest, shown)
    else:
        raise DraError(f"{archive}: unknown archive type; expected one of "
                       f"{', '.join(ZIP_SUFFIXES + TAR_SUFFIXES + SEVENZIP_SUFFIXES)}")
    _check_tree(dest, archive)


def extract_all(archives: Iterable[str | Path], target: str | Path, subfolders: bool = True) -> Path:
    """Extract every archive into `target` (each into `target/<archive stem>/` when `subfolders`),
    all or nothing: `target` appears only when every archive extracted completely."""
    archives = [Path(a) for a in archives]
    if not archives:
        raise DraError(f"{target}: no archives to extract")
    remove_stale_temporaries(target)  # an extraction that was killed left gigabytes there
    with atomic_dir(target) as tmp:
        for a in archives:
            dest = tmp / archive_stem(a) if subfolders else tmp
            dest.mkdir(parents=True, exist_ok=True)
            extract_into(a, dest, Path(target) / dest.relative_to(tmp))
    return Path(target)
