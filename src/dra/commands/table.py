from pathlib import Path

import pandas as pd

from dra.fsutil import atomic_path, write_text
from dra.report.runs import layout_runs, load_layout
from dra.report.tables import cells, latex, markdown, stats


def configure(p):
    p.add_argument("name", help="table name, e.g. table1_general")
    p.add_argument("--layout", required=True, help="the table's layout as JSON (rows, columns, seeds) or @file")
    p.add_argument("--runs", type=Path, required=True, help="the results folder holding runs/")
    p.add_argument("--paper", type=Path, required=True, help="config/paper_results.csv")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.csv, PREFIX.md and PREFIX.tex")


def run(args):
    layout = load_layout(args.layout)
    runs, missing = layout_runs(layout, args.runs)
    df = cells(layout, runs, pd.read_csv(args.paper))
    ranks, tests = stats(df)
    with atomic_path(f"{args.out}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    write_text(f"{args.out}.md", markdown(layout, df, ranks, tests))
    write_text(f"{args.out}.tex", latex(layout, df))
    if missing:
        print(f"warning: {args.name}: {missing} of {missing + len(runs)} runs are missing; their cells say so")
    print(f"wrote {args.out}.{{csv,md,tex}}: {len(df)} cells, {int(df.flagged.sum())} flagged against the paper")
