"""MINNS (mi-Net style multiple-instance learning, PROTOCOL section 4): every position of the
512-channel map is an instance scored by a 1x1 conv stack 512-256-128-64-1 (ReLU, dropout 0.5); the
image (bag) score is the max over positions, averaged over the two scales; binary cross entropy on
it as a logit. Balanced batches and DevNet's schedule."""

from __future__ import annotations

import torch
from torch import nn

from dra.losses import bce_loss
from dra.methods.balanced import ScaleAveraged
from dra.nets.backbone import ResNet18Trunk


class InstanceHead(nn.Module):
    """Per-position 1x1 conv stack -> one logit per position -> max over positions."""

    def __init__(self, widths=(512, 256, 128, 64), dropout: float = 0.5):
        super().__init__()
        layers = []
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, kernel_size=1), nn.ReLU(inplace=True), nn.Dropout(dropout)]
        layers.append(nn.Conv2d(widths[-1], 1, kernel_size=1))
        self.stack = nn.Sequential(*layers)

    def forward(self, feat: torch.Tensor) -> torch.Tensor:
        return self.stack(feat).float().flatten(1).max(dim=1).values  # float32, also under bf16 autocast


class MINNS(ScaleAveraged):
    PARAMS = ("batch_normal", "batch_anomaly", "widths", "dropout", "scales", "rotation", "test_batch")

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        self.trunk = ResNet18Trunk(weights)
        self.head = InstanceHead(tuple(params["widths"]), params["dropout"])
        if params["widths"][0] != self.trunk.out_channels:
            raise ValueError(f"minns widths {params['widths']}: the first must be {self.trunk.out_channels}")

    def batch_loss(self, batch):
        x, labels = batch
        return bce_loss(self.forward(x), labels)


METHOD = MINNS
