from pathlib import Path

from dra.data.download import fetch_dataset


def configure(p):
    p.add_argument("dataset", help="dataset name (python -m dra datasets lists them and their files)")
    p.add_argument("--out", type=Path, required=True, help="the dataset's raw folder, e.g. data/raw/<dataset>")
    p.add_argument("--file", action="append", help="only this file (repeatable); default: all the dataset's files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def run(args):
    for path in fetch_dataset(args.dataset, args.out, args.file, progress=not args.no_progress):
        print(f"ok {path}")
