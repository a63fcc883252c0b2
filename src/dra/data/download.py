"""Raw files of a dataset: where they come from, where they go, how they are checked.

Each dataset module declares `FILES`: a tuple of RawFile(name, url, sha256, note, size_mb). A file goes to
`<data>/raw/<dataset>/<name>`. With a URL it is downloaded (progress bar on stderr, an interrupted
download resumes from its `.part` file with an HTTP Range request); with no URL (an account or a
request is needed) the download stops with an error that says which file to put where. Wherever a
SHA-256 is pinned, the file, downloaded or placed by hand, is checked against it."""

from __future__ import annotations

import http.client
import os
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from dra.errors import DraError
from dra.fsutil import disk_full_error, ensure_free, sha256_file

CHUNK = 1 << 16
USER_AGENT = "dra-repro (python urllib)"


@dataclass(frozen=True)
class RawFile:
    name: str                   # file name under <data>/raw/<dataset>/
    url: str | None             # None: placed by hand (an account or a request is needed)
    sha256: str | None = None   # pinned hash, where one is known
    note: str = ""              # where to get it by hand
    size_mb: float | None = None  # about how large, where known (the pre-flight says what a download costs)


def files_of(dataset: str) -> tuple[RawFile, ...]:
    from dra.data.registry import dataset_module

    return tuple(getattr(dataset_module(dataset), "FILES", ()))


def raw_dir(data: str | Path, dataset: str) -> Path:
    return Path(data) / "raw" / dataset


def _hash_note(f: RawFile) -> str:
    return (f"it will be checked against SHA-256 {f.sha256}" if f.sha256
            else "no checksum is pinned for it, so only its contents will be checked when it is extracted")


def manual_message(dataset: str, f: RawFile, dest: Path, homepage: str = "", reason: str = "") -> str:
    source = f.note or (f"from {homepage}" if homepage else "from the dataset's homepage")
    lead = f"{dataset}: {reason}: " if reason else f"{dataset}: "
    return (lead + f"get {f.name} by hand {source} and put it at {dest}; {_hash_note(f)}. "
            f"(A copy you extracted yourself also works: put its folder at {dest.parent / 'extracted'}/.)")


def verify(path: Path, sha256: str | None, what: str = "") -> None:
    if not sha256:
        return
    got = sha256_file(path)
    if got != sha256.lower():
        raise DraError(f"{path}: SHA-256 {got} does not match the pinned {sha256}{what}; "
                       "the file is corrupt or a different version: delete it and download it again")


class _Progress:
    """A progress line on stderr: redrawn in place on a terminal, a line per 10% in a log file."""

    def __init__(self, name: str, total: int | None, done: int, stream=None):
        self.name, self.total, self.done = name, total, done
        self.stream = stream or sys.stderr
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.start, self.last, self.last_decile = time.monotonic(), 0.0, -1
        self.start_done = done

    def _line(self) -> str:
        rate = (self.done - self.start_done) / max(time.monotonic() - self.start, 1e-6)
        mb = self.done / 1e6
        if self.total:
            pct = 100.0 * self.done / self.total
            return f"{self.name}: {pct:5.1f}% {mb:,.1f}/{self.total / 1e6:,.1f} MB {rate / 1e6:,.1f} MB/s"
        return f"{self.name}: {mb:,.1f} MB {rate / 1e6:,.1f} MB/s"

    def update(self, n: int) -> None:
        self.done += n
        now = time.monotonic()
        if self.tty:
            if now - self.last >= 0.2:
                self.last = now
                self.stream.write("\r" + self._line())
                self.stream.flush()
        else:
            decile = int(10 * self.done / self.total) if self.total else int(self.done // 100e6)
            if decile != self.last_decile:
                self.last_decile = decile
                self.stream.write(self._line() + "\n")
                self.stream.flush()

    def close(self) -> None:
        self.stream.write(("\r" if self.tty else "") + self._line() + " done\n")
        self.stream.flush()


def _open(url: str, start: int, timeout: float):
    headers = {"User-Agent": USER_AGENT}
    if start:
        headers["Range"] = f"bytes={start}-"
    return urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout)


def _content_range_start(value: str | None) -> int | None:
    # "bytes 100-199/200"
    try:
        return int(value.split()[1].split("-")[0])
    except (AttributeError, IndexError, ValueError):
        return None


def download_url(url: str, dest: str | Path, sha256: str | None = None, timeout: float = 60.0,
                 attempts: int = 3, progress: bool = True) -> Path:
    """Download `url` to `dest` through `dest.part`, resuming a partial `.part` file; verify the hash;
    rename into place only when complete and correct."""
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    part = dest.with_name(dest.name + ".part")
    last_error: Exception | None = None
    for _ in range(attempts):
        start = part.stat().st_size if part.exists() else 0
        try:
            resp = _open(url, start, timeout)
        except urllib.error.HTTPError as e:
            if e.code == 416 and start:  # nothing left to send: the .part file is already complete
                break
            if e.code >= 500:  # the server's trouble, maybe passing: try again
                last_error = e
                continue
            raise DraError(f"could not download {url}: HTTP {e.code} {e.reason}") from None
        except (OSError, http.client.HTTPException) as e:  # URLError is an OSError
            last_error = e
            continue
        with resp:
            status = getattr(resp, "status", 200)
            if start and (status != 206 or _content_range_start(resp.headers.get("Content-Range")) != start):
                start = 0  # the server ignored the range: start again from the first byte
            length = resp.headers.get("Content-Length")
            total = start + int(length) if length and length.isdigit() else None
            if total is not None:
                ensure_free(dest.parent, total - start, f"the download of {dest.name} from {url}")
            bar = _Progress(dest.name, total, start) if progress else None
            try:
                with open(part, "ab" if start else "wb") as out:
                    while block := resp.read(CHUNK):
                        out.write(block)
                        if bar:
                            bar.update(len(block))
            except (OSError, http.client.HTTPException) as e:  # connection dropped: resume on the next attempt
                full = disk_full_error(e, dest.parent, part.name) if isinstance(e, OSError) else None
                if full is not None:  # not the network's fault: another attempt cannot help
                    raise DraError(f"{full}; the partial file is kept and the next download resumes it") from None
                last_error = e
                continue
            if bar:
                bar.close()
            if total is not None and part.stat().st_size < total:
                last_error = OSError(f"connection closed after {part.stat().st_size} of {total} bytes")
                continue
            break
    else:
        kept = (f"; the partial file {part} is kept and the next attempt resumes it"
                if part.exists() and part.stat().st_size else "")
        raise DraError(f"could not download {url}: {last_error}{kept}")
    try:
        verify(part, sha256, f" (downloaded from {url})")
    except DraError:
        part.unlink()
        raise
    os.replace(part, dest)
    return dest


def fetch(dataset: str, f: RawFile, folder: str | Path, homepage: str = "", progress: bool = True) -> Path:
    """Make `folder/f.name` present and verified: keep a correct file, download a missing one, or say
    exactly what to put where."""
    dest = Path(folder) / f.name
    if dest.is_file():
        verify(dest, f.sha256, " (a file already present)")
        return dest
    if f.url is None:
        raise DraError(manual_message(dataset, f, dest, homepage, "this file needs an account or a request"))
    try:
        return download_url(f.url, dest, f.sha256, progress=progress)
    except DraError as e:
        if "does not match the pinned" in str(e):
            raise
        raise DraError(manual_message(dataset, f, dest, homepage, str(e) + "; the link may have moved")) from None


def fetch_dataset(dataset: str, folder: str | Path, only: list[str] | None = None, progress: bool = True) -> list[Path]:
    """Every declared file of the dataset (or those named in `only`); manual files missing are listed
    together in one error after the downloadable ones are done."""
    from dra.data.registry import dataset_module

    mod = dataset_module(dataset)
    files = files_of(dataset)
    if not files:
        raise DraError(f"{dataset}: declares no raw files to download")
    if only:
        unknown = sorted(set(only) - {f.name for f in files})
        if unknown:
            raise DraError(f"{dataset}: no raw file named {unknown[0]!r}; expected one of {[f.name for f in files]}")
        files = tuple(f for f in files if f.name in only)
    done, manual = [], []
    for f in files:
        try:
            done.append(fetch(dataset, f, folder, getattr(mod, "HOMEPAGE", ""), progress))
        except DraError as e:
            if f.url is None and not (Path(folder) / f.name).is_file():
                manual.append(str(e))
            else:
                raise
    if manual:
        raise DraError("\n".join(manual))
    return done


def size_text(files) -> str:
    """'600 MB', '4.9 GB', or what is known of a group of files' size."""
    known = [f.size_mb for f in files if f.size_mb]
    if not known:
        return "size not declared"
    total = sum(known)
    text = f"{total / 1000:.1f} GB" if total >= 1000 else f"{total:.0f} MB"
    return text if len(known) == len(files) else f"at least {text}"
