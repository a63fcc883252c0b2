"""One module (or folder) per method behind a small interface (dra.methods.base.Method); the
registry of names is dra.plan.methods."""

from __future__ import annotations

import importlib

from dra.plan.methods import entry, module_name


def method_class(name: str):
    """The class of method `name`: its module's `METHOD`, or `METHODS[name]` where a module holds several."""
    entry(name)
    module = importlib.import_module(module_name(name))
    return getattr(module, "METHODS", {}).get(name) or module.METHOD
