"""A run's inputs, verified and loaded: its spec checked against the method's declarations, its split
and the manifest that split was made from, the image cache built from that manifest at the run's
size, the external pools, the pretrained weights and an AHL run's base model, all as tensors and
state dicts in a RunData. Nothing downstream opens a file."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from dra.data.cache import ImageCache
from dra.data.external import missing_pool_message
from dra.data.manifest import manifest_digest, read_manifest
from dra.data.splits import labeled, read_split
from dra.errors import DraError
from dra.methods.rundata import ImagePool, RunData
from dra.plan.methods import entry
from dra.plan.params import check_params, defaults
from dra.run.weights import pretrained

SPEC_KEYS = ("variant", "method", "dataset", "subset", "setting", "shots", "seed", "image_size", "params", "weights")


@dataclass(frozen=True)
class SubsetFiles:
    """The files of one subset a run reads, in the one order used everywhere (the command line's
    --split/--manifest/--cache and a cross-domain run's --target-*)."""
    split: Path
    manifest: Path
    cache: Path


def check_spec(spec: dict, where: str) -> dict:
    """A run spec given by hand (or by the workflow) checked as the workflow checks a config: the six
    words, the method, every parameter against the method's declarations."""
    if not isinstance(spec, dict):
        raise DraError(f"{where}: a run spec is a JSON object; got {type(spec).__name__}")
    missing = [k for k in SPEC_KEYS if k not in spec]
    if missing:
        raise DraError(f"{where}: the run spec lacks {missing}; expected the keys of `python -m dra train --help`")
    try:
        entry(spec["method"])
    except DraError as e:
        raise DraError(f"{where}: {e}") from None
    if not isinstance(spec["params"], dict):
        raise DraError(f"{where}: params is {type(spec['params']).__name__}; expected an object of parameters")
    params = check_params(spec["method"], spec["params"], f"{where} params")
    missing = {k: v for k, v in defaults(spec["method"]).items() if k not in params and k != "image_size"}
    return {**spec, "params": {**params, **missing}}  # a parameter not given takes its declared default


def open_cache(cache_path: Path, split: dict, spec: dict) -> ImageCache:
    cache = ImageCache(cache_path, split["manifest_sha256"])
    if cache.size != spec["image_size"]:
        raise DraError(f"{cache_path}: cache holds {cache.size} px images, the run expects {spec['image_size']} px")
    return cache


def open_subset(files: SubsetFiles, spec: dict) -> tuple[dict, ImageCache, pd.DataFrame]:
    """(split, cache, manifest) of one subset, each checked against the others: the manifest is the
    one the split was made from (a relabelled copy would change the labels the run is scored on),
    and the cache was built from it."""
    split = read_split(files.split)
    actual = manifest_digest(files.manifest)
    if actual != split["manifest_sha256"]:
        raise DraError(f"{files.manifest}: manifest digest {actual[:12]} differs from the {split['manifest_sha256'][:12]} "
                       f"that {files.split} was made from; a manifest is never edited by hand: prepare the subset "
                       "again and let the workflow redo its splits")
    return split, open_cache(files.cache, split, spec), read_manifest(files.manifest)


def image_pool(cache: ImageCache, paths: list[str], device: torch.device) -> ImagePool:
    return ImagePool(cache.gather(cache.rows(paths)), device)


def external_pool(paths: list[Path], device: torch.device) -> ImagePool | None:
    """Every image of the external caches as one pool (None without any)."""
    if not paths:
        return None
    return ImagePool(np.concatenate([np.asarray(ImageCache(p).array) for p in paths]), device)


def load_base_model(path: Path | None) -> dict | None:
    """The trained model an AHL run builds on: a mapping of tensors, read as data (weights only)."""
    if path is None:
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # noqa: BLE001 - missing, truncated or foreign: a clean error naming it
        raise DraError(f"{path}: the base run's model cannot be read ({type(e).__name__}: "
                       f"{str(e).splitlines()[0][:200] if str(e) else ''})") from None
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise DraError(f"{path}: not a model state_dict (expected a mapping of tensors)")
    return state


def load_data(spec: dict, split: dict, cache: ImageCache, manifest: pd.DataFrame, device: torch.device,
              external: ImagePool | None = None, base_model: dict | None = None,
              weights: dict | None = None) -> RunData:
    """The run's images as tensors on the device, its test labels and classes, and the states its
    method starts from."""
    shots = labeled(split, spec["shots"])
    meta = manifest.set_index("path").loc[split["test"]]
    return RunData(
        normal=image_pool(cache, split["train_normal"], device),
        anomaly=image_pool(cache, shots, device) if shots else None,
        external=external,
        test=image_pool(cache, split["test"], device),
        test_paths=list(split["test"]),
        test_labels=meta["label"].to_numpy(),
        test_classes=meta["anomaly_class"].tolist(),
        image_size=cache.size,
        device=device,
        test_masks=cache.masks(split["test"]),
        base_model=base_model,
        pretrained=weights or {},
    )


def load_run(spec: dict, own: SubsetFiles, device: torch.device, external: list[Path] = (),
             base_model: Path | None = None, target: SubsetFiles | None = None,
             weights: bool = True) -> tuple[RunData, RunData | None, dict, dict | None]:
    """(the run's data, a cross-domain run's target data, its split, the target's split). The target
    data holds the target's normals (no labeled anomalies) and test set; it shares the run's
    external pool and states. `weights`: load the pretrained states (a trained model replaces them)."""
    split, cache, manifest = open_subset(own, spec)
    pool = external_pool([Path(x) for x in external], device)
    if spec.get("external") and pool is None:
        raise DraError(missing_pool_message(spec["external"]))
    base = load_base_model(None if base_model is None else Path(base_model))
    states = pretrained(spec["weights"], spec["method"]) if weights else {}
    data = load_data(spec, split, cache, manifest, device, pool, base, states)
    if target is None:
        return data, None, split, None
    t_split, t_cache, t_manifest = open_subset(target, spec)
    finetune = load_data({**spec, "shots": 0}, t_split, t_cache, t_manifest, device, pool, base, states)
    return data, finetune, split, t_split


def check_target(spec: dict, target: SubsetFiles | None, where: str) -> None:
    p = spec["params"]
    if (target is None) != (not p.get("finetune_epochs")):
        raise DraError(f"{where}: a target subset and the variant's finetune_epochs go together; got target "
                       f"{'none' if target is None else target.split} and finetune_epochs {p.get('finetune_epochs')}")

