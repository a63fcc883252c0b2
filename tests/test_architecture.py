"""The package's rooms and the directions imports may run between them (docs: DESIGN of the package
in the README's layout). Read from the source, imports inside functions included: a lazy import is
still a dependency."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "dra"

# room -> rooms (and third-party packages) it must never import
FORBIDDEN = {
    "plan": {"run", "methods", "nets", "report", "commands", "torch", "torchvision"},
    "data": {"plan", "run", "methods", "nets", "report", "commands", "torch", "torchvision"},
    "nets": {"methods", "run", "data", "plan", "report", "commands"},
    "methods": {"data", "run", "report", "commands"},
    "report": {"run", "methods", "nets", "data", "commands", "torch", "torchvision"},
    "run": {"report", "commands"},
}


def room(module: str) -> str:
    parts = module.split(".")
    return parts[1] if parts[0] == "dra" and len(parts) > 1 else parts[0]


def imports(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found |= {f"{node.module}.{a.name}" for a in node.names if node.module == "dra"}
    return found


def modules():
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE.parent).with_suffix("")
        yield ".".join(rel.parts).removesuffix(".__init__"), path


@pytest.mark.parametrize("owner", sorted(FORBIDDEN))
def test_each_room_imports_only_downward(owner):
    checked = 0
    for name, path in modules():
        if room(name) != owner:
            continue
        checked += 1
        bad = sorted(m for m in imports(path) if room(m) in FORBIDDEN[owner]
                     and (m.split(".")[0] == "dra" or m.split(".")[0] in FORBIDDEN[owner]))
        assert not bad, f"{name} imports {bad}"
    assert checked, owner


def test_the_snakefile_imports_only_the_planning_package():
    workflow = PACKAGE.parents[1] / "workflow"
    for smk in [workflow / "Snakefile", *sorted((workflow / "rules").glob("*.smk"))]:
        for line in smk.read_text().splitlines():
            line = line.strip()
            if line.startswith(("from dra", "import dra")):
                assert line.startswith(("from dra.plan", "from dra.plan ")), f"{smk.name}: {line}"


def test_no_method_opens_a_file():
    """Methods are fed tensors and state dicts (dra.run.inputs loads them)."""
    for name, path in modules():
        if room(name) == "methods":
            text = path.read_text()
            for call in ("torch.load(", "open(", ".read_text(", "np.load(", "Image.open("):
                assert call not in text, f"{name} calls {call}"
