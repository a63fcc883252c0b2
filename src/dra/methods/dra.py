"""DRA: disentangled seen / pseudo / latent-residual abnormality heads plus a normality head.

PROTOCOL section 3; where the paper and the authors' code differ, the code's choice is the default."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dra.augment import paste, pseudo_plan, to_float, uniform
from dra.losses import head_loss
from dra.methods.base import Method, require_external
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.nets.heads import CompositeHead, NormalityHead, TopKClassifier, TopKHead

HEADS = ("seen", "pseudo", "composite", "normal")
EXTERNAL_SOURCES = ("lag", "mvtecad")  # pseudo anomalies are images of another dataset
SIGN = {"seen": 1.0, "pseudo": 1.0, "composite": 1.0, "normal": -1.0}


def head_targets(labels: torch.Tensor) -> dict[str, tuple[torch.Tensor, torch.Tensor]]:
    """Per head: (which queries it sees, their 0/1 targets). Labels: 0 normal, 1 seen, 2 pseudo."""
    every = torch.ones_like(labels, dtype=torch.bool)
    return {
        "normal": (every, labels == 0),
        "seen": (labels != 2, labels == 1),
        "pseudo": (labels != 1, labels == 2),
        "composite": (every, labels > 0),
    }


class DRA(Method):
    PARAMS = ("heads", "head_mode", "n_ref", "ref_mode", "pseudo", "pseudo_prob", "batch_normal", "batch_anomaly",
              "loss", "topk_ratio", "scales", "rotation", "test_batch")

    def __init__(self, params, data, gen, weights):
        super().__init__(params, data, gen, weights)
        unknown = set(params["heads"]) - set(HEADS)
        if unknown or not params["heads"]:
            raise ValueError(f"heads {params['heads']}: expected a non-empty subset of {HEADS}")
        self.trunk = ResNet18Trunk(weights)
        c, r = self.trunk.out_channels, params["topk_ratio"]
        self.nondis = params["head_mode"] == "nondisentangled"
        if self.nondis:
            self.classifier = TopKClassifier(c, 3, r)
        else:
            parts = {"seen": TopKHead(c, r), "pseudo": TopKHead(c, r), "composite": CompositeHead(c, r),
                     "normal": NormalityHead(c)}
            self.heads = torch.nn.ModuleDict({h: parts[h] for h in params["heads"]})
        self.fixed_ref = None
        if params["pseudo"] in EXTERNAL_SOURCES:  # fail before training, naming the missing source
            require_external(data, params["pseudo"], "pseudo")

    def setup(self, data):
        if self.params["ref_mode"] == "fixed":  # the paper's text: one fixed set of normal references
            self.fixed_ref = self.test_view(self.draw(data.normal, self.params["n_ref"]))

    def uses_references(self) -> bool:
        return not self.nondis and "composite" in self.heads

    # --- images -----------------------------------------------------------------------------
    def maybe_pseudo(self, x: torch.Tensor, data) -> tuple[torch.Tensor, torch.Tensor]:
        """Each image becomes a pseudo anomaly with probability pseudo_prob; returns (images, is_pseudo).

        The flipped images get external images drawn together, or one in-image plan each
        (`augment.pseudo_plan`) applied to all of them at once on the device."""
        flip = uniform(self.gen, 0.0, 1.0, x.shape[0]) < self.params["pseudo_prob"]
        rows = flip.nonzero().flatten().tolist()
        if self.params["pseudo"] in EXTERNAL_SOURCES:
            x = x.clone()
            if rows:
                x[rows] = to_float(self.draw(data.external, len(rows)))
            return x, flip
        h, w = x.shape[-2:]
        plans = [pseudo_plan(self.params["pseudo"], self.gen, h, w, self.params) for _ in rows]
        return paste(x, rows, plans), flip

    def references(self, data) -> torch.Tensor | None:
        if not self.uses_references():
            return None
        if self.fixed_ref is not None:
            return self.fixed_ref
        ref, _ = self.maybe_pseudo(to_float(self.draw(data.normal, self.params["n_ref"])), data)
        return self.augment(ref)

    # --- network ----------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, ref: torch.Tensor | None) -> dict[str, torch.Tensor]:
        """x: normalised queries; ref: normalised references sharing the queries' backbone pass."""
        n_ref = 0 if ref is None else ref.shape[0]
        both = x if ref is None else torch.cat([ref, x], 0)
        out: dict[str, list] = {}
        for level in pyramid(both, self.params["scales"]):
            feat = self.trunk(level)
            ref_mean, q = feat[:n_ref].mean(0), feat[n_ref:]
            if self.nondis:
                out.setdefault("logits", []).append(self.classifier(q))
                continue
            for name, head in self.heads.items():
                s = head(q, ref_mean) if name == "composite" else head(q)
                out.setdefault(name, []).append(s)
        return {k: torch.stack(v).mean(0).float() for k, v in out.items()}  # float32 under autocast too

    # --- verbs ------------------------------------------------------------------------------
    def make_batch(self, data):
        p = self.params
        normal, is_pseudo = self.maybe_pseudo(to_float(self.cycle(data, "normal", p["batch_normal"])), data)
        labels = is_pseudo.long() * 2
        parts = [normal]
        if data.anomaly is not None and p["batch_anomaly"] > 0:
            parts.append(to_float(self.cycle(data, "anomaly", p["batch_anomaly"])))
            labels = torch.cat([labels, torch.ones(p["batch_anomaly"], dtype=torch.long)])
        ref = self.references(data)
        return self.augment(torch.cat(parts)), ref, labels.to(normal.device)

    def batch_loss(self, batch):
        x, ref, labels = batch
        out = self.forward(x, ref)
        if self.nondis:
            return F.cross_entropy(out["logits"], labels)
        total = 0.0
        for name, (mask, target) in head_targets(labels).items():
            if name in out and mask.any():
                total = total + head_loss(self.params["loss"], out[name][mask], target[mask], self.gen, self.params)
        return total

    def images_per_step(self, data) -> int:
        p = self.params
        return self.labeled_count(data, p["batch_normal"], p["batch_anomaly"]) + (
            p["n_ref"] if self.uses_references() else 0)

    def score(self, images, data):
        out = self.forward(self.test_view(images), self.references(data))
        if self.nondis:
            return {"score": 1.0 - out["logits"].softmax(-1)[:, 0]}
        parts = {f"head_{k}": v for k, v in out.items()}
        parts["score"] = sum(SIGN[k] * v for k, v in out.items())
        return parts


METHOD = DRA
