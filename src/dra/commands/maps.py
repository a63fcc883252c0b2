"""`python -m dra maps`: the anomaly maps of a run's first few test anomalies (one class after the
other, each class's sorted by path), from
the run's trained model: what a heatmap figure draws. The maps are smoothed as the pixel metrics
see them; DRA's references are a fresh draw from the run's seed."""

from pathlib import Path

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
    import json

    if args.images < 1:
        raise DraError(f"--images {args.images}: expected at least 1")
    text = Path(args.spec[1:]).read_text() if args.spec.startswith("@") else args.spec
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise DraError(f"--spec: not valid JSON ({e})") from None
    from dra.train import anomaly_maps  # torch is imported only here

    n = anomaly_maps(spec, args.model, args.split, args.cache, args.manifest, args.external, args.images,
                     args.out, args.device, base_model=args.base_model)
    print(f"wrote {args.out}: maps of {n} test anomalies")
