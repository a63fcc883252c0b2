"""Decode once: every image of a prepared subset resized to S x S and stored as one uint8 array.

Row i of `<S>.npy` is row i of the manifest; each file's SHA-256 is checked against the manifest as
it is read (the same bytes are decoded). `<S>.masks.npy` holds the pixel masks at S x S (bool, one
row per image that has a mask; none for a dataset without masks). Training memory-maps the arrays,
so parallel runs on one node share the page cache and no run ever touches a PNG or JPEG.

`<S>.json`, the sidecar, is the cache's certificate: the manifest it was built from (path and
SHA-256), the size, the paths, which mask row belongs to which image, and the size and SHA-256 of
each array file as written. It is written last, after both arrays are in place (and the old one is
removed before they are renamed), so a build killed at any point leaves either no sidecar or one
whose digests do not match; `ImageCache` refuses both, and verifies both arrays (one pass over each
memory map) every time a run opens the cache, so a damaged or swapped array is never trained on."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from dra.data.images import image_size, load_mask, load_rgb, resize_mask, resize_rgb
from dra.data.manifest import manifest_digest, read_manifest, verify_files
from dra.errors import DraError
from dra.fsutil import (atomic_path, disk_full_error, ensure_free, remove_stale_temporaries, reserve, sha256_mapped,
                        write_text)

FORMAT = 2  # 2: the sidecar certifies the arrays (sizes and SHA-256); earlier sidecars did not
_HEADER = 4096  # room for a .npy header (it takes 128 bytes; numpy pads to 64)


def sidecar(npy: Path) -> Path:
    return Path(npy).with_suffix(".json")


def masks_file(npy: Path) -> Path:
    return Path(npy).with_suffix(".masks.npy")


def _rebuild(npy: Path, manifest: str | None, size: int | None) -> str:
    if manifest and size:
        return (f"delete {npy} and {sidecar(npy).name} and rebuild it from {manifest}: "
                f"`python -m dra cache --manifest {manifest} --size {size} --out {npy}` (or rerun the workflow)")
    return f"delete {npy} and {sidecar(npy).name} and rebuild it with `python -m dra cache` (or rerun the workflow)"


def _memmap(tmp: Path, dtype, shape: tuple, final: Path) -> np.memmap:
    """A new .npy memory map whose blocks are allocated before a byte is written: on a full disk the
    allocation fails (a DraError naming `final`'s folder) rather than a later page write (SIGBUS)."""
    try:
        arr = np.lib.format.open_memmap(tmp, mode="w+", dtype=dtype, shape=shape)
    except OSError as e:
        raise (disk_full_error(e, final.parent, final.name) or e) from None
    reserve(tmp, arr.offset + arr.nbytes, final.parent, final.name)
    return arr


def build_cache(manifest: str | Path, size: int, out: str | Path) -> None:
    """Write `out` (.npy), its masks (`.masks.npy`) and, last, its sidecar (`.json`)."""
    manifest, out = Path(manifest), Path(out)
    df = read_manifest(manifest)
    root = manifest.parent
    masked = [i for i, m in enumerate(df["mask"]) if m]
    out.parent.mkdir(parents=True, exist_ok=True)
    for p, suffix in ((out, ".npy"), (masks_file(out), ".npy"), (sidecar(out), "")):
        remove_stale_temporaries(p, suffix)  # a killed build's temporaries would keep the disk full
    need = 2 * _HEADER + len(df) * size * size * 3 + len(masked) * size * size
    ensure_free(out.parent, need, f"the image cache {out.name} ({len(df)} images and {len(masked)} masks at {size} px)")
    with atomic_path(out, suffix=".npy") as tmp, atomic_path(masks_file(out), suffix=".npy") as tmp_masks:
        arr = _memmap(tmp, np.uint8, (len(df), size, size, 3), out)

        def decode(i, path, data):
            arr[i] = resize_rgb(load_rgb(path, data), size)

        verify_files(df, manifest, decode)
        arr.flush()
        del arr
        masks = _memmap(tmp_masks, bool, (len(masked), size, size), masks_file(out))
        for k, i in enumerate(masked):
            m = load_mask(root / df["mask"].iloc[i])
            w, h = image_size(root / df["path"].iloc[i])
            if m.shape != (h, w):
                raise DraError(f"{root / df['mask'].iloc[i]}: mask of {m.shape[1]}x{m.shape[0]} pixels for "
                               f"{df['path'].iloc[i]}; expected its image's size")
            masks[k] = resize_mask(m, size)
        masks.flush()
        del masks
        meta = {"format": FORMAT, "manifest": str(manifest), "manifest_sha256": manifest_digest(manifest),
                "size": size, "paths": df["path"].tolist(),
                "mask_rows": {df["path"].iloc[i]: k for k, i in enumerate(masked)},
                "array_bytes": tmp.stat().st_size, "array_sha256": sha256_mapped(tmp),
                "masks_bytes": tmp_masks.stat().st_size, "masks_sha256": sha256_mapped(tmp_masks)}
        # From here until the new sidecar is in place there is none: a kill leaves an incomplete cache
        # that says so, never the old sidecar beside a new array.
        sidecar(out).unlink(missing_ok=True)
    write_text(sidecar(out), json.dumps(meta))


def _verify(npy: Path, which: str, path: Path, meta: dict, rebuild: str) -> None:
    """The array file's size and SHA-256 against the sidecar's (written when it was built)."""
    want_bytes, want_sha = meta.get(f"{which}_bytes"), meta.get(f"{which}_sha256")
    if not isinstance(want_bytes, int) or not isinstance(want_sha, str):
        raise DraError(f"{sidecar(npy)}: the sidecar records no size and digest of {path.name} (a cache built before "
                       f"caches were certified, or an edited sidecar); {rebuild}")
    if not path.is_file():
        raise DraError(f"{path}: the image cache's {which} file is missing; {rebuild}")
    got_bytes = path.stat().st_size
    if got_bytes != want_bytes:
        raise DraError(f"{path}: {got_bytes:,} bytes, but {sidecar(npy).name} records {want_bytes:,}: the file was cut "
                       f"short, replaced or belongs to another build; {rebuild}")
    got_sha = sha256_mapped(path)
    if got_sha != want_sha:
        raise DraError(f"{path}: content SHA-256 {got_sha[:16]}..., but {sidecar(npy).name} records {want_sha[:16]}...: "
                       f"the file was damaged, modified or belongs to another build; {rebuild}")


class ImageCache:
    """Read side: the memory-mapped arrays (verified against the sidecar) plus a path -> row index."""

    def __init__(self, npy: str | Path, manifest_sha256: str | None = None):
        npy = Path(npy)
        meta_path = sidecar(npy)
        if not npy.is_file() or not meta_path.is_file():
            raise DraError(f"{npy}: image cache (or its {meta_path.name}) not found; build it with `python -m dra cache`")
        try:
            meta = json.loads(meta_path.read_text())
            if not isinstance(meta, dict) or not isinstance(meta.get("paths"), list):
                raise ValueError("not a cache sidecar")
        except (OSError, ValueError) as e:
            raise DraError(f"{meta_path}: unreadable cache sidecar ({e}); {_rebuild(npy, None, None)}") from None
        rebuild = _rebuild(npy, meta.get("manifest"), meta.get("size"))
        _verify(npy, "array", npy, meta, rebuild)
        _verify(npy, "masks", masks_file(npy), meta, rebuild)
        try:
            array = np.load(npy, mmap_mode="r")
            masks = np.load(masks_file(npy), mmap_mode="r") if meta.get("mask_rows") else None
        except (OSError, ValueError) as e:  # truncated or overwritten: never guess, rebuild
            raise DraError(f"{npy}: unreadable image cache ({e}); {rebuild}") from None
        if array.ndim != 4 or len(array) != len(meta["paths"]):
            raise DraError(f"{npy}: image cache holds {array.shape}, expected {len(meta['paths'])} images; {rebuild}")
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
