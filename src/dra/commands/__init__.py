"""One thin module per stage command (`python -m dra --help` lists them)."""

from __future__ import annotations

import json
from pathlib import Path

from dra.errors import DraError


def json_arg(arg: str, option: str):
    """An option given as JSON text or as @file (what the rules pass for long values)."""
    where = f"{option} {arg}" if arg.startswith("@") else option
    try:
        text = Path(arg[1:]).read_text() if arg.startswith("@") else arg
    except OSError as e:
        raise DraError(f"{where}: cannot read it ({e})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as e:
        raise DraError(f"{where}: not valid JSON ({e})") from None
