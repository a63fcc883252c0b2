"""Pretrained weights into state dicts, read from the files dra.plan.weights names (a run never
downloads), and the download itself for `python -m dra weights` on an online machine."""

from __future__ import annotations

import os

import torch

from dra.errors import DraError
from dra.plan.methods import entry
from dra.plan.weights import IMAGENET_FILES, imagenet_path, weight_path


def load_state(weights: str, arch: str) -> dict | None:
    """`arch`'s pretrained state under the config's `weights` (None: a random start); a missing or
    unreadable file is an error naming it and how to get it."""
    path = weight_path(weights, arch)
    if path is None:
        return None
    if not path.is_file():
        raise DraError(
            f"{path}: {arch} weights ({weights}) not found. On a machine with internet run "
            f"`python -m dra weights --arch {arch}` (or `snakemake --cores 1 weights`), or download "
            f"{IMAGENET_FILES.get(arch, 'the file')} to that path yourself (TORCH_HOME="
            f"{os.environ.get('TORCH_HOME', 'unset')}); or set `weights: none` (a random start) or a file path")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated download is the usual cause
        raise DraError(f"{path}: cannot read {arch} weights ({e}); delete it and fetch it again") from None


def pretrained(weights: str, method: str) -> dict[str, dict | None]:
    """Every architecture the method starts from -> its state (None: a random start)."""
    return {arch: load_state(weights, arch) for arch in entry(method).weights}


def fetch(arch: str):
    """Download into torchvision's cache, verifying torchvision's embedded hash prefix."""
    path = imagenet_path(arch)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(IMAGENET_FILES[arch], str(path), hash_prefix=path.stem.rsplit("-", 1)[1])
    return path
