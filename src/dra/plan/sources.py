"""Which of the package's source files a module depends on (static import closure).

Snakemake never tracks modules imported by a command, so the workflow declares these files as a
rule's inputs: editing a method's module reruns that method's runs and nothing else. The closure is
read from the source tree beside the workflow (`package_dir`), which need not be the installed copy."""

from __future__ import annotations

import ast
from functools import lru_cache
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parents[1]
PACKAGE = PACKAGE_DIR.name


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path | None:
    parts = name.split(".")[1:]
    if not parts:
        return package_dir / "__init__.py"
    rel = Path(*parts)
    for candidate in (package_dir / rel.with_suffix(".py"), package_dir / rel / "__init__.py"):
        if candidate.is_file():
            return candidate
    return None


def _parents(name: str) -> list[str]:
    parts = name.split(".")
    return [".".join(parts[:i]) for i in range(1, len(parts))]


@lru_cache(maxsize=None)
def _imports(name: str, package_dir: Path) -> tuple[str, ...]:
    path = module_file(name, package_dir)
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)  # `from pkg import module`
    return tuple(sorted(m for m in found if m.split(".")[0] == PACKAGE and module_file(m, package_dir)))


@lru_cache(maxsize=None)
def closure(*roots: str, package_dir: Path = PACKAGE_DIR) -> tuple[str, ...]:
    seen, todo = set(), list(roots)
    while todo:
        name = todo.pop()
        if name in seen or module_file(name, package_dir) is None:
            continue
        seen.add(name)
        todo += [*_parents(name), *_imports(name, package_dir)]
    return tuple(sorted(seen))


@lru_cache(maxsize=None)
def source_files(*roots: str, project: Path | None = None) -> tuple[str, ...]:
    """The closure's files; with `project`, read from `project/src/<package>` and given relative to it."""
    package_dir = PACKAGE_DIR if project is None else Path(project) / "src" / PACKAGE
    files = sorted(module_file(m, package_dir) for m in closure(*roots, package_dir=package_dir))
    return tuple(str(f.relative_to(project)) if project is not None else str(f) for f in files)


PROJECT = PACKAGE_DIR.parents[1]  # the checkout holding src/<package>


def train_modules(method: str) -> tuple[str, ...]:
    """The roots of a training run's code: the train command and its method's module. The workflow
    reruns a run when a file of their closure changes; the run records each file's digest."""
    from dra.plan.methods import module_name

    return ("dra.commands.train", module_name(method))


@lru_cache(maxsize=None)
def file_digests(*roots: str, project: Path | None = None) -> dict[str, str]:
    """{file of the closure, relative to the project: the first 16 hex digits of its SHA-256}."""
    import hashlib

    project = PROJECT if project is None else Path(project)
    return {f: hashlib.sha256((project / f).read_bytes()).hexdigest()[:16]
            for f in source_files(*roots, project=project)}


def changed_files(recorded: dict, roots: tuple[str, ...], project: Path | None = None) -> list[str]:
    """The files of the closure whose digest differs from the one recorded (or that appeared or went)."""
    now = file_digests(*roots, project=project)
    return sorted(f for f in set(now) | set(recorded) if now.get(f) != recorded.get(f))
