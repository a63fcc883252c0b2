"""Pretrained weights are a declared input, never a silent download inside a job.

`imagenet` means torchvision's file for that architecture, looked up in torchvision's cache
($TORCH_HOME/hub/checkpoints, which `python -m dra weights` fills on an online machine); a path
means that file; `none` means a random start. Worked out without torch: the Snakefile declares the
files as inputs of the training runs when it is parsed (dra.run.weights reads them)."""

from __future__ import annotations

import os
from pathlib import Path

from dra.plan.methods import entry

# torchvision's published files (file name -> URL); the file name embeds a hash prefix.
IMAGENET_FILES = {
    "resnet18": "https://download.pytorch.org/models/resnet18-f37072fd.pth",
    "vgg16": "https://download.pytorch.org/models/vgg16-397923af.pth",
}
FETCH_HELP = ("run `snakemake --cores 1 weights` on a machine with internet (a cluster's login node), "
              "or set `weights: none` (a random start) or `weights: <a file path>` in the config")


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
    """The files a method's runs read (the registry's architectures it starts from)."""
    paths = [weight_path(weights, arch) for arch in entry(method).weights]
    return [str(p) for p in paths if p is not None]
