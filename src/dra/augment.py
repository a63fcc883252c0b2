"""Augmentation on tensors, on the training device: rotation, pseudo anomalies, normalisation.

Every random draw comes from an explicit torch.Generator (CPU), so a run is a pure function of
its seed. Images are float N x 3 x H x W in [0, 1] until `normalize`."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def uniform(gen: torch.Generator, lo: float, hi: float, n: int | None = None):
    u = torch.rand(n if n is not None else 1, generator=gen)
    u = lo + (hi - lo) * u
    return u if n is not None else float(u)


def randint(gen: torch.Generator, high: int, n: int | None = None):
    r = torch.randint(high, (n if n is not None else 1,), generator=gen)
    return r if n is not None else int(r)


def to_float(images: torch.Tensor) -> torch.Tensor:
    """uint8 N x H x W x 3 -> float N x 3 x H x W in [0, 1]."""
    return images.permute(0, 3, 1, 2).float().div_(255.0)


def normalize(x: torch.Tensor) -> torch.Tensor:
    mean = torch.tensor(IMAGENET_MEAN, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=x.device, dtype=x.dtype).view(1, 3, 1, 1)
    return (x - mean) / std


def rotate(x: torch.Tensor, angles_deg: torch.Tensor) -> torch.Tensor:
    """Rotate each image about its centre, nearest neighbour, zero (black) fill, same size."""
    a = angles_deg.to(x.device, x.dtype) * (math.pi / 180.0)
    cos, sin = torch.cos(a), torch.sin(a)
    zero = torch.zeros_like(a)
    theta = torch.stack([torch.stack([cos, -sin, zero], 1), torch.stack([sin, cos, zero], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    return F.grid_sample(x, grid, mode="nearest", padding_mode="zeros", align_corners=False)


def random_rotate(x: torch.Tensor, gen: torch.Generator, degrees: float = 180.0) -> torch.Tensor:
    if degrees <= 0:
        return x
    return rotate(x, uniform(gen, -degrees, degrees, x.shape[0]))


def color_jitter(patch: torch.Tensor, gen: torch.Generator, brightness=0.1, contrast=0.1, saturation=0.1,
                 hue=0.1) -> torch.Tensor:
    """torchvision's ColorJitter semantics (factors uniform in [1-b, 1+b], hue in [-h, h], random
    order), with the draws taken from `gen`."""
    ops = []
    if brightness:
        ops.append((TF.adjust_brightness, uniform(gen, 1 - brightness, 1 + brightness)))
    if contrast:
        ops.append((TF.adjust_contrast, uniform(gen, 1 - contrast, 1 + contrast)))
    if saturation:
        ops.append((TF.adjust_saturation, uniform(gen, 1 - saturation, 1 + saturation)))
    if hue:
        ops.append((TF.adjust_hue, uniform(gen, -hue, hue)))
    for i in torch.randperm(len(ops), generator=gen).tolist():
        fn, f = ops[i]
        patch = fn(patch, f)
    return patch


def cutmix_box(gen: torch.Generator, h: int, w: int, area=(0.02, 0.15), aspect=(0.3, 1 / 0.3)):
    """(ph, pw): patch area U(area) of the image, aspect exp(U(ln lo, ln hi)), within the image."""
    a = uniform(gen, *area) * h * w
    r = math.exp(uniform(gen, math.log(aspect[0]), math.log(aspect[1])))
    ph = int(round(math.sqrt(a * r)))
    pw = int(round(math.sqrt(a / r)))
    return max(1, min(ph, h - 1)), max(1, min(pw, w - 1))


def cutmix(img: torch.Tensor, gen: torch.Generator, area=(0.02, 0.15), aspect=(0.3, 1 / 0.3),
           jitter: dict | None = None):
    """Same-image cut-paste (the paper's "CutMix"): a patch from a uniform random place,
    colour-jittered, pasted at an independent uniform random place. Returns (image, paste box)."""
    _, h, w = img.shape
    ph, pw = cutmix_box(gen, h, w, area, aspect)
    sy, sx = randint(gen, h - ph + 1), randint(gen, w - pw + 1)
    patch = color_jitter(img[:, sy:sy + ph, sx:sx + pw], gen, **(jitter or {}))
    ty, tx = randint(gen, h - ph + 1), randint(gen, w - pw + 1)
    out = img.clone()
    out[:, ty:ty + ph, tx:tx + pw] = patch
    return out, (ty, tx, ph, pw)


def cp_scar(img: torch.Tensor, gen: torch.Generator, width=(2, 16), length=(10, 25), rotation=(-45, 45),
            jitter: dict | None = None):
    """CutPaste-Scar: a thin patch (width x length px), colour-jittered, rotated, pasted elsewhere.
    Returns (image, (ty, tx, mask)) where mask marks the pasted pixels."""
    _, h, w = img.shape
    pw = min(int(uniform(gen, width[0], width[1] + 1)), w - 1)
    ph = min(int(uniform(gen, length[0], length[1] + 1)), h - 1)
    sy, sx = randint(gen, h - ph + 1), randint(gen, w - pw + 1)
    patch = color_jitter(img[:, sy:sy + ph, sx:sx + pw], gen, **(jitter or {}))
    angle = uniform(gen, *rotation)
    stacked = torch.cat([patch, torch.ones_like(patch[:1])], 0)
    stacked = TF.rotate(stacked, angle, interpolation=TF.InterpolationMode.NEAREST, expand=True)
    patch, mask = stacked[:3], stacked[3:] > 0.5
    rh, rw = min(patch.shape[1], h), min(patch.shape[2], w)
    patch, mask = patch[:, :rh, :rw], mask[:, :rh, :rw]
    ty, tx = randint(gen, h - rh + 1), randint(gen, w - rw + 1)
    out = img.clone()
    region = out[:, ty:ty + rh, tx:tx + rw]
    out[:, ty:ty + rh, tx:tx + rw] = torch.where(mask, patch, region)
    return out, (ty, tx, mask)


def make_pseudo(kind: str, img: torch.Tensor, gen: torch.Generator, params: dict) -> torch.Tensor:
    """One pseudo anomaly from a normal image, by the configured in-image source."""
    jitter = params.get("jitter")
    if kind == "cpmix":
        kind = "cutmix" if uniform(gen, 0, 1) < 0.5 else "cpscar"
    if kind == "cutmix":
        return cutmix(img, gen, tuple(params["cutmix_area"]), tuple(params["cutmix_aspect"]), jitter)[0]
    if kind == "cpscar":
        return cp_scar(img, gen, tuple(params["scar_width"]), tuple(params["scar_length"]),
                       tuple(params["scar_rotation"]), jitter)[0]
    raise ValueError(f"unknown in-image pseudo-anomaly source {kind!r}; expected cutmix, cpscar or cpmix")
