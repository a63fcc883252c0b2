"""What a dataset module hands to `prepare`: items, each an image and where it goes.

A dataset module (one per raw layout) defines:
  NAME, SUBSETS (tuple; empty means "discovered from the raw folder"), LICENCE, HOMEPAGE,
  EXPECTED: {subset: Expected} (paper Table 5; may be empty),
  items(raw: Path, subset: str) -> list[Item]
and nothing else in the package knows its folder names.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Optional

import numpy as np


@dataclass
class Item:
    name: str                      # file name in the uniform layout, unique within its folder
    anomaly_class: str             # "" for a normal image
    source: str                    # the raw file it came from (relative to RAW), for traceability
    split: Optional[str] = None    # "train"/"test"; None: decided by the 75/25 normal split
    path: Optional[Path] = None    # a raw image taken whole ...
    load: Optional[Callable[[], np.ndarray]] = None  # ... or a derived one (patch, third)

    @property
    def label(self) -> int:
        return 0 if self.anomaly_class == "" else 1


@dataclass
class Expected:
    train_normal: Optional[int]
    test_normal: Optional[int]
    anomalies: Optional[int] = None                  # total
    per_class: dict = field(default_factory=dict)    # class -> count, where the paper gives them


def split_normals(items: list[Item], seed: int = 42, test_fraction: float = 0.25) -> None:
    """The protocol's 75/25 normal split for datasets without an official one: sorted, seeded."""
    todo = sorted((it for it in items if it.label == 0 and it.split is None), key=lambda it: it.source)
    n_test = int(round(len(todo) * test_fraction))
    order = np.random.default_rng(seed).permutation(len(todo))
    test = set(order[:n_test].tolist())
    for i, it in enumerate(todo):
        it.split = "test" if i in test else "train"
    for it in items:
        if it.label == 1:
            it.split = "test"
