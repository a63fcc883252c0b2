"""Decode once: every image of a prepared subset resized to S x S and stored as one uint8 array.

Row i of `<S>.npy` is row i of the manifest. Training memory-maps the array, so parallel runs on one
node share the page cache and no run ever touches a PNG or JPEG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dra.data.images import load_rgb, resize_rgb
from dra.data.manifest import manifest_digest, read_manifest
from dra.errors import DraError
from dra.fsutil import atomic_path, write_text


def build_cache(manifest: str | Path, size: int, out: str | Path) -> None:
    """Write `out` (.npy) and its sidecar `out.json` (manifest digest, size, paths)."""
    manifest, out = Path(manifest), Path(out)
    df = read_manifest(manifest)
    root = manifest.parent
    with atomic_path(out, suffix=".npy") as tmp:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(df), size, size, 3))
        for i, rel in enumerate(df["path"]):
            arr[i] = resize_rgb(load_rgb(root / rel), size)
        arr.flush()
        del arr
        write_text(sidecar(out), json.dumps({"manifest_sha256": manifest_digest(manifest), "size": size,
                                             "paths": df["path"].tolist()}))


def sidecar(npy: Path) -> Path:
    return npy.with_suffix(".json")


class ImageCache:
    """Read side: the memory-mapped array plus a path -> row index."""

    def __init__(self, npy: str | Path, manifest_sha256: str | None = None):
        npy = Path(npy)
        meta_path = sidecar(npy)
        if not npy.is_file() or not meta_path.is_file():
            raise DraError(f"{npy}: image cache (or its {meta_path.name}) not found; build it with `python -m dra cache`")
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(npy, mmap_mode="r")
        except (OSError, ValueError) as e:  # truncated or overwritten: never guess, rebuild
            raise DraError(f"{npy}: unreadable image cache ({e}); delete it and its .json, and rerun to rebuild") from None
        if array.ndim != 4 or len(array) != len(meta["paths"]):
            raise DraError(f"{npy}: image cache holds {array.shape}, expected {len(meta['paths'])} images; "
                           f"delete it and rerun to rebuild")
        if manifest_sha256 is not None and meta["manifest_sha256"] != manifest_sha256:
            raise DraError(f"{npy}: cache built from manifest {meta['manifest_sha256'][:12]}, "
                           f"but the split expects {manifest_sha256[:12]}; rebuild the cache")
        self.array = array
        self.size = meta["size"]
        self.index = {p: i for i, p in enumerate(meta["paths"])}

    def rows(self, paths: list[str]) -> np.ndarray:
        try:
            return np.array([self.index[p] for p in paths], dtype=np.int64)
        except KeyError as e:
            raise DraError(f"image {e.args[0]!r} is in the split but not in the cache") from None

    def gather(self, rows: np.ndarray) -> np.ndarray:
        """N x S x S x 3 uint8 copy of the given rows (sorted read for locality, original order out)."""
        order = np.argsort(rows, kind="stable")
        out = np.empty((len(rows), self.size, self.size, 3), dtype=np.uint8)
        out[order] = self.array[rows[order]]
        return out
