"""SAOE (PROTOCOL section 4): the plain top-K feature learning with a 3-logit head (normal, seen,
pseudo) and cross entropy, with CutMix pseudo anomalies in the batch (that much is DRA's
non-disentangled mode, whose batch, pseudo-anomaly and forward code it reuses), plus outlier
exposure: oe_weight (0.5) x cross entropy between the softmax of external outliers' logits and the
uniform distribution. Score 1 - p(normal). DRA's schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dra.augment import to_float
from dra.losses import outlier_exposure_loss
from dra.methods.base import Method, require_external
from dra.methods.dra import DRA
from dra.nets.backbone import ResNet18Trunk
from dra.nets.heads import TopKClassifier


class SAOE(DRA):
    PARAMS = ("pseudo", "pseudo_prob", "outliers", "batch_normal", "batch_anomaly", "batch_outlier", "oe_weight",
              "topk_ratio", "scales", "rotation", "test_batch")

    def __init__(self, params, data, gen, weights):
        # DRA's non-disentangled network without its head/reference options: built here, not by DRA.__init__.
        Method.__init__(self, params, data, gen, weights)
        self.trunk = ResNet18Trunk(weights)
        self.classifier = TopKClassifier(self.trunk.out_channels, 3, params["topk_ratio"])
        self.nondis, self.fixed_ref = True, None
        if params["pseudo"] in ("lag", "mvtecad"):
            raise ValueError("saoe: pseudo anomalies are in-image (cutmix, cpscar, cpmix); external images are "
                             "its outliers (param outliers)")
        require_external(data, params["outliers"], "outliers")

    def setup(self, data):
        pass  # no references

    def make_batch(self, data):
        x, _, labels = super().make_batch(data)
        outliers = self.augment(to_float(self.draw(data.external, self.params["batch_outlier"])))
        return torch.cat([x, outliers]), labels

    def batch_loss(self, batch):
        x, labels = batch  # the labeled queries first, then the outliers
        logits = self.forward(x, None)["logits"]
        n = labels.shape[0]
        return F.cross_entropy(logits[:n], labels) + self.params["oe_weight"] * outlier_exposure_loss(logits[n:])

    def images_per_step(self, data) -> int:
        p = self.params
        return self.labeled_count(data, p["batch_normal"], p["batch_anomaly"]) + p["batch_outlier"]


METHOD = SAOE
