"""A pytest plugin for a worker of :mod:`benchmarks.probes.programs`: it counts jax's backend
compilations, and their seconds, by the property whose test asked for them, and writes them to
a file of its own in ``$CONFORMANCE_PROGRAM_COUNTS`` when the worker's session ends.
Compilations outside a test (collection, probes) count under ``"outside a test"``.
"""

from __future__ import annotations

import json
import os
from collections import Counter
from pathlib import Path

import pytest

PLUGIN = "benchmarks.probes.program_counter"
COUNTS_FOLDER_VARIABLE = "CONFORMANCE_PROGRAM_COUNTS"
OUTSIDE = "outside a test"
COMPILE_EVENT_SUFFIX = "backend_compile_duration"  # jax.monitoring's event for one XLA compilation

_programs: Counter[str] = Counter()
_seconds: dict[str, float] = {}
_current = [OUTSIDE]


def _on_duration(event: str, duration_secs: float, **_: str | int) -> None:
    if event.endswith(COMPILE_EVENT_SUFFIX):
        _programs[_current[0]] += 1
        _seconds[_current[0]] = _seconds.get(_current[0], 0.0) + duration_secs


def pytest_configure(config: pytest.Config) -> None:
    try:
        import jax.monitoring
    except ImportError:  # a worker of another framework compiles no XLA program
        return
    jax.monitoring.register_event_duration_secs_listener(_on_duration)


def _property_of(item: pytest.Item) -> str:
    mark = item.get_closest_marker("conformance")
    return str(mark.kwargs["name"]) if mark is not None and "name" in mark.kwargs else item.name.split("[")[0]


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    _current[0] = _property_of(item)


def pytest_runtest_teardown(item: pytest.Item) -> None:
    _current[0] = OUTSIDE


def pytest_sessionfinish(session: pytest.Session) -> None:
    folder = os.environ.get(COUNTS_FOLDER_VARIABLE)
    if not folder or not _programs:
        return
    path = Path(folder) / f"worker-{os.getpid()}.json"
    path.write_text(json.dumps({"programs": _programs, "seconds": _seconds}), encoding="utf-8")
