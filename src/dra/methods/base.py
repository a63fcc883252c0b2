"""The interface every method implements; the pipeline owns data, seeds, devices, files and metrics."""

from __future__ import annotations

import torch
from torch import nn

from dra.augment import normalize, random_rotate, to_float
from dra.rundata import ImagePool, RunData


class Method(nn.Module):
    """A method is built from its parameters (config), trained by `dra.train`'s one loop through
    `loss(batch)`, and asked for `score(images)` -> {"score": ..., optional per-head parts}."""

    #: parameter keys the method reads (checked against the effective config before training)
    PARAMS: tuple[str, ...] = ()

    def __init__(self, params: dict, data: RunData, gen: torch.Generator, weights: str):
        super().__init__()
        self.params = params
        self.gen = gen

    # --- training -------------------------------------------------------------------------
    def setup(self, data: RunData) -> None:
        """Called once after construction, before the first step (e.g. DeepSAD's centre)."""

    def loss(self, data: RunData) -> torch.Tensor:
        raise NotImplementedError

    def images_per_step(self) -> int:
        """Images pushed through the network per step (for images/second)."""
        raise NotImplementedError

    # --- scoring --------------------------------------------------------------------------
    def score(self, images: torch.Tensor, data: RunData) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    # --- shared helpers -------------------------------------------------------------------
    def draw(self, pool: ImagePool, n: int) -> torch.Tensor:
        """n images drawn uniformly with replacement, uint8 on the pool's device."""
        return pool[torch.randint(len(pool), (n,), generator=self.gen)]

    def augment(self, x: torch.Tensor) -> torch.Tensor:
        """float [0, 1] -> randomly rotated, normalised (the training transform)."""
        return normalize(random_rotate(x, self.gen, self.params["rotation"]))

    @staticmethod
    def test_view(images_u8: torch.Tensor) -> torch.Tensor:
        return normalize(to_float(images_u8))
