import sys
from pathlib import Path

from dra.data.download import fetch_dataset
from dra.errors import DraError


def configure(p):
    p.add_argument("dataset", help="dataset name (python -m dra datasets lists them and their files)")
    p.add_argument("--out", type=Path, required=True, help="the dataset's raw folder, e.g. data/raw/<dataset>")
    p.add_argument("--file", action="append", help="only this file (repeatable); default: all the dataset's files")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    p.add_argument("--log", type=Path,
                   help="write the progress here as well as to stderr, and the outcome (the files, or the error) "
                        "here only: the workflow's download rules, whose failed log Snakemake shows, so that an "
                        "error is shown once")


class _Both:
    """stderr and the log: the progress lines go to both."""

    def __init__(self, *streams):
        self.streams = streams

    def write(self, text):
        for s in self.streams:
            s.write(text)

    def flush(self):
        for s in self.streams:
            s.flush()

    def isatty(self):
        return False


def run(args):
    if args.log is None:
        for path in fetch_dataset(args.dataset, args.out, args.file, progress=not args.no_progress):
            print(f"ok {path}")
        return
    args.log.parent.mkdir(parents=True, exist_ok=True)
    with open(args.log, "w") as log:
        err = sys.stderr
        sys.stderr = _Both(err, log)
        try:
            paths = fetch_dataset(args.dataset, args.out, args.file, progress=not args.no_progress)
        except DraError as e:
            log.write(f"error: {e}\n")
            raise SystemExit(1) from None
        finally:
            sys.stderr = err
        for path in paths:
            print(f"ok {path}")
            log.write(f"ok {path}\n")
