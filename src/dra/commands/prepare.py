from pathlib import Path

from dra.data.prepare import COUNTS_HINT, prepare_subset, subsets_of
from dra.data.registry import LAYOUTS


def configure(p):
    p.add_argument("dataset", help="dataset name (python -m dra datasets lists them), or any name with --layout")
    p.add_argument("--raw", type=Path, help="the dataset's raw folder (original layout)")
    p.add_argument("--out", type=Path, required=True, help="writes OUT/<subset>/manifest.csv and the images")
    p.add_argument("--subset", action="append", help="only this subset (repeatable); default: all")
    p.add_argument("--layout", choices=sorted(LAYOUTS),
                   help="a dataset of your own in this layout (subsets and classes found in --raw, no counts checked)")
    p.add_argument("--no-check-counts", action="store_true",
                   help="do not compare the image counts with the paper's Table 5 (" + COUNTS_HINT.split(": ", 1)[0] + ")")
    p.add_argument("--split-seed", type=int, default=42, help="seed of the 75/25 normal split where none is official")


def run(args):
    for subset in args.subset or subsets_of(args.dataset, args.raw, args.layout):
        path = prepare_subset(args.dataset, args.raw, args.out, subset, check=not args.no_check_counts,
                              split_seed=args.split_seed, layout=args.layout)
        print(f"wrote {path}")
