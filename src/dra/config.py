"""The effective configuration of one run, resolved from config.yaml (no torch import: the
Snakefile calls this at parse time)."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path

import yaml

from dra.errors import DraError

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "config" / "config.yaml"


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_config(*paths: str | Path) -> dict:
    """config.yaml, then each further file merged over it (as Snakemake's --configfile does)."""
    cfg: dict = {}
    for p in paths or (DEFAULT_CONFIG,):
        cfg = deep_merge(cfg, yaml.safe_load(Path(p).read_text()) or {})
    return cfg


def method_params(cfg: dict, variant: str) -> tuple[str, dict]:
    if variant not in cfg["variants"]:
        raise DraError(f"unknown variant {variant!r}; expected one of {sorted(cfg['variants'])}")
    v = dict(cfg["variants"][variant])
    method = v.pop("method")
    if method not in cfg["methods"]:
        raise DraError(f"variant {variant!r} names method {method!r}, which config 'methods' lacks")
    return method, deep_merge(cfg["methods"][method], v)


def is_unsupervised(cfg: dict, variant: str) -> bool:
    return bool(method_params(cfg, variant)[1].get("unsupervised", False))


def per_dataset(value, dataset: str):
    """A parameter written `{per_dataset: {<dataset>: value, ...}, default: value}` -> this dataset's value."""
    if isinstance(value, dict) and "per_dataset" in value:
        return value["per_dataset"].get(dataset, value["default"])
    return value


def variant_spec(cfg: dict, variant: str, dataset: str) -> dict:
    """The part of a run's spec fixed by its variant and dataset: method, image size, parameters."""
    method, params = method_params(cfg, variant)
    ds = cfg["datasets"][dataset]
    params = {k: per_dataset(v, dataset) for k, v in params.items()}
    if params.get("pseudo") == "auto":
        params["pseudo"] = ds.get("pseudo_source", "cutmix")
    if params.get("outliers") == "auto":
        params["outliers"] = ds.get("outlier_source", "mvtecad")
    size = params.pop("image_size", None) or ds["image_size"]
    return {"method": method, "image_size": int(size), "params": params, "weights": cfg.get("weights", "imagenet")}


def run_spec(
    cfg: dict, variant: str, dataset: str, subset: str, setting: str, shots: int, seed: int,
    resolved: dict | None = None,
) -> dict:
    """Everything a run's result depends on besides its data files and code. `resolved`: the
    variant_spec of (variant, dataset), where a caller has it already (the Snakefile, thousands of
    runs over a few dozen variants); it is shared, not copied."""
    v = variant_spec(cfg, variant, dataset) if resolved is None else resolved
    return {
        "variant": variant, "method": v["method"], "dataset": dataset, "subset": subset, "setting": setting,
        "shots": int(shots), "seed": int(seed), "image_size": v["image_size"], "params": v["params"],
        "weights": v["weights"],
    }


EXTERNAL = ("mvtecad", "lag")  # sources of external pseudo anomalies / outliers


def external_source(cfg: dict, spec: dict) -> str | None:
    """The dataset whose images a run uses as external pseudo anomalies or outliers, if any.

    A dataset's config may map a source to another dataset (`external: {mvtecad: demo}`: the
    demo uses its own other subsets where the protocol uses other MVTec categories)."""
    p = spec["params"]
    for key in ("pseudo", "outliers"):
        if p.get(key) in EXTERNAL:
            return cfg["datasets"][spec["dataset"]].get("external", {}).get(p[key], p[key])
    return None


def subsets(cfg: dict, dataset: str) -> list[str]:
    return list(cfg["datasets"][dataset].get("subsets", [dataset]))


def external_subsets(cfg: dict, spec: dict) -> list[tuple[str, str]]:
    """(dataset, subset) pairs whose images form the external pool: never the run's own subset."""
    src = external_source(cfg, spec)
    if src is None:
        return []
    pairs = [(src, s) for s in subsets(cfg, src) if (src, s) != (spec["dataset"], spec["subset"])]
    if not pairs:
        raise DraError(f"external source {src!r} for {spec['dataset']}/{spec['subset']} has no other subsets")
    return pairs


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()
