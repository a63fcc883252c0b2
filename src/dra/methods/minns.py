"""MINNS (mi-Net style multiple-instance learning, PROTOCOL section 4): every position of the
512-channel map is an instance scored by a 1x1 conv stack 512-256-128-64-1 (ReLU, dropout 0.5); the
image (bag) score is the max over positions, averaged over the two scales; binary cross entropy on
it as a logit. Balanced batches and DevNet's schedule."""

from __future__ import annotations

import torch
from torch import nn

from dra.nets.losses import bce_loss
from dra.methods.balanced import ScaleAveraged
from dra.errors import DraError
from dra.nets.backbone import ResNet18Trunk
from dra.plan.params import DEVNET_SCHEDULE, Param


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
        return self.map(feat).flatten(1).max(dim=1).values

    def map(self, feat: torch.Tensor) -> torch.Tensor:
        """Each position's logit: N x 1 x h x w (float32, also under bf16 autocast)."""
        return self.stack(feat).float()


# DevNet's schedule and balanced batches
PARAMS = {
    **DEVNET_SCHEDULE,
    "batch_normal": Param("int", 24, "training normals per step", min=1),
    "batch_anomaly": Param("int", 24, "labeled anomalies per step", min=0),
    "widths": Param("list", [512, 256, 128, 64], "1x1 conv stack from the trunk's 512 channels (ReLU, dropout), "
                    "then a 1x1 conv to one score per position", items="int", min_length=1, min=1),
    "dropout": Param("float", 0.5, "dropout after each conv of the stack", min=0, max=1),
    "scales": Param("int", 2, "decision: the max-pooled score averaged over DevNet's two scales", min=1, max=4),
}


class MINNS(ScaleAveraged):
    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        self.trunk = ResNet18Trunk(data.pretrained.get("resnet18"))
        if params["widths"][0] != self.trunk.out_channels:
            raise DraError(f"minns widths {params['widths']}: expected the first to be {self.trunk.out_channels}, "
                           "the trunk's channels")
        self.head = InstanceHead(tuple(params["widths"]), params["dropout"])

    def batch_loss(self, batch):
        x, labels = batch
        return bce_loss(self.forward(x), labels)


METHOD = MINNS
