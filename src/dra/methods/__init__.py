"""The method registry: method name -> module `dra.methods.<module>`, whose class for that method is
`METHOD` (or `METHODS[name]` where a module holds several).

Modules are imported by name only when used, so a run imports its own method's code and nothing
else (which is also what the workflow's source tracking relies on). Each module declares its
parameters (`PARAMS`, see dra.params)."""

from __future__ import annotations

import importlib

from dra.errors import DraError

METHODS = {
    "dra": "dra", "devnet": "devnet", "flos": "flos", "saoe": "saoe", "mlep": "mlep", "kdad": "kdad",
    "deepsad": "deepsad", "minns": "minns", "ahl_dra": "ahl", "ahl_devnet": "ahl",
}
BASED = ("ahl_dra", "ahl_devnet")  # built on the trained model of another run (param `base`)
STANDALONE = tuple(m for m in METHODS if m not in BASED)


def method_class(name: str):
    if name not in METHODS:
        raise DraError(f"unknown method {name!r}; expected one of {list(METHODS)}")
    module = importlib.import_module(f"dra.methods.{METHODS[name]}")
    return getattr(module, "METHODS", {}).get(name) or module.METHOD
