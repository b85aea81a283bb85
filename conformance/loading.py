"""Turn an adapter spec (a built-in name, ``file.py:NAME`` or ``module:NAME``) into an adapter."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from typing import Any

from adapters import BUILTIN_ADAPTERS, FRAMEWORKS
from conformance.adapter import missing_required


class AdapterSpecError(ValueError):
    """A spec that names no loadable adapter; the message lists the valid choices."""


def _valid_choices() -> str:
    return (
        f"the built-in adapters are: {', '.join(sorted(BUILTIN_ADAPTERS))}; "
        "or give path/to/file.py:NAME or package.module:NAME"
    )


def _import_file(path: Path, spec: str) -> Any:
    if not path.is_file():
        raise AdapterSpecError(f"--adapter={spec}: no file {str(path)!r}; {_valid_choices()}")
    digest = hashlib.sha1(str(path.resolve()).encode()).hexdigest()[:10]
    module_name = f"_conformance_adapter_{path.stem}_{digest}"
    if module_name in sys.modules:
        return sys.modules[module_name]
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


def _split(spec: str) -> tuple[str, str]:
    location, sep, attribute = spec.rpartition(":")
    if not sep or not location or not attribute:
        raise AdapterSpecError(f"--adapter={spec}: unknown adapter; {_valid_choices()}")
    return location, attribute


def load_adapter(spec: str) -> Any:
    """The adapter named by ``spec``.

    ``spec`` is a built-in name (``torch``, ``jax``, ``tensorflow``, their AD-path variants,
    ``numpy``), ``path/to/file.py:NAME`` (the file's folder need not be on ``sys.path``) or
    ``package.module:NAME``. NAME is a class, instantiated with no arguments, or an instance.
    """
    if not isinstance(spec, str) or not spec:
        raise AdapterSpecError(f"--adapter={spec!r}: empty adapter spec; {_valid_choices()}")
    if spec in BUILTIN_ADAPTERS:
        module_name, attribute = BUILTIN_ADAPTERS[spec]
        module = importlib.import_module(module_name)
    else:
        location, attribute = _split(spec)
        if location.endswith(".py") or "/" in location or "\\" in location:
            module = _import_file(Path(location), spec)
        else:
            try:
                module = importlib.import_module(location)
            except ModuleNotFoundError as error:
                raise AdapterSpecError(f"--adapter={spec}: no module {error.name!r}; {_valid_choices()}") from None
    try:
        target = getattr(module, attribute)
    except AttributeError:
        raise AdapterSpecError(
            f"--adapter={spec}: {module.__name__} has no {attribute!r}; {_valid_choices()}"
        ) from None
    adapter = target() if isinstance(target, type) else target
    missing = missing_required(adapter)
    if missing:
        raise AdapterSpecError(
            f"--adapter={spec}: {type(adapter).__name__} lacks {', '.join(missing)}; "
            "an adapter needs softmax(x, axis), jacobian(x, axis) and vjp(x, cotangent, axis)"
        )
    return adapter


def framework_of(spec: str) -> str | None:
    """The built-in framework a spec belongs to, or None for a user adapter."""
    for framework, (_, names) in FRAMEWORKS.items():
        if spec in names:
            return framework
    return None


def installed_frameworks() -> list[str]:
    """Built-in frameworks whose package can be imported (found without importing it)."""
    return [name for name, (package, _) in FRAMEWORKS.items() if importlib.util.find_spec(package) is not None]


def framework_adapter_specs(frameworks: list[str], *, all_paths: bool = False) -> list[str]:
    """The primary path of each framework, in order; with ``all_paths``, every AD path."""
    unknown = [name for name in frameworks if name not in FRAMEWORKS]
    if unknown:
        raise AdapterSpecError(
            f"--frameworks={','.join(frameworks)}, but the known frameworks are: {', '.join(sorted(FRAMEWORKS))}"
        )
    return [spec for name in frameworks for spec in FRAMEWORKS[name][1][: None if all_paths else 1]]


def selected_specs(frameworks: list[str] | None, adapters: list[str], *, all_paths: bool = False) -> list[str]:
    """What a run covers: the primary path of each of ``frameworks`` (every path with
    ``all_paths``), then ``adapters``; with neither, the frameworks that are installed."""
    specs = list(adapters)
    if frameworks:
        specs = framework_adapter_specs(frameworks, all_paths=all_paths) + specs
    if not specs:
        specs = framework_adapter_specs(installed_frameworks(), all_paths=all_paths)
    return list(dict.fromkeys(specs))


def check_spec(spec: str) -> None:
    """Reject, without importing anything, a spec that cannot name an adapter."""
    if spec in BUILTIN_ADAPTERS:
        return
    location, _ = _split(spec)
    if location.endswith(".py") or "/" in location or "\\" in location:
        if not Path(location).is_file():
            raise AdapterSpecError(f"--adapter={spec}: no file {location!r}; {_valid_choices()}")
        return
    try:
        found = importlib.util.find_spec(location)
    except (ImportError, ValueError):
        found = None
    if found is None:
        raise AdapterSpecError(f"--adapter={spec}: no module {location!r}; {_valid_choices()}")
