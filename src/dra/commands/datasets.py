"""`python -m dra datasets`: every dataset, its state under the data folder, licence, where its files go."""

from pathlib import Path

from dra.data.registry import DATASETS, dataset_module


def configure(p):
    p.add_argument("--data", type=Path, default=Path("data"),
                   help="the data folder (raw/<dataset>/ and prepared/<dataset>/ below it; default: data)")


def state(name: str, data: Path) -> str:
    mod = dataset_module(name)
    subsets = tuple(getattr(mod, "SUBSETS", ()))
    prepared = data / "prepared" / name
    if subsets:
        done = sum((prepared / s / "manifest.csv").is_file() for s in subsets)
        if done == len(subsets):
            return "prepared"
        if done:
            return f"prepared {done}/{len(subsets)}"
    elif any(prepared.glob("*/manifest.csv")):
        return "prepared"
    raw = data / "raw" / name
    files = getattr(mod, "FILES", ())
    if (raw / "extracted").is_dir():
        return "raw present (extracted)"
    if files and all((raw / f.name).is_file() for f in files):
        return "raw present"
    if files and any((raw / f.name).is_file() for f in files):
        return "raw partly present"
    if hasattr(mod, "default_raw"):
        try:
            mod.default_raw()
            return "raw present (installed package)"
        except Exception:
            pass
    return "missing"


def where(name: str, data: Path) -> str:
    files = getattr(dataset_module(name), "FILES", ())
    if not files:
        return "(generated or given with --raw)"
    raw = data / "raw" / name
    return ", ".join(f"{raw / f.name}" + ("" if f.url else " (by hand)") for f in files)


def run(args):
    rows = [(name, state(name, args.data), getattr(dataset_module(name), "LICENCE", "?"), where(name, args.data))
            for name in DATASETS]
    head = ("dataset", "state", "licence", "raw files")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    for r in [head, tuple("-" * w for w in widths) + ("-" * 9,)] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
