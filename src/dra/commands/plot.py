"""`python -m dra plot`: one paper figure (PNG and PDF) from exactly the run metrics files given, or
for a heatmap figure from the anomaly-map files given."""

from pathlib import Path

import pandas as pd

from dra.errors import DraError
from dra.fsutil import atomic_path
from dra.report.plots import figure, heatmaps
from dra.commands import json_arg
from dra.report.runs import runs_frame
from dra.report.cells import cells

NO_PAPER = pd.DataFrame(columns=["table", "metric", "dataset", "subset", "setting", "method", "shots", "mean", "std"])


def configure(p):
    p.add_argument("name", help="figure name, e.g. fig3_nref")
    p.add_argument("metrics", nargs="*", type=Path, help="the runs' metrics files (<run folder>/metrics.json)")
    p.add_argument("--layout", required=True, help="the figure's layout as JSON or @file (`python -m dra layout`)")
    p.add_argument("--maps", type=Path, action="append", default=[],
                   help="a heatmap figure: the anomaly-map files it draws (repeatable; `python -m dra maps`)")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.png and PREFIX.pdf")


def run(args):
    layout = json_arg(args.layout, "--layout")
    if layout.get("kind") == "heatmaps":
        if not args.maps:
            raise DraError(f"{args.name}: a heatmap figure draws anomaly maps; give them with --maps")
        fig = heatmaps(layout, args.maps)
    else:
        runs = runs_frame(args.metrics)
        fig = figure(layout, cells(layout, runs, NO_PAPER), layout.get("labels"))
    for ext in ("png", "pdf"):
        with atomic_path(f"{args.out}.{ext}", suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
    print(f"wrote {args.out}.png and {args.out}.pdf")
