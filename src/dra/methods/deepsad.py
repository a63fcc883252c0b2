"""DeepSAD (PROTOCOL section 4): ResNet-18 trunk + global average pool + bias-free linear 512 -> 128.
The centre c is the mean embedding of the training normals at the start; entries with |c| < 0.1 are
pushed to +-0.1 (sign kept, 0 -> +0.1). Normals pay ||phi - c||^2, labeled anomalies
eta / (||phi - c||^2 + 1e-6). Score ||phi - c||^2. No autoencoder pre-training (ImageNet start)."""

from __future__ import annotations

import torch
from torch import nn

from dra.errors import DraError
from dra.methods.balanced import BalancedMethod
from dra.nets.backbone import ResNet18Trunk
from dra.plan.params import DEVNET_SCHEDULE, Param


def centre_rule(c: torch.Tensor, eps: float = 0.1) -> torch.Tensor:
    """Entries closer to 0 than eps move to +-eps, keeping their sign; an exact 0 goes to +eps."""
    return torch.where(c.abs() < eps, torch.where(c < 0, -eps, eps).to(c.dtype), c)


# decision (the protocol gives none): DevNet's schedule and balanced batches
PARAMS = {
    **DEVNET_SCHEDULE,
    "batch_normal": Param("int", 24, "training normals per step", min=1),
    "batch_anomaly": Param("int", 24, "labeled anomalies per step", min=0),
    "embed_dim": Param("int", 128, "embedding size", min=1),
    "eta": Param("float", 1.0, "weight of the labeled anomalies' term", min=0),
    "centre_eps": Param("float", 0.1, "centre entries closer to 0 than this move to +-it", min=0),
    "div_eps": Param("float", 1.0e-6, "anomalies pay eta / (||phi - c||^2 + div_eps)", min=0, above=True),
}


class DeepSAD(BalancedMethod):
    HAS_MAP = False  # one embedding per image: no native anomaly map (none is made up)


    def __init__(self, params, data, gen):
        super().__init__(params, data, gen)
        self.trunk = ResNet18Trunk(data.pretrained.get("resnet18"))
        self.proj = nn.Linear(self.trunk.out_channels, params["embed_dim"], bias=False)
        self.register_buffer("c", torch.zeros(params["embed_dim"]))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj(self.trunk(x).mean(dim=(-2, -1)))

    def distance(self, x: torch.Tensor) -> torch.Tensor:
        return ((self.embed(x).float() - self.c) ** 2).sum(-1)  # float32 under autocast too

    @torch.no_grad()
    def setup(self, data):
        """c = mean embedding of every training normal (test view, network in eval mode)."""
        was_training = self.training
        self.eval()
        total, n, bs = torch.zeros_like(self.c), len(data.normal), self.params["test_batch"]
        for start in range(0, n, bs):
            idx = torch.arange(start, min(start + bs, n))
            total += self.embed(self.test_view(data.normal[idx])).float().sum(0)
        self.c.copy_(centre_rule(total / n, self.params["centre_eps"]))
        self.train(was_training)

    def batch_loss(self, batch):
        p = self.params
        x, labels = batch
        dist = self.distance(x)
        per_sample = torch.where(labels == 0, dist, p["eta"] / (dist + p["div_eps"]))
        return per_sample.mean()

    def score(self, images, data, maps=False):
        dist = self.distance(self.test_view(images))
        if dist.numel() > 1 and bool((dist == dist[0]).all()):
            raise DraError(f"deepsad: every score of a batch of {dist.numel()} test images is {dist[0].item():.6g}; "
                           "the embedding collapsed onto one point (constant scores carry no ranking)")
        return {"score": dist}


METHOD = DeepSAD
