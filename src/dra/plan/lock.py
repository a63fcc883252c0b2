"""The workflow's lock on the folders it writes (config paths.data and paths.results), taken by the
Snakemake process that runs the jobs, before the first job."""

from __future__ import annotations

import os
from pathlib import Path

from dra.errors import DraError

HELD: list = []


def hold_lock(folder: str | os.PathLike, what: str) -> None:
    """An exclusive lock on `folder` for as long as this process lives: two workflows that share a
    results or data folder from different working folders (each with its own Snakemake lock) must not
    write it at once. A POSIX record lock, which NFS honours."""
    import datetime
    import fcntl
    import socket

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    f = open(folder / ".dra.lock", "a+")
    try:
        fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        f.seek(0)
        holder = f.read().strip() or "another process"
        f.close()
        raise DraError(f"{folder}: {what} is being written by another workflow ({holder}); wait for it to finish, "
                       "or give this one other paths (config paths.data / paths.results)") from None
    f.seek(0)
    f.truncate()
    f.write(f"pid {os.getpid()} on {socket.gethostname()} since {datetime.datetime.now():%Y-%m-%d %H:%M:%S}\n")
    f.flush()
    HELD.append(f)  # closing the file would release the lock
