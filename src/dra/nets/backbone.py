"""ResNet-18 trunk up to layer4 (512 channels, stride 32) and the two-scale feature pyramid."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import resnet18


class ResNet18Trunk(nn.Module):
    out_channels = 512

    def __init__(self, state: dict | None = None):
        """`state`: torchvision's ResNet-18 state_dict to start from (None: its random initialisation)."""
        super().__init__()
        net = resnet18()
        if state is not None:
            net.load_state_dict(state)
        self.body = nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2,
                                  net.layer3, net.layer4)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def pyramid(x: torch.Tensor, scales: int = 2) -> list[torch.Tensor]:
    """Scale 0 is the (normalised) input; scale s is it downsampled by 2**s, nearest."""
    out = [x]
    for s in range(1, scales):
        size = (x.shape[-2] // 2**s, x.shape[-1] // 2**s)
        out.append(F.interpolate(x, size=size, mode="nearest"))
    return out
