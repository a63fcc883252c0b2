"""SAOE (PROTOCOL section 4): the plain top-K feature learning with a 3-logit head (normal, seen,
pseudo) and cross entropy, with CutMix pseudo anomalies in the batch (that much is DRA's
non-disentangled mode, whose batch, pseudo-anomaly and forward code it reuses), plus outlier
exposure: oe_weight (0.5) x cross entropy between the softmax of external outliers' logits and the
uniform distribution. Score 1 - p(normal). DRA's schedule."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dra.nets.augment import to_float
from dra.nets.losses import outlier_exposure_loss
from dra.methods.base import Method, external_pool
from dra.methods.dra import DRA
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.nets.heads import TopKClassifier, upsampled_mean
from dra.plan.params import DRA_SCHEDULE, PASTE, TOPK, Param

# DRA's schedule and batch; in-image CutMix pseudo anomalies; external outliers.
PARAMS = {
    **DRA_SCHEDULE, **TOPK, **PASTE,
    "batch_normal": Param("int", 32, "slots drawn from the normals; each becomes a pseudo anomaly w.p. pseudo_prob",
                          min=1),
    "batch_anomaly": Param("int", 16, "slots drawn from the labeled anomalies", min=0),
    "batch_outlier": Param("int", 16, "external outliers per step (decision: the paper gives none; as many as "
                           "seen anomalies)", min=1),
    "pseudo_prob": Param("float", 0.5, "probability that a normal slot becomes a pseudo anomaly", min=0, max=1),
    "pseudo": Param("str", "cutmix", "in-image pseudo-anomaly source", choices=("cutmix", "cpscar", "cpmix")),
    "outliers": Param("str", "auto", "outlier source; auto: the dataset's outlier_source",
                      choices=("auto", "mvtecad", "lag")),
    "oe_weight": Param("float", 0.5, "weight of the outlier-exposure term", min=0),
}


class SAOE(DRA):

    def __init__(self, params, data, gen):
        # DRA's non-disentangled network without its head/reference options: built here, not by DRA.__init__.
        Method.__init__(self, params, data, gen)
        self.trunk = ResNet18Trunk(data.pretrained.get("resnet18"))
        self.classifier = TopKClassifier(self.trunk.out_channels, 3, params["topk_ratio"])
        self.nondis, self.fixed_ref, self.external = True, None, False
        external_pool(data, f"outliers ({params['outliers']})")

    def setup(self, data):
        pass  # no references

    def make_batch(self, data):
        x, _, labels = super().make_batch(data)
        outliers = self.augment(to_float(self.draw(external_pool(data, "outliers"), self.params["batch_outlier"])))
        return torch.cat([x, outliers]), labels

    def batch_loss(self, batch):
        x, labels = batch  # the labeled queries first, then the outliers
        logits = self.forward(x, None)["logits"]
        n = labels.shape[0]
        return F.cross_entropy(logits[:n], labels) + self.params["oe_weight"] * outlier_exposure_loss(logits[n:])

    def score(self, images, data, maps=False):
        x = self.test_view(images)
        feats = [self.trunk(level) for level in pyramid(x, self.params["scales"])]
        logits = torch.stack([self.classifier(f) for f in feats]).mean(0).float()
        out = {"score": 1.0 - logits.softmax(-1)[:, 0]}
        if maps:
            out["map"] = upsampled_mean([self.classifier.map(f) for f in feats], x.shape[-2:])
        return out

    def images_per_step(self, data) -> int:
        p = self.params
        return self.labeled_count(data, p["batch_normal"], p["batch_anomaly"]) + p["batch_outlier"]


METHOD = SAOE
