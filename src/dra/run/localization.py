"""Anomaly maps -> pixel metrics: a method's maps (N x H x W at the input's resolution), optionally
smoothed with a Gaussian (config `localization.sigma`, in input pixels; torchvision's blur), are
compared with the ground-truth masks at `localization.size` (maps resized bilinearly, masks so that
a pixel is defect where any part of its area is: a thin defect survives downsampling). Pixel AUROC
and AUPRO over every pixel of the test images (normals count as defect-free), dra.pixel_metrics."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torchvision.transforms.v2 import functional as TF

from dra.plan.config import LOCALIZATION as DEFAULT
from dra.pixel_metrics import aupro, pixel_auroc


def smooth(maps: torch.Tensor, sigma: float) -> torch.Tensor:
    """N x H x W -> the same, blurred by a Gaussian of `sigma` pixels (kernel 2 * ceil(4 sigma) + 1)."""
    if not sigma:
        return maps
    k = min(2 * int(np.ceil(4 * sigma)) + 1, 2 * min(maps.shape[-2:]) - 1)  # reflect padding stays inside
    return TF.gaussian_blur(maps[:, None].float(), kernel_size=[k, k], sigma=[sigma, sigma])[:, 0]


def metric_size(image_size: int, size: int) -> int:
    return min(int(size), int(image_size))


def for_metrics(maps: torch.Tensor, sigma: float, size: int) -> np.ndarray:
    """A batch of maps as the metrics see it: smoothed, resized to size x size, float32 on the CPU."""
    m = smooth(maps, sigma)
    if m.shape[-1] != size or m.shape[-2] != size:
        m = F.interpolate(m[:, None], size=(size, size), mode="bilinear", align_corners=False)[:, 0]
    return m.float().cpu().numpy()


def masks_at(masks: np.ndarray, size: int) -> np.ndarray:
    """N x S x S bool -> N x size x size bool: defect where any part of the pixel's area is."""
    if masks.shape[-1] == size:
        return masks
    t = torch.from_numpy(masks[:, None].astype(np.float32))
    return (F.adaptive_max_pool2d(t, (size, size))[:, 0] > 0).numpy()


def pixel_metrics(maps: np.ndarray, masks: np.ndarray) -> dict:
    return {"pixel_auroc": pixel_auroc(maps, masks), "aupro": aupro(maps, masks)}
