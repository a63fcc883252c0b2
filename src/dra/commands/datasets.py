"""`python -m dra datasets`: every dataset, its state under the data folder, licence, where its files
go; with `--configfile`, also what the configuration's selected runs need and lack (the workflow's
pre-flight, from the config alone)."""

import glob
from pathlib import Path

from dra.data.registry import DATASETS, dataset_module
from dra.plan import runkey


def configure(p):
    p.add_argument("--data", type=Path,
                   help="the data folder (raw/<dataset>/ and prepared/<dataset>/ below it; default: the config's "
                        "paths.data, else data)")
    p.add_argument("--configfile", type=Path, action="append", default=[],
                   help="the workflow's config file(s), merged in order as Snakemake does (config/config.yaml first): "
                        "list what its selected runs need and lack")


def state(name: str, data: Path) -> str:
    mod = dataset_module(name)
    subsets = tuple(getattr(mod, "SUBSETS", ()))
    def manifest(subset):
        return Path(runkey.MANIFEST.format(data=data, dataset=name, subset=subset))

    if subsets:
        done = sum(manifest(s).is_file() for s in subsets)
        if done == len(subsets):
            return "prepared"
        if done:
            return f"prepared {done}/{len(subsets)}"
    elif glob.glob(str(manifest("*"))):
        return "prepared"
    raw = Path(runkey.RAW.format(data=data, dataset=name))
    files = getattr(mod, "FILES", ())
    if Path(runkey.EXTRACTED.format(data=data, dataset=name)).is_dir():
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
    cfg = None
    if args.configfile:
        from dra.plan.config import load_config
        from dra.plan.configcheck import check_config, coerce

        cfg = check_config(coerce(load_config(*args.configfile)))
    data = args.data or Path(cfg["paths"]["data"] if cfg else "data")
    rows = [(name, state(name, data), getattr(dataset_module(name), "LICENCE", "?"), where(name, data))
            for name in DATASETS]
    head = ("dataset", "state", "licence", "raw files")
    widths = [max(len(r[i]) for r in rows + [head]) for i in range(3)]
    for r in [head, tuple("-" * w for w in widths) + ("-" * 9,)] + rows:
        print("  ".join(c.ljust(w) for c, w in zip(r[:3], widths)) + "  " + r[3])
    if cfg is not None:
        from dra.plan.matrix import all_runs
        from dra.plan.preflight import message, needs

        runs = all_runs(cfg)
        found = needs({**cfg, "paths": {**cfg["paths"], "data": str(data)}}, runs)
        print()
        print(f"The configuration selects {len(runs)} runs on {', '.join(sorted({r.dataset for r in runs}))}.")
        print(message(found).replace("Before any job can start, these are missing (nothing was run):",
                                     "They need, and lack:") if found else "They need nothing that is missing.")
