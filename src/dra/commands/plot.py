from pathlib import Path

import pandas as pd

from dra.fsutil import atomic_path
from dra.report.plots import figure
from dra.report.runs import layout_runs, load_layout
from dra.report.tables import cells


def configure(p):
    p.add_argument("name", help="figure name, e.g. fig3_nref")
    p.add_argument("--layout", required=True, help="the figure's layout as JSON (rows, columns, seeds) or @file")
    p.add_argument("--runs", type=Path, required=True, help="the results folder holding runs/")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.png and PREFIX.pdf")


def run(args):
    layout = load_layout(args.layout)
    runs, missing = layout_runs(layout, args.runs)
    no_paper = pd.DataFrame(columns=["table", "dataset", "subset", "setting", "method", "shots", "mean", "std"])
    fig = figure(layout, cells(layout, runs, no_paper), layout.get("labels"))
    for ext in ("png", "pdf"):
        with atomic_path(f"{args.out}.{ext}", suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150)
    if missing:
        print(f"warning: {args.name}: {missing} of {missing + len(runs)} runs are missing from the figure")
    print(f"wrote {args.out}.png and {args.out}.pdf")
