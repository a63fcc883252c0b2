"""What one run trains and tests on: image tensors taken from the decoded cache, on the device."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from dra.data.cache import ImageCache

PRELOAD_MAX_BYTES = 8 << 30  # above this, batches are gathered from the memory map instead


class ImagePool:
    """A set of cached images; index with a tensor of positions to get uint8 N x S x S x 3 on device."""

    def __init__(self, array: np.ndarray, device: torch.device):
        self.device = device
        self.n = len(array)
        self._array = array
        self._tensor = None
        if array.nbytes <= PRELOAD_MAX_BYTES:
            self._tensor = torch.from_numpy(np.ascontiguousarray(array)).to(device)

    @classmethod
    def from_cache(cls, cache: ImageCache, paths: list[str], device) -> "ImagePool":
        return cls(cache.gather(cache.rows(paths)), device)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, idx: torch.Tensor) -> torch.Tensor:
        if self._tensor is not None:
            return self._tensor[idx.to(self.device)]
        return torch.from_numpy(self._array[idx.numpy()]).to(self.device)


@dataclass
class RunData:
    normal: ImagePool            # training normals
    anomaly: ImagePool | None    # the labeled anomalies (None for 0 shots)
    external: ImagePool | None   # external pseudo anomalies / outliers, when the variant uses them
    test: ImagePool
    test_paths: list[str]
    test_labels: np.ndarray
    test_classes: list[str]
    image_size: int
    device: torch.device
    test_masks: np.ndarray | None = None  # N x S x S bool (normals all False); None: the subset has no masks
    base_model: Path | None = None        # AHL: the trained model of the run it builds on
