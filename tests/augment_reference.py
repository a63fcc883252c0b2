"""One-image reference forms of the batched augmentations in dra.nets.augment, used only to test
that the batched code computes exactly what the one-image recipe does."""

from __future__ import annotations

import torch
from torchvision.transforms.v2 import functional as TF

from dra.nets.augment import cp_scar_plan, cutmix_plan, jitter_plan, paste

TORCHVISION_JITTER = {"brightness": TF.adjust_brightness, "contrast": TF.adjust_contrast,
                      "saturation": TF.adjust_saturation, "hue": TF.adjust_hue}


def color_jitter(patch: torch.Tensor, gen: torch.Generator, brightness=0.1, contrast=0.1, saturation=0.1,
                 hue=0.1) -> torch.Tensor:
    """torchvision's ColorJitter on one 3 x h x w patch (its own functions, in the drawn order), with
    the draws taken from `gen`: what `augment.jitter_pixels` computes for many patches at once."""
    for op, f in jitter_plan(gen, brightness, contrast, saturation, hue):
        patch = TORCHVISION_JITTER[op](patch, f)
    return patch


def cutmix(img: torch.Tensor, gen: torch.Generator, area=(0.02, 0.15), aspect=(0.3, 1 / 0.3),
           jitter: dict | None = None):
    """One image (3 x H x W): `cutmix_plan` applied. Returns (image, paste box (ty, tx, ph, pw))."""
    _, h, w = img.shape
    p = cutmix_plan(gen, h, w, area, aspect, jitter)
    return paste(img[None], [0], [p])[0], (p.ty, p.tx, p.ph, p.pw)


def cp_scar(img: torch.Tensor, gen: torch.Generator, width=(2, 16), length=(10, 25), rotation=(-45, 45),
            jitter: dict | None = None):
    """One image (3 x H x W): `cp_scar_plan` applied. Returns (image, (ty, tx, mask)) where mask
    (1 x rh x rw) marks the pasted pixels."""
    _, h, w = img.shape
    p = cp_scar_plan(gen, h, w, width, length, rotation, jitter)
    return paste(img[None], [0], [p])[0], (p.ty, p.tx, torch.from_numpy(p.where >= 0)[None])
