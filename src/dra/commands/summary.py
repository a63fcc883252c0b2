"""`python -m dra summary`: what the configuration ran (results/summary.md and .rst, the report's
landing page), from runs.csv, the plan the workflow wrote and the tables' CSVs."""

from pathlib import Path

import pandas as pd

from dra.errors import DraError
from dra.fsutil import write_text
from dra.report.reproduction import read_tables
from dra.commands import json_arg
from dra.report.summary import markdown, rst


def configure(p):
    p.add_argument("tables", nargs="*", type=Path, help="table CSVs written by `python -m dra table`")
    p.add_argument("--runs", type=Path, required=True, help="runs.csv (`python -m dra collect`)")
    p.add_argument("--plan", required=True, help="the workflow's summary plan (`python -m dra layout`), or @file")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.md and PREFIX.rst")


def run(args):
    plan = json_arg(args.plan if args.plan.startswith("@") else "@" + args.plan, "--plan")
    if "provenance" not in plan or "runs" not in plan:
        raise DraError(f"{args.plan}: not a summary plan (expected provenance and runs)")
    runs = pd.read_csv(args.runs)
    tables = read_tables(args.tables) if args.tables else None
    write_text(f"{args.out}.md", markdown(plan, runs, tables))
    write_text(f"{args.out}.rst", rst(plan, runs, tables))
    print(f"wrote {args.out}.md and {args.out}.rst")
