"""Turn an adapter spec into an adapter: a built-in name, the name of an adapter an installed
package registers, ``file.py:NAME``, ``module:NAME``, or a framework function spec.

A *function spec*, ``FRAMEWORK[@PATH]:file.py:SOFTMAX[,LOG_SOFTMAX]`` (or ``module`` in place
of ``file.py``), names functions ``(x, axis) -> y`` on the framework's own tensors, wrapped by
``from_torch``, ``from_jax`` or ``from_tensorflow``: ``torch:my_kernels.py:softmax``, or
``jax@jax-jacfwd:my_kernels.py:softmax,log_softmax``. FRAMEWORK alone means its primary AD
path; with ``all_paths`` such a spec stands for every path of its framework. log_softmax is
checked only when the spec names it: a file's other functions are never picked up.

A package registers adapters in the entry-point group ``softmax_conformance.adapters``, the
way pytest plugins register with ``pytest11``; each entry's name is the adapter's name and
its value ``package.module:NAME`` is imported only when that adapter is loaded::

    [project.entry-points."softmax_conformance.adapters"]
    my-kernel = "my_kernels.conformance:MySoftmax"
"""

from __future__ import annotations

import ast
import functools
import hashlib
import importlib
import importlib.metadata
import importlib.util
import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conformance.adapter import UnknownPromise, check_promises, declared_promises, missing_required
from conformance.adapters import from_framework
from conformance.truth.frameworks import BUILTIN_ADAPTERS, FRAMEWORKS, FUNCTION_FRAMEWORKS


class AdapterSpecError(ValueError):
    """A spec that names no loadable adapter; the message lists the valid choices."""


class IncompleteAdapter(TypeError):
    """An adapter that loads but lacks a required method: an ``error`` result, not a usage error."""


ENTRY_POINT_GROUP = "softmax_conformance.adapters"


@functools.cache
def plugin_adapters() -> dict[str, importlib.metadata.EntryPoint]:
    """Adapters that installed distributions register, by name (a built-in name wins)."""
    found = {entry.name: entry for entry in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)}
    return {name: entry for name, entry in sorted(found.items()) if name not in BUILTIN_ADAPTERS}


def _valid_choices() -> str:
    plugins = f"; installed plugin adapters: {', '.join(plugin_adapters())}" if plugin_adapters() else ""
    return (
        f"the built-in adapters are: {', '.join(sorted(BUILTIN_ADAPTERS))}{plugins}; "
        "or give path/to/file.py:NAME or package.module:NAME, "
        f"or functions as {FUNCTION_SPEC_FORM} (FRAMEWORK: {', '.join(FUNCTION_FRAMEWORKS)})"
    )


def _import_file(path: Path, spec: str) -> Any:
    if not path.is_file():
        raise AdapterSpecError(f"--adapter={spec}: no file {str(path)!r}; {_valid_choices()}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"_conformance_adapter_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
    folder = str(path.resolve().parent)
    if folder not in sys.path:  # as for a script: the modules beside the file import
        sys.path.insert(0, folder)
    module_spec = importlib.util.spec_from_file_location(module_name, path)
    if module_spec is None or module_spec.loader is None:
        raise AdapterSpecError(f"--adapter={spec}: {str(path)!r} is not a Python file; {_valid_choices()}")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[module_name] = module
    try:
        module_spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


FUNCTION_SPEC_FORM = "FRAMEWORK[@PATH]:file.py:softmax[,log_softmax]"
# FRAMEWORK or FRAMEWORK@PATH before the first colon; one letter is a Windows drive
_FUNCTION_PREFIX = re.compile(r"[A-Za-z][\w-]+(@[\w-]+)?")


@dataclass(frozen=True)
class BuiltinSpec:
    """A built-in adapter's name: ``torch``, ``jax-jacfwd``, ``numpy``."""

    text: str


@dataclass(frozen=True)
class PluginSpec:
    """The name of an adapter an installed package registers (an entry point)."""

    text: str


@dataclass(frozen=True)
class FileSpec:
    """``path/to/file.py:NAME``: NAME in a Python file (its folder need not be on ``sys.path``)."""

    text: str
    location: str
    attribute: str


@dataclass(frozen=True)
class ModuleSpec:
    """``package.module:NAME``: NAME in an importable module."""

    text: str
    location: str
    attribute: str


@dataclass(frozen=True)
class FunctionSpec:
    """A function spec: the framework, the AD path (None: the primary), where the functions
    are (a file or a module) and their names."""

    text: str
    framework: str
    path: str | None
    location: str
    softmax: str
    log_softmax: str | None

    @property
    def names(self) -> tuple[str, ...]:
        return (self.softmax,) if self.log_softmax is None else (self.softmax, self.log_softmax)

    def on_path(self, path: str | None, location: str | None = None) -> str:
        """The spec for the same functions on ``path`` (None: the primary), from ``location``
        (by default the spec's own)."""
        prefix = self.framework if path is None else f"{self.framework}@{path}"
        return f"{prefix}:{location or self.location}:{','.join(self.names)}"


AdapterSpec = BuiltinSpec | PluginSpec | FileSpec | ModuleSpec | FunctionSpec


def parse_spec(spec: str | AdapterSpec) -> AdapterSpec:
    """``spec`` as the one of the five forms it has (a parsed spec is returned as it is); an
    :class:`AdapterSpecError` naming the valid choices when it has none of them."""
    if not isinstance(spec, str):
        return spec
    if not spec:
        raise AdapterSpecError(f"--adapter={spec!r}: empty adapter spec; {_valid_choices()}")
    if spec in BUILTIN_ADAPTERS:
        return BuiltinSpec(spec)
    if spec in plugin_adapters():
        return PluginSpec(spec)
    functions = _function_spec(spec)
    if functions is not None:
        return functions
    location, sep, attribute = spec.rpartition(":")
    if not sep or not location or not attribute:
        raise AdapterSpecError(f"--adapter={spec}: unknown adapter; {_valid_choices()}")
    return FileSpec(spec, location, attribute) if _is_file(location) else ModuleSpec(spec, location, attribute)


def _function_spec(spec: str) -> FunctionSpec | None:
    """``spec`` parsed as a function spec, or None when it has not that form (two colons, a
    name before the first); an AdapterSpecError, naming the valid choices, for an unknown
    framework or path or a bad list of functions."""
    prefix, _, rest = spec.partition(":")
    location, sep, names = rest.rpartition(":")
    if not sep or not _FUNCTION_PREFIX.fullmatch(prefix):
        return None
    framework, _, path = prefix.partition("@")
    if framework not in FUNCTION_FRAMEWORKS:
        raise AdapterSpecError(
            f"--adapter={spec}: unknown framework {framework!r}; a function spec is {FUNCTION_SPEC_FORM}, "
            f"FRAMEWORK one of {', '.join(FUNCTION_FRAMEWORKS)}"
        )
    paths = FRAMEWORKS[framework][1]
    if path and path not in paths:
        raise AdapterSpecError(f"--adapter={spec}: unknown AD path {path!r}; {framework}'s are: {', '.join(paths)}")
    functions = names.split(",")
    if not location or not 1 <= len(functions) <= 2 or not all(name.strip() for name in functions):
        raise AdapterSpecError(f"--adapter={spec}: a function spec is {FUNCTION_SPEC_FORM}")
    functions = [name.strip() for name in functions]
    return FunctionSpec(
        spec, framework, path or None, location, functions[0], functions[1] if len(functions) == 2 else None
    )


def _load_functions(parsed: FunctionSpec) -> Any:
    """The adapter of a function spec: its functions, wrapped by from_<framework>."""
    spec = parsed.text
    module = _module_at(spec, parsed.location)
    functions = []
    for name in parsed.names:
        try:
            functions.append(getattr(module, name))
        except AttributeError:
            raise AdapterSpecError(f"--adapter={spec}: {parsed.location} has no {name!r}") from None
    path = parsed.path or FRAMEWORKS[parsed.framework][1][0]
    where = Path(parsed.location).stem if _is_file(parsed.location) else parsed.location
    return from_framework(
        parsed.framework,
        functions[0],
        log_softmax=functions[1] if len(functions) == 2 else None,
        name=f"{where}.{'+'.join(parsed.names)}@{path}",
        path=path,
    )


def load_adapter(spec: str | AdapterSpec) -> Any:
    """The adapter named by ``spec``.

    ``spec`` is a built-in name (``torch``, ``jax``, ``tensorflow``, their AD-path variants,
    ``numpy``), the name of a plugin adapter (see the module docstring), ``path/to/file.py:NAME``
    (the file's folder need not be on ``sys.path``), ``package.module:NAME`` or a function spec.
    NAME is a class, instantiated with no arguments, or an instance.
    """
    parsed = parse_spec(spec)
    if isinstance(parsed, PluginSpec):
        return _instance(plugin_adapters()[parsed.text].load())  # a broken entry point raises here: an error record
    if isinstance(parsed, FunctionSpec):
        return _instance(_load_functions(parsed))
    if isinstance(parsed, BuiltinSpec):
        module_name, attribute = BUILTIN_ADAPTERS[parsed.text]
        module = importlib.import_module(module_name)
    else:
        attribute = parsed.attribute
        module = _module_at(parsed.text, parsed.location)
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise AdapterSpecError(
            f"--adapter={parsed.text}: {module.__name__} has no {attribute!r}; {_valid_choices()}"
        ) from None
    return _instance(target)


def _module_at(spec: str, location: str) -> Any:
    """The module a spec's ``location`` names: a file's, or an importable module."""
    if _is_file(location):
        return _import_file(Path(location), spec)
    try:
        return importlib.import_module(location)
    except ModuleNotFoundError as error:
        raise AdapterSpecError(f"--adapter={spec}: no module {error.name!r}; {_valid_choices()}") from None


def _instance(target: Any) -> Any:
    """``target`` instantiated if it is a class, checked to have the required methods and to
    promise only what can be promised (``bitwise``)."""
    adapter = target() if isinstance(target, type) else target
    missing = missing_required(adapter)
    if missing:
        raise IncompleteAdapter(
            f"{type(adapter).__name__} lacks {', '.join(missing)}; "
            "an adapter needs softmax(x, axis), jacobian(x, axis) and vjp(x, cotangent, axis)"
        )
    try:
        declared_promises(adapter)
    except UnknownPromise as error:
        raise AdapterSpecError(str(error)) from None
    return adapter


def absolute_spec(spec: str | AdapterSpec) -> str:
    """``spec`` with a file's path made absolute, so that it loads from any folder."""
    parsed = parse_spec(spec)
    if isinstance(parsed, FunctionSpec) and _is_file(parsed.location):
        return parsed.on_path(parsed.path, str(Path(parsed.location).resolve()))
    if isinstance(parsed, FileSpec):
        return f"{Path(parsed.location).resolve()}:{parsed.attribute}"
    return parsed.text


def _is_file(location: str) -> bool:
    return location.endswith(".py") or "/" in location or "\\" in location


def _findable(module: str) -> bool:
    """Whether ``module`` can be found (its parent packages are imported, the module is not)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a parent package missing, or a module without a spec
        return False


def installed_frameworks() -> list[str]:
    """Built-in frameworks whose module can be imported (found without importing it)."""
    return [name for name, (module, _) in FRAMEWORKS.items() if _findable(module)]


def not_installed(frameworks: Sequence[str]) -> dict[str, str]:
    """Of ``frameworks`` (known names), those not installed here, each with the one line that
    says so and how to install it."""
    return {
        name: f"skipping {name}: it is not installed here (no module {FRAMEWORKS[name][0]}); "
        f"pip install 'softmax-conformance[{name}]'"
        for name in frameworks
        if not _findable(FRAMEWORKS[name][0])
    }


def framework_adapter_specs(frameworks: list[str], *, all_paths: bool = False) -> list[str]:
    """The primary path of each framework, in order; with ``all_paths``, every AD path."""
    unknown = [name for name in frameworks if name not in FRAMEWORKS]
    if unknown:
        raise AdapterSpecError(
            f"--frameworks={','.join(frameworks)}, but the known frameworks are: {', '.join(sorted(FRAMEWORKS))}"
        )
    return [spec for name in frameworks for spec in FRAMEWORKS[name][1][: None if all_paths else 1]]


def selected_specs(
    frameworks: list[str] | None,
    adapters: Sequence[str],
    *,
    all_paths: bool = False,
    default: Sequence[str] | None = None,
) -> list[str]:
    """What a run covers: the primary path of each of ``frameworks`` (every path with
    ``all_paths``), then ``adapters``; with neither, the ``default`` frameworks (by default
    the installed ones)."""
    specs = [expanded for spec in adapters for expanded in _on_paths(spec, all_paths)]
    if frameworks:
        specs = framework_adapter_specs(frameworks, all_paths=all_paths) + specs
    if not specs:
        fallback = installed_frameworks() if default is None else list(default)
        specs = framework_adapter_specs(fallback, all_paths=all_paths)
    return list(dict.fromkeys(specs))


def parsed_specs(
    frameworks: list[str] | None,
    adapters: Sequence[str],
    *,
    all_paths: bool = False,
    default: Sequence[str] | None = None,
) -> tuple[AdapterSpec, ...]:
    """What a run covers (:func:`selected_specs`), parsed."""
    selected = selected_specs(frameworks, adapters, all_paths=all_paths, default=default)
    return tuple(parse_spec(spec) for spec in selected)


def checked_specs(
    frameworks: list[str] | None,
    adapters: Sequence[str],
    *,
    all_paths: bool = False,
    default: Sequence[str] | None = None,
) -> tuple[AdapterSpec, ...]:
    """What a run covers (:func:`parsed_specs`), each checked to name something loadable
    (:func:`check_spec`)."""
    specs = parsed_specs(frameworks, adapters, all_paths=all_paths, default=default)
    for spec in specs:
        check_spec(spec)
    return specs


def _on_paths(spec: str, all_paths: bool) -> list[str]:
    """``spec``; with ``all_paths``, a function spec without a path stands for one spec per AD
    path of its framework, the primary's being ``spec`` itself."""
    parsed = parse_spec(spec) if all_paths else None
    if not isinstance(parsed, FunctionSpec) or parsed.path is not None:
        return [spec]
    return [spec, *(parsed.on_path(path) for path in FRAMEWORKS[parsed.framework][1][1:])]


def check_spec(spec: str | AdapterSpec) -> None:
    """Reject, without importing anything, a spec that cannot name an adapter: no such file or
    module, or a NAME its source does not define at the top level (for a function spec, each
    of its functions)."""
    parsed = parse_spec(spec)
    if isinstance(parsed, FunctionSpec):
        for name in parsed.names:
            _check_location(parsed.text, parsed.location, name)
    elif isinstance(parsed, (FileSpec, ModuleSpec)):
        _check_location(parsed.text, parsed.location, parsed.attribute)


def _check_location(spec: str, location: str, attribute: str) -> None:
    source: Path | None
    if _is_file(location):
        if not Path(location).is_file():
            raise AdapterSpecError(f"--adapter={spec}: no file {location!r}; {_valid_choices()}")
        source = Path(location)
    else:
        try:
            found = importlib.util.find_spec(location)
        except (ImportError, ValueError):
            found = None
        if found is None:
            raise AdapterSpecError(f"--adapter={spec}: no module {location!r}; {_valid_choices()}")
        source = Path(found.origin) if found.origin and found.origin.endswith(".py") else None
    names = _top_level_names(source) if source is not None else None
    if names is not None and attribute not in names:
        assert source is not None
        candidates = names - _module_names(source)  # ``import numpy as np`` binds no adapter
        defined = ", ".join(sorted(name for name in candidates if not name.startswith("_"))) or "nothing public"
        raise AdapterSpecError(f"--adapter={spec}: {location} has no {attribute!r}; it defines: {defined}")
    if source is not None:
        _check_declared_promises(spec, source, attribute)


def _check_declared_promises(spec: str, source: Path, attribute: str) -> None:
    """Reject, without running the file, a ``bitwise`` that ``attribute`` declares as a literal
    (``bitwise = (...)`` in its class, or ``bitwise=(...)`` in the call that makes it) and that
    names something that cannot be promised."""
    try:
        tree = ast.parse(source.read_text(encoding="utf-8"), filename=str(source))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return
    for node in tree.body:
        for declared in _bitwise_literals(node, attribute):
            try:
                check_promises(declared, f"--adapter={spec}: {attribute}")
            except UnknownPromise as error:
                raise AdapterSpecError(str(error)) from None


def _binds(targets: list[ast.expr], name: str) -> bool:
    return any(isinstance(target, ast.Name) and target.id == name for target in targets)


def _bitwise_literals(node: ast.stmt, attribute: str) -> list[Any]:
    """The literal ``bitwise`` declarations of ``attribute`` in the top-level statement ``node``."""
    found: list[ast.expr] = []
    if isinstance(node, ast.ClassDef) and node.name == attribute:
        for statement in node.body:
            targets = statement.targets if isinstance(statement, ast.Assign) else []
            if isinstance(statement, ast.AnnAssign):
                targets = [statement.target]
            value = getattr(statement, "value", None)
            if _binds(targets, "bitwise") and value is not None:
                found.append(value)
    elif isinstance(node, ast.Assign) and _binds(node.targets, attribute) and isinstance(node.value, ast.Call):
        found += [keyword.value for keyword in node.value.keywords if keyword.arg == "bitwise"]
    literals = []
    for expression in found:
        try:
            literals.append(ast.literal_eval(expression))
        except (ValueError, TypeError, SyntaxError):  # not a literal: checked when the adapter loads
            continue
    return literals


def _top_level_names(path: Path) -> set[str] | None:
    """The names a Python file binds at its top level, or None when that cannot be told
    without running it (a syntax error, ``import *``, ``globals()``)."""
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except (OSError, SyntaxError, UnicodeDecodeError, ValueError):
        return None
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and any(alias.name == "*" for alias in node.names):
            return None
        if isinstance(node, ast.Name) and node.id == "globals":
            return None
    for node in tree.body:
        names.update(_bound_names(node))
    return names


def _module_names(path: Path) -> set[str]:
    """The names a Python file's top-level ``import`` statements bind: modules, never an adapter
    (``from module import Name`` may bind one, and is not counted here)."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    return set().union(*(_bound_names(node) for node in tree.body if isinstance(node, ast.Import)))


def _bound_names(node: ast.stmt) -> set[str]:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return {node.name}
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    found = {name.id for target in targets for name in ast.walk(target) if isinstance(name, ast.Name)}
    # names bound inside if/try/with/for blocks at the top level count too
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.stmt):
            found |= _bound_names(child)
    return found
