"""Outputs appear complete or not at all: write to a temporary sibling, then rename.

mkstemp and mkdtemp create their files 0600 and folders 0700; the renamed outputs get the modes a
plain open() or mkdir() would give them under the user's umask, so colleagues sharing a results
folder on a cluster can read them.

A temporary is removed on every failure the process survives (an exception, a full disk); one left
by a process that was killed is removed by `remove_stale_temporaries` before its output is written
again. A large write asks `ensure_free` first, so a full disk is a message naming the folder and the
bytes, not a SIGBUS from a memory map or an opaque error from a serialiser."""

from __future__ import annotations

import contextlib
import errno
import glob
import hashlib
import mmap
import os
import shutil
import tempfile
from pathlib import Path

from dra.errors import DraError

_FULL = (errno.ENOSPC, errno.EDQUOT)
NEARLY_FULL = 1 << 20  # a write that fails with less free than this is blamed on the disk, and says so


def human(nbytes: int) -> str:
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if nbytes >= scale:
            return f"{nbytes / scale:.1f} {unit} ({nbytes:,} bytes)"
    return f"{nbytes:,} bytes"


def free_bytes(folder: str | os.PathLike) -> int:
    """Bytes this process may still write on the file system that holds `folder` (or, where it does
    not exist yet, its nearest existing parent)."""
    probe = Path(folder).absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    return shutil.disk_usage(probe).free


def ensure_free(folder: str | os.PathLike, nbytes: int, what: str) -> None:
    """A DraError naming `folder`, the bytes `what` needs and the bytes free, unless they fit."""
    free = free_bytes(folder)
    if nbytes > free:
        raise DraError(f"{folder}: not enough free space for {what}: it needs {human(nbytes)}, the file system has "
                       f"{human(free)} free; free some space there (or write elsewhere) and rerun")


def nbytes_of(obj) -> int:
    """The bytes of the arrays and tensors in a (nested) dict/list/tuple: what serialising it writes,
    less the small overhead of the container format."""
    if isinstance(obj, dict):
        return sum(nbytes_of(v) for v in obj.values())
    if isinstance(obj, (list, tuple)):
        return sum(nbytes_of(v) for v in obj)
    n = getattr(obj, "nbytes", None)  # numpy arrays and torch tensors
    return int(n) if isinstance(n, int) else 0


def disk_full_error(e: OSError, folder: Path, what: str):
    """The DraError for an ENOSPC/EDQUOT write, or None for any other OSError."""
    if e.errno not in _FULL:
        return None
    return DraError(f"{folder}: the file system is full (or over quota) while writing {what} "
                    f"({human(free_bytes(folder))} free); free some space there and rerun")


def reserve(path: str | os.PathLike, nbytes: int, folder: str | os.PathLike, what: str) -> None:
    """Allocate the blocks of `path` (created, possibly sparse) up to `nbytes` now: a full disk is then
    a DraError naming `folder` and `what` here, instead of a SIGBUS when a memory map of the file is
    written. File systems without allocation support are left to the write itself."""
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, nbytes)
    except OSError as e:
        if (full := disk_full_error(e, Path(folder), what)) is not None:
            raise full from None
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL, errno.ENOSYS):
            raise
    finally:
        os.close(fd)


def _temporaries(path: Path, suffix: str) -> str:
    # mkstemp/mkdtemp names: the prefix, 8 random characters, the suffix
    return str(path.parent / (glob.escape(f".{path.name}.") + "?" * 8 + glob.escape(suffix + ".tmp")))


def remove_stale_temporaries(path: str | os.PathLike, suffix: str = "") -> list[Path]:
    """Remove what atomic_path/atomic_dir(path, suffix) left behind in a process that was killed
    (they take disk space and nothing else removes them). Only for outputs that one job writes at a
    time, as every workflow output is. Returns what was removed."""
    path = Path(path)
    removed = []
    for p in map(Path, glob.glob(_temporaries(path, suffix))):
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


def _discard(tmp: Path) -> None:
    # called while an exception propagates: never let the clean-up replace it
    try:
        if tmp.is_dir() and not tmp.is_symlink():
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            tmp.unlink(missing_ok=True)
    except OSError:
        pass


def _translated(e: BaseException, folder: Path, what: str, free: int | None) -> DraError | None:
    """The DraError a failed write becomes when the disk is the cause: an ENOSPC/EDQUOT OSError, or any
    other error (a serialiser that wraps the OSError: torch.save raises a RuntimeError) raised while
    the file system had less than NEARLY_FULL bytes free. None: not the disk's doing, re-raise."""
    if isinstance(e, OSError) and (full := disk_full_error(e, folder, what)) is not None:
        return full
    if free is not None and free < NEARLY_FULL:
        return DraError(f"{folder}: writing {what} failed ({type(e).__name__}: {' '.join(str(e).split())[:300]}) "
                        f"with {human(free)} free on its file system, which is full or nearly: free some space "
                        "there and rerun")
    return None


def _free_now(e: BaseException, folder: Path) -> int | None:
    """Free bytes while the failed temporary still holds its blocks (only for errors that may hide a
    full disk: an OSError or another Exception, never a DraError or an interrupt)."""
    if not isinstance(e, Exception) or isinstance(e, DraError):
        return None
    try:
        return free_bytes(folder)
    except OSError:
        return None


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike, suffix: str = ""):
    """Yield a temporary path beside `path`; rename it onto `path` only if the block succeeds. The
    temporary is removed on any failure; a full disk is a DraError naming the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=suffix + ".tmp", dir=path.parent)
    except OSError as e:
        raise (disk_full_error(e, path.parent, path.name) or e) from None
    tmp = Path(tmp)
    try:
        os.fchmod(fd, 0o666 & ~umask())
        os.close(fd)
        yield tmp
        os.replace(tmp, path)
    except BaseException as e:
        free = _free_now(e, path.parent)
        _discard(tmp)
        full = _translated(e, path.parent, path.name, free)
        if full is None:
            raise
        raise full from (None if isinstance(e, OSError) else e)


def umask() -> int:
    """The process's umask (read by setting it and putting it back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike):
    """Yield a temporary directory beside `path`; it replaces `path` only if the block succeeds. The
    temporary is removed on any failure; a full disk is a DraError naming the folder."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent))
    except OSError as e:
        raise (disk_full_error(e, path.parent, path.name + "/") or e) from None
    try:
        tmp.chmod(0o777 & ~umask())
        yield tmp
        if path.exists():
            shutil.rmtree(path)
        os.replace(tmp, path)
    except BaseException as e:
        free = _free_now(e, path.parent)
        _discard(tmp)
        full = _translated(e, path.parent, path.name + "/", free)
        if full is None:
            raise
        raise full from (None if isinstance(e, OSError) else e)


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(chunk):
            h.update(block)
    return h.hexdigest()


def sha256_mapped(path: str | os.PathLike, chunk: int = 1 << 24) -> str:
    """SHA-256 of a file through a read-only memory map: one pass, no copy into Python (a large image
    cache hashes at the speed of SHA-256 when its pages are cached)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        size = os.fstat(f.fileno()).st_size
        if size == 0:
            return h.hexdigest()
        with mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as m:
            view = memoryview(m)
            try:
                for start in range(0, size, chunk):
                    h.update(view[start:start + chunk])
            finally:
                view.release()
    return h.hexdigest()


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
