"""What a check raises when an adapter is wrong or unusable: a typed failure that carries its
message, its reproducer and the element it names, so that recording it never parses a string.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class WorstElement:
    """The element a failure names: where it is, what it is and what it should be, and, for
    an accuracy failure, its error against its bound in ulps of its scale."""

    quantity: str
    index: tuple[int, ...]
    value: float | str  # a non-finite number as its name: "inf", "nan"
    expected: float | str
    error_ulp: float | str | None = None
    bound_ulp: float | str | None = None

    def as_dict(self) -> dict[str, Any]:
        found = {**dataclasses.asdict(self), "index": list(self.index)}
        return {key: value for key, value in found.items() if value is not None}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> WorstElement:
        return cls(
            quantity=str(raw["quantity"]),
            index=tuple(int(i) for i in raw.get("index", ())),
            value=raw["value"],
            expected=raw["expected"],
            error_ulp=raw.get("error_ulp"),
            bound_ulp=raw.get("bound_ulp"),
        )


class Failure(Exception):
    """A check's verdict against an adapter: ``message`` (its first line says what, where and
    by how much), ``reproducer`` (a script), ``worst`` (the element it names, if any),
    ``hint``: the likely cause a second look found, if any, which is also the message's last
    line (see :mod:`conformance.checks.hints`), and ``native_reproducer``: for a built-in
    adapter, the same call in the framework's own API (see :mod:`conformance.checks.native`).
    ``dtype``: the dtype of the call whose answer failed, where the check knows it; a property
    that calls several dtypes (every_dtype_in_turn) may fail on another than its record's, and
    the known divergences of that dtype are the ones that can explain it."""

    status = "failed"

    def __init__(
        self,
        message: str,
        reproducer: str,
        worst: WorstElement | None = None,
        hint: str | None = None,
        native_reproducer: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(f"{message}\n\nReproduce with:\n{reproducer}")
        self.message = message
        self.reproducer = reproducer
        self.worst = worst
        self.hint = hint
        self.native_reproducer = native_reproducer
        self.dtype = dtype


class ConformanceFailure(Failure, AssertionError):
    """The adapter answered, and the answer is wrong; the suite reports ``failed``."""


class AdapterCallError(Failure):
    """The adapter raised, hung, or is unusable; the suite reports an ``error``. ``raised`` is
    the exception the adapter raised at the call, when that is what happened."""

    status = "error"

    def __init__(
        self,
        message: str,
        reproducer: str,
        raised: Exception | None = None,
        native_reproducer: str | None = None,
        dtype: str | None = None,
    ) -> None:
        super().__init__(message, reproducer, native_reproducer=native_reproducer, dtype=dtype)
        self.raised = raised
