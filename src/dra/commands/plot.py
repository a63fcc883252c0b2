import json
from pathlib import Path

import pandas as pd

from dra.fsutil import atomic_path
from dra.plan import Run
from dra.report.plots import figure
from dra.report.runs import runs_frame
from dra.report.tables import cells


def configure(p):
    p.add_argument("name", help="figure name, e.g. fig3_nref")
    p.add_argument("--layout", required=True, help="the figure's layout as JSON (rows, columns, seeds) or @file")
    p.add_argument("--runs", type=Path, required=True, help="the results folder holding runs/")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.png and PREFIX.pdf")


def run(args):
    layout = json.loads(Path(args.layout[1:]).read_text() if args.layout.startswith("@") else args.layout)
    keys = [Run(v, *c[:3], k, seed) for c in layout["cells"] for v, k in layout["columns"] if v == c[3]
            for seed in layout["seeds"]]
    paths = [Path(r.path(str(args.runs))) / "metrics.json" for r in keys]
    found = [p for p in paths if p.is_file()]
    empty_paper = pd.DataFrame(columns=["table", "dataset", "subset", "setting", "method", "shots", "mean", "std"])
    df = cells(layout, runs_frame(found), empty_paper)
    fig = figure(layout, df, layout.get("labels"))
    for ext in ("png", "pdf"):
        with atomic_path(f"{args.out}.{ext}", suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
    if len(found) < len(paths):
        print(f"warning: {args.name}: {len(paths) - len(found)} of {len(paths)} runs are missing from the figure")
    print(f"wrote {args.out}.png and {args.out}.pdf")
