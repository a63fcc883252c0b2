"""Dataset name -> module. Modules are imported only when asked for."""

from __future__ import annotations

import importlib
from types import ModuleType

from dra.errors import DraError

DATASETS = {
    "mvtecad": "dra.data.mvtecad",
    "aitex": "dra.data.aitex",
    "sdd": "dra.data.sdd",
    "elpv": "dra.data.elpv",
    "optical": "dra.data.optical",
    "mastcam": "dra.data.mastcam",
    "brainmri": "dra.data.brainmri",
    "headct": "dra.data.headct",
    "hyperkvasir": "dra.data.hyperkvasir",
    "lag": "dra.data.lag",  # external pseudo-anomaly pool only
    "demo": "dra.data.folder",
}


def dataset_module(name: str) -> ModuleType:
    if name not in DATASETS:
        raise DraError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}")
    return importlib.import_module(DATASETS[name])
