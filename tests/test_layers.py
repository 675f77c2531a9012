"""Two layers, one direction: the ULMFiT library (``ulmfit_core``) never imports the replication harness
(``ulmfit_core.harness``) — not at the top of a module, not inside a function, not by name at run time."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import ulmfit_core

PACKAGE = Path(ulmfit_core.__file__).parent
HARNESS = "ulmfit_core.harness"


def library_modules() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if HARNESS.split(".")[1] not in p.relative_to(PACKAGE).parts)


def _resolve(node: ast.ImportFrom, module: str) -> str:
    """The absolute module an ``from ... import`` names (relative imports resolved against ``module``)."""
    if not node.level:
        return node.module or ""
    base = module.split(".")[: -node.level]
    return ".".join(base + ([node.module] if node.module else []))


def harness_imports(source: str, module: str) -> list[str]:
    """Every import of the harness in ``source`` (the code of ``module``), wherever it stands: import
    statements at any depth, and calls of ``importlib.import_module`` / ``__import__`` with a literal name."""
    found = []
    for node in ast.walk(ast.parse(source)):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            target = _resolve(node, module)
            names = [target] + [f"{target}.{a.name}" for a in node.names]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        hits = [n for n in names if n == HARNESS or n.startswith(HARNESS + ".")]
        if hits:
            found.append(f"line {node.lineno}: {hits[0]}")
    return found


def test_no_library_module_imports_the_harness() -> None:
    modules = library_modules()
    assert len(modules) > 20 and PACKAGE / "cli.py" in modules and PACKAGE / "pipeline.py" in modules
    offenders = {}
    for path in modules:
        module = "ulmfit_core." + ".".join(path.relative_to(PACKAGE).with_suffix("").parts)
        module = module.removesuffix(".__init__")
        hits = harness_imports(path.read_text(), module)
        if hits:
            offenders[str(path.relative_to(PACKAGE))] = hits
    assert not offenders, f"library modules that import the harness: {offenders}"


def test_the_checker_finds_imports_at_every_depth() -> None:
    """The test above can fail: a lazy import inside a function, a relative import and import_module."""
    lazy = "def f():\n    from ulmfit_core.harness import experiments\n"
    relative = "from .harness.pack import PackedTexts\n"
    dynamic = "import importlib\nimportlib.import_module('ulmfit_core.harness.scales')\n"
    parent = "from ulmfit_core import harness\n"
    clean = "from ulmfit_core.pipeline import encode\nimport ulmfit_core.harnessed_thing\n"
    assert harness_imports(lazy, "ulmfit_core.pipeline") == ["line 2: ulmfit_core.harness"]
    assert harness_imports(relative, "ulmfit_core.pipeline") == ["line 1: ulmfit_core.harness.pack"]
    assert harness_imports(dynamic, "ulmfit_core.cli") == ["line 2: ulmfit_core.harness.scales"]
    assert harness_imports(parent, "ulmfit_core.cli") == ["line 1: ulmfit_core.harness"]
    assert harness_imports(clean, "ulmfit_core.cli") == []


def test_importing_the_whole_library_loads_no_harness_module() -> None:
    names = ["ulmfit_core." + ".".join(p.relative_to(PACKAGE).with_suffix("").parts) for p in library_modules()]
    code = ("import importlib, sys\n"
            f"for name in {[n.removesuffix('.__init__') for n in names]!r}:\n"
            "    importlib.import_module(name)\n"
            "print(sorted(m for m in sys.modules if m.startswith('ulmfit_core.harness')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
