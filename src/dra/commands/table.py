import json
from pathlib import Path

import pandas as pd

from dra.fsutil import atomic_path, write_text
from dra.plan import Run
from dra.report.runs import runs_frame
from dra.report.tables import cells, latex, markdown, stats


def configure(p):
    p.add_argument("name", help="table name, e.g. table1_general")
    p.add_argument("--layout", required=True, help="the table's layout as JSON (rows, columns, seeds) or @file")
    p.add_argument("--runs", type=Path, required=True, help="the results folder holding runs/")
    p.add_argument("--paper", type=Path, required=True, help="config/paper_results.csv")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.csv, PREFIX.md and PREFIX.tex")


def run(args):
    layout = json.loads(Path(args.layout[1:]).read_text() if args.layout.startswith("@") else args.layout)
    keys = [Run(v, *c[:3], k, seed) for c in layout["cells"] for v, k in layout["columns"] if v == c[3]
            for seed in layout["seeds"]]
    paths = [Path(r.path(str(args.runs))) / "metrics.json" for r in keys]
    found = [p for p in paths if p.is_file()]
    runs = runs_frame(found)
    df = cells(layout, runs, pd.read_csv(args.paper))
    ranks, tests = stats(df)
    with atomic_path(f"{args.out}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    write_text(f"{args.out}.md", markdown(layout, df, ranks, tests))
    write_text(f"{args.out}.tex", latex(layout, df))
    missing = len(paths) - len(found)
    if missing:
        print(f"warning: {args.name}: {missing} of {len(paths)} runs are missing; their cells say so")
    print(f"wrote {args.out}.{{csv,md,tex}}: {len(df)} cells, {int(df.flagged.sum())} flagged against the paper")
