"""Per-head losses: deviation (the default), binary cross entropy and binary focal loss; and the
outlier-exposure term.

Every loss takes a score per sample and a 0/1 target ("1" = the head's positive class)."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from dra.errors import DraError


def deviation_loss(score: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None = None,
                   samples: int = 5000, margin: float = 5.0) -> torch.Tensor:
    """dev = (score - mean(r)) / std(r), r ~ N(0, 1) drawn afresh per call;
    target 0 pays |dev|, target 1 pays max(0, margin - dev)."""
    r = torch.randn(samples, generator=generator, device="cpu").to(score.device, score.dtype)
    dev = (score - r.mean()) / r.std()
    target = target.to(score.dtype)
    return ((1 - target) * dev.abs() + target * F.relu(margin - dev)).mean()


def bce_loss(score: torch.Tensor, target: torch.Tensor, **_) -> torch.Tensor:
    return F.binary_cross_entropy_with_logits(score, target.to(score.dtype))


def focal_loss(score: torch.Tensor, target: torch.Tensor, alpha: float = 1.0, gamma: float = 2.0, **_) -> torch.Tensor:
    """Binary focal loss on the score as a logit: alpha * (1 - p_t)^gamma * BCE."""
    target = target.to(score.dtype)
    bce = F.binary_cross_entropy_with_logits(score, target, reduction="none")
    p_t = torch.exp(-bce)
    return (alpha * (1 - p_t) ** gamma * bce).mean()


def outlier_exposure_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross entropy between the uniform distribution and the softmax of the outliers' logits,
    -(1/C) sum_c log softmax(logits)_c, averaged over the outliers (Hendrycks et al.'s OE term)."""
    return -logits.log_softmax(-1).mean(-1).mean()


def head_loss(name: str, score: torch.Tensor, target: torch.Tensor, generator: torch.Generator | None,
              params: dict) -> torch.Tensor:
    if name == "deviation":
        return deviation_loss(score, target, generator, params["dev_samples"], params["dev_margin"])
    if name == "bce":
        return bce_loss(score, target)
    if name == "focal":
        return focal_loss(score, target, params["focal_alpha"], params["focal_gamma"])
    raise DraError(f"unknown loss {name!r}; expected deviation, bce or focal")
