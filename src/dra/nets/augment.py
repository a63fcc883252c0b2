"""Augmentation on tensors, on the training device: rotation, pseudo anomalies, normalisation.

Every random draw comes from an explicit torch.Generator (CPU), so a run is a pure function of
its seed. Images are float N x 3 x H x W in [0, 1] until `normalize`.

Pseudo anomalies are made in two steps: a *plan* per image (`cutmix_plan`, `cp_scar_plan`: every
random draw, in the order of the one-image recipe, plus the little CPU work that fixes the geometry),
then `paste`, which applies the plans of a whole batch at once on the images' device (every patch's
pixels gathered into one tensor, colour-jittered together, scattered back): a fixed number of tensor
operations per batch instead of dozens per image (tests/augment_reference.py holds the one-image
forms the tests compare them with)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF
from torchvision.transforms.v2.functional._color import _hsv_to_rgb, _rgb_to_hsv

from dra.errors import DraError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
JITTER_OPS = ("brightness", "contrast", "saturation", "hue")


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
    """Rotate each image about its centre, nearest neighbour, zero (black) fill, same size.

    Always in x's own precision: under bf16 autocast, affine_grid's matrix product would otherwise
    run in bf16 and put a third of a 448 px image's pixels in the wrong place."""
    with torch.autocast(x.device.type, enabled=False):
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


# --- colour jitter ------------------------------------------------------------------------------

def jitter_plan(gen: torch.Generator, brightness=0.1, contrast=0.1, saturation=0.1, hue=0.1) -> list[tuple[str, float]]:
    """torchvision's ColorJitter draws, taken from `gen`: factors uniform in [1-b, 1+b] (hue: a shift
    uniform in [-h, h]) for the enabled operations, then their random order. -> [(operation, factor)]
    in the order they apply."""
    if not 0 <= hue <= 0.5:
        raise DraError(f"jitter hue {hue}: expected a value in [0, 0.5] (a fraction of a turn)")
    ops = []
    if brightness:
        ops.append(("brightness", uniform(gen, 1 - brightness, 1 + brightness)))
    if contrast:
        ops.append(("contrast", uniform(gen, 1 - contrast, 1 + contrast)))
    if saturation:
        ops.append(("saturation", uniform(gen, 1 - saturation, 1 + saturation)))
    if hue:
        ops.append(("hue", uniform(gen, -hue, hue)))
    return [ops[i] for i in torch.randperm(len(ops), generator=gen).tolist()]


def gray(rgb: torch.Tensor) -> torch.Tensor:
    """T x 3 -> T luma: torchvision's rgb_to_grayscale on the pixels viewed as one 3 x T x 1 image."""
    return TF.rgb_to_grayscale(rgb.T.unsqueeze(-1))[0, :, 0]


def shift_hue(rgb: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """T x 3 in [0, 1] -> the same with pixel t's hue turned by shift[t] (a fraction of a turn):
    adjust_hue's own RGB <-> HSV kernels, which take one hue factor per call where this needs one
    per patch (private helpers of the pinned torchvision; tests/test_augment.py compares with it)."""
    h, s, v = _rgb_to_hsv(rgb.T.unsqueeze(-1)).unbind(0)  # each T x 1
    h = h.add(shift.unsqueeze(-1)).remainder_(1.0)
    return _hsv_to_rgb(torch.stack((h, s, v))).squeeze(-1).T


def jitter_pixels(pixels: torch.Tensor, seg: torch.Tensor, sizes: Sequence[int],
                  orders: Sequence[Sequence[tuple[str, float]]]) -> torch.Tensor:
    """Colour jitter of many patches at once. pixels: T x 3 in [0, 1], the pixels of patches
    0..m-1 one after another (pixel t belongs to patch seg[t]; patch k has sizes[k] pixels);
    orders[k]: patch k's [(operation, factor)] in the order they apply (`jitter_plan`). Each patch
    gets torchvision's ColorJitter operations with its own factors in its own order: brightness
    x*f, contrast and saturation blends x*f + (1-f)*(the patch's mean luma, the pixel's luma),
    clamped to [0, 1], hue a turn in HSV."""
    steps = max((len(o) for o in orders), default=0)
    if steps == 0:
        return pixels
    m, dev = len(orders), pixels.device
    # per step and patch: blend factor f, 1 - f, weight of the pixel's luma, of the patch's mean luma,
    # hue shift, whether the step is the hue turn (a patch without an operation at a step keeps it)
    table = np.zeros((steps, m, 6))
    table[:, :, 0] = 1.0
    for k, order in enumerate(orders):
        for j, (op, f) in enumerate(order):
            if op == "hue":
                table[j, k, 4:] = f, 1.0
            else:
                table[j, k, :4] = f, 1.0 - f, op == "saturation", op == "contrast"
    # every step's per-pixel parameters in one transfer and one gather; 1 - f in double, then cast, as
    # torchvision's alpha
    per_pixel = torch.from_numpy(table).to(dev, pixels.dtype)[:, seg].unbind(-1)  # 6 x (steps x T)
    need_mean, need_hue = table[..., 3].any(1), table[..., 5].any(1)
    mean_luma = patch_means(seg, sizes) if need_mean.any() else None
    x = pixels
    for j in range(steps):
        f, a, w_gray, w_mean, hue, is_hue = (v[j] for v in per_pixel)
        luma = gray(x)
        target = luma * w_gray
        if need_mean[j]:
            target = target + mean_luma(luma)[seg] * w_mean
        # x f + target (1 - f) with one rounding, as torchvision's add_(alpha=) computes it
        x = torch.addcmul(x * f.unsqueeze(-1), target.unsqueeze(-1), a.unsqueeze(-1)).clamp_(0.0, 1.0)
        if need_hue[j]:
            x = torch.where(is_hue.unsqueeze(-1) > 0, shift_hue(x, hue), x)
    return x


def patch_means(seg: torch.Tensor, sizes: Sequence[int], one_by_one: bool | None = None):
    """-> a function: per-pixel values (T, patches one after another) -> each patch's mean (m). On a
    CPU (one_by_one) each patch is summed on its own, as torch.mean sums it (torchvision's numbers
    exactly); elsewhere in one padded sum (a fixed number of kernels, whatever the number of patches)."""
    sizes = list(sizes)
    counts = torch.tensor(sizes, dtype=torch.float32).to(seg.device)
    if one_by_one is None:
        one_by_one = seg.device.type == "cpu"
    if one_by_one:
        return lambda v: torch.stack([part.sum() for part in v.split(sizes)]) / counts.to(v.dtype)
    starts = torch.tensor(np.cumsum([0] + sizes[:-1]), device=seg.device)
    pos = torch.arange(len(seg), device=seg.device) - starts[seg]

    def means(v: torch.Tensor) -> torch.Tensor:
        padded = v.new_zeros(len(sizes), max(sizes))
        padded[seg, pos] = v
        return padded.sum(1) / counts.to(v.dtype)
    return means


# --- pseudo anomalies ---------------------------------------------------------------------------

@dataclass
class Paste:
    """One planned pseudo anomaly on one image: the source patch (sy, sx, ph, pw), its colour jitter
    (`jitter_plan`), and where it goes: the rh x rw rectangle at (ty, tx); `where` maps each of its
    pixels to the flat index of the patch pixel it takes (-1: the image keeps its own), None for the
    patch as it is (rh, rw = ph, pw)."""
    sy: int
    sx: int
    ph: int
    pw: int
    jitter: list
    ty: int
    tx: int
    rh: int
    rw: int
    where: np.ndarray | None = None

    def target(self) -> np.ndarray:
        """rh x rw: the patch pixel (flat index) each pasted pixel takes, -1 where the image keeps its own."""
        if self.where is None:
            return np.arange(self.ph * self.pw).reshape(self.ph, self.pw)
        return self.where


def cutmix_box(gen: torch.Generator, h: int, w: int, area=(0.02, 0.15), aspect=(0.3, 1 / 0.3)):
    """(ph, pw): patch area U(area) of the image, aspect exp(U(ln lo, ln hi)), within the image."""
    a = uniform(gen, *area) * h * w
    r = math.exp(uniform(gen, math.log(aspect[0]), math.log(aspect[1])))
    ph = int(round(math.sqrt(a * r)))
    pw = int(round(math.sqrt(a / r)))
    return max(1, min(ph, h - 1)), max(1, min(pw, w - 1))


def cutmix_plan(gen: torch.Generator, h: int, w: int, area=(0.02, 0.15), aspect=(0.3, 1 / 0.3),
                jitter: dict | None = None) -> Paste:
    """Same-image cut-paste (the paper's "CutMix"): a patch from a uniform random place,
    colour-jittered, pasted at an independent uniform random place."""
    ph, pw = cutmix_box(gen, h, w, area, aspect)
    sy, sx = randint(gen, h - ph + 1), randint(gen, w - pw + 1)
    order = jitter_plan(gen, **(jitter or {}))
    ty, tx = randint(gen, h - ph + 1), randint(gen, w - pw + 1)
    return Paste(sy, sx, ph, pw, order, ty, tx, ph, pw)


def cp_scar_plan(gen: torch.Generator, h: int, w: int, width=(2, 16), length=(10, 25), rotation=(-45, 45),
                 jitter: dict | None = None) -> Paste:
    """CutPaste-Scar: a thin patch (width x length px), colour-jittered, rotated (nearest, the
    bounding box grows to hold it, cut to the image), pasted elsewhere. The rotation is done here, on
    the patch's pixel numbers (torchvision's rotate, as on the patch itself), so the paste is a lookup."""
    pw = min(int(uniform(gen, width[0], width[1] + 1)), w - 1)
    ph = min(int(uniform(gen, length[0], length[1] + 1)), h - 1)
    sy, sx = randint(gen, h - ph + 1), randint(gen, w - pw + 1)
    order = jitter_plan(gen, **(jitter or {}))
    angle = uniform(gen, *rotation)
    number = torch.arange(1, ph * pw + 1, dtype=torch.float32).view(1, ph, pw)  # 0: outside the patch
    turned = TF.rotate(number, angle, interpolation=TF.InterpolationMode.NEAREST, expand=True)[0]
    rh, rw = min(turned.shape[0], h), min(turned.shape[1], w)
    where = turned[:rh, :rw].round().long().numpy() - 1
    ty, tx = randint(gen, h - rh + 1), randint(gen, w - rw + 1)
    return Paste(sy, sx, ph, pw, order, ty, tx, rh, rw, where)


def pseudo_plan(kind: str, gen: torch.Generator, h: int, w: int, params: dict) -> Paste:
    """One pseudo anomaly's plan for an h x w image, by the configured in-image source."""
    jitter = params.get("jitter")
    if kind == "cpmix":
        kind = "cutmix" if uniform(gen, 0, 1) < 0.5 else "cpscar"
    if kind == "cutmix":
        return cutmix_plan(gen, h, w, tuple(params["cutmix_area"]), tuple(params["cutmix_aspect"]), jitter)
    if kind == "cpscar":
        return cp_scar_plan(gen, h, w, tuple(params["scar_width"]), tuple(params["scar_length"]),
                            tuple(params["scar_rotation"]), jitter)
    raise DraError(f"unknown in-image pseudo-anomaly source {kind!r}; expected cutmix, cpscar or cpmix")


def paste(x: torch.Tensor, rows: Sequence[int], plans: Sequence[Paste]) -> torch.Tensor:
    """A copy of x (N x 3 x H x W, float in [0, 1]) where image rows[k] carries plans[k]'s pseudo
    anomaly (each row at most once): every source patch is taken from x, all of them are
    colour-jittered together and pasted in one scatter, on x's device."""
    out = x.clone()
    if not plans:
        return out
    if len(set(rows)) != len(rows):
        raise ValueError("paste: one plan per image")
    # index lists built on the CPU, one transfer each: every source pixel (image, y, x, its patch) and
    # every pasted pixel (image, y, x, the source pixel it takes)
    src, dst = [], []
    offset = 0
    for k, (row, p) in enumerate(zip(rows, plans)):
        n = p.ph * p.pw
        flat = np.arange(n)
        src.append(np.stack([np.full(n, row), p.sy + flat // p.pw, p.sx + flat % p.pw, np.full(n, k)]))
        target = p.target()
        ys, xs = np.nonzero(target >= 0)
        dst.append(np.stack([np.full(len(ys), row), p.ty + ys, p.tx + xs, offset + target[ys, xs]]))
        offset += n
    src_i = torch.from_numpy(np.concatenate(src, 1)).to(x.device)
    dst_i = torch.from_numpy(np.concatenate(dst, 1)).to(x.device)
    pixels = x[src_i[0], :, src_i[1], src_i[2]]  # T x 3
    pixels = jitter_pixels(pixels, src_i[3], [p.ph * p.pw for p in plans], [p.jitter for p in plans])
    out[dst_i[0], :, dst_i[1], dst_i[2]] = pixels[dst_i[3]]
    return out
