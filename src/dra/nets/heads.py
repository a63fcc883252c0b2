"""Scoring heads on a 512-channel feature map; each spatial head also gives its patch scores
(`map`), from which the methods build their anomaly maps."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def upsampled_mean(maps: list[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
    """Patch-score maps of the pyramid's scales (each N x 1 x h x w) -> N x H x W: each upsampled to
    the input's size (bilinear, torch's interpolation) and averaged, as the image score averages
    the scales."""
    up = [F.interpolate(m.float(), size=size, mode="bilinear", align_corners=False) for m in maps]
    return torch.stack(up).mean(0)[:, 0]


def topk_count(h: int, w: int, ratio: float = 0.1) -> int:
    return max(int(ratio * h * w), 1)


def topk_mean(maps: torch.Tensor, ratio: float = 0.1) -> torch.Tensor:
    """maps: N x 1 x h x w (or N x C x h x w, per channel) -> mean of the top-K positions."""
    n, c, h, w = maps.shape
    k = topk_count(h, w, ratio)
    maps = maps.float()  # the score in float32, also under bf16 autocast (no ties from rounding)
    return maps.reshape(n, c, h * w).topk(k, dim=-1).values.mean(-1).squeeze(1)


class TopKHead(nn.Module):
    """1x1 conv to one channel, absolute value, top-K mean: the seen/pseudo (and DevNet) head."""

    def __init__(self, channels: int = 512, ratio: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(channels, 1, kernel_size=1)
        self.ratio = ratio

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return topk_mean(self.map(feat), self.ratio)

    def map(self, feat: torch.Tensor) -> torch.Tensor:
        """The patch scores the top-K mean pools: N x 1 x h x w (float32)."""
        return self.conv(feat).float().abs()


class CompositeHead(nn.Module):
    """Latent residual head: (mean reference map - query map) -> 3x3 conv + BN + ReLU -> top-K head."""

    def __init__(self, channels: int = 512, ratio: float = 0.1):
        super().__init__()
        self.block = nn.Sequential(nn.Conv2d(channels, channels, 3, padding=1), nn.BatchNorm2d(channels),
                                   nn.ReLU(inplace=True))
        self.score = TopKHead(channels, ratio)

    def forward(self, feat: torch.Tensor, ref_mean: torch.Tensor) -> torch.Tensor:
        return self.score(self.block(ref_mean.unsqueeze(0) - feat))

    def map(self, feat: torch.Tensor, ref_mean: torch.Tensor) -> torch.Tensor:
        return self.score.map(self.block(ref_mean.unsqueeze(0) - feat))


class NormalityHead(nn.Module):
    """Global average pool, 512 -> 256 -> 1 MLP, absolute value."""

    def __init__(self, channels: int = 512, hidden: int = 256):
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(channels, hidden), nn.ReLU(inplace=True), nn.Linear(hidden, 1))

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.mlp(feat.mean(dim=(-2, -1))).float().abs().squeeze(-1)


class TopKClassifier(nn.Module):
    """Plain top-K feature learning with C logits (the non-disentangled head and SAOE):
    a 1x1 conv to C channels, each channel's top-K mean is that class's logit."""

    def __init__(self, channels: int = 512, classes: int = 3, ratio: float = 0.1):
        super().__init__()
        self.conv = nn.Conv2d(channels, classes, kernel_size=1)
        self.ratio = ratio

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        n, c, h, w = feat.shape
        logits = self.conv(feat).float()  # float32, also under bf16 autocast
        k = topk_count(h, w, self.ratio)
        return logits.reshape(n, -1, h * w).topk(k, dim=-1).values.mean(-1)

    def map(self, feat: torch.Tensor) -> torch.Tensor:
        """Per position, 1 - p(class 0 = normal) of the position's logits: N x 1 x h x w."""
        return 1.0 - self.conv(feat).float().softmax(1)[:, :1]
