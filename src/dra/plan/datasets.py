"""The datasets as the planner sees them: the package's datasets and layouts, the module that
converts each (whose source files a prepare job tracks), and the raw files each declares (a URL to
fetch, or a file only a person can place). Torch-free, read while Snakemake plans."""

from __future__ import annotations

from dra.data.download import RawFile, files_of
from dra.data.registry import DATASETS, LAYOUTS

__all__ = ["DATASETS", "LAYOUTS", "RawFile", "converter", "downloadable", "files_of"]


def converter(cfg: dict, dataset: str) -> str:
    """The module that converts `dataset` (its layout's, for a dataset of the user's own)."""
    layout = cfg["datasets"][dataset].get("layout")
    return LAYOUTS[layout] if layout else DATASETS[dataset]


def downloadable() -> list[str]:
    """Every dataset that declares raw files (all but the generated and the user's own)."""
    return [d for d in DATASETS if files_of(d)]
