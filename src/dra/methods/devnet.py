"""DevNet: DRA's seen head alone (top-K over two scales), deviation loss, half-normal half-anomaly
batches, no pseudo anomalies (PROTOCOL section 4)."""

from __future__ import annotations

from dra.losses import head_loss
from dra.methods.balanced import ScaleAveraged
from dra.nets.backbone import ResNet18Trunk
from dra.nets.heads import TopKHead


class DevNet(ScaleAveraged):
    PARAMS = ("batch_normal", "batch_anomaly", "loss", "topk_ratio", "scales", "rotation", "test_batch")

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        self.trunk = ResNet18Trunk(weights)
        self.head = TopKHead(self.trunk.out_channels, params["topk_ratio"])

    def batch_loss(self, batch):
        x, labels = batch
        return head_loss(self.params["loss"], self.forward(x), labels, self.gen, self.params)


METHOD = DevNet
