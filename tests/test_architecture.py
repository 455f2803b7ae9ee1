"""The house rules the layout depends on, checked on the source so that a change that breaks one says so.

- no import cycles between modules (lazy imports inside functions included: a cycle hidden in a function
  is still two modules that each need the other);
- role packages' ``__init__`` modules import nothing of the project at import time (start-up stays cheap);
- no module over 450 lines without a reason given at the top of its docstring;
- a handful of flat modules beside the role packages.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "rightsmark"
MAX_LINES = 450


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


MODULES = _modules()


def _imports(name: str, path: Path) -> Iterator[tuple[str, int]]:
    """Every project module that ``name`` imports anywhere in its body, with the line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            yield module, node.lineno
            for alias in node.names:  # `from rightsmark.engine import adapter` imports a module
                if f"{module}.{alias.name}" in MODULES:
                    yield f"{module}.{alias.name}", node.lineno


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for name, path in MODULES.items():
        targets = set()
        for module, _ in _imports(name, path):
            # importing a.b.c runs a/__init__ and a/b/__init__ too; only the leaf is this module's choice
            if module in MODULES and module != name:
                targets.add(module)
        graph[name] = targets
    return graph


def test_no_import_cycles() -> None:
    graph = _graph()
    # packages that only re-export lazily (rightsmark, rightsmark.ray) are entry points, not participants
    facades = {"rightsmark", "rightsmark.ray", "rightsmark.sources"}
    cycles = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for target in sorted(graph[node]):
            if target in facades:
                continue
            if state.get(target) == 1:
                cycles.append(" -> ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state and node not in facades:
            visit(node)
    assert not cycles, "\n".join(cycles)


def test_package_inits_stay_light() -> None:
    heavy = []
    for name, path in MODULES.items():
        # role packages only (rightsmark.<role>); a module that grew into a package (rights.xmp, trust.lists)
        # is one unit whose __init__ is its interface
        if path.name != "__init__.py" or name.count(".") != 1 or name in ("rightsmark.sources", "rightsmark._cli"):
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:  # module level only; lazy __getattr__ imports are the point
            if isinstance(node, ast.ImportFrom | ast.Import):
                names = [node.module or ""] if isinstance(node, ast.ImportFrom) else [a.name for a in node.names]
                heavy += [f"{name}: {n}" for n in names if n.startswith("rightsmark.") and n != "rightsmark._version"]
    assert not heavy, "\n".join(heavy)


def test_long_modules_say_why() -> None:
    unexplained = []
    for path in MODULES.values():
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) <= MAX_LINES:
            continue
        head = "\n".join(lines[:12]).lower()
        if "long because" not in head:
            unexplained.append(f"{path.relative_to(PACKAGE)} ({len(lines)} lines)")
    assert not unexplained, "\n".join(unexplained)


def test_few_flat_modules() -> None:
    flat = sorted(p.name for p in PACKAGE.glob("*.py"))
    assert len(flat) <= 12, flat


@pytest.mark.parametrize("command", [["--version"], ["--help"]])
def test_start_up_imports_neither_the_engine_nor_heavy_libraries(command: list[str]) -> None:
    code = (
        "import sys; from rightsmark._cli import main\n"
        f"sys.argv = ['rightsmark', *{command!r}]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "heavy = ('c2pa', 'pyarrow', 'jinja2', 'cryptography.x509', 'fsspec', 'ray')\n"
        "print(sorted(m for m in heavy if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip().splitlines()[-1] == "[]"
