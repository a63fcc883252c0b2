"""KDAD's VGG pair: a frozen VGG16 teacher and a slimmer VGG-like student, both cut at their max pools.

Block b (1-based) ends with the b-th max pool; `forward` returns every block's max-pool output, so
a method picks the blocks it compares by number."""

from __future__ import annotations

import torch
from torch import nn

# torchvision's VGG16 ("D"): numbers are 3x3 conv widths, "M" a 2x2 max pool ending a block.
VGG16 = (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M")
# The student (recorded design, after the KDAD authors' slim "S" network): the same five blocks and
# conv count, every conv 16 wide except each block's last from block 2 on, which matches the
# teacher's width there (128, 256, 512, 512) so the compared outputs have the same shape.
STUDENT = (16, 16, "M", 16, 128, "M", 16, 16, 256, "M", 16, 16, 512, "M", 16, 16, 512, "M")


def split_blocks(layers: list[nn.Module]) -> nn.ModuleList:
    """A flat VGG layer list -> one Sequential per block, each ending with its max pool."""
    blocks, current = [], []
    for layer in layers:
        current.append(layer)
        if isinstance(layer, nn.MaxPool2d):
            blocks.append(nn.Sequential(*current))
            current = []
    if current:
        raise ValueError("a VGG layer list must end with a max pool")
    return nn.ModuleList(blocks)


def vgg_layers(cfg, batch_norm: bool, bias: bool) -> list[nn.Module]:
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
            continue
        layers.append(nn.Conv2d(c, v, kernel_size=3, padding=1, bias=bias))
        if batch_norm:
            layers.append(nn.BatchNorm2d(v))
        layers.append(nn.ReLU(inplace=True))
        c = v
    return layers


def init_vgg(layers: list[nn.Module]) -> list[nn.Module]:
    """torchvision's VGG initialisation: Kaiming-normal convs (fan out, ReLU), zero biases, unit BN."""
    for m in layers:
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return layers


class VGGBlocks(nn.Module):
    def __init__(self, blocks: nn.ModuleList):
        super().__init__()
        self.blocks = blocks

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The max-pool output of every block, block 1 first."""
        out = []
        for block in self.blocks:
            x = block(x)
            out.append(x)
        return out


def vgg16_teacher(state: dict | None = None) -> VGGBlocks:
    """torchvision's VGG16 feature stack (with bias, no batch norm; its `features.<i>` layers in the
    same order, and its initialisation for a random start), frozen, with `state` (torchvision's VGG16
    state_dict; None: a random start). The classifier is never built."""
    features = nn.Sequential(*init_vgg(vgg_layers(VGG16, batch_norm=False, bias=True)))
    if state is not None:
        features.load_state_dict({k[len("features."):]: v for k, v in state.items() if k.startswith("features.")})
    teacher = VGGBlocks(split_blocks(list(features)))
    for p in teacher.parameters():
        p.requires_grad_(False)
    return teacher.eval()


def vgg_student(cfg=STUDENT) -> VGGBlocks:
    """The student: no bias, batch norm after every conv, trained from a random start."""
    return VGGBlocks(split_blocks(init_vgg(vgg_layers(cfg, batch_norm=True, bias=False))))
