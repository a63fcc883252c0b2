"""The workflow's configuration checked as a whole, when the Snakefile is parsed (so a dry run catches
every mistake), beyond what the JSON schema can say: known datasets, methods and variants, every
variant's parameters against its method's declarations, the names `select:` uses.

`coerce` first turns what Snakemake's `--config key=value` passes as strings (the items of
`seeds=[0,1,2]` arrive as '0', '1', '2') into the numbers the documented keys hold."""

from __future__ import annotations

from dra.plan.config import check_methods_section, method_params, variant_method
from dra.data.registry import DATASETS, LAYOUTS
from dra.errors import DraError
from dra.plan.params import _number, closest
from dra.plan.matrix import artefacts_declared, selection

INT_KEYS = ("split_seed", "checkpoint_every")
FLOAT_KEYS = ("budget",)


def _int(key: str, value):
    x = _number(value, "int")
    if x is None:
        raise DraError(f"config {key}: {value!r}; expected an integer")
    return x


def coerce(cfg: dict) -> dict:
    """Numbers given as strings (Snakemake's --config, YAML 1.1's `1e-3`) become numbers, in place."""
    if "seeds" in cfg:
        seeds = cfg["seeds"] if isinstance(cfg["seeds"], list) else [cfg["seeds"]]
        cfg["seeds"] = [_int("seeds", s) for s in seeds]
    for key in INT_KEYS:
        if key in cfg:
            cfg[key] = _int(key, cfg[key])
    for key in FLOAT_KEYS:
        if key in cfg:
            x = _number(cfg[key], "float")
            if x is None:
                raise DraError(f"config {key}: {cfg[key]!r}; expected a number")
            cfg[key] = x
    for key in ("partial", "save_maps"):
        if isinstance(cfg.get(key), str) and cfg[key].lower() in ("true", "false"):
            cfg[key] = cfg[key].lower() == "true"
    sel = cfg.get("select")
    if isinstance(sel, dict) and isinstance(sel.get("shots"), list):
        sel["shots"] = [_int("select.shots", k) for k in sel["shots"]]
    return cfg


def check_datasets(cfg: dict) -> None:
    for name, ds in cfg["datasets"].items():
        layout = ds.get("layout")
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
    check_datasets(cfg)
    check_variants(cfg)
    check_resources(cfg)
    selection(cfg)
    return cfg
