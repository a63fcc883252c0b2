import re
import sys
from pathlib import Path

from dra.commands import json_arg
from dra.errors import DraError
from dra.run.interrupt import EXIT_INTERRUPTED

DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def configure(p):
    p.add_argument("--spec", required=True, help="the run's effective configuration: JSON text or @file "
                   "(checked against its method's declared parameters: `python -m dra params`)")
    p.add_argument("--split", type=Path, required=True)
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--cache", type=Path, required=True, help="decoded image cache (.npy) at the run's size")
    p.add_argument("--external", type=Path, action="append", default=[],
                   help="cache(s) of external pseudo-anomaly / outlier images (repeatable)")
    p.add_argument("--target-split", type=Path, help="cross-domain runs: the target subset's split (fine-tune on "
                   "its normals for the variant's finetune_epochs, test on its test set)")
    p.add_argument("--target-manifest", type=Path, help="cross-domain runs: the target subset's manifest")
    p.add_argument("--target-cache", type=Path, help="cross-domain runs: the target subset's image cache")
    p.add_argument("--base-model", type=Path, help="AHL runs: the trained model of the run it builds on")
    p.add_argument("--save-model", type=Path, help="keep the trained model here (for a step that builds on it)")
    p.add_argument("--save-maps", type=Path, help="save every test image's anomaly map here (.npz, float16)")
    p.add_argument("--out", type=Path, required=True, help="run folder: scores.csv, metrics.json")
    p.add_argument("--device", default="auto", help="auto, cpu, cuda, cuda:N")
    p.add_argument("--checkpoint-every", type=int, default=100, help="iterations between checkpoints (0: none)")
    p.add_argument("--amp", choices=["auto", "bf16", "off"], default="auto", help="auto: bf16 on GPU, off on CPU")


def run(args):
    spec = json_arg(args.spec, "--spec")
    if not DEVICE.match(args.device):
        raise DraError(f"--device {args.device!r}: expected auto, cpu, cuda or cuda:N")
    if args.checkpoint_every < 0:
        raise DraError(f"--checkpoint-every {args.checkpoint_every}: expected 0 (none) or more")
    given = [x is not None for x in (args.target_split, args.target_manifest, args.target_cache)]
    if any(given) and not all(given):
        raise DraError("--target-split, --target-manifest and --target-cache go together")
    try:
        from dra.run.inputs import SubsetFiles  # torch is imported only here
        from dra.run.interrupt import Interrupted
        from dra.run.train import train_run
    except KeyboardInterrupt:  # while torch loads
        print(f"{args.out}: interrupted before training started; a rerun starts over", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None

    target = SubsetFiles(args.target_split, args.target_manifest, args.target_cache) if all(given) else None
    try:
        info = train_run(spec, SubsetFiles(args.split, args.manifest, args.cache), args.out, args.external,
                         args.device, args.checkpoint_every, args.amp, target, base_model=args.base_model,
                         model_out=args.save_model, maps_out=args.save_maps, progress=True)
    except Interrupted as e:  # one line, no traceback; the status says "run me again"
        print(f"{args.out}: {e}", file=sys.stderr)
        raise SystemExit(EXIT_INTERRUPTED) from None
    pixel = (f" pixel AUROC {info['pixel_auroc']:.4f} AUPRO {info['aupro']:.4f}"
             if info.get("pixel_auroc") is not None else "")
    unit = "feature maps" if info.get("images_per_second") is None else "images"
    rate = info.get("images_per_second") or info.get("feature_maps_per_second") or 0.0
    print(f"{args.out}: auroc {info['auroc']:.4f} aupr {info['aupr']:.4f}{pixel} in {info['seconds']:.1f} s "
          f"({rate:.1f} {unit}/s on {info['device']})")
