"""`python -m dra params [METHOD ...]`: every parameter a method declares, its default (the
protocol's value) and what values it accepts: the keys a variant or `methods.<method>` may set."""

from dra.plan.methods import METHODS
from dra.plan.params import describe


def configure(p):
    p.add_argument("methods", nargs="*", help=f"methods to list (default: all of {', '.join(METHODS)})")


def run(args):
    from dra.errors import DraError
    from dra.errors import closest

    for method in args.methods or list(METHODS):
        if method not in METHODS:
            raise DraError(f"unknown method {method!r}{closest(method, METHODS)}; expected some of {list(METHODS)}")
        rows = describe(method)
        print(f"{method}:")
        width = max(len(r[0]) for r in rows)
        for name, default, allowed, doc in rows:
            print(f"  {name:<{width}}  {default}  ({allowed}){'  ' + doc if doc else ''}")
        print()
