"""The effective configuration of one run, resolved from config.yaml and checked against the methods'
declared parameters (no torch import: the Snakefile calls this at parse time).

A run's parameters are its method's declared defaults (dra.plan.params), then the config's
`methods.<method>` overrides, then its variant's; `budget` scales every method's training length."""

from __future__ import annotations

import copy
import hashlib
import json
from functools import lru_cache
from pathlib import Path

from dra.data.external import named_source
from dra.errors import DraError, closest
from dra.plan import runkey
from dra.plan.methods import METHODS
from dra.plan.params import check_params, defaults, module_constant
from dra.plan.safeyaml import load_yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[3] / "config" / "config.yaml"
# pixel metrics: maps smoothed by a Gaussian of `sigma` input pixels, compared with the masks at `size`
LOCALIZATION = {"size": 256, "sigma": 4.0}


def deep_merge(base: dict, over: dict) -> dict:
    out = copy.deepcopy(base)
    for k, v in over.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else copy.deepcopy(v)
    return out


def load_config(*paths: str | Path) -> dict:
    """config.yaml, then each further file merged over it (as Snakemake's --configfile does); each
    file bounded before it is expanded (dra.plan.safeyaml)."""
    cfg: dict = {}
    for p in paths or (DEFAULT_CONFIG,):
        data = load_yaml(p) or {}
        if not isinstance(data, dict):
            raise DraError(f"{p}: expected a mapping of configuration keys at the top level, found {type(data).__name__}")
        cfg = deep_merge(cfg, data)
    return cfg


def _entry(cfg: dict, section: str, name: str) -> dict:
    """cfg[section][name], or an error naming the closest of the section's names."""
    if name not in cfg[section]:
        raise DraError(f"unknown {section[:-1]} {name!r}{closest(name, cfg[section])}; expected one of "
                       f"{sorted(cfg[section])}")
    return cfg[section][name]


def variant_config(cfg: dict, variant: str) -> dict:
    return _entry(cfg, "variants", variant)


def variant_method(cfg: dict, variant: str) -> str:
    method = variant_config(cfg, variant).get("method")
    if method not in METHODS:
        raise DraError(f"config variants.{variant}: method {method!r}{closest(str(method), METHODS)}; expected one of "
                       f"{list(METHODS)}")
    return method


def method_params(cfg: dict, variant: str) -> tuple[str, dict]:
    """(method, parameters) of a variant: declared defaults < methods.<method> < the variant's keys,
    each layer checked (an unknown key or a bad value is an error naming it)."""
    method = variant_method(cfg, variant)
    over_method = check_params(method, cfg.get("methods", {}).get(method) or {}, f"config methods.{method}")
    over_variant = {k: v for k, v in variant_config(cfg, variant).items() if k != "method"}
    over_variant = check_params(method, over_variant, f"config variants.{variant}")
    return method, deep_merge(deep_merge(defaults(method), over_method), over_variant)


def check_methods_section(cfg: dict) -> None:
    for name in cfg.get("methods") or {}:
        if name not in METHODS:
            raise DraError(f"config methods: unknown method {name!r}{closest(name, METHODS)}; expected some of "
                           f"{list(METHODS)}")


def is_unsupervised(cfg: dict, variant: str) -> bool:
    return bool(module_constant(variant_method(cfg, variant), "UNSUPERVISED", False))


def per_dataset(value, dataset: str):
    """A parameter written `{per_dataset: {<dataset>: value, ...}, default: value}` -> this dataset's value."""
    if isinstance(value, dict) and "per_dataset" in value:
        return value["per_dataset"].get(dataset, value["default"])
    return value


def dataset_config(cfg: dict, dataset: str) -> dict:
    return _entry(cfg, "datasets", dataset)


def scaled(epochs: int, budget: float) -> int:
    """Training length under `budget`: at least one epoch of anything that trains at all."""
    return max(1, round(epochs * budget)) if epochs else 0


def variant_spec(cfg: dict, variant: str, dataset: str) -> dict:
    """The part of a run's spec fixed by its variant and dataset: method, image size, parameters."""
    method, params = method_params(cfg, variant)
    ds = dataset_config(cfg, dataset)
    params = {k: per_dataset(v, dataset) for k, v in params.items()}
    if params.get("pseudo") == "auto":
        params["pseudo"] = ds.get("pseudo_source", "cutmix")
    if params.get("outliers") == "auto":
        params["outliers"] = ds.get("outlier_source", "mvtecad")
    budget = float(cfg.get("budget", 1.0))
    params["epochs"] = scaled(params["epochs"], budget)
    if params.get("finetune_epochs"):
        params["finetune_epochs"] = scaled(params["finetune_epochs"], budget)
    size = params.pop("image_size", None) or ds["image_size"]
    return {"method": method, "image_size": int(size), "params": params, "weights": cfg.get("weights", "imagenet"),
            "budget": budget, "localization": {**LOCALIZATION, **(cfg.get("localization") or {})},
            "external": external_source(cfg, dataset, params)}


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
        "weights": v["weights"], "budget": v["budget"], "localization": v["localization"],
        "external": v["external"],
    }


def external_source(cfg: dict, dataset: str, params: dict) -> dict | None:
    """The external pool a run of these parameters on `dataset` draws from (dra.data.external), if
    any: {param, source, pool}. A dataset's config may map a source to another dataset
    (`external: {mvtecad: demo}`: the demo uses its own other subsets where the protocol uses other
    MVTec categories)."""
    named = named_source(params)
    if named is None:
        return None
    key, source = named
    return {"param": key, "source": source, "pool": cfg["datasets"][dataset].get("external", {}).get(source, source)}


def subsets(cfg: dict, dataset: str) -> list[str]:
    """The config's `subsets`; for a dataset of the user's own without them, the subset folders of its
    `raw` folder (read once: a folder listing, no image is opened)."""
    ds = dataset_config(cfg, dataset)
    if "subsets" in ds:
        return list(ds["subsets"])
    if ds.get("layout") and ds.get("raw"):
        return list(_discovered(str(ds["raw"]), dataset))
    return [dataset]


@lru_cache(maxsize=None)
def _discovered(raw: str, dataset: str) -> tuple[str, ...]:
    from dra.data.mvtec_layout import discover_subsets

    try:
        found = discover_subsets(Path(raw))
    except DraError as e:
        raise DraError(f"config datasets.{dataset}.raw: {e}") from None
    for s in found:
        runkey.check_name(s, f"config datasets.{dataset}.raw: subset folder {Path(raw) / s}")
        test = Path(raw) / s / "test"
        for c in sorted(p.name for p in test.iterdir() if p.is_dir() and not p.name.startswith(".")) \
                if test.is_dir() else []:
            runkey.check_name(c, f"config datasets.{dataset}.raw: anomaly class folder {test / c}")
    return found


def external_subsets(cfg: dict, spec: dict) -> list[tuple[str, str]]:
    """(dataset, subset) pairs whose images form the run's external pool: never the run's own subset."""
    ext = spec["external"] if "external" in spec else external_source(cfg, spec["dataset"], spec["params"])
    if ext is None:
        return []
    src = ext["pool"]
    if src not in cfg["datasets"]:
        raise DraError(f"{spec['variant']} on {spec['dataset']}: its external source {src!r} is not a dataset of the "
                       f"config (datasets: {sorted(cfg['datasets'])})")
    pairs = [(src, s) for s in subsets(cfg, src) if (src, s) != (spec["dataset"], spec["subset"])]
    if not pairs:
        raise DraError(f"external source {src!r} for {spec['dataset']}/{spec['subset']} has no other subsets")
    return pairs


def digest(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True).encode()).hexdigest()


def run_data_files(cfg: dict, spec: dict) -> dict:
    """The data files a run reads: its split, manifest and image cache, its external pool's caches, and a
    cross-domain run's target split, manifest and cache (it trains on its source subset's general split).
    The workflow declares them as the train job's inputs; the plan compares their times with the run's."""
    data, results, size = cfg["paths"]["data"], cfg["paths"]["results"], spec["image_size"]
    dataset, seed = spec["dataset"], spec["seed"]
    source, setting = runkey.split_setting(spec["setting"])

    def cache(d: str, subset: str) -> str:
        return runkey.CACHE.format(data=data, dataset=d, subset=subset, size=size)

    def manifest(subset: str) -> str:
        return runkey.MANIFEST.format(data=data, dataset=dataset, subset=subset)

    def split(subset: str, of: str) -> str:
        return runkey.SPLIT.format(results=results, dataset=dataset, subset=subset, setting=of, seed=seed)

    train = source or spec["subset"]
    own = spec["subset"]
    return {"split": split(train, setting), "manifest": manifest(train), "cache": cache(dataset, train),
            "external": [cache(d, sub) for d, sub in external_subsets(cfg, spec)],
            "target": [split(own, runkey.GENERAL), manifest(own), cache(dataset, own)] if source else []}
