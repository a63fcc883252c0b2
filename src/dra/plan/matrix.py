"""The job matrix, from the config alone (no data needed): which runs each table or figure shows.

An artefact (table or figure) is sections of rows x columns (variants x shots). The config's
`select:` narrows every artefact to the datasets, variants, shots and settings it names (and `tables`
to the artefacts it names); an artefact left without cells is dropped (`empty_selected` names those
`select.tables` asked for, which the workflow notes in one line each). A dataset of the user's own (`layout:` in its config) joins the general sections
(and, where it lists hard classes, the hard sections) of every artefact with `user_datasets: true`.

Used by the Snakefile at parse time, so it stays cheap and imports neither torch nor pandas."""

from __future__ import annotations

import json
from functools import lru_cache

from dra.plan.config import DEFAULT_CONFIG, dataset_config, is_unsupervised, load_config, subsets, variant_spec
from dra.errors import DraError, closest
from dra.escape import rst_text
from dra.plan.runkey import GENERAL, SECTION_KINDS, Run, from_source, hard, hard_class

SELECT_KEYS = ("datasets", "variants", "tables", "shots", "settings")


def artefacts_declared(cfg: dict) -> list[str]:
    return [*cfg.get("tables", {}), *cfg.get("plots", {})]


def selection(cfg: dict) -> dict:
    """The config's `select:`, checked: every name must exist."""
    sel = cfg.get("select") or {}
    unknown = sorted(set(sel) - set(SELECT_KEYS))
    if unknown:
        raise DraError(f"config select: unknown key {unknown[0]!r}{closest(unknown[0], SELECT_KEYS)}; expected some "
                       f"of {list(SELECT_KEYS)}")
    known = {"datasets": list(cfg["datasets"]), "variants": list(cfg["variants"]),
             "tables": artefacts_declared(cfg), "settings": list(SECTION_KINDS)}
    for key, names in known.items():
        for name in sel.get(key) or []:
            if name not in names:
                raise DraError(f"config select.{key}: {name!r} does not exist{closest(str(name), names)}; expected "
                               f"some of {names}")
    for k in sel.get("shots") or []:
        if not isinstance(k, int) or isinstance(k, bool) or k < 1:
            raise DraError(f"config select.shots: {k!r}; expected positive integers (1, 10)")
    return sel


def _selected(sel: dict, key: str, name) -> bool:
    return not sel.get(key) or name in sel[key]


def parse_row_spec(cfg: dict, item: str) -> list[tuple[str, str]]:
    """'mvtecad' -> every subset of mvtecad; 'mvtecad/carpet' -> that subset."""
    dataset, _, subset = item.partition("/")
    if dataset not in cfg["datasets"]:
        raise DraError(f"table row {item!r}: unknown dataset {dataset!r}{closest(dataset, cfg['datasets'])}; "
                       f"expected one of {sorted(cfg['datasets'])}")
    names = subsets(cfg, dataset)
    if subset and subset not in names:
        raise DraError(f"table row {item!r}: unknown subset {subset!r}{closest(subset, names)}; expected one of {names}")
    return [(dataset, subset)] if subset else [(dataset, s) for s in names]


def hard_classes(cfg: dict, dataset: str, subset: str) -> list[str]:
    hard_cfg = dataset_config(cfg, dataset).get("hard", {})
    if subset not in hard_cfg:
        raise DraError(f"hard setting asked for {dataset}/{subset}, but config datasets.{dataset}.hard lists "
                       f"no classes for it")
    return list(hard_cfg[subset])


def check_hard_setting(cfg: dict, dataset: str, subset: str, setting: str) -> None:
    """A hard setting names a class the dataset's config lists for that subset."""
    cls = hard_class(setting)
    listed = dataset_config(cfg, dataset).get("hard", {}).get(subset, [])
    if cls not in listed:
        raise DraError(f"setting {setting!r} of {dataset}/{subset}: class {cls!r} is not among the hard classes "
                       f"config datasets.{dataset}.hard.{subset} lists ({listed}){closest(cls, listed)}")


def artefact(cfg: dict, name: str) -> dict:
    """A table or a figure: both are rows (sections) x columns (variants x shots)."""
    for kind in ("tables", "plots"):
        if name in cfg.get(kind, {}):
            return cfg[kind][name]
    raise DraError(f"unknown table or figure {name!r}{closest(name, artefacts_declared(cfg))}; expected one of "
                   f"{sorted(artefacts_declared(cfg))}")


def row_group(cfg: dict, value, where: str) -> list[str]:
    """A section's `datasets` or `sources`: a list, or the name of one of the config's `row_groups`
    (so an overlay such as demo.yaml changes a group's rows without declaring the tables again)."""
    if not isinstance(value, str):
        return list(value)
    groups = cfg.get("row_groups") or {}
    if value not in groups:
        raise DraError(f"config {where}: {value!r} is not a row group{closest(value, groups)}; expected a list of rows "
                       f"or one of config row_groups {sorted(groups)}")
    return list(groups[value])


def user_datasets(cfg: dict) -> list[str]:
    return [d for d, c in cfg["datasets"].items() if c.get("layout") and not c.get("source") == "synth"]


def section_items(cfg: dict, spec: dict, section: dict, name: str = "") -> list[str]:
    """A section's dataset entries, plus the user's own datasets where the artefact takes them."""
    items = row_group(cfg, section["datasets"], f"{name}.sections.datasets")
    if spec.get("user_datasets") and section["setting"] in ("general", "hard"):
        named = {i.partition("/")[0] for s in spec["sections"]
                 for i in row_group(cfg, s["datasets"], f"{name}.sections.datasets")}
        for d in user_datasets(cfg):
            if d not in named and (section["setting"] == "general" or dataset_config(cfg, d).get("hard")):
                items.append(d)
    return items


def section_rows(cfg: dict, name: str, section: dict) -> list[tuple[str, str, str]]:
    sel = selection(cfg)
    spec = artefact(cfg, name)
    kind = section["setting"]
    if kind not in SECTION_KINDS:
        raise DraError(f"{name}: section setting {kind!r}; expected one of {list(SECTION_KINDS)}")
    if not _selected(sel, "settings", kind):
        return []
    rows = []
    for item in section_items(cfg, spec, section, name):
        for dataset, subset in parse_row_spec(cfg, item):
            if not _selected(sel, "datasets", dataset):
                continue
            if kind == "general":
                rows.append((dataset, subset, GENERAL))
            elif kind == "hard":
                hard_cfg = dataset_config(cfg, dataset).get("hard", {})
                if subset not in hard_cfg and item == dataset and dataset in user_datasets(cfg):
                    continue  # a user's dataset with hard classes for some of its subsets only
                rows += [(dataset, subset, hard(c)) for c in hard_classes(cfg, dataset, subset)]
            else:  # train on each source subset, fine-tune and test on this one
                sources = row_group(cfg, section["sources"], f"{name}.sections.sources")
                rows += [(dataset, subset, from_source(src)) for src in sources if src != subset]
    return rows


def table_cells(cfg: dict, name: str) -> list[tuple[tuple[str, str, str], str]]:
    """(row, variant) pairs in display order; a section may narrow the artefact's variants."""
    spec = artefact(cfg, name)
    sel = selection(cfg)
    out = []
    for section in spec["sections"]:
        variants = [v for v in section.get("variants", spec["variants"]) if _selected(sel, "variants", v)]
        out += [(row, v) for row in section_rows(cfg, name, section) for v in variants]
    return out


def table_rows(cfg: dict, name: str) -> list[tuple[str, str, str]]:
    """(dataset, subset, setting) per row, in display order."""
    return list(dict.fromkeys(row for row, _ in table_cells(cfg, name)))


def shots_for(cfg: dict, name: str, variant: str) -> list[int]:
    if is_unsupervised(cfg, variant):
        return [0]
    sel = selection(cfg)
    return [k for k in artefact(cfg, name)["shots"] if _selected(sel, "shots", k)]


def seeds_for(cfg: dict, name: str) -> list[int]:
    """The artefact's seeds: its own `seeds`, else the config's (a heatmap figure: the first of them)."""
    spec = artefact(cfg, name)
    if "seeds" in spec:
        return list(spec["seeds"])
    return list(cfg["seeds"][:1] if spec.get("kind") == "heatmaps" else cfg["seeds"])


def table_runs(cfg: dict, name: str) -> list[Run]:
    runs = {Run(v, *row, k, seed)
            for row, v in table_cells(cfg, name)
            for k in shots_for(cfg, name, v)
            for seed in seeds_for(cfg, name)}
    return sorted(runs)


def runs_by_artefact(cfg: dict) -> dict[str, list[Run]]:
    """The artefacts the selection covers (those with cells), each with its runs, in the config's
    order. If `select.tables` names artefacts and none has a cell, that is an error."""
    sel = selection(cfg)
    out = {}
    for name in artefacts_declared(cfg):
        if not _selected(sel, "tables", name):
            continue
        runs = table_runs(cfg, name)
        if runs:
            out[name] = runs
    if sel.get("tables") and not out:
        raise DraError(f"config select: none of the tables {sel['tables']} has cells for this selection "
                       f"({_describe(sel)}); widen the selection")
    return out


def empty_selected(cfg: dict, by_artefact: dict | None = None) -> list[str]:
    """One line for each artefact `select.tables` names that the selection leaves without cells (it
    is not built), saying why."""
    sel = selection(cfg)
    by_artefact = runs_by_artefact(cfg) if by_artefact is None else by_artefact
    return [f"select.tables: {name} has no cells for this selection ({_describe(sel)}): not built"
            + _why_empty(cfg, name) for name in sel.get("tables") or [] if name not in by_artefact]


def _why_empty(cfg: dict, name: str) -> str:
    """'; bottles lists no hard classes' where a hard table is empty because its datasets have none."""
    spec, sel = artefact(cfg, name), selection(cfg)
    if not sel.get("datasets") or not any(s["setting"] == "hard" for s in spec["sections"]):
        return ""
    bare = [d for d in sel["datasets"] if not dataset_config(cfg, d).get("hard")]
    return f" ({', '.join(bare)} list{'s' if len(bare) == 1 else ''} no hard classes)" if bare else ""


def artefacts(cfg: dict) -> list[str]:
    """The artefacts the selection covers: those with cells (and any `select.tables` names)."""
    return list(runs_by_artefact(cfg))


def _describe(sel: dict) -> str:
    return ", ".join(f"{k}: {sel[k]}" for k in SELECT_KEYS if sel.get(k)) or "everything"


def tables(cfg: dict) -> list[str]:
    return [a for a in artefacts(cfg) if a in cfg.get("tables", {})]


def plots(cfg: dict) -> list[str]:
    return [a for a in artefacts(cfg) if a in cfg.get("plots", {})]


def all_runs(cfg: dict, by_artefact: dict | None = None) -> list[Run]:
    by_artefact = runs_by_artefact(cfg) if by_artefact is None else by_artefact
    return sorted({r for runs in by_artefact.values() for r in runs})


def dataset_labels(cfg: dict, datasets) -> dict[str, str]:
    return {d: cfg["datasets"][d].get("label", d) for d in datasets}


# scaled by `budget` and stated as the training length: not listed again as overrides
BUDGETED = ("epochs", "finetune_epochs")


def protocol_params(cfg: dict, variant: str, dataset: str) -> dict | None:
    """The parameters the paper's protocol (config/config.yaml alone) gives a variant on a dataset; on
    a dataset it does not have, its parameters where nothing is set per dataset. None for a variant
    it does not have."""
    spec = _protocol_spec(variant, dataset)
    return None if spec is None else spec["params"]


@lru_cache(maxsize=None)
def _protocol_spec(variant: str, dataset: str) -> dict | None:
    """variant_spec under the paper's protocol (read-only: shared by every caller); a dataset it does
    not have gets the parameters where nothing is set per dataset."""
    ref = _paper_protocol()
    if variant not in ref["variants"]:
        return None
    if dataset in ref["datasets"] and dataset not in user_datasets(ref):
        return variant_spec(ref, variant, dataset)
    known = {d: c for d, c in ref["datasets"].items() if d not in user_datasets(ref)}
    probe = {**ref, "datasets": {**known, dataset: {"image_size": 0}}}
    return variant_spec(probe, variant, dataset)


def overrides(cfg: dict, variant: str, dataset: str, params: dict) -> dict:
    """{parameter: (ours, the protocol's)} for every parameter a config sets away from the protocol
    (the training length aside: the budget and the epochs say it)."""
    ref = protocol_params(cfg, variant, dataset)
    if ref is None:
        return {}
    return {k: (v, ref.get(k)) for k, v in params.items() if k not in BUDGETED and v != ref.get(k)}


def _text(value) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def provenance(cfg: dict, runs: list[Run], resolve=None) -> dict:
    """What a table or the report says was run: datasets, variants, seeds, budget, weights, image
    sizes (per dataset and variant where a method has its own), training length per variant, every
    parameter set away from the paper's protocol per variant, and AHL's textures. `resolve(variant,
    dataset)`: variant_spec of cfg, where the caller keeps them (the Snakefile)."""
    resolve = resolve or (lambda v, d: variant_spec(cfg, v, d))
    datasets = list(dict.fromkeys(r.dataset for r in runs))
    variants = list(dict.fromkeys(r.variant for r in runs))
    sizes, epochs, changed, textures = {}, {}, {}, {}
    for v, d in dict.fromkeys((r.variant, r.dataset) for r in runs):
        s = resolve(v, d)
        sizes.setdefault(d, set()).add(s["image_size"])
        epochs.setdefault(v, set()).add(s["params"]["epochs"])
        for k, (ours, ref) in overrides(cfg, v, d, s["params"]).items():
            changed.setdefault(v, {}).setdefault(k, [set(), _text(ref)])[0].add(_text(ours))
        if "texture_source" in s["params"]:
            textures.setdefault(v, set()).add(s["params"]["texture_source"])
    return {
        "datasets": dataset_labels(cfg, datasets), "variants": variants,
        "seeds": sorted({r.seed for r in runs}), "budget": float(cfg.get("budget", 1.0)),
        "weights": cfg.get("weights", "imagenet"),
        "image_sizes": {d: sorted(s) for d, s in sizes.items()},
        "epochs": {v: sorted(e) for v, e in epochs.items()},
        "overrides": {v: {k: ["/".join(sorted(ours)), ref] for k, (ours, ref) in ks.items()}
                      for v, ks in changed.items()},
        "textures": {v: sorted(t) for v, t in textures.items()},
        "runs": len(runs),
    }


@lru_cache(maxsize=1)
def _paper_protocol() -> dict:
    return load_config(DEFAULT_CONFIG)


def protocol_reference(variants: list[str], datasets: list[str]) -> dict:
    """What the paper's protocol (config/config.yaml alone: budget 1, the declared parameters) runs
    for each (variant, dataset) it knows: {variant: {dataset: {image_size, params}}}; a table marks
    every cell whose runs differ from it (dra.report.deviations). Variants and datasets the protocol
    does not have (a user's own, the demo's) have no reference."""
    ref = _paper_protocol()
    out = {}
    for v in variants:
        if v not in ref["variants"]:
            continue
        for d in datasets:
            if d in ref["datasets"] and d not in user_datasets(ref):
                s = _protocol_spec(v, d)
                out.setdefault(v, {})[d] = {"image_size": s["image_size"], "params": s["params"]}
    return out


def report_caption(cfg: dict, name: str) -> str:
    """An artefact's caption as the report's caption file embeds it: inert reStructuredText."""
    return rst_text(cfg.get("caption_prefix", "") + artefact(cfg, name).get("caption", name))


def table_layout(cfg: dict, name: str, resolve=None) -> dict:
    """Everything the table or plot command needs (and nothing else, so only a layout change reruns
    it). `resolve`: as for provenance."""
    spec = artefact(cfg, name)
    variants = list(dict.fromkeys(v for _, v in table_cells(cfg, name)))
    shots = sorted({k for v in variants for k in shots_for(cfg, name, v)})
    rows = table_rows(cfg, name)
    return {
        "name": name,
        "caption": cfg.get("caption_prefix", "") + spec.get("caption", name),
        "rows": [list(r) for r in rows],
        "cells": [[*row, v] for row, v in table_cells(cfg, name)],
        "columns": [[v, k] for k in shots for v in variants if k in shots_for(cfg, name, v)],
        "seeds": seeds_for(cfg, name),
        "mean_rows": spec.get("mean_rows", True),
        "intervals": bool(spec.get("intervals", False)),
        "protocol": protocol_reference(variants, list(dict.fromkeys(d for d, _, _ in rows))),
        "metrics": list(spec.get("metrics", ["auroc"])),
        "labels": spec.get("labels", {}),
        "dataset_labels": dataset_labels(cfg, dict.fromkeys(d for d, _, _ in rows)),
        "provenance": {**provenance(cfg, table_runs(cfg, name), resolve), "variants": variants},
        "kind": spec.get("kind", "bars"),
        **({"images": spec["images"]} if "images" in spec else {}),
    }

