"""The suite's examples depend on the seed and the property alone, not on the code around them.

Hypothesis draws, with a small chance at each draw, one of the literals of the "local" modules
imported so far (any module outside site-packages and the standard library, test files aside):
with the suite installed editable, every number written anywhere in ``conformance`` and in a
loaded adapter's file. Which modules those are depends on what was collected and on what the
properties run before imported, so the derandomized ``ci`` examples of ``forward_accuracy``
changed when ``test_bitwise.py`` was collected (it imports
:mod:`conformance.checks.thread_count`, whose ``300.0`` joined the floats drawn from); they
changed too with any literal edited anywhere in the suite, and differed between an editable
install and a wheel (in site-packages, nothing is local). The suite's literals are no inputs
of a softmax: its strategies say what to draw, so the plugin turns this off.

Hypothesis offers no setting for it; :func:`draw_no_local_constants` replaces the function its
provider asks for those constants (read at each call, so replacing it takes effect) with one
that answers none. tests/test_draws_are_independent.py pins the outcome.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any


def _hypothesis_module(name: str) -> ModuleType | None:
    """A module of Hypothesis' internals, or None in a release without it (older releases
    draw no local constants, and have nothing to turn off)."""
    try:
        return importlib.import_module(name)
    except ImportError:
        return None


_providers = _hypothesis_module("hypothesis.internal.conjecture.providers")
_constants = _hypothesis_module("hypothesis.internal.constants_ast")
_NONE: Any = _constants.Constants() if _constants is not None else None


def _no_local_constants() -> Any:
    return _NONE


def draw_no_local_constants() -> None:
    """From now on, Hypothesis in this process draws none of the local modules' literals (its
    own list of telling numbers, the same everywhere, stays)."""
    if _providers is not None and _NONE is not None and hasattr(_providers, "_get_local_constants"):
        setattr(_providers, "_get_local_constants", _no_local_constants)  # noqa: B010
        _providers.CONSTANTS_CACHE.cache.clear()
