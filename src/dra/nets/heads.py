"""Scoring heads on a 512-channel feature map; each spatial head also gives its patch scores
(`map`), from which the methods build their anomaly maps. DRA's four disentangled heads (their
routing, signs and forward) are defined here once, for DRA and for AHL(DRA)."""

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


# DRA's heads, in order: seen (g_s), pseudo (g_p), composite (g_r), normality (g_n); score = g_s + g_p + g_r - g_n
SIGN = {"seen": 1.0, "pseudo": 1.0, "composite": 1.0, "normal": -1.0}


def head_targets(labels: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per head: (which queries it sees, their 0/1 targets). Labels: 0 normal, 1 seen, 2 pseudo."""
    every = torch.ones_like(labels, dtype=torch.bool)
    return {
        "normal": (every, labels == 0),
        "seen": (labels != 2, labels == 1),
        "pseudo": (labels != 1, labels == 2),
        "composite": (every, labels > 0),
    }


def head_scores(heads: nn.ModuleDict, feat: torch.Tensor, ref_mean: torch.Tensor | None, ratio: float,
                maps: bool = False, holistic_abs: bool = True) -> tuple[dict[str, torch.Tensor], torch.Tensor | None]:
    """DRA's head forward at one scale: each head's score of the queries `feat` (the composite head
    against the references' mean map), and with `maps` their patch scores combined as the image
    score combines the heads (the normality head, which pools first, adds its score everywhere).
    `holistic_abs=False`: the normality head without its abs (AHL's holistic head)."""
    scores, combined = {}, 0.0
    for name, head in heads.items():
        if name == "normal":
            s = head(feat) if holistic_abs else head.mlp(feat.mean(dim=(-2, -1))).float().squeeze(-1)
            if maps:
                combined = combined + SIGN[name] * s.view(-1, 1, 1, 1)
        else:
            m = head.map(feat, ref_mean) if name == "composite" else head.map(feat)
            s = topk_mean(m, ratio)
            if maps:
                combined = combined + SIGN[name] * m
        scores[name] = s
    return scores, (combined if maps else None)
