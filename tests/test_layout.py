"""The package is grouped by the stages data passes through, and each stage imports only
from itself and the stages below it.

From the bottom: ``truth`` (dtypes, the oracle, the tolerance model) and ``inputs`` (the
shape pools and strategies), then ``checks``, ``results``, ``running``, ``presentation``
and ``scale``. ``conformance/adapter.py`` (the adapter protocol) and the built-in adapters
(``adapters/``, installed as ``conformance.adapters``) sit just above ``truth``; the
properties may import ``truth``, ``inputs``, ``checks`` and the adapter protocol. The entry
points (``conformance/__init__.py``, ``__main__.py``, ``cli.py``) may import anything.
"""

from __future__ import annotations

import ast
from pathlib import Path

from tests.conftest import REPO

PACKAGE = REPO / "conformance"
ADAPTERS = REPO / "adapters"
ENTRY = "entry"

# stage -> the stages its modules may import from (its own included)
ALLOWED: dict[str, frozenset[str]] = {
    "truth": frozenset({"truth"}),
    "inputs": frozenset({"inputs", "truth"}),
    "adapter": frozenset({"adapter", "truth"}),
    "checks": frozenset({"checks", "adapter", "inputs", "truth"}),
    "properties": frozenset({"properties", "checks", "adapter", "inputs", "truth"}),
    "results": frozenset({"results", "checks", "adapter", "inputs", "truth"}),
    "running": frozenset({"running", "results", "properties", "checks", "adapter", "inputs", "truth"}),
    "presentation": frozenset(
        {"presentation", "running", "results", "properties", "checks", "adapter", "inputs", "truth"}
    ),
    "scale": frozenset(
        {"scale", "presentation", "running", "results", "properties", "checks", "adapter", "inputs", "truth"}
    ),
}
STAGE_OF_NAME = {stage: stage for stage in ALLOWED} | {"adapters": "adapter", "cli": ENTRY, "__main__": ENTRY}
TOP_LEVEL_LIMIT = 8


def _modules() -> dict[str, Path]:
    """Every module of the installed package: dotted name -> file."""
    found = {}
    for root, package in ((PACKAGE, "conformance"), (ADAPTERS, "conformance.adapters")):
        for path in sorted(root.rglob("*.py")):
            parts = list(path.relative_to(root).with_suffix("").parts)
            if parts[-1] == "__init__":
                parts.pop()
            found[".".join([package, *parts])] = path
    return found


def _stage(module: str) -> str:
    """The stage of a module of the package; the package itself is the public entry point."""
    parts = module.split(".")
    if len(parts) == 1:
        return ENTRY
    return STAGE_OF_NAME.get(parts[1], "no stage")


def _imported(module: str, path: Path, known: dict[str, Path]) -> list[tuple[int, str]]:
    """The modules of the package that ``module`` imports, with their lines; ``from
    conformance.x import name`` counts as importing ``conformance.x.name`` when that is a
    module, else ``conformance.x``."""
    is_package = path.name == "__init__.py"
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")[: len(module.split(".")) - node.level + (1 if is_package else 0)]
                base = ".".join([*anchor, *([base] if base else [])])
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.append((node.lineno, candidate if candidate in known else base))
    return [(line, name) for line, name in found if name == "conformance" or name.startswith("conformance.")]


def test_each_stage_imports_only_from_itself_and_the_stages_below():
    known = _modules()
    offending = []
    for module, path in known.items():
        stage = _stage(module)
        if stage == ENTRY:
            continue
        for line, target in _imported(module, path, known):
            target_stage = _stage(target)
            if target_stage == ENTRY or target_stage not in ALLOWED[stage]:
                where = path.relative_to(REPO)
                offending.append(f"{where}:{line}: {module} ({stage}) imports {target} ({target_stage})")
    assert not offending, "imports against the layering:\n" + "\n".join(offending)


def test_every_module_belongs_to_a_stage():
    unplaced = [module for module in _modules() if _stage(module) == "no stage"]
    assert not unplaced, f"modules outside the stages: {unplaced}"


def test_the_top_level_holds_the_entry_points_the_adapter_protocol_and_the_stages():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= TOP_LEVEL_LIMIT, f"{len(modules)} modules at the top level of conformance/: {modules}"
    assert set(modules) <= {"__init__.py", "__main__.py", "cli.py", "adapter.py"}, modules
    others = sorted(
        path.name for path in PACKAGE.iterdir() if path.suffix != ".py" and path.name not in (*ALLOWED, "__pycache__")
    )
    assert not others, f"conformance/ holds more than modules and stage packages: {others}"


README_LINE_LIMIT = 300


def test_the_readme_stays_short():
    """The README gets a reader going; the reference lives in docs/ (issue 28)."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_LINE_LIMIT, (
        f"README.md has {len(lines)} lines, the limit is {README_LINE_LIMIT - 1}: move reference material into docs/"
    )
