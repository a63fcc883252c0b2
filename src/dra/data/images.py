"""Image decoding with errors that name the file. Every image becomes 8-bit RGB."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from dra.errors import DraError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_SUFFIXES


def open_image(path: str | Path) -> Image.Image:
    """Decode fully (so truncation is caught here, not later) and return the PIL image."""
    path = Path(path)
    try:
        with Image.open(path) as im:
            im.load()
            return im.copy()
    except FileNotFoundError:
        raise DraError(f"{path}: image file not found") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as e:
        raise DraError(f"{path}: unreadable or truncated image ({e}); expected a complete image file") from None


def to_rgb(im: Image.Image) -> Image.Image:
    """Grey is replicated, alpha dropped (HeadCT ships RGBA), 16-bit scaled to 8-bit."""
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        hi = a.max() if a.size and a.max() > 255 else 255.0
        im = Image.fromarray(np.clip(a / hi * 255.0 + 0.5, 0, 255).astype(np.uint8))
    return im.convert("RGB")


def load_rgb(path: str | Path) -> np.ndarray:
    """H x W x 3 uint8."""
    return np.asarray(to_rgb(open_image(path)))


def load_mask(path: str | Path) -> np.ndarray:
    """H x W bool: any nonzero pixel in any channel is defect."""
    a = np.asarray(open_image(path))
    return a.any(axis=-1) if a.ndim == 3 else a != 0


def resize_rgb(a: np.ndarray, size: int) -> np.ndarray:
    """Bilinear to size x size, aspect not kept (the protocol's input transform)."""
    if a.shape[0] == size and a.shape[1] == size:
        return a
    return np.asarray(Image.fromarray(a).resize((size, size), Image.BILINEAR))


def save_png(a: np.ndarray | Image.Image, path: str | Path) -> None:
    im = a if isinstance(a, Image.Image) else Image.fromarray(a)
    im.save(path, format="PNG")
