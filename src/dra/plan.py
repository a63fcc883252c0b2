"""The job matrix, from the config alone (no data needed): which runs each table shows.

Used by the Snakefile at parse time, so it stays cheap and imports neither torch nor pandas."""

from __future__ import annotations

from dataclasses import dataclass

from dra.config import is_unsupervised, subsets
from dra.errors import DraError


@dataclass(frozen=True, order=True)
class Run:
    variant: str
    dataset: str
    subset: str
    setting: str
    shots: int
    seed: int

    def path(self, results: str) -> str:
        return (f"{results}/runs/{self.variant}/{self.dataset}/{self.subset}/{self.setting}/"
                f"{self.shots}shot/seed{self.seed}")


def parse_row_spec(cfg: dict, item: str) -> list[tuple[str, str]]:
    """'mvtecad' -> every subset of mvtecad; 'mvtecad/carpet' -> that subset."""
    dataset, _, subset = item.partition("/")
    if dataset not in cfg["datasets"]:
        raise DraError(f"table row {item!r}: unknown dataset {dataset!r}; expected one of {sorted(cfg['datasets'])}")
    names = subsets(cfg, dataset)
    if subset and subset not in names:
        raise DraError(f"table row {item!r}: unknown subset {subset!r}; expected one of {names}")
    return [(dataset, subset)] if subset else [(dataset, s) for s in names]


def hard_classes(cfg: dict, dataset: str, subset: str) -> list[str]:
    hard = cfg["datasets"][dataset].get("hard", {})
    if subset not in hard:
        raise DraError(f"hard setting asked for {dataset}/{subset}, but config datasets.{dataset}.hard lists "
                       f"no classes for it")
    return list(hard[subset])


def artefact(cfg: dict, name: str) -> dict:
    """A table or a figure: both are rows (sections) x columns (variants x shots)."""
    for kind in ("tables", "plots"):
        if name in cfg.get(kind, {}):
            return cfg[kind][name]
    raise DraError(f"unknown table or figure {name!r}; expected one of "
                   f"{sorted([*cfg.get('tables', {}), *cfg.get('plots', {})])}")


def section_rows(cfg: dict, name: str, section: dict) -> list[tuple[str, str, str]]:
    rows = []
    for item in section["datasets"]:
        for dataset, subset in parse_row_spec(cfg, item):
            kind = section["setting"]
            if kind == "general":
                rows.append((dataset, subset, "general"))
            elif kind == "hard":
                rows += [(dataset, subset, f"hard-{c}") for c in hard_classes(cfg, dataset, subset)]
            elif kind == "crossdomain":  # train on each source subset, fine-tune and test on this one
                rows += [(dataset, subset, f"from-{src}") for src in section["sources"] if src != subset]
            else:
                raise DraError(f"{name}: section setting {kind!r}; expected general, hard or crossdomain")
    return rows


def table_cells(cfg: dict, name: str) -> list[tuple[tuple[str, str, str], str]]:
    """(row, variant) pairs in display order; a section may narrow the artefact's variants."""
    spec = artefact(cfg, name)
    out = []
    for section in spec["sections"]:
        variants = section.get("variants", spec["variants"])
        out += [(row, v) for row in section_rows(cfg, name, section) for v in variants]
    return out


def table_rows(cfg: dict, name: str) -> list[tuple[str, str, str]]:
    """(dataset, subset, setting) per row, in display order."""
    return list(dict.fromkeys(row for row, _ in table_cells(cfg, name)))


def shots_for(cfg: dict, name: str, variant: str) -> list[int]:
    return [0] if is_unsupervised(cfg, variant) else list(artefact(cfg, name)["shots"])


def seeds_for(cfg: dict, name: str) -> list[int]:
    return list(artefact(cfg, name).get("seeds", cfg["seeds"]))


def table_runs(cfg: dict, name: str) -> list[Run]:
    runs = {Run(v, *row, k, seed)
            for row, v in table_cells(cfg, name)
            for k in shots_for(cfg, name, v)
            for seed in seeds_for(cfg, name)}
    return sorted(runs)


def artefacts(cfg: dict) -> list[str]:
    return [*cfg.get("tables", {}), *cfg.get("plots", {})]


def all_runs(cfg: dict) -> list[Run]:
    return sorted({r for name in artefacts(cfg) for r in table_runs(cfg, name)})


def table_layout(cfg: dict, name: str) -> dict:
    """Everything the table or plot command needs (and nothing else, so only a layout change reruns it)."""
    spec = artefact(cfg, name)
    variants = list(dict.fromkeys(v for _, v in table_cells(cfg, name)))
    shots = sorted({k for v in variants for k in shots_for(cfg, name, v)})
    return {
        "name": name,
        "caption": spec.get("caption", name),
        "rows": [list(r) for r in table_rows(cfg, name)],
        "cells": [[*row, v] for row, v in table_cells(cfg, name)],
        "columns": [[v, k] for k in shots for v in variants if k in shots_for(cfg, name, v)],
        "seeds": seeds_for(cfg, name),
        "mean_rows": spec.get("mean_rows", True),
        **({"labels": spec["labels"]} if "labels" in spec else {}),
    }
