"""What DevNet, FLOS, MINNS, DeepSAD and MLEP share: training on the balanced sampler's batches, and
(DevNet, FLOS, MINNS) an image score that is a head's score averaged over the input's scales.

A module of its own so that an edit here reruns exactly these methods' runs, not DRA's."""

from __future__ import annotations

import torch

from dra.methods.base import Method
from dra.nets.backbone import pyramid
from dra.nets.heads import upsampled_mean


class BalancedMethod(Method):
    """Each step: `batch_normal` training normals (label 0) and `batch_anomaly` labeled anomalies
    (label 1), rotated and normalised. The network and its loss are the subclass's `batch_loss`."""

    def make_batch(self, data):
        p = self.params
        x, labels = self.labeled_batch(data, p["batch_normal"], p["batch_anomaly"])
        return self.augment(x), labels

    def images_per_step(self, data) -> int:
        return self.labeled_count(data, self.params["batch_normal"], self.params["batch_anomaly"])


class ScaleAveraged(BalancedMethod):
    """Score = `self.head(self.trunk(level))` averaged over the `scales` levels of the input pyramid;
    the subclass builds `trunk` and `head` (one score per image; `head.map`: the patch scores it
    pools, from which the anomaly map is made) and defines the loss on it."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        scores = [self.head(self.trunk(level)) for level in pyramid(x, self.params["scales"])]
        return torch.stack(scores).mean(0).float()  # float32 under autocast too

    def score(self, images, data, maps=False):
        x = self.test_view(images)
        feats = [self.trunk(level) for level in pyramid(x, self.params["scales"])]
        out = {"score": torch.stack([self.head(f) for f in feats]).mean(0).float()}
        if maps:
            out["map"] = upsampled_mean([self.head.map(f) for f in feats], x.shape[-2:])
        return out
