from pathlib import Path

from dra.data.prepare import prepare_subset, subsets_of


def configure(p):
    p.add_argument("dataset", help="dataset name (python -m dra datasets lists them)")
    p.add_argument("--raw", type=Path, help="the dataset's raw folder (original layout)")
    p.add_argument("--out", type=Path, required=True, help="writes OUT/<subset>/manifest.csv and the images")
    p.add_argument("--subset", action="append", help="only this subset (repeatable); default: all")
    p.add_argument("--no-check-counts", action="store_true", help="skip the paper's image counts (miniature copies)")
    p.add_argument("--split-seed", type=int, default=42, help="seed of the 75/25 normal split where none is official")


def run(args):
    for subset in args.subset or subsets_of(args.dataset, args.raw):
        path = prepare_subset(args.dataset, args.raw, args.out, subset, check=not args.no_check_counts,
                              split_seed=args.split_seed)
        print(f"wrote {path}")
