"""Decode once: every image of a prepared subset resized to S x S and stored as one uint8 array.

Row i of `<S>.npy` is row i of the manifest; each file's SHA-256 is checked against the manifest as
it is read (the same bytes are decoded). `<S>.masks.npy` holds the pixel masks at S x S (bool, one
row per image that has a mask; none for a dataset without masks), `<S>.json` the manifest digest,
the paths and which mask row belongs to which image. Training memory-maps the arrays, so parallel
runs on one node share the page cache and no run ever touches a PNG or JPEG."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dra.data.images import load_mask, load_rgb, resize_mask, resize_rgb
from dra.data.manifest import manifest_digest, read_manifest, verify_files
from dra.errors import DraError
from dra.fsutil import atomic_path, write_text


def sidecar(npy: Path) -> Path:
    return Path(npy).with_suffix(".json")


def masks_file(npy: Path) -> Path:
    return Path(npy).with_suffix(".masks.npy")


def build_cache(manifest: str | Path, size: int, out: str | Path) -> None:
    """Write `out` (.npy), its masks (`.masks.npy`) and its sidecar (`.json`)."""
    manifest, out = Path(manifest), Path(out)
    df = read_manifest(manifest)
    root = manifest.parent
    masked = [i for i, m in enumerate(df["mask"]) if m]
    with atomic_path(out, suffix=".npy") as tmp, atomic_path(masks_file(out), suffix=".npy") as tmp_masks:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=np.uint8, shape=(len(df), size, size, 3))

        def decode(i, path, data):
            arr[i] = resize_rgb(load_rgb(path, data), size)

        verify_files(df, manifest, decode)
        arr.flush()
        del arr
        masks = np.lib.format.open_memmap(tmp_masks, mode="w+", dtype=bool, shape=(len(masked), size, size))
        for k, i in enumerate(masked):
            m = load_mask(root / df["mask"].iloc[i])
            if m.shape != _image_shape(root / df["path"].iloc[i]):
                raise DraError(f"{root / df['mask'].iloc[i]}: mask of {m.shape[1]}x{m.shape[0]} pixels for "
                               f"{df['path'].iloc[i]}; expected its image's size")
            masks[k] = resize_mask(m, size)
        masks.flush()
        del masks
        write_text(sidecar(out), json.dumps({
            "manifest_sha256": manifest_digest(manifest), "size": size, "paths": df["path"].tolist(),
            "mask_rows": {df["path"].iloc[i]: k for k, i in enumerate(masked)}}))


def _image_shape(path: Path) -> tuple[int, int]:
    from PIL import Image

    with Image.open(path) as im:
        return im.size[::-1]


class ImageCache:
    """Read side: the memory-mapped arrays plus a path -> row index."""

    def __init__(self, npy: str | Path, manifest_sha256: str | None = None):
        npy = Path(npy)
        meta_path = sidecar(npy)
        if not npy.is_file() or not meta_path.is_file():
            raise DraError(f"{npy}: image cache (or its {meta_path.name}) not found; build it with `python -m dra cache`")
        try:
            meta = json.loads(meta_path.read_text())
            array = np.load(npy, mmap_mode="r")
            masks = np.load(masks_file(npy), mmap_mode="r") if meta.get("mask_rows") else None
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
        self.mask_rows = meta.get("mask_rows", {})
        self._masks = masks

    @property
    def has_masks(self) -> bool:
        return bool(self.mask_rows)

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

    def masks(self, paths: list[str]) -> np.ndarray | None:
        """N x S x S bool: each image's mask, all False for an image without one (a normal); None when
        the subset has no masks at all."""
        if not self.has_masks:
            return None
        out = np.zeros((len(paths), self.size, self.size), dtype=bool)
        for k, p in enumerate(paths):
            if p in self.mask_rows:
                out[k] = self._masks[self.mask_rows[p]]
        return out
