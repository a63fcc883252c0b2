"""`python -m dra layout`: write a table's or figure's layout (what the workflow plans for it: rows,
cells, columns, seeds, labels, provenance) to a file the table, plot and summary stages read."""

import json
from pathlib import Path

from dra.commands import json_arg
from dra.errors import DraError
from dra.fsutil import write_text


def configure(p):
    p.add_argument("--json", required=True, help="the layout as JSON text")
    p.add_argument("--out", type=Path, required=True, help="the layout file to write")


def run(args):
    layout = json_arg(args.json, "--json")
    if not isinstance(layout, dict) or "name" not in layout:
        raise DraError("--json: expected an object with a name (a layout the workflow writes)")
    write_text(args.out, json.dumps(layout, indent=1, sort_keys=True) + "\n")
    print(f"wrote {args.out}")
