"""`python -m dra weights`: fill torchvision's weights cache ($TORCH_HOME/hub/checkpoints) on a
machine with internet, typically the cluster's login node (`snakemake weights` runs this as a local
rule). Training jobs only read that cache: they never download (dra.run.weights.load_state)."""

import os

from dra.errors import DraError
from dra.plan.weights import IMAGENET_FILES, imagenet_path
from dra.run.weights import fetch


def configure(p):
    p.add_argument("--arch", action="append", choices=sorted(IMAGENET_FILES),
                   help="architecture whose ImageNet weights to fetch (repeatable; default: all of "
                        f"{', '.join(sorted(IMAGENET_FILES))})")


def run(args):
    for arch in args.arch or sorted(IMAGENET_FILES):
        path = imagenet_path(arch)
        had = path.is_file()
        try:
            fetch(arch)
        except (OSError, RuntimeError) as e:  # URLError is an OSError; a hash mismatch a RuntimeError
            raise DraError(
                f"{arch}: cannot download {IMAGENET_FILES[arch]} ({e}). This needs internet: run it on "
                f"a machine that has it (a cluster's login node), or copy the file to {path} yourself "
                f"(TORCH_HOME={os.environ.get('TORCH_HOME', 'unset')})") from None
        size = path.stat().st_size / 2**20
        print(f"{arch}: {path} ({size:.0f} MiB, {'already there' if had else 'downloaded'})")
