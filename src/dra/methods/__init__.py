"""The method registry: method name -> module `dra.methods.<name>`, whose class is `METHOD`.

Modules are imported by name only when used, so a run imports its own method's code and nothing
else (which is also what the workflow's source tracking relies on)."""

from __future__ import annotations

import importlib

from dra.errors import DraError

METHODS = ("dra", "devnet", "flos", "saoe", "mlep", "kdad", "deepsad", "minns")


def method_class(name: str):
    if name not in METHODS:
        raise DraError(f"unknown method {name!r}; expected one of {list(METHODS)}")
    return importlib.import_module(f"dra.methods.{name}").METHOD
