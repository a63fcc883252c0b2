"""MLEP adapted to images (PROTOCOL section 4; the paper's adaptation is not public, so this is a
recorded design): a ResNet-18 encoder and a light decoder reconstructing the (normalised) input.
Loss: L1 reconstruction of the normals + triplet_weight (1.0) x triplet margin loss (margin 1.0) on
the globally pooled encoder features, with (normal, normal, labeled anomaly) triplets: the batch's
normals split into anchors and positives, the labeled anomalies are the negatives. Score: the mean
absolute reconstruction error of the image. DRA's schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from dra.methods.balanced import BalancedMethod
from dra.errors import DraError
from dra.nets.backbone import ResNet18Trunk
from dra.plan.params import DRA_SCHEDULE, Param

# decision (the adaptation is not public): DRA's schedule; 16 anchors + 16 positives, all reconstructed
PARAMS = {
    **DRA_SCHEDULE,
    "batch_normal": Param("int", 32, "normals per step: half anchors, half positives (even)", min=2),
    "batch_anomaly": Param("int", 16, "labeled anomalies per step: the triplets' negatives", min=0),
    "decoder_channels": Param("list", [512, 256, 128, 64, 32, 16], "five x2 upsampling stages, then a 3x3 conv "
                              "to RGB", items="int", length=6, min=1),
    "triplet_weight": Param("float", 1.0, "weight of the triplet term", min=0),
    "triplet_margin": Param("float", 1.0, "triplet margin", min=0),
}


class Decoder(nn.Module):
    """512 x S/32 -> 3 x S: five (nearest x2 upsampling, 3x3 conv, batch norm, ReLU) stages, then a
    3x3 conv to three channels."""

    def __init__(self, channels=(512, 256, 128, 64, 32, 16)):
        super().__init__()
        layers = []
        for a, b in zip(channels[:-1], channels[1:]):
            layers += [nn.Upsample(scale_factor=2, mode="nearest"), nn.Conv2d(a, b, 3, padding=1, bias=False),
                       nn.BatchNorm2d(b), nn.ReLU(inplace=True)]
        layers.append(nn.Conv2d(channels[-1], 3, 3, padding=1))
        self.body = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.body(z)


class MLEP(BalancedMethod):
    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        if params["batch_normal"] % 2:
            raise DraError(f"mlep batch_normal {params['batch_normal']}: expected an even number (anchors + positives)")
        self.trunk = ResNet18Trunk(data.pretrained.get("resnet18"))
        self.decoder = Decoder(tuple(params["decoder_channels"]))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """-> (reconstruction of x, pooled encoder features)."""
        z = self.trunk(x)
        recon = self.decoder(z)
        if recon.shape[-2:] != x.shape[-2:]:  # sizes not divisible by 32
            recon = F.interpolate(recon, size=x.shape[-2:], mode="bilinear", align_corners=False)
        return recon.float(), z.mean(dim=(-2, -1)).float()  # float32 under autocast too

    def batch_loss(self, batch):
        p = self.params
        x, labels = batch
        recon, feat = self.forward(x)
        normal = labels == 0
        loss = (recon[normal] - x[normal]).abs().mean()
        negatives = feat[~normal]
        if len(negatives):
            half = p["batch_normal"] // 2
            n = min(half, len(negatives))
            anchor, positive = feat[:half][:n], feat[half:p["batch_normal"]][:n]
            loss = loss + p["triplet_weight"] * F.triplet_margin_loss(anchor, positive, negatives[:n],
                                                                      margin=p["triplet_margin"])
        return loss

    def score(self, images, data, maps=False):
        x = self.test_view(images)
        recon, _ = self.forward(x)
        error = (recon - x).abs().mean(dim=1)  # per pixel, over the channels
        out = {"score": error.mean(dim=(1, 2))}
        if maps:
            out["map"] = error
        return out


METHOD = MLEP
