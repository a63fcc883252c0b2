"""A generated dataset in the MVTec layout: textured normals and three visibly different defects,
each with its pixel mask in ground_truth/<class>/<name>_mask.png.

Deterministic from the seed; small (64 px) so the whole pipeline runs on a laptop CPU."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from dra.data.images import save_png
from dra.fsutil import atomic_dir

# subset -> texture generator parameters (orientation, frequency, base colour)
SUBSETS = {
    "weave": dict(angle=0.0, freq=6.0, colour=(150, 120, 90)),
    "grain": dict(angle=1.0, freq=9.0, colour=(90, 130, 150)),
}
CLASSES = ("scratch", "spot", "stain")


def texture(rng: np.random.Generator, size: int, angle: float, freq: float, colour) -> np.ndarray:
    y, x = np.mgrid[0:size, 0:size] / size
    a = angle + rng.normal(0, 0.05)
    phase = rng.uniform(0, 2 * np.pi)
    wave = np.sin(2 * np.pi * freq * (x * np.cos(a) + y * np.sin(a)) + phase)
    wave2 = np.sin(2 * np.pi * freq * (-x * np.sin(a) + y * np.cos(a)) + phase / 2)
    base = 0.6 * wave + 0.4 * wave2 + rng.normal(0, 0.25, (size, size))
    # lighting varies per image (+-20 %), so that no image-wide statistic tells a defect apart: a
    # detector has to find it where it is
    gain = rng.uniform(0.8, 1.2)
    img = gain * np.asarray(colour, dtype=np.float64)[None, None, :] * (1 + 0.25 * base[..., None])
    return np.clip(img, 0, 255)


def add_defect(rng: np.random.Generator, img: np.ndarray, cls: str) -> tuple[np.ndarray, np.ndarray]:
    """The image with a defect of class `cls`, and the defect's pixel mask (H x W bool)."""
    size = img.shape[0]
    img = img.copy()
    y, x = np.mgrid[0:size, 0:size]
    cy, cx = rng.uniform(0.25, 0.75, 2) * size
    if cls == "scratch":  # a thin dark line
        t = rng.uniform(0, np.pi)
        d = np.abs((x - cx) * np.sin(t) - (y - cy) * np.cos(t))
        along = np.abs((x - cx) * np.cos(t) + (y - cy) * np.sin(t))
        m = (d < 1.2) & (along < size * rng.uniform(0.2, 0.35))
        img[m] = img[m] * 0.25
    elif cls == "spot":  # a bright round blob
        r = size * rng.uniform(0.06, 0.1)
        m = (x - cx) ** 2 + (y - cy) ** 2 < r**2
        img[m] = 245
    elif cls == "stain":  # a soft colour shift
        r = size * rng.uniform(0.12, 0.18)
        w = np.exp(-((x - cx) ** 2 + (y - cy) ** 2) / (2 * r**2))[..., None]
        img = img * (1 - 0.7 * w) + np.array([40.0, 160.0, 40.0]) * 0.7 * w
        m = w[..., 0] > 0.25  # where the shift is visible (at least a sixth of the full blend)
    else:
        raise ValueError(cls)
    return np.clip(img, 0, 255), m


def generate(out: str | Path, seed: int = 0, size: int = 64, n_train: int = 60, n_test: int = 20,
             n_anomaly: int = 12) -> Path:
    """Write `out/<subset>/...` for every subset; the folder appears complete or not at all."""
    out = Path(out)
    with atomic_dir(out) as tmp:
        for s, (subset, params) in enumerate(SUBSETS.items()):
            rng = np.random.default_rng([seed, s])
            for split, n in (("train", n_train), ("test", n_test)):
                folder = tmp / subset / split / "good"
                folder.mkdir(parents=True)
                for i in range(n):
                    save_png(texture(rng, size, **params).astype(np.uint8), folder / f"{i:03d}.png")
            for cls in CLASSES:
                folder = tmp / subset / "test" / cls
                masks = tmp / subset / "ground_truth" / cls
                folder.mkdir(parents=True)
                masks.mkdir(parents=True)
                for i in range(n_anomaly):
                    img, m = add_defect(rng, texture(rng, size, **params), cls)
                    save_png(img.astype(np.uint8), folder / f"{i:03d}.png")
                    save_png(m.astype(np.uint8) * 255, masks / f"{i:03d}_mask.png")
    return out
