"""DevNet: DRA's seen head alone (top-K over two scales), deviation loss, half-normal half-anomaly
batches, no pseudo anomalies (PROTOCOL section 4)."""

from __future__ import annotations

import torch

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
        scores = [self.head(self.trunk(level)) for level in pyramid(x, self.params["scales"])]
        return torch.stack(scores).mean(0).float()  # float32 under autocast too

    def make_batch(self, data):
        p = self.params
        x, labels = self.labeled_batch(data, p["batch_normal"], p["batch_anomaly"])
        return self.augment(x), labels

    def batch_loss(self, batch):
        x, labels = batch
        return head_loss(self.params["loss"], self.forward(x), labels, self.gen, self.params)

    def images_per_step(self, data) -> int:
        return self.labeled_count(data, self.params["batch_normal"], self.params["batch_anomaly"])

    def score(self, images, data):
        return {"score": self.forward(self.test_view(images))}


METHOD = DevNet
