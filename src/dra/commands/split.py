from pathlib import Path

from dra.data.splits import write_split
from dra.plan.runkey import hard_class


def configure(p):
    p.add_argument("--manifest", type=Path, required=True)
    p.add_argument("--setting", required=True, help="general or hard-<anomaly class>")
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--dataset", default="")
    p.add_argument("--subset", default="")


def run(args):
    s = write_split(args.manifest, args.setting, hard_class(args.setting), args.seed, args.out, args.dataset,
                    args.subset)
    print(f"wrote {args.out}: {len(s['train_normal'])} train normals, {len(s['anomalies'])} labeled anomalies, "
          f"{len(s['test'])} test images")
