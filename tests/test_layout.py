"""The package is grouped by the stages data passes through, and each stage imports only
from itself and the stages below it.

From the bottom: ``truth`` (dtypes, the oracle with its ops and quantities, the tolerance
model, and the registry of the built-in frameworks and adapters as plain names) and
``inputs`` (the shape pools and strategies); the adapter protocol
(``conformance/adapter.py``) just above ``truth``; then ``checks``, ``properties``,
``results``, ``running``, ``presentation`` and ``scale``. The built-in adapters
(``adapters/``, installed as ``conformance.adapters``) are implementations on the protocol:
they import only it and ``truth``, and only ``running`` and above import them, where the
loader (``conformance/running/loading.py``) turns a spec into an adapter (issue 28: no
module below ``running/`` imports ``conformance.adapters``; the stages below know the
built-ins by name, from ``conformance.truth.frameworks``). The entry points
(``conformance/__init__.py``, ``__main__.py``, ``cli.py``) may import anything.
"""

from __future__ import annotations

import ast
import subprocess
import sys
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
    "adapters": frozenset({"adapters", "adapter", "truth"}),
    "checks": frozenset({"checks", "adapter", "inputs", "truth"}),
    "properties": frozenset({"properties", "checks", "adapter", "inputs", "truth"}),
    "results": frozenset({"results", "checks", "adapter", "inputs", "truth"}),
    "running": frozenset({"running", "results", "properties", "checks", "adapters", "adapter", "inputs", "truth"}),
    "presentation": frozenset(
        {"presentation", "running", "results", "properties", "checks", "adapters", "adapter", "inputs", "truth"}
    ),
    "scale": frozenset(
        {
            "scale",
            "presentation",
            "running",
            "results",
            "properties",
            "checks",
            "adapters",
            "adapter",
            "inputs",
            "truth",
        }
    ),
}
BELOW_RUNNING = ("truth", "inputs", "adapter", "checks", "properties", "results")
BUILTIN_ADAPTERS_PACKAGE = "conformance.adapters"
STAGE_OF_NAME = {stage: stage for stage in ALLOWED} | {"cli": ENTRY, "__main__": ENTRY}
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


def test_no_module_below_running_imports_the_built_in_adapters():
    """The stages below ``running`` know the built-in adapters by name only
    (``conformance.truth.frameworks``); loading one is the loader's work (issue 28)."""
    known = _modules()
    offending = [
        f"{path.relative_to(REPO)}:{line}: {module} imports {target}"
        for module, path in known.items()
        if _stage(module) in BELOW_RUNNING
        for line, target in _imported(module, path, known)
        if target == BUILTIN_ADAPTERS_PACKAGE or target.startswith(f"{BUILTIN_ADAPTERS_PACKAGE}.")
    ]
    assert not offending, "below running/, imports of the built-in adapters:\n" + "\n".join(offending)


def test_the_parent_reaches_its_workers_without_the_workers_imports():
    """What ``run`` imports before it starts its workers leaves out pytest, Hypothesis,
    jsonschema and mpmath: the workers need the first two, the finished document the third,
    the portable oracle the last, and imported first they held the workers back 0.15 s."""
    before_workers = [
        "conformance.cli",
        "conformance.presentation.progress",
        "conformance.presentation.summary",
        "conformance.results.gate",
        "conformance.running.session",
    ]
    script = f"import sys; {'; '.join(f'import {name}' for name in before_workers)}; print(sorted(sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, cwd=REPO)
    modules = {name.split(".")[0] for name in ast.literal_eval(loaded.stdout)}
    assert not modules & {"pytest", "_pytest", "hypothesis", "jsonschema", "mpmath"}


def test_every_module_belongs_to_a_stage():
    unplaced = [module for module in _modules() if _stage(module) == "no stage"]
    assert not unplaced, f"modules outside the stages: {unplaced}"


def test_the_top_level_holds_the_entry_points_the_adapter_protocol_and_the_stages():
    modules = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(modules) <= TOP_LEVEL_LIMIT, f"{len(modules)} modules at the top level of conformance/: {modules}"
    assert set(modules) <= {"__init__.py", "__main__.py", "cli.py", "adapter.py"}, modules
    stage_packages = set(ALLOWED) - {"adapters"}  # the built-in adapters live in adapters/, outside conformance/
    others = sorted(
        path.name
        for path in PACKAGE.iterdir()
        if path.suffix != ".py" and path.name not in (*stage_packages, "__pycache__")
    )
    assert not others, f"conformance/ holds more than modules and stage packages: {others}"


README_LINE_LIMIT = 300


def test_the_readme_stays_short():
    """The README gets a reader going; the reference lives in docs/ (issue 28)."""
    lines = (REPO / "README.md").read_text(encoding="utf-8").splitlines()
    assert len(lines) < README_LINE_LIMIT, (
        f"README.md has {len(lines)} lines, the limit is {README_LINE_LIMIT - 1}: move reference material into docs/"
    )


TYPED_STAGES = ("results", "presentation")  # results end to end: typed records, baseline, verdict and views


def _untyped_dicts(path: Path) -> list[int]:
    """The lines of ``path`` that spell ``dict[str, Any]`` (or ``Dict[str, Any]``)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name) and node.value.id in ("dict", "Dict"):
            arguments = node.slice.elts if isinstance(node.slice, ast.Tuple) else []
            if len(arguments) == 2 and isinstance(arguments[1], ast.Name) and arguments[1].id == "Any":
                found.append(node.lineno)
    return found


def test_results_and_presentation_have_no_untyped_dicts():
    offending = [
        f"{path.relative_to(REPO)}:{line}"
        for stage in TYPED_STAGES
        for path in sorted((PACKAGE / stage).rglob("*.py"))
        for line in _untyped_dicts(path)
    ]
    assert offending == [], f"dict[str, Any] where a typed structure belongs: {offending}"
