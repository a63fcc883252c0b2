"""AHL's unified model g on cached trunk features: DRA's four heads (AHL(DRA); the holistic head
without DRA's abs) or DevNet's single top-K head (AHL(DevNet)), each averaged over the scales, and
their initialisation."""

from __future__ import annotations

import torch
from torch import nn

from dra.nets.heads import SIGN, CompositeHead, NormalityHead, TopKHead, head_scores, topk_mean


class DRAHeads(nn.Module):
    """DRA's four heads (seen, pseudo, composite, holistic), scored by DRA's own head forward
    (`nets.heads.head_scores`) without the holistic head's abs."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        self.ratio = ratio
        self.heads = nn.ModuleDict({"seen": TopKHead(channels, ratio), "pseudo": TopKHead(channels, ratio),
                                    "composite": CompositeHead(channels, ratio), "normal": NormalityHead(channels)})
        assert tuple(self.heads) == tuple(SIGN)  # DRA's order: its score sums the heads in it

    def forward(self, feats: list[torch.Tensor], ref_means: list[torch.Tensor], maps: bool = False) -> dict:
        out: dict[str, list] = {h: [] for h in self.heads}
        per_scale = []
        for f, r in zip(feats, ref_means):
            scores, combined = head_scores(self.heads, f, r, self.ratio, maps, holistic_abs=False)
            for name, s in scores.items():
                out[name].append(s)
            if maps:
                per_scale.append(combined)
        result = {k: torch.stack(v).mean(0) for k, v in out.items()}
        if maps:
            result["maps"] = per_scale
        return result


class DevNetHead(nn.Module):
    """DevNet's single top-K head (the seen-head architecture), averaged over the scales."""

    def __init__(self, channels: int, ratio: float):
        super().__init__()
        self.head = TopKHead(channels, ratio)

    def forward(self, feats: list[torch.Tensor], ref_means=None, maps: bool = False) -> dict:
        ms = [self.head.map(f) for f in feats]
        result = {"seen": torch.stack([topk_mean(m, self.head.ratio) for m in ms]).mean(0)}
        if maps:
            result["maps"] = ms
        return result


def kaiming_init(module: nn.Module, gen: torch.Generator) -> None:
    """Kaiming-normal weights for every conv and linear layer (as AHL's heads), zero biases; BatchNorm
    weight 1, bias 0 (gap 5: as DRA, not the code's 0 that leaves the composite head dead)."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            with torch.no_grad():
                nn.init.kaiming_normal_(m.weight, generator=gen)
                if m.bias is not None:
                    m.bias.zero_()
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
