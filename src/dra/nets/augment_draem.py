"""DRAEM-style pseudo anomalies for AHL: a Perlin-noise mask blends an augmented texture into an image.

The recipe (AHL.md section 1, "DRAEM mask"; gap 2): Perlin gradient noise at a lattice resolution
of 2^a x 2^b cells (a, b each uniform in {0, .., scale_max}), thresholded at `threshold` to a binary
mask; a texture image (a DTD image, or a generated noise texture) altered by three colour or
geometry operations drawn at random; inside the mask the image becomes (1 - beta) * texture +
beta * image with beta uniform in [0, beta_max), outside it stays as it is.

Every random draw comes from an explicit torch.Generator (CPU), so the result is a pure function of
the generator's state. Images are float 3 x H x W in [0, 1].
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from dra.nets.augment import uniform

# a mask that comes out empty (coarse noise that never passes the threshold) is drawn again, at most
# this many times in all: a "pseudo anomaly" identical to its normal would be a mislabelled normal
MASK_TRIES = 100


def fade(t: torch.Tensor) -> torch.Tensor:
    """Perlin's quintic interpolation weight 6t^5 - 15t^4 + 10t^3."""
    return t * t * t * (t * (t * 6.0 - 15.0) + 10.0)


def perlin_noise(h: int, w: int, res: tuple[int, int], gen: torch.Generator) -> torch.Tensor:
    """h x w gradient noise on a lattice of res[0] x res[1] cells over the image (any size: the
    lattice is continuous). One random unit gradient per lattice corner; pixel (y, x) sits at lattice
    coordinate (y * res[0] / h, x * res[1] / w), so the noise is exactly 0 on lattice points. Values
    scaled by sqrt(2) into about [-1, 1]."""
    ry, rx = int(res[0]), int(res[1])
    angles = torch.rand(ry + 1, rx + 1, generator=gen, dtype=torch.float64) * (2 * math.pi)
    grad = torch.stack([torch.cos(angles), torch.sin(angles)], -1)  # (ry+1) x (rx+1) x 2
    py = torch.arange(h, dtype=torch.float64) * ry / h
    px = torch.arange(w, dtype=torch.float64) * rx / w
    iy, ix = py.floor().long(), px.floor().long()
    fy, fx = (py - iy)[:, None], (px - ix)[None, :]  # h x 1, 1 x w

    def corner(dy: int, dx: int) -> torch.Tensor:
        g = grad[(iy + dy)[:, None], (ix + dx)[None, :]]  # h x w x 2
        return g[..., 0] * (fy - dy) + g[..., 1] * (fx - dx)

    uy, ux = fade(fy), fade(fx)
    top = corner(0, 0) * (1 - ux) + corner(0, 1) * ux
    bottom = corner(1, 0) * (1 - ux) + corner(1, 1) * ux
    return (math.sqrt(2.0) * (top * (1 - uy) + bottom * uy)).float()


def perlin_mask(h: int, w: int, gen: torch.Generator, scale_max: int = 5, threshold: float = 0.5,
                tries: int = MASK_TRIES) -> tuple[torch.Tensor, tuple[int, int]]:
    """(h x w float mask of 0s and 1s, the lattice resolution (2^a, 2^b) it was drawn at): the noise
    thresholded at `threshold`; an empty mask is drawn again (scales and noise), up to `tries` draws."""
    for _ in range(max(int(tries), 1)):
        a = int(torch.randint(scale_max + 1, (1,), generator=gen))
        b = int(torch.randint(scale_max + 1, (1,), generator=gen))
        res = (2 ** a, 2 ** b)
        mask = (perlin_noise(h, w, res, gen) > threshold).float()
        if mask.any():
            break
    return mask, res


# --- texture augmentation (DRAEM's three random operations of a list) -----------------------------

def _gamma(x, gen):
    return TF.adjust_gamma(x, uniform(gen, 0.5, 2.0))


def _brightness(x, gen):  # multiply in [0.8, 1.2], add in [-30, 30] of 255
    m, a = uniform(gen, 0.8, 1.2), uniform(gen, -30.0, 30.0) / 255.0
    return (x * m + a).clamp(0.0, 1.0)


def _sharpness(x, gen):
    return TF.adjust_sharpness(x, uniform(gen, 0.0, 2.0))


def _hue_saturation(x, gen):  # hue turned by up to 50 of 255, saturation scaled by 1 +- 50/255
    x = TF.adjust_hue(x, uniform(gen, -50.0, 50.0) / 255.0 / 2.0)
    return TF.adjust_saturation(x, 1.0 + uniform(gen, -50.0, 50.0) / 255.0)


def _solarize(x, gen):  # half the time, a threshold in [32, 128] of 255
    apply, t = uniform(gen, 0.0, 1.0) < 0.5, uniform(gen, 32.0, 128.0) / 255.0
    return TF.solarize(x, t) if apply else x


def _posterize(x, gen):
    bits = int(torch.randint(1, 9, (1,), generator=gen))
    q = (x * 255.0).round().to(torch.uint8)
    return TF.posterize(q, bits).float() / 255.0


def _invert(x, gen):
    return TF.invert(x)


def _autocontrast(x, gen):
    return TF.autocontrast(x)


def _equalize(x, gen):
    q = (x * 255.0).round().to(torch.uint8)
    return TF.equalize(q).float() / 255.0


def _rotate(x, gen):
    return TF.rotate(x, uniform(gen, -45.0, 45.0), interpolation=TF.InterpolationMode.BILINEAR)


TEXTURE_OPS = (_gamma, _brightness, _sharpness, _hue_saturation, _solarize, _posterize, _invert,
               _autocontrast, _equalize, _rotate)


def augment_texture(tex: torch.Tensor, gen: torch.Generator, n_ops: int = 3) -> torch.Tensor:
    """3 x H x W in [0, 1] -> the texture after `n_ops` distinct operations of TEXTURE_OPS in a random order."""
    chosen = torch.randperm(len(TEXTURE_OPS), generator=gen)[:n_ops].tolist()
    x = tex
    for k in chosen:
        x = TEXTURE_OPS[k](x, gen).clamp(0.0, 1.0)
    return x


def synthetic_texture(h: int, w: int, gen: torch.Generator, octaves: int = 4) -> torch.Tensor:
    """A generated stand-in for a DTD image (texture_source: synthetic): per colour channel, fractal
    Perlin noise (`octaves` octaves from a random base resolution, halving amplitude), stretched to
    [0, 1]. 3 x h x w."""
    base = int(torch.randint(0, 3, (1,), generator=gen))
    channels = []
    for _ in range(3):
        acc = torch.zeros(h, w)
        for o in range(octaves):
            r = 2 ** (base + o)
            acc = acc + perlin_noise(h, w, (r, r), gen) * 0.5 ** o
        lo, hi = acc.min(), acc.max()
        channels.append((acc - lo) / (hi - lo).clamp_min(1e-6))
    return torch.stack(channels)


def fit_texture(tex: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """A texture (3 x h' x w') resized to the image's size (bilinear), as DRAEM resizes its DTD image."""
    if tex.shape[-2:] == (h, w):
        return tex
    return F.interpolate(tex[None], size=(h, w), mode="bilinear", align_corners=False)[0].clamp(0.0, 1.0)


def blend(img: torch.Tensor, tex: torch.Tensor, mask: torch.Tensor, beta: float) -> torch.Tensor:
    """img outside the mask; (1 - beta) * tex + beta * img inside it."""
    m = mask.to(img.dtype)
    return img * (1 - m) + ((1 - beta) * tex + beta * img) * m


def draem_pseudo(img: torch.Tensor, texture: torch.Tensor, gen: torch.Generator, scale_max: int = 5,
                 threshold: float = 0.5, beta_max: float = 0.8) -> tuple[torch.Tensor, torch.Tensor, float]:
    """One DRAEM pseudo anomaly from an image and a raw texture (both 3 x H x W in [0, 1]; the texture
    is resized to the image). Draw order: texture operations, mask, beta. Returns (image, mask, beta)."""
    h, w = img.shape[-2:]
    tex = augment_texture(fit_texture(texture.to(img.dtype), h, w).cpu(), gen).to(img.device)
    mask, _ = perlin_mask(h, w, gen, scale_max, threshold)
    beta = uniform(gen, 0.0, beta_max)
    return blend(img, tex, mask.to(img.device), beta), mask, beta
