"""DevNet: DRA's seen head alone (top-K over two scales), deviation loss, half-normal half-anomaly
batches, no pseudo anomalies (PROTOCOL section 4)."""

from __future__ import annotations

from dra.nets.losses import head_loss
from dra.methods.balanced import ScaleAveraged
from dra.nets.backbone import ResNet18Trunk
from dra.nets.heads import TopKHead
from dra.plan.params import DEVNET_SCHEDULE, LOSSES, TOPK, Param

# DRA's seen head alone; the schedule of the authors' DevNet code (50 epochs, StepLR at epoch end).
PARAMS = {
    **DEVNET_SCHEDULE, **LOSSES, **TOPK,
    "batch_normal": Param("int", 24, "training normals per step", min=1),
    "batch_anomaly": Param("int", 24, "labeled anomalies per step", min=0),
}


class DevNet(ScaleAveraged):

    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        self.trunk = ResNet18Trunk(data.pretrained.get("resnet18"))
        self.head = TopKHead(self.trunk.out_channels, params["topk_ratio"])

    def batch_loss(self, batch):
        x, labels = batch
        return head_loss(self.params["loss"], self.forward(x), labels, self.gen, self.params)


METHOD = DevNet
