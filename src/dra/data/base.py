"""What a dataset module hands to `prepare`: items, each an image and where it goes.

A dataset module (one per raw layout) defines:
  NAME, SUBSETS (tuple; empty means "discovered from the raw folder"), LICENCE, HOMEPAGE,
  EXPECTED: {subset: Expected} (paper Table 5; may be empty),
  items(raw: Path, subset: str) -> list[Item]
and, where it applies, POOL_ONLY = True (an external pool: training images only, no test set).
Nothing else in the package knows its folder names.
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
    mask: Optional[Callable[[], np.ndarray]] = None  # the pixel mask (H x W bool) of an anomaly, where known

    @property
    def label(self) -> int:
        return 0 if self.anomaly_class == "" else 1


@dataclass
class Expected:
    train_normal: Optional[int]
    test_normal: Optional[int]
    anomalies: Optional[int] = None                  # total
    per_class: dict = field(default_factory=dict)    # class -> count, where the paper gives them


TEST_FRACTION = 0.25


def split_normals(items: list[Item], seed: int = 42, test_fraction: float = TEST_FRACTION) -> None:
    """The protocol's 75/25 normal split for datasets without an official one, as the authors'
    converters made it: scikit-learn's train_test_split(test_size=0.25, random_state=seed), whose
    test part is ceil(0.25 n), here over the list sorted by source file (the authors split unsorted
    directory listings, which no one can reproduce). Anomalies are all test images."""
    from sklearn.model_selection import train_test_split  # imported when used: planning imports this module

    todo = sorted((it for it in items if it.label == 0 and it.split is None), key=lambda it: it.source)
    if len(todo) >= 2:
        _, test = train_test_split(todo, test_size=test_fraction, random_state=seed)
        chosen = {id(it) for it in test}
        for it in todo:
            it.split = "test" if id(it) in chosen else "train"
    else:  # nothing to split; prepare's empty-folder check names what is missing
        for it in todo:
            it.split = "train"
    for it in items:
        if it.label == 1:
            it.split = "test"
