"""Method parameters: declared once, in each method's module, and checked wherever a run is planned
or started, so that a misspelt key or a wrong value is an error that names it, never a silent default.

A method module declares `PARAMS = {name: Param(...) or a default}`: a `Param` is a parameter of that
method (type, default, allowed values); a bare value is the method's default for one of the SHARED
parameters below, whose type and range are declared here once. `EXTENDS = "<method>"` takes another
method's declarations first (FLOS extends DevNet), `UNSUPERVISED = True` marks a method trained on
normals only.

The workflow checks every variant when it is parsed, before any data exists, without importing torch
(method modules import it): the declarations are read from the modules' source (`declarations`),
where only literals, `Param(...)` calls, the names of module-level literal constants and of the
presets below (`**LOSSES`), `+` of tuples and `list(...)`/`tuple(...)` may appear.
"""

from __future__ import annotations

import ast
import math
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from dra.errors import DraError, closest

TYPES = ("int", "float", "str", "bool", "list", "dict")


@dataclass(frozen=True)
class Param:
    """One parameter: `type` one of TYPES; `choices` the allowed values (of a str, or of a list's
    items); `min`/`max` a number's range (`above` makes the minimum exclusive); `items` the type of a
    list's items and `length` its exact length; `keys` a dict's allowed keys (float values >= 0);
    `also` literal values accepted besides the type (iterations: "pass"); `per_dataset`: the value
    may be written {per_dataset: {<dataset>: value}, default: value}."""
    type: str
    default: Any
    doc: str = ""
    choices: tuple | None = None
    min: float | None = None
    max: float | None = None
    above: bool = False
    items: str | None = None
    length: int | None = None
    min_length: int | None = None
    keys: tuple | None = None
    also: tuple = ()
    per_dataset: bool = False
    nullable: bool = False

    def expected(self) -> str:
        """What a valid value is, in words (for error messages and `python -m dra params`)."""
        if self.type in ("int", "float"):
            word = "an integer" if self.type == "int" else "a number"
            lo = "" if self.min is None else (f"> {self.min:g}" if self.above else f">= {self.min:g}")
            hi = "" if self.max is None else f"<= {self.max:g}"
            text = word + (" " + " and ".join(x for x in (lo, hi) if x) if lo or hi else "")
        elif self.type == "str":
            text = f"one of {list(self.choices)}" if self.choices else "a string"
        elif self.type == "bool":
            text = "true or false"
        elif self.type == "list":
            kind = f"one of {list(self.choices)}" if self.choices else {"int": "integers", "float": "numbers",
                                                                        "str": "strings"}.get(self.items, "values")
            size = (f"{self.length} " if self.length else "") + ("" if self.min_length is None
                                                                 else f"at least {self.min_length} ")
            text = f"a list of {size}{kind}" if not self.choices else f"a list of {size}values, each {kind}"
        else:
            text = f"a mapping with keys among {list(self.keys)}, each a number >= 0"
        if self.also:
            text += " or " + " or ".join(repr(a) for a in self.also)
        if self.nullable:
            text += " or null"
        return text


# The parameters the training loop and the input transform read, for every method that lists them.
# A method module gives its default for each it uses (a bare value in its PARAMS).
SHARED = {
    "epochs": Param("int", None, "training epochs", min=1),
    "iterations": Param("int", None, "optimiser steps per epoch", min=1, also=("pass",)),
    "lr": Param("float", None, "Adam learning rate", min=0, max=1, above=True),
    "weight_decay": Param("float", None, "Adam's L2 weight decay", min=0, max=1),
    "lr_step": Param("int", None, "StepLR step (epochs)", min=1),
    "lr_gamma": Param("float", None, "StepLR factor", min=0, max=1, above=True),
    "scheduler_at": Param("str", None, "StepLR stepped at the start or the end of each epoch",
                          choices=("start", "end")),
    "grad_clip": Param("float", None, "gradient-norm clip (0: none)", min=0),
    "rotation": Param("float", None, "training rotation, uniform in [-r, r] degrees", min=0, max=180),
    "test_batch": Param("int", None, "images per scoring batch", min=1),
    "finetune_epochs": Param("int", None, "cross-domain runs: epochs on the target's normals (0: none)", min=0),
}
# Every method has these (the training loop reads them).
LOOP = ("epochs", "iterations", "lr", "weight_decay", "lr_step", "lr_gamma", "scheduler_at", "grad_clip",
        "test_batch")

# Declarations several methods share: a method's PARAMS unpacks those it has (`**LOSSES`).
# DRA's schedule, the authors' code (paper: lr 1e-3, weight decay 1e-2): StepLR stepped at epoch start.
DRA_SCHEDULE = {"epochs": 30, "iterations": 20, "lr": 2.0e-4, "weight_decay": 1.0e-5, "lr_step": 10, "lr_gamma": 0.1,
                "scheduler_at": "start", "grad_clip": 1.0, "rotation": 180.0, "test_batch": 48}
# The authors' DevNet code: 50 epochs, StepLR stepped at the end of each epoch.
DEVNET_SCHEDULE = {**DRA_SCHEDULE, "epochs": 50, "scheduler_at": "end"}
DEVIATION = {
    "dev_samples": Param("int", 5000, "the deviation loss's reference draws from N(0, 1)", min=2),
    "dev_margin": Param("float", 5.0, "the deviation loss's margin", min=0, above=True),
}
LOSSES = {
    "loss": Param("str", "deviation", "each head's loss", choices=("deviation", "bce", "focal")),
    **DEVIATION,
    "focal_alpha": Param("float", 1.0, "binary focal loss alpha", min=0),
    "focal_gamma": Param("float", 2.0, "binary focal loss gamma", min=0),
}
TOPK = {
    "topk_ratio": Param("float", 0.1, "share of a map's positions in the top-K mean", min=0, max=1, above=True),
    "scales": Param("int", 2, "pyramid scales (input, then halved)", min=1, max=4),
}
# In-image pseudo anomalies: CutMix (the paper's name for a same-image cut-paste) and CutPaste-Scar.
CUTMIX = {
    "cutmix_area": Param("list", [0.02, 0.15], "CutMix patch area, a share of the image", items="float", length=2,
                         min=0, max=1),
    "cutmix_aspect": Param("list", [0.3, 3.3333333], "CutMix aspect ratio range", items="float", length=2, min=0,
                           above=True),
    "jitter": Param("dict", {"brightness": 0.1, "contrast": 0.1, "saturation": 0.1, "hue": 0.1},
                    "colour jitter of pasted patches (torchvision's ColorJitter)",
                    keys=("brightness", "contrast", "saturation", "hue")),
}
PASTE = {
    **CUTMIX,
    "scar_width": Param("list", [2, 16], "CP-Scar width range (px)", items="int", length=2, min=1),
    "scar_length": Param("list", [10, 25], "CP-Scar length range (px)", items="int", length=2, min=1),
    "scar_rotation": Param("list", [-45, 45], "CP-Scar rotation range (degrees)", items="float", length=2,
                           min=-180, max=180),
}
PRESETS = {"DRA_SCHEDULE": DRA_SCHEDULE, "DEVNET_SCHEDULE": DEVNET_SCHEDULE, "DEVIATION": DEVIATION,
           "LOSSES": LOSSES, "TOPK": TOPK, "CUTMIX": CUTMIX, "PASTE": PASTE}


# --- reading the declarations from a method module's source -------------------------------------

def _evaluate(node: ast.AST, constants: dict, where: str):
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, (ast.List, ast.Tuple)):
        values = [_evaluate(e, constants, where) for e in node.elts]
        return values if isinstance(node, ast.List) else tuple(values)
    if isinstance(node, ast.Dict):
        out = {}
        for k, v in zip(node.keys, node.values):
            if k is None:  # **PRESET
                out.update(_evaluate(v, constants, where))
            else:
                out[_evaluate(k, constants, where)] = _evaluate(v, constants, where)
        return out
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
        return -_evaluate(node.operand, constants, where)
    if isinstance(node, ast.BinOp) and isinstance(node.op, ast.Add):  # ("auto",) + SOURCES
        return _evaluate(node.left, constants, where) + _evaluate(node.right, constants, where)
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in ("list", "tuple") \
            and len(node.args) == 1 and not node.keywords:
        return {"list": list, "tuple": tuple}[node.func.id](_evaluate(node.args[0], constants, where))
    if isinstance(node, ast.Name) and node.id in constants:
        return constants[node.id]
    if isinstance(node, ast.Name) and node.id in PRESETS:
        return PRESETS[node.id]
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "Param":
        args = [_evaluate(a, constants, where) for a in node.args]
        kwargs = {k.arg: _evaluate(k.value, constants, where) for k in node.keywords}
        return Param(*args, **kwargs)
    raise DraError(f"{where}: PARAMS may hold only literals, Param(...) and module constants; found "
                   f"{ast.unparse(node)!r}")


@lru_cache(maxsize=None)
def _module_declarations(path: Path) -> tuple[dict, dict]:
    """(PARAMS as written, the module's literal constants) of one method module."""
    tree = ast.parse(path.read_text(), str(path))
    constants: dict = {}
    params = None
    for node in tree.body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            name = node.targets[0].id
            if name == "PARAMS":
                params = _evaluate(node.value, constants, str(path))
            elif name.isupper():
                try:
                    constants[name] = _evaluate(node.value, constants, str(path))
                except DraError:
                    pass  # not a literal: not usable in PARAMS
    if params is None:
        raise DraError(f"{path}: a method module declares PARAMS")
    return params, constants


@lru_cache(maxsize=None)
def method_file(method: str) -> Path:
    from dra.plan.methods import module_name
    from dra.plan.sources import module_file

    return module_file(module_name(method))


@lru_cache(maxsize=None)
def declarations(method: str) -> dict[str, Param]:
    """Every parameter of `method`: its own, its EXTENDS chain's, and the shared ones it uses, each a
    Param with the method's default."""
    params, constants = _module_declarations(method_file(method))
    out: dict[str, Param] = dict(declarations(constants["EXTENDS"])) if "EXTENDS" in constants else {}
    for name, p in params.items():
        if isinstance(p, Param):
            out[name] = p
        elif name in SHARED:
            out[name] = _with_default(SHARED[name], p)
        elif name in out:  # a new default for a parameter of the method it extends, or of this module's
            out[name] = _with_default(out[name], p)
        else:
            raise DraError(f"{method_file(method)}: PARAMS gives {name!r} a bare default, but it is not a shared "
                           f"parameter ({sorted(SHARED)}); declare it with Param(...)")
    # a module holding several methods gives each its own defaults (METHOD_DEFAULTS[method])
    for name, value in constants.get("METHOD_DEFAULTS", {}).get(method, {}).items():
        if name not in out:
            raise DraError(f"{method_file(method)}: METHOD_DEFAULTS[{method!r}] sets {name!r}, which PARAMS does not declare")
        out[name] = _with_default(out[name], value)
    missing = [k for k in LOOP if k not in out]
    if missing:
        raise DraError(f"{method_file(method)}: PARAMS lacks the training loop's {missing}")
    return out


def _with_default(p: Param, default) -> Param:
    from dataclasses import replace

    return replace(p, default=default)


def module_constant(method: str, name: str, default=None):
    """A literal module-level constant of a method module (e.g. UNSUPERVISED), read without importing it."""
    params, constants = _module_declarations(method_file(method))
    if name in constants:
        return constants[name]
    if "EXTENDS" in constants:
        return module_constant(constants["EXTENDS"], name, default)
    return default


def defaults(method: str) -> dict:
    return {k: p.default for k, p in declarations(method).items()}


# --- checking values --------------------------------------------------------------------------

_INT = re.compile(r"^[+-]?\d+$")


def _number(value, kind: str):
    """A number, or a string that is one (YAML 1.1 reads `1.0e30` as a string, and Snakemake's
    --config passes list items as strings); None if it is not one."""
    if isinstance(value, bool):
        return None
    if kind == "int":
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and _INT.match(value.strip()):
            return int(value)
        return None
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, str):
        try:
            return float(value)
        except ValueError:
            return None
    return None


def _scalar(p: Param, kind: str, value, choices=None):
    if kind in ("int", "float"):
        x = _number(value, kind)
        if x is None or (isinstance(x, float) and not math.isfinite(x)):
            return None
        if p.min is not None and (x < p.min or (p.above and x == p.min)):
            return None
        if p.max is not None and x > p.max:
            return None
        return x
    if kind == "str":
        if not isinstance(value, str) or (choices and value not in choices):
            return None
        return value
    if kind == "bool":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        return None
    raise AssertionError(kind)


_BAD = object()


def check_value(p: Param, value):
    """The value, coerced where a string spells a number; _BAD if it is not valid for p."""
    if value is None:
        return None if p.nullable else _BAD
    if isinstance(value, str) and value in p.also:
        return value
    if p.type in ("int", "float", "str", "bool"):
        x = _scalar(p, p.type, value, p.choices)
        return _BAD if x is None else x
    if p.type == "list":
        if not isinstance(value, (list, tuple)):
            return _BAD
        if (p.length is not None and len(value) != p.length) or (p.min_length is not None
                                                                  and len(value) < p.min_length):
            return _BAD
        kind = p.items or "str"
        item = Param(kind, None, min=p.min, max=p.max, above=p.above)
        out = [_scalar(item, kind, v, p.choices) for v in value]
        return _BAD if any(x is None for x in out) else out
    if p.type == "dict":
        if not isinstance(value, dict) or not set(value) <= set(p.keys or ()):
            return _BAD
        out = {k: _scalar(Param("float", None, min=0), "float", v) for k, v in value.items()}
        return _BAD if any(x is None for x in out.values()) else out
    raise AssertionError(p.type)


def check_params(method: str, params: dict, where: str) -> dict:
    """`params` (a method's effective parameters, or overrides of them) checked against its
    declarations: unknown keys and invalid values are errors naming `where`, the key, the value and
    what is expected. Returns the values with numbers in strings coerced."""
    decl = declarations(method)
    out = {}
    for key, value in params.items():
        if key not in decl:
            raise DraError(f"{where}: unknown parameter {key!r} for method {method}{closest(key, decl)}; "
                           f"`python -m dra params {method}` lists its parameters")
        p = decl[key]
        if p.per_dataset and isinstance(value, dict) and "per_dataset" in value:
            if set(value) != {"per_dataset", "default"} or not isinstance(value["per_dataset"], dict):
                raise DraError(f"{where}: {key} {value!r}; expected {{per_dataset: {{<dataset>: value}}, default: value}}")
            checked = {"per_dataset": {d: _checked(p, key, v, f"{where}, per_dataset.{d}")
                                       for d, v in value["per_dataset"].items()},
                       "default": _checked(p, key, value["default"], where)}
            out[key] = checked
            continue
        out[key] = _checked(p, key, value, where)
    return out


def _checked(p: Param, key: str, value, where: str):
    x = check_value(p, value)
    if x is _BAD:
        raise DraError(f"{where}: {key} {value!r}; expected {p.expected()}")
    return x


def describe(method: str) -> list[tuple[str, str, str, str]]:
    """(name, default, allowed, what) per parameter, for `python -m dra params`."""
    return [(k, repr(p.default), p.expected(), p.doc) for k, p in declarations(method).items()]
