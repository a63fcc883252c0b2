"""Pretrained weights are a declared input, never a silent download inside a job.

`imagenet` means torchvision's file for that architecture, looked up in torchvision's cache
($TORCH_HOME/hub/checkpoints, which `python -m dra weights` fills on an online machine);
a path means that file; `none` means a random start. The paths are worked out without importing
torch (the Snakefile declares them as inputs of the training runs when it is parsed)."""

from __future__ import annotations

import os
from pathlib import Path

from dra.errors import DraError

# torchvision's published files (file name -> URL); the file name embeds a hash prefix.
IMAGENET_FILES = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}


def cache_dir() -> Path:
    """torch.hub.get_dir()'s rule: $TORCH_HOME, else $XDG_CACHE_HOME/torch, else ~/.cache/torch; then hub/."""
    home = os.environ.get("TORCH_HOME") or os.path.join(os.environ.get("XDG_CACHE_HOME", "~/.cache"), "torch")
    return Path(os.path.expanduser(home)) / "hub" / "checkpoints"


def imagenet_path(arch: str) -> Path:
    return cache_dir() / IMAGENET_FILES[arch].rsplit("/", 1)[1]


def weight_path(weights: str, arch: str) -> Path | None:
    """Where `arch`'s weights are read from under the config's `weights` (None: a random start)."""
    if weights in (None, "none"):
        return None
    return imagenet_path(arch) if weights == "imagenet" else Path(weights)


def weight_files(weights: str, method: str) -> list[str]:
    """The files a method's runs read (its module's WEIGHTS: the architectures it starts from)."""
    from dra.params import module_constant

    paths = [weight_path(weights, arch) for arch in module_constant(method, "WEIGHTS", ())]
    return [str(p) for p in paths if p is not None]


def resolve(weights: str, arch: str) -> Path | None:
    """Where to read `arch`'s weights from; raise with the fetching command if they are missing."""
    path = weight_path(weights, arch)
    if path is not None and not path.is_file():
        raise DraError(
            f"{path}: {arch} weights ({weights}) not found. On a machine with internet run "
            f"`python -m dra weights --arch {arch}` (or `snakemake --cores 1 weights`), or download "
            f"{IMAGENET_FILES.get(arch, 'the file')} to that path yourself (TORCH_HOME="
            f"{os.environ.get('TORCH_HOME', 'unset')}); or set `weights: none` (a random start) or a file path")
    return path


def load_state(weights: str, arch: str) -> dict | None:
    import torch

    path = resolve(weights, arch)
    if path is None:
        return None
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # a truncated download is the usual cause
        raise DraError(f"{path}: cannot read {arch} weights ({e}); delete it and fetch it again") from None


def fetch(arch: str) -> Path:
    """Download into torchvision's cache, verifying torchvision's embedded hash prefix."""
    import torch

    path = imagenet_path(arch)
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.hub.download_url_to_file(IMAGENET_FILES[arch], str(path), hash_prefix=path.stem.rsplit("-", 1)[1])
    return path
