"""`python -m dra maps`: the anomaly maps of a run's first few test anomalies (one class after the
other, each class's sorted by path), from
the run's trained model: what a heatmap figure draws. The maps are smoothed as the pixel metrics
see them; DRA's references are a fresh draw from the run's seed."""

from pathlib import Path

from dra.commands import json_arg
from dra.errors import DraError


def configure(p):
    p.add_argument("--spec", required=True, help="the run's spec: JSON text or @file (as `python -m dra train`)")
    p.add_argument("--model", type=Path, required=True, help="the run's trained model (train --save-model)")
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--external", type=Path, action="append", default=[], help="external image caches, as the run's")
    p.add_argument("--base-model", type=Path, help="AHL runs: the model of the run it builds on, as the run's")
    p.add_argument("--images", type=int, default=3, help="test anomalies to map (default 3)")
    p.add_argument("--device", default="auto")
    p.add_argument("--out", type=Path, required=True, help=".npz with ids, images, maps, masks")


def run(args):
    if args.images < 1:
        raise DraError(f"--images {args.images}: expected at least 1")
    spec = json_arg(args.spec, "--spec")
    from dra.run.inputs import SubsetFiles  # torch is imported only here
    from dra.run.maps import anomaly_maps

    n = anomaly_maps(spec, args.model, SubsetFiles(args.split, args.manifest, args.cache), args.external,
                     args.images, args.out, args.device, base_model=args.base_model)
    print(f"wrote {args.out}: maps of {n} test anomalies")
