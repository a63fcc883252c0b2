"""DRA: disentangled seen / pseudo / latent-residual abnormality heads plus a normality head.

PROTOCOL section 3; where the paper and the authors' code differ, the code's choice is the default."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dra.nets.augment import paste, pseudo_plan, to_float, uniform
from dra.plan.params import DRA_SCHEDULE, LOSSES, PASTE, TOPK, Param
from dra.nets.losses import head_loss
from dra.methods.base import Method, external_pool
from dra.nets.backbone import ResNet18Trunk, pyramid
from dra.nets.heads import (SIGN, CompositeHead, NormalityHead, TopKClassifier, TopKHead, head_scores, head_targets,
                            upsampled_mean)

HEADS = ("seen", "pseudo", "composite", "normal")  # nets.heads.SIGN's order
IN_IMAGE = ("cutmix", "cpscar", "cpmix")  # made from the image itself; any other source is an external pool

# The protocol's values (docs/protocol.md, section 3); where the paper's text and the authors' code
# differ, the code's (it produced the published numbers): DRA_SCHEDULE's lr, weight decay, StepLR.
PARAMS = {
    **DRA_SCHEDULE, "finetune_epochs": 0, **LOSSES, **TOPK, **PASTE,
    "batch_normal": Param("int", 32, "slots drawn from the normals; each becomes a pseudo anomaly w.p. pseudo_prob",
                          min=1),
    "batch_anomaly": Param("int", 16, "slots drawn from the labeled anomalies", min=0),
    "pseudo_prob": Param("float", 0.5, "probability that a normal slot becomes a pseudo anomaly", min=0, max=1),
    "pseudo": Param("str", "auto", "pseudo-anomaly source; auto: the dataset's pseudo_source",
                    choices=("auto",) + IN_IMAGE + ("lag", "mvtecad")),
    "n_ref": Param("int", 5, "reference normals per batch (the composite head's)", min=1),
    "ref_mode": Param("str", "redraw", "redraw the references per batch (the code) or fix them (the text)",
                      choices=("redraw", "fixed")),
    "heads": Param("list", list(HEADS), "the heads trained and summed into the score", choices=HEADS,
                   min_length=1),
    "head_mode": Param("str", "disentangled", "nondisentangled: one 3-class top-K head (paper Fig. 3 left)",
                       choices=("disentangled", "nondisentangled")),
}


class DRA(Method):
    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        self.trunk = ResNet18Trunk(data.pretrained.get("resnet18"))
        c, r = self.trunk.out_channels, params["topk_ratio"]
        self.nondis = params["head_mode"] == "nondisentangled"
        if self.nondis:
            self.classifier = TopKClassifier(c, 3, r)
        else:
            parts = {"seen": TopKHead(c, r), "pseudo": TopKHead(c, r), "composite": CompositeHead(c, r),
                     "normal": NormalityHead(c)}
            self.heads = torch.nn.ModuleDict({h: parts[h] for h in params["heads"]})
        self.fixed_ref = None
        self.external = params["pseudo"] not in IN_IMAGE
        if self.external:  # fail before training
            external_pool(data, f"pseudo anomalies ({params['pseudo']})")

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
        if self.external:
            x = x.clone()
            if rows:
                x[rows] = to_float(self.draw(external_pool(data, "pseudo anomalies"), len(rows)))
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
    def forward(self, x: torch.Tensor, ref: torch.Tensor | None, maps: bool = False) -> dict[str, torch.Tensor]:
        """x: normalised queries; ref: normalised references sharing the queries' backbone pass.
        -> each head's score (or the logits), averaged over the scales; with `maps`, also "map":
        the heads' patch scores combined as the image score combines the heads (the normality head,
        which pools first, adds its score everywhere), each scale upsampled to the input and averaged."""
        n_ref = 0 if ref is None else ref.shape[0]
        both = x if ref is None else torch.cat([ref, x], 0)
        out: dict[str, list] = {}
        per_scale: list[torch.Tensor] = []
        for level in pyramid(both, self.params["scales"]):
            feat = self.trunk(level)
            ref_mean, q = feat[:n_ref].mean(0), feat[n_ref:]
            if self.nondis:
                out.setdefault("logits", []).append(self.classifier(q))
                if maps:
                    per_scale.append(self.classifier.map(q))
                continue
            scores, combined = head_scores(self.heads, q, ref_mean, self.params["topk_ratio"], maps)
            for name, s in scores.items():
                out.setdefault(name, []).append(s)
            if maps:
                per_scale.append(combined.expand(q.shape[0], 1, *q.shape[-2:]))
        result = {k: torch.stack(v).mean(0).float() for k, v in out.items()}  # float32 under autocast too
        if maps:
            result["map"] = upsampled_mean(per_scale, x.shape[-2:])
        return result

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

    def score(self, images, data, maps=False):
        out = self.forward(self.test_view(images), self.references(data), maps)
        anomaly_map = out.pop("map", None)
        if self.nondis:
            parts = {"score": 1.0 - out["logits"].softmax(-1)[:, 0]}
        else:
            parts = {f"head_{k}": v for k, v in out.items()}
            parts["score"] = sum(SIGN[k] * v for k, v in out.items())
        if anomaly_map is not None:
            parts["map"] = anomaly_map
        return parts


METHOD = DRA
