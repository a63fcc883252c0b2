"""Pretrained weights are a declared input, never a silent download inside a job.

`imagenet` means torchvision's file for that architecture, looked up in torchvision's cache
($TORCH_HOME/hub/checkpoints, which `python -m dra weights` fills on an online machine);
a path means that file; `none` means a random start."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from dra.errors import DraError

# torchvision's published files (file name -> URL); the file name embeds a hash prefix.
IMAGENET_FILES = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}


def cache_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_path(arch: str) -> Path:
    return cache_dir() / IMAGENET_FILES[arch].rsplit("/", 1)[1]


def resolve(weights: str, arch: str) -> Path | None:
    """Where to read `arch`'s weights from; raise with the fetching command if they are missing."""
    if weights in (None, "none"):
        return None
    path = imagenet_path(arch) if weights == "imagenet" else Path(weights)
    if not path.is_file():
        raise DraError(
            f"{path}: {arch} weights ({weights}) not found. On a machine with internet run "
            f"`python -m dra weights --arch {arch}` (or `snakemake weights`), or download "
            f"{IMAGENET_FILES.get(arch, 'the file')} to that path yourself (TORCH_HOME={os.environ.get('TORCH_HOME', 'unset')})")
    return path


def load_state(weights: str, arch: str) -> dict | None:
    path = resolve(weights, arch)
    if path is None:
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated download is the usual cause
        raise DraError(f"{path}: cannot read {arch} weights ({e}); delete it and fetch it again") from None


def fetch(arch: str) -> Path:
    """Download into torchvision's cache, verifying torchvision's embedded hash prefix."""
    path = imagenet_path(arch)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(IMAGENET_FILES[arch], str(path), hash_prefix=path.stem.rsplit("-", 1)[1])
    return path
