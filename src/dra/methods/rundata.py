"""What one run trains and tests on, as a method sees it: image tensors on the device, the test set's
labels and classes, and the states it starts from (dra.run.inputs builds it from verified files)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

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
    base_model: dict | None = None        # AHL: the state_dict of the trained run it builds on
    pretrained: dict = field(default_factory=dict)  # architecture -> pretrained state_dict (absent: random start)
