"""`python -m dra table`: one paper table as CSV (tidy cells), Markdown, LaTeX and HTML, from exactly
the run metrics files given and the table's layout."""

from pathlib import Path

import pandas as pd

from dra.fsutil import atomic_path, write_text
from dra.commands import json_arg
from dra.report.runs import runs_frame
from dra.report.tables import cells, latex, markdown, stats, to_html


def configure(p):
    p.add_argument("name", help="table name, e.g. table1_general")
    p.add_argument("metrics", nargs="*", type=Path, help="the runs' metrics files (<run folder>/metrics.json)")
    p.add_argument("--layout", required=True, help="the table's layout as JSON or @file (`python -m dra layout`)")
    p.add_argument("--paper", type=Path, required=True, help="config/paper_results.csv")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.csv, PREFIX.md, PREFIX.tex and PREFIX.html")


def run(args):
    layout = json_arg(args.layout, "--layout")
    runs = runs_frame(args.metrics)
    df = cells(layout, runs, pd.read_csv(args.paper))
    ranks, tests = stats(df)
    with atomic_path(f"{args.out}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    write_text(f"{args.out}.md", markdown(layout, df, ranks, tests, runs))
    write_text(f"{args.out}.tex", latex(layout, df))
    write_text(f"{args.out}.html", to_html(layout, df, ranks, tests, runs))
    empty = int((df.n == 0).sum())
    if empty:
        print(f"warning: {args.name}: {empty} of {len(df)} cells have no run; they say so")
    print(f"wrote {args.out}.{{csv,md,tex,html}}: {len(df)} cells, {int(df.flagged.sum())} flagged against the paper")
