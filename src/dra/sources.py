"""Which of the package's source files a module depends on (static import closure).

Snakemake never tracks modules imported by a command, so the workflow declares these files as a
rule's inputs: editing a method's module reruns that method's runs and nothing else."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
PACKAGE = PACKAGE_DIR.name


def module_file(name: str) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return PACKAGE_DIR / "__init__.py"
    rel = Path(*parts)
    for candidate in (PACKAGE_DIR / rel.with_suffix(".py"), PACKAGE_DIR / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@lru_cache(maxsize=None)
def _imports(name: str) -> tuple[str, ...]:
    path = module_file(name)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
    return tuple(sorted(m for m in found if m.split(".")[0] == PACKAGE and module_file(m)))


@lru_cache(maxsize=None)
def closure(*roots: str) -> tuple[str, ...]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name) is None:
            continue
        seen.add(name)
        todo += [*_parents(name), *_imports(name)]
    return tuple(sorted(seen))


def source_files(*roots: str, relative_to: Path | None = None) -> list[str]:
    files = sorted(str(module_file(m)) for m in closure(*roots))
    if relative_to is not None:
        files = [str(Path(f).relative_to(relative_to)) for f in files]
    return files
