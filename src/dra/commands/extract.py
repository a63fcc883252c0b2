from pathlib import Path

from dra.data.archive import archive_kind, extract_all
from dra.data.download import files_of, verify
from dra.errors import DraError


def configure(p):
    p.add_argument("dataset", help="dataset name (python -m dra datasets lists them and their files)")
    p.add_argument("--raw", type=Path, required=True, help="folder holding the downloaded archives (data/raw/<dataset>)")
    p.add_argument("--out", type=Path, required=True,
                   help="folder to create (data/raw/<dataset>/extracted); each archive goes into OUT/<archive stem>/")


def run(args):
    archives = []
    for f in files_of(args.dataset):
        if archive_kind(f.name) is None:
            continue
        path = args.raw / f.name
        if not path.is_file():
            raise DraError(f"{path}: archive of {args.dataset} not found; run `python -m dra download {args.dataset} "
                           f"--out {args.raw}` first (it says where to get files that need an account)")
        verify(path, f.sha256, " (checked before extraction)")
        archives.append(path)
    if not archives:
        raise DraError(f"{args.dataset}: declares no archives to extract")
    extract_all(archives, args.out)
    print(f"wrote {args.out}")
