"""`python -m dra table`: one paper table as CSV (tidy cells), Markdown, LaTeX and HTML, from exactly
the run files given (each run's metrics.json and scores.csv, checked against each other) and the
table's layout; with --cd-out its critical-difference figure, with --classes-out its per-class table
of the hard rows."""

from pathlib import Path

import pandas as pd

from dra.fsutil import atomic_path, write_text
from dra.commands import json_arg
from dra.report.runs import KEYS, verified_runs_frame
from dra.report.stats import Replicates, RunScores, rankings
from dra.report.cells import cells, stats
from dra.report.tables import latex, markdown, to_html


def configure(p):
    p.add_argument("name", help="table name, e.g. table1_general")
    p.add_argument("runs", nargs="*", type=Path,
                   help="the runs' files: <run folder>/metrics.json and <run folder>/scores.csv of every run")
    p.add_argument("--layout", required=True, help="the table's layout as JSON or @file (`python -m dra layout`)")
    p.add_argument("--paper", type=Path, required=True, help="config/paper_results.csv")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.csv, PREFIX.md, PREFIX.tex and PREFIX.html")
    p.add_argument("--intervals", action="store_true",
                   help="show each cell's 95%% interval in the Markdown and LaTeX too (the HTML always does; "
                        "the layout's `intervals` asks the same)")
    p.add_argument("--cd-out", help="prefix: the critical-difference figure as PREFIX.png and PREFIX.pdf")
    p.add_argument("--classes-out", help="prefix: the per-class table of the hard rows as PREFIX.csv, .md, .html")


def run_scores(scores: dict[tuple, pd.DataFrame]) -> dict[tuple, RunScores]:
    return {key: RunScores(t.id.to_numpy(dtype=str), t.label.to_numpy(), t.anomaly_class.to_numpy(dtype=str),
                           t.score.to_numpy(dtype=float)) for key, t in scores.items()}


def run(args):
    layout = json_arg(args.layout, "--layout")
    runs, scores = verified_runs_frame(args.runs)
    runs = runs.sort_values(KEYS, kind="stable").reset_index(drop=True)
    reps = Replicates(run_scores(scores))
    df = cells(layout, runs, pd.read_csv(args.paper), reps)
    ranks, tests = stats(df)
    intervals = args.intervals or bool(layout.get("intervals", False))
    with atomic_path(f"{args.out}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    write_text(f"{args.out}.md", markdown(layout, df, ranks, tests, runs, intervals))
    write_text(f"{args.out}.tex", latex(layout, df, intervals, runs))
    write_text(f"{args.out}.html", to_html(layout, df, ranks, tests, runs))
    if args.cd_out:
        write_cd(args.cd_out, layout, df)
    if args.classes_out:
        write_classes(args.classes_out, layout, runs, reps, intervals)
    empty = int((df.n == 0).sum())
    if empty:
        print(f"warning: {args.name}: {empty} of {len(df)} cells have no run; they say so")
    print(f"wrote {args.out}.{{csv,md,tex,html}}: {len(df)} cells, {int(df.flagged.sum())} flagged against the paper, "
          f"{int((df.deviation_codes != '').sum())} deviating from its protocol")


def write_cd(prefix: str, layout: dict, df: pd.DataFrame) -> None:
    import matplotlib.pyplot as plt

    from dra.report.cd import cd_figure

    fig = cd_figure(rankings(df), layout["caption"], layout.get("labels"))
    for ext in ("png", "pdf"):
        with atomic_path(f"{prefix}.{ext}", suffix=f".{ext}") as tmp:
            fig.savefig(tmp, format=ext, dpi=150, bbox_inches="tight")
    plt.close(fig)


def write_classes(prefix: str, layout: dict, runs: pd.DataFrame, reps: Replicates, intervals: bool) -> None:
    from dra.report import classes

    df = classes.class_cells(layout, runs, reps)
    with atomic_path(f"{prefix}.csv") as tmp:
        df.to_csv(tmp, index=False, float_format="%.6f")
    write_text(f"{prefix}.md", classes.markdown(layout, df, intervals))
    write_text(f"{prefix}.html", classes.to_html(layout, df))
