"""The marker that turns a test into a conformance property."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import pytest

from conformance.adapter import Quantity
from conformance.oracle import OPS, Op

F = TypeVar("F", bound=Callable[..., Any])


def conformance_property(name: str, *, needs: tuple[Quantity, ...], ops: tuple[Op, ...] = OPS) -> Callable[[F], F]:
    """Declare property ``name``: the quantities it calls (a missing one is "not provided")
    and the ops it is meaningful for."""
    return pytest.mark.conformance(name=name, needs=needs, ops=ops)  # type: ignore[return-value]
