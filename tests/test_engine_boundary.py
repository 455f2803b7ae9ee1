"""The engine adapter is the only place that talks to c2pa, and keys stay below signing.

A module outside ``rightsmark/engine/`` that imports c2pa (or holds the module under the name ``c2pa``)
would tie that module to the engine's API; ``keys`` importing ``sign`` or ``engine`` is the import
cycle the engine trial once made. Importing the signing, key and engine-building modules must not load
c2pa, which costs start-up time every command would pay.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import rightsmark

PACKAGE = Path(rightsmark.__file__).parent


def _modules(under: Path) -> list[Path]:
    return sorted(under.rglob("*.py"))


def _c2pa_uses(path: Path) -> list[str]:
    """Where ``path`` imports c2pa or touches a name ``c2pa`` (``c2pa.Builder``, ``c2pa = engine.c2pa()``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import) and any(a.name.split(".")[0] == "c2pa" for a in node.names):
            found.append(f"{path.name}:{node.lineno}: import c2pa")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] == "c2pa":
            found.append(f"{path.name}:{node.lineno}: from c2pa import")
        elif isinstance(node, ast.Name) and node.id == "c2pa":
            found.append(f"{path.name}:{node.lineno}: c2pa")
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "attr", getattr(node.func, "id", None)) in ("import_module", "__import__")
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and node.args[0].value == "c2pa"
        ):
            found.append(f"{path.name}:{node.lineno}: import_module('c2pa')")
    return found


def _imported_modules(path: Path) -> set[str]:
    """Every rightsmark module ``path`` imports, at the top or inside functions."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return {m for m in out if m == "rightsmark" or m.startswith("rightsmark.")}


def test_only_the_engine_package_uses_c2pa() -> None:
    engine = PACKAGE / "engine"
    offenders = [use for path in _modules(PACKAGE) if engine not in path.parents for use in _c2pa_uses(path)]
    assert offenders == []
    # the check itself sees what it looks for: the engine package does use c2pa
    assert any(_c2pa_uses(path) for path in _modules(engine))


def test_keys_import_neither_signing_nor_the_engine() -> None:
    wrong = {
        f"{path.relative_to(PACKAGE)} imports {module}"
        for path in _modules(PACKAGE / "keys")
        for module in _imported_modules(path)
        if module.startswith(("rightsmark.sign", "rightsmark.engine")) or module == "rightsmark"
    }
    assert wrong == set()


def test_signing_and_key_modules_load_without_c2pa() -> None:
    code = (
        "import sys\n"
        "import rightsmark.engine.building, rightsmark.sign.signer, rightsmark.sign.trial\n"
        "import rightsmark.keys.source, rightsmark.keys.csr, rightsmark.keys.devca\n"
        "print(sorted(m for m in ('c2pa', 'PIL', 'pkcs11') if m in sys.modules))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"
