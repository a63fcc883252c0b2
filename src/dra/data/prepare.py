"""raw layout -> `<out>/<subset>/{train/good,test/good,test/<class>}` + manifest.csv, checked."""

from __future__ import annotations

import os
import shutil
from collections import Counter
from pathlib import Path

import pandas as pd

from dra.data.base import Expected, Item, split_normals
from dra.data.images import load_rgb, open_image, save_png
from dra.data.manifest import COLUMNS, MANIFEST, subset_counts
from dra.data.registry import dataset_module
from dra.errors import DraError
from dra.fsutil import atomic_dir, sha256_file


def subsets_of(name: str, raw: Path | None) -> tuple[str, ...]:
    mod = dataset_module(name)
    if mod.SUBSETS:
        return tuple(mod.SUBSETS)
    return mod.discover_subsets(resolve_raw(name, raw))


def resolve_raw(name: str, raw: Path | None) -> Path:
    """`--raw` as given; without it, the module's default_raw() where it has one (ELPV: the installed package)."""
    if raw is not None:
        return Path(raw)
    default = getattr(dataset_module(name), "default_raw", None)
    if default is None:
        raise DraError(f"{name}: --raw is required (the folder of the dataset's original layout)")
    return default()


def _folder(it: Item) -> str:
    return f"{it.split}/good" if it.label == 0 else f"test/{it.anomaly_class}"


def _materialise(it: Item, dest: Path) -> None:
    if it.load is not None:
        save_png(it.load(), dest)
    elif it.path.suffix.lower() == ".png":
        open_image(it.path)  # decode once: a truncated file is an error here, not in training
        try:
            os.link(it.path, dest)
        except OSError:
            shutil.copyfile(it.path, dest)
    else:
        save_png(load_rgb(it.path), dest)


def check_counts(where: str, counts: dict, expected: Expected) -> None:
    found_anom = sum(counts["anomalies"].values())
    problems = []
    for key, want, got in (("train normal", expected.train_normal, counts["train_normal"]),
                           ("test normal", expected.test_normal, counts["test_normal"]),
                           ("anomalies", expected.anomalies, found_anom)):
        if want is not None and want != got:
            problems.append(f"{key}: expected {want}, found {got}")
    for cls, want in expected.per_class.items():
        got = counts["anomalies"].get(cls, 0)
        if want != got:
            problems.append(f"anomaly class {cls}: expected {want}, found {got}")
    if problems:
        raise DraError(f"{where}: image counts differ from the paper's (Table 5): " + "; ".join(problems)
                       + " (use --no-check-counts for a miniature copy of the layout)")


def prepare_subset(name: str, raw: Path, out: Path, subset: str, check: bool = True,
                   split_seed: int = 42, test_fraction: float = 0.25) -> Path:
    """Write `out/<subset>/` whole or not at all; return the manifest path."""
    mod = dataset_module(name)
    raw = resolve_raw(name, raw)
    if mod.SUBSETS and subset not in mod.SUBSETS:
        raise DraError(f"{name}: unknown subset {subset!r}; expected one of {list(mod.SUBSETS)}")
    items = mod.items(raw, subset)
    split_normals(items, split_seed, test_fraction)
    clash = [k for k, n in Counter((_folder(it), it.name) for it in items).items() if n > 1]
    if clash:
        raise DraError(f"{raw}: {len(clash)} images of {name}/{subset} map to the same output name, e.g. {clash[0]}")
    target = Path(out) / subset
    with atomic_dir(target) as tmp:
        rows = []
        for it in sorted(items, key=lambda it: (_folder(it), it.name)):
            rel = f"{_folder(it)}/{it.name}"
            dest = tmp / rel
            dest.parent.mkdir(parents=True, exist_ok=True)
            _materialise(it, dest)
            rows.append({"path": rel, "split": it.split, "label": it.label, "anomaly_class": it.anomaly_class,
                         "source": it.source, "sha256": sha256_file(dest)})
        df = pd.DataFrame(rows, columns=COLUMNS)
        if check and subset in getattr(mod, "EXPECTED", {}):
            check_counts(f"{raw} ({name}/{subset})", subset_counts(df), mod.EXPECTED[subset])
            if hasattr(mod, "extra_checks"):  # a dataset's own rule (SDD: the 3:1 split, the rest reported)
                mod.extra_checks(f"{raw} ({name}/{subset})", subset_counts(df))
        df.to_csv(tmp / MANIFEST, index=False)
    return target / MANIFEST
