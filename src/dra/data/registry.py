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
    "dtd": "dra.data.dtd",  # external texture pool only (AHL's Perlin-mask pseudo anomalies)
}
# Layouts a dataset of any name can be in (config `layout:`): its subsets and classes are found in
# its folder, and it has no expected counts.
LAYOUTS = {"mvtec": "dra.data.folder"}


def dataset_module(name: str, layout: str | None = None) -> ModuleType:
    """The module that converts `name`: a known dataset's own, or the module of `layout`."""
    if layout is not None:
        if layout not in LAYOUTS:
            raise DraError(f"{name}: layout {layout!r}; expected one of {sorted(LAYOUTS)}")
        return importlib.import_module(LAYOUTS[layout])
    if name not in DATASETS:
        raise DraError(f"unknown dataset {name!r}; expected one of {sorted(DATASETS)}, or a dataset of your "
                       f"own with `layout: mvtec` (and `raw: <folder>`) in its config")
    return importlib.import_module(DATASETS[name])
