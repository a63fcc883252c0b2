"""`python -m dra collect`: one row per run from exactly the metrics files given (the workflow hands
it the selected runs'; a run folder left by an older configuration never enters)."""

from pathlib import Path

from dra.fsutil import atomic_path
from dra.report.runs import KEYS, csv_frame, runs_frame


def configure(p):
    p.add_argument("metrics", nargs="*", type=Path, help="run metrics files (<run folder>/metrics.json)")
    p.add_argument("--out", type=Path, required=True, help="runs.csv to write")


def run(args):
    df = csv_frame(runs_frame(args.metrics)).sort_values(KEYS)
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(df)} runs")
