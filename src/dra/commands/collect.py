from pathlib import Path

from dra.fsutil import atomic_path
from dra.report.runs import find_metrics, runs_frame


def configure(p):
    p.add_argument("--runs", type=Path, required=True, help="the runs folder (results/runs)")
    p.add_argument("--out", type=Path, required=True, help="runs.csv to write")


def run(args):
    df = runs_frame(find_metrics(args.runs)).sort_values(["variant", "dataset", "subset", "setting", "shots", "seed"])
    with atomic_path(args.out) as tmp:
        df.to_csv(tmp, index=False)
    print(f"wrote {args.out}: {len(df)} runs")
