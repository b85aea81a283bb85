"""The marker that turns a test into a conformance property."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from conformance.checks.names import PROPERTY_NAMES
from conformance.truth.oracle import OPS, Op, Quantity

F = TypeVar("F", bound=Callable[..., Any])


class UnknownProperty(ValueError):
    pass


def check_properties(names: list[str]) -> list[str]:
    unknown = [name for name in names if name not in PROPERTY_NAMES]
    if unknown:
        raise UnknownProperty(
            f"--properties={','.join(names)}, but the known properties are: {', '.join(PROPERTY_NAMES)}"
        )
    return names


def conformance_property(
    name: str,
    *,
    needs: tuple[Quantity, ...],
    ops: tuple[Op, ...] = OPS,
    dtypes: tuple[str, ...] | None = None,
    profiles: tuple[str, ...] | None = None,
    on_request: bool = False,
) -> Callable[[F], F]:
    """Declare property ``name``: the quantities it calls (a missing one is "not provided"),
    the ops and dtypes it is meaningful for (None: all), the profiles it runs in unless asked
    for by name (None: all), and whether it runs only when asked for by name (``on_request``)."""
    import pytest  # here, not at the top: the command line reads the names without pytest (0.1 s)

    if name not in PROPERTY_NAMES:
        raise UnknownProperty(f"property {name!r} is missing from PROPERTY_NAMES")
    return pytest.mark.conformance(
        name=name, needs=needs, ops=ops, dtypes=dtypes, profiles=profiles, on_request=on_request
    )
