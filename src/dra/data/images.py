"""Image decoding with errors that name the file. Every image becomes 8-bit RGB."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dra.errors import DraError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def max_pixels() -> int:
    """The largest image (width x height) decoded: Pillow's decompression-bomb limit, read when used so
    that a change of Image.MAX_IMAGE_PIXELS applies. A bigger header is refused before any pixel is
    decoded (a 20000 x 20000 PNG of a few kB would otherwise ask for 1.2 GB)."""
    return 2 * Image.MAX_IMAGE_PIXELS if Image.MAX_IMAGE_PIXELS else 0


def _bomb(path: Path, e: Exception) -> DraError:
    return DraError(f"{path}: image larger than the {max_pixels():,} pixels decoded ({e}); expected an image "
                    "of at most that many pixels: cut or downscale it, or leave it out")


def open_image(path: str | Path, data: bytes | None = None) -> Image.Image:
    """Decode fully (so truncation is caught here, not later) and return the PIL image; from `data`
    (the file's bytes, already read) where given."""
    path = Path(path)
    try:
        with Image.open(io.BytesIO(data) if data is not None else path) as im:
            im.load()
            return im.copy()
    except FileNotFoundError:
        raise DraError(f"{path}: image file not found") from None
    except Image.DecompressionBombError as e:
        raise _bomb(path, e) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DraError(f"{path}: unreadable or truncated image ({e}); expected a complete image file") from None


def image_size(path: str | Path) -> tuple[int, int]:
    """(width, height) from the header only; the full decode (and its truncation check) comes later."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            return im.size
    except FileNotFoundError:
        raise DraError(f"{path}: image file not found") from None
    except Image.DecompressionBombError as e:
        raise _bomb(path, e) from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DraError(f"{path}: unreadable image ({e}); expected a complete image file") from None


def to_rgb(im: Image.Image, path: str | Path = "") -> Image.Image:
    """Grey is replicated, alpha dropped (HeadCT ships RGBA), 16-bit scaled by its bit depth
    (65535 -> 255), so an image's brightness does not depend on its own brightest pixel."""
    if im.mode in SIXTEEN_BIT or im.mode == "I":
        a = np.asarray(im, dtype=np.float64)
        if a.size and (a.min() < 0 or a.max() > 65535):
            raise DraError(f"{path}: {im.mode} image with values in [{a.min():.0f}, {a.max():.0f}]; "
                           "expected 8- or 16-bit values (0-65535)")
        im = Image.fromarray(np.clip(np.rint(a * (255.0 / 65535.0)), 0, 255).astype(np.uint8))
    elif im.mode == "F":
        raise DraError(f"{path}: floating-point image; expected 8- or 16-bit integer pixels")
    return im.convert("RGB")


def load_rgb(path: str | Path, data: bytes | None = None) -> np.ndarray:
    """H x W x 3 uint8."""
    return np.asarray(to_rgb(open_image(path, data), path))


def load_mask(path: str | Path) -> np.ndarray:
    """H x W bool: any nonzero pixel in any channel is defect."""
    a = np.asarray(open_image(path))
    return a.any(axis=-1) if a.ndim == 3 else a != 0


def resize_rgb(a: np.ndarray, size: int) -> np.ndarray:
    """Bilinear to size x size, aspect not kept (the protocol's input transform)."""
    if a.shape[0] == size and a.shape[1] == size:
        return a
    return np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))


def resize_mask(m: np.ndarray, size: int) -> np.ndarray:
    """H x W bool -> size x size bool: a pixel is defect where any part of its area is (box filter,
    so a defect one pixel wide survives downsampling)."""
    if m.shape == (size, size):
        return m.astype(bool)
    box = Image.fromarray(m.astype(np.uint8) * 255).resize((size, size), Image.BOX)
    return np.asarray(box) > 0


def save_png(a: np.ndarray | Image.Image, path: str | Path) -> None:
    im = a if isinstance(a, Image.Image) else Image.fromarray(a)
    im.save(path, format="PNG")
