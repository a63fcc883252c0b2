"""DevNet: DRA's seen head alone (top-K over two scales), deviation loss, half-normal half-anomaly
batches, no pseudo anomalies (PROTOCOL section 4)."""

from __future__ import annotations

from dra.losses import head_loss
from dra.methods.balanced import ScaleAveraged
from dra.nets.backbone import ResNet18Trunk
from dra.nets.heads import TopKHead
from dra.params import Param

# DRA's seen head alone; the schedule of the authors' DevNet code (50 epochs, StepLR at epoch end).
WEIGHTS = ("resnet18",)  # the pretrained start (config `weights`)
PARAMS = {
    "epochs": 50, "iterations": 20, "lr": 2.0e-4, "weight_decay": 1.0e-5, "lr_step": 10, "lr_gamma": 0.1,
    "scheduler_at": "end", "grad_clip": 1.0, "rotation": 180.0, "test_batch": 48,
    "batch_normal": Param("int", 24, "training normals per step", min=1),
    "batch_anomaly": Param("int", 24, "labeled anomalies per step", min=0),
    "loss": Param("str", "deviation", "the head's loss", choices=("deviation", "bce", "focal")),
    "dev_samples": Param("int", 5000, "the deviation loss's reference draws from N(0, 1)", min=2),
    "dev_margin": Param("float", 5.0, "the deviation loss's margin", min=0, above=True),
    "focal_alpha": Param("float", 1.0, "binary focal loss alpha", min=0),
    "focal_gamma": Param("float", 2.0, "binary focal loss gamma", min=0),
    "topk_ratio": Param("float", 0.1, "share of a map's positions in the top-K mean", min=0, max=1, above=True),
    "scales": Param("int", 2, "pyramid scales (input, then halved)", min=1, max=4),
}


class DevNet(ScaleAveraged):

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        self.trunk = ResNet18Trunk(weights)
        self.head = TopKHead(self.trunk.out_channels, params["topk_ratio"])

    def batch_loss(self, batch):
        x, labels = batch
        return head_loss(self.params["loss"], self.forward(x), labels, self.gen, self.params)


METHOD = DevNet
