"""The workflow's configuration checked as a whole, when the Snakefile is parsed (so a dry run catches
every mistake), beyond what the JSON schema can say: names in the run key's alphabet (they become
paths, wildcards and shell arguments), known datasets, methods and variants, every variant's
parameters against its method's declarations, the names `select:` uses, numbers finite and bounded.

`coerce` first turns what Snakemake's `--config key=value` passes as strings (the items of
`seeds=[0,1,2]` arrive as '0', '1', '2') into the numbers the documented keys hold."""

from __future__ import annotations

import math

from dra.data.registry import DATASETS, LAYOUTS
from dra.data.splits import N_LABELED
from dra.errors import DraError, closest
from dra.plan.config import check_methods_section, method_params, subsets, variant_method
from dra.plan.matrix import artefacts_declared, selection
from dra.plan.params import _number
from dra.plan.runkey import SEED_MAX, check_name

# key -> (low, high) of the numbers the configuration holds; high bounds what a run can afford
INT_KEYS = {"split_seed": (0, SEED_MAX), "checkpoint_every": (0, 10**9)}
FLOAT_KEYS = {"budget": (0, 100)}  # > 0: at least one epoch of everything
IMAGE_SIZE = (16, 2048)            # a dataset's image_size and raw_size, localization.size: pixels a side
SIGMA_MAX = 64.0


def _int(key: str, value, bounds: tuple | None = None):
    x = _number(value, "int")
    if x is None:
        raise DraError(f"config {key}: {value!r}; expected an integer")
    if bounds is not None and not bounds[0] <= x <= bounds[1]:
        raise DraError(f"config {key}: {x}; expected an integer from {bounds[0]} to {bounds[1]}")
    return x


def _float(key: str, value, low: float, high: float, above: bool = False) -> float:
    x = _number(value, "float")
    if x is None or not math.isfinite(x) or x > high or x < low or (above and x == low):
        raise DraError(f"config {key}: {value!r}; expected a finite number {'>' if above else '>='} {low:g} and "
                       f"<= {high:g}")
    return x


def coerce(cfg: dict) -> dict:
    """Numbers given as strings (Snakemake's --config, YAML 1.1's `1e-3`) become numbers, in place."""
    if "seeds" in cfg:
        cfg["seeds"] = seed_list("seeds", cfg["seeds"])
    for key, bounds in INT_KEYS.items():
        if key in cfg:
            cfg[key] = _int(key, cfg[key], bounds)
    for key, (low, high) in FLOAT_KEYS.items():
        if key in cfg:
            cfg[key] = _float(key, cfg[key], low, high, above=True)
    loc = cfg.get("localization")
    if isinstance(loc, dict):
        if "size" in loc:
            loc["size"] = _int("localization.size", loc["size"], (8, IMAGE_SIZE[1]))
        if "sigma" in loc:
            loc["sigma"] = _float("localization.sigma", loc["sigma"], 0, SIGMA_MAX)
    for name, ds in (cfg.get("datasets") or {}).items():
        for key in ("image_size", "raw_size"):
            if isinstance(ds, dict) and key in ds:
                ds[key] = _int(f"datasets.{name}.{key}", ds[key], IMAGE_SIZE)
    for key in ("partial", "save_maps"):
        if isinstance(cfg.get(key), str) and cfg[key].lower() in ("true", "false"):
            cfg[key] = cfg[key].lower() == "true"
    sel = cfg.get("select")
    if isinstance(sel, dict) and isinstance(sel.get("shots"), list):
        sel["shots"] = [_int("select.shots", k, (1, N_LABELED)) for k in sel["shots"]]
    for kind in ("tables", "plots"):
        for name, spec in (cfg.get(kind) or {}).items():
            if isinstance(spec, dict) and isinstance(spec.get("seeds"), list):
                spec["seeds"] = seed_list(f"{kind}.{name}.seeds", spec["seeds"])
            if isinstance(spec, dict) and isinstance(spec.get("shots"), list):
                spec["shots"] = [_int(f"{kind}.{name}.shots", k, (1, N_LABELED)) for k in spec["shots"]]
    return cfg


def seed_list(key: str, value) -> list[int]:
    """Seeds: integers numpy and torch accept (0 to 2^32 - 1), each once."""
    seeds = [_int(key, s, (0, SEED_MAX)) for s in (value if isinstance(value, list) else [value])]
    twice = sorted({s for s in seeds if seeds.count(s) > 1})
    if twice:
        raise DraError(f"config {key}: seed {twice[0]} is given twice; expected distinct seeds")
    return seeds


def check_names(cfg: dict) -> None:
    """Every name that becomes a path, a wildcard or a shell argument, in the run key's alphabet."""
    for section in ("datasets", "variants", "tables", "plots", "row_groups"):
        for name in cfg.get(section) or {}:
            check_name(name, f"config {section}")
    for d, ds in cfg["datasets"].items():
        for s in ds.get("subsets") or []:
            check_name(s, f"config datasets.{d}.subsets")
        for s, classes in (ds.get("hard") or {}).items():
            check_name(s, f"config datasets.{d}.hard")
            for c in classes:
                check_name(c, f"config datasets.{d}.hard.{s}")
    rows = [(f"row_groups.{g}", r) for g, rs in (cfg.get("row_groups") or {}).items() for r in rs]
    for kind in ("tables", "plots"):
        for name, spec in (cfg.get(kind) or {}).items():
            for section in spec.get("sections", []):
                for key in ("datasets", "sources"):
                    if isinstance(section.get(key), list):
                        rows += [(f"{kind}.{name}.sections.{key}", r) for r in section[key]]
    for where, row in rows:
        for part in str(row).split("/", 1):
            check_name(part, f"config {where}")


def check_datasets(cfg: dict) -> None:
    for name, ds in cfg["datasets"].items():
        layout = ds.get("layout")
        if layout is not None and name in DATASETS and ds.get("source") != "synth":
            raise DraError(f"config datasets.{name}: {name!r} is the name of the paper's dataset "
                           f"{cfg['datasets'][name].get('label', name)}; a dataset of your own (layout: {layout}) needs "
                           f"a name of its own (e.g. {name}_own): under the paper's name its cells would be compared "
                           "with the paper's numbers")
        if layout is None and ds.get("raw"):
            raise DraError(f"config datasets.{name}.raw: read only for a dataset of your own (with layout: mvtec); "
                           f"the paper's {name} is downloaded or placed under paths.data and checked by the workflow "
                           "(`python -m dra datasets` says where)")
        if layout is None and name not in DATASETS:
            raise DraError(f"config datasets.{name}: not a dataset this package knows{closest(name, DATASETS)} "
                           f"({sorted(DATASETS)}); for a folder of your own in the MVTec layout add "
                           f"`layout: mvtec` and `raw: <folder>` to its entry")
        if layout is not None:
            if layout not in LAYOUTS:
                raise DraError(f"config datasets.{name}.layout: {layout!r}; expected one of {sorted(LAYOUTS)}")
            if not ds.get("raw") and ds.get("source") != "synth":
                raise DraError(f"config datasets.{name}: `layout: {layout}` needs `raw: <folder>` (the folder "
                               "holding <subset>/train/good, <subset>/test/good and <subset>/test/<class>)")
            if ds.get("raw"):
                subsets(cfg, name)  # its subset folders exist and have usable names
        if ds.get("hard"):
            found = subsets(cfg, name)
            for subset in ds["hard"]:
                if subset not in found:
                    raise DraError(f"config datasets.{name}.hard: subset {subset!r} does not exist"
                                   f"{closest(subset, found)}; the subsets of {name} are {found}")
        for role, target in ds.get("external", {}).items():
            if target not in cfg["datasets"]:
                raise DraError(f"config datasets.{name}.external.{role}: {target!r} is not a dataset of the config"
                               f"{closest(target, cfg['datasets'])}")


def check_variants(cfg: dict) -> None:
    check_methods_section(cfg)
    for variant in cfg["variants"]:
        method_params(cfg, variant)
    for name in artefacts_declared(cfg):
        spec = cfg.get("tables", {}).get(name) or cfg["plots"][name]
        named = list(spec["variants"]) + [v for s in spec["sections"] for v in s.get("variants", [])]
        for v in named:
            if v not in cfg["variants"]:
                raise DraError(f"config {name}: variant {v!r} is not in config variants{closest(v, cfg['variants'])}")
        for v in spec.get("labels", {}):  # an overlay that narrows a table's variants may keep their labels
            if v not in cfg["variants"]:
                raise DraError(f"config {name}.labels: {v!r} is not a variant of the config"
                               f"{closest(v, cfg['variants'])}")


def check_resources(cfg: dict) -> None:
    train = cfg.get("resources", {}).get("train", {})
    methods = {variant_method(cfg, v) for v in cfg["variants"]}
    for key in train:
        if key != "default" and key not in methods:
            raise DraError(f"config resources.train: {key!r} is not a method of the config's variants"
                           f"{closest(key, methods)}; expected `default` or one of {sorted(methods)}")


def check_config(cfg: dict) -> dict:
    """Every check above, in order; returns cfg (checked, with numbers coerced)."""
    check_names(cfg)
    check_datasets(cfg)
    check_variants(cfg)
    check_resources(cfg)
    selection(cfg)
    return cfg
