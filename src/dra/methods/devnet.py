"""DevNet: DRA's seen head alone (top-K over two scales), deviation loss, half-normal half-anomaly
batches, no pseudo anomalies (PROTOCOL section 4)."""

from __future__ import annotations

import torch

from dra.augment import to_float
from dra.losses import head_loss
from dra.methods.base import Method
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.nets.heads import TopKHead


class DevNet(Method):
    PARAMS = ("batch_normal", "batch_anomaly", "loss", "topk_ratio", "scales", "rotation", "test_batch")

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        self.trunk = ResNet18Trunk(weights)
        self.head = TopKHead(self.trunk.out_channels, params["topk_ratio"])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.stack([self.head(self.trunk(level)) for level in pyramid(x, self.params["scales"])]).mean(0)

    def loss(self, data):
        p = self.params
        parts = [to_float(self.draw(data.normal, p["batch_normal"]))]
        labels = [torch.zeros(p["batch_normal"])]
        if data.anomaly is not None:
            parts.append(to_float(self.draw(data.anomaly, p["batch_anomaly"])))
            labels.append(torch.ones(p["batch_anomaly"]))
        x = self.augment(torch.cat(parts))
        return head_loss(p["loss"], self.forward(x), torch.cat(labels).to(x.device), self.gen, p)

    def images_per_step(self) -> int:
        return self.params["batch_normal"] + self.params["batch_anomaly"]

    def score(self, images, data):
        return {"score": self.forward(self.test_view(images))}


METHOD = DevNet
