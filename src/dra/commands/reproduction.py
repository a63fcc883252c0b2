from pathlib import Path

from dra.fsutil import atomic_path, write_text
from dra.report.reproduction import flagged, markdown, read_tables, summary


def configure(p):
    p.add_argument("tables", nargs="+", type=Path, help="table CSVs written by `python -m dra table`")
    p.add_argument("--out", required=True, help="prefix: writes PREFIX.csv (the flagged cells) and PREFIX.md")


def run(args):
    cells = read_tables(args.tables)
    s, f = summary(cells), flagged(cells)
    with atomic_path(f"{args.out}.csv") as tmp:
        f.to_csv(tmp, index=False, float_format="%.6f")
    write_text(f"{args.out}.md", markdown(s, f))
    print(f"wrote {args.out}.{{csv,md}}: {int(s['compared'].sum())} cells compared with the paper, {len(f)} flagged")
