"""Bit for bit: whether two answers that should be the same computation are the same bits, by
how many ulps they differ where they are not, and what a draw of the bit-for-bit properties
found.

An inference engine that batches requests, or a reinforcement-learning pipeline that needs
the sampler's log-probabilities to equal the trainer's, needs the same row to give the same
bits whatever else is computed with it. Three properties measure it (``PROPERTY_OF``): a row
alone and in batches (``batch``), the same call repeated and made from several threads at
once (``determinism``), and on one thread and on all of them (``threads``).

What they find is a fact, not a verdict: every draw is recorded (:class:`BitwiseFinding`, in
the record, and a table per adapter in the report), and a property fails only when the adapter
promised that aspect (``bitwise = ("batch", ...)``, :mod:`conformance.adapter`) and a draw
shows it does not hold. The failure's reproducer makes the two calls and prints both answers'
bits.

Two answers agree where their bit patterns are equal, and where both are NaN: a NaN's sign and
payload carry no number (and identical NaNs agree, as everywhere the suite compares an answer
with the same computation done otherwise). How far apart two answers are is counted in ulps
of their dtype at the larger of the two (``-0`` and ``+0`` are 0 ulp apart, and differ in their
bits); a number against a NaN or an infinity is infinitely far.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.checks import measure
from conformance.checks.failures import ConformanceFailure, WorstElement
from conformance.checks.reproducer import bit_patterns, format_value, reproducer
from conformance.truth.dtypes import as_float64, dtype_name, ulp

# promise -> the property that measures it
PROPERTY_OF: dict[str, str] = {
    "batch": "same_bits_in_any_batch",
    "determinism": "same_bits_every_call",
    "threads": "same_bits_on_any_thread_count",
}
ASPECT_OF: dict[str, str] = {prop: aspect for aspect, prop in PROPERTY_OF.items()}
# what ``first_change`` counts, per aspect
FIRST_CHANGE_UNIT: dict[str, str] = {"batch": "rows", "determinism": "calls", "threads": "threads"}


@dataclass(frozen=True)
class Difference:
    """Where two answers of one shape and dtype differ in their bits: how many elements, by
    how many ulps at most, and the first element that differs (its index and both values)."""

    differing: int
    compared: int
    max_ulp: float
    index: tuple[int, ...]
    first: Any
    second: Any


def difference(first: np.ndarray, second: np.ndarray) -> Difference | None:
    """How ``first`` and ``second`` (the same shape and dtype) differ in their bits; None where
    every element is the same bits, or NaN on both sides."""
    first, second = np.asarray(first), np.asarray(second)
    if first.shape != second.shape or first.dtype != second.dtype:
        raise ValueError(f"cannot compare bits of {first.shape} {first.dtype} and {second.shape} {second.dtype}")
    if not first.size:
        return None
    same = bit_patterns(first).reshape(first.shape) == bit_patterns(second).reshape(second.shape)
    if same.all():
        return None
    places = np.flatnonzero(~same)  # only these: a large answer in long double would take gigabytes
    wide_first, wide_second = (
        as_float64(answer.reshape(-1)[places]).astype(np.longdouble) for answer in (first, second)
    )
    differs = ~(np.isnan(wide_first) & np.isnan(wide_second))
    if not differs.any():
        return None
    places, wide_first, wide_second = places[differs], wide_first[differs], wide_second[differs]
    with np.errstate(invalid="ignore", over="ignore"):
        spacing = ulp(np.maximum(np.abs(wide_first), np.abs(wide_second)), first.dtype)
        apart = np.asarray(np.abs(wide_first - wide_second) / spacing, dtype=np.float64)
    finite = np.isfinite(wide_first) & np.isfinite(wide_second)
    index = tuple(int(i) for i in np.unravel_index(int(places[0]), first.shape))
    largest = float(np.where(finite, apart, np.inf).max())
    return Difference(int(places.size), int(first.size), largest, index, first[index], second[index])


@dataclass(frozen=True)
class Change:
    """Two answers of one draw that should be the same bits and are not: the quantity, ``at``
    (the rows of the batch, the thread count, or the call that changed them: see
    :data:`FIRST_CHANGE_UNIT`), what the two are in words, how they differ, where (the
    ``[adapter op axis dtype]`` label) and how to make both calls again."""

    quantity: str
    at: int
    first: str
    second: str
    difference: Difference
    where: str
    reproduce: Callable[[], str]

    def describe(self) -> str:
        """``2 of 1000 elements (4 ulp) differ between forward alone and row 3 of a batch of 8 rows``"""
        ulps = _ulps(self.difference.max_ulp)
        return (
            f"{self.difference.differing} of {self.difference.compared} elements of {self.quantity} differ, by up to "
            f"{ulps}, between {self.first} and {self.second}"
        )


@dataclass(frozen=True)
class BitwiseFinding:
    """What a bit-for-bit property found over its draws, in a record: of ``draws`` draws, how
    many gave other bits where the same were due, the largest difference in ulps, and the
    first change (the fewest batch rows, the thread count, or the call; see
    :data:`FIRST_CHANGE_UNIT`) with ``where``, the change in words. ``promised``: the adapter
    promised this aspect, so a change is a failure."""

    aspect: str
    promised: bool = False
    draws: int = 0
    differing_draws: int = 0
    max_diff_ulp: float | None = None
    first_change: int | None = None
    where: str | None = None

    @property
    def identical(self) -> bool:
        """Every draw gave the same bits (and there was one)."""
        return self.draws > 0 and not self.differing_draws

    def after(self, changes: Sequence[Change]) -> BitwiseFinding:
        """This finding with one more draw, whose ``changes`` are what differed in it."""
        if not changes:
            return dataclasses.replace(self, draws=self.draws + 1)
        earliest = min(changes, key=lambda change: change.at)
        largest = max(change.difference.max_ulp for change in changes)
        keep = self.first_change is not None and self.first_change <= earliest.at
        return dataclasses.replace(
            self,
            draws=self.draws + 1,
            differing_draws=self.differing_draws + 1,
            max_diff_ulp=largest if self.max_diff_ulp is None else max(self.max_diff_ulp, largest),
            first_change=self.first_change if keep else earliest.at,
            where=self.where if keep else earliest.describe(),
        )

    def describe(self) -> str:
        """One line for a record's message: what was found."""
        plural = "" if self.draws == 1 else "s"
        if not self.differing_draws:
            return f"the same bits in {self.draws} draw{plural}"
        return (
            f"other bits in {self.differing_draws} of {self.draws} draw{plural}, by up to "
            f"{_ulps(self.max_diff_ulp)}; first: {self.where}"
        )

    def as_dict(self) -> dict[str, Any]:
        found = dataclasses.asdict(self)
        if found["max_diff_ulp"] is not None and not math.isfinite(found["max_diff_ulp"]):
            found["max_diff_ulp"] = str(found["max_diff_ulp"])  # JSON has no inf
        return {key: value for key, value in found.items() if value is not None}

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> BitwiseFinding:
        ulps = raw.get("max_diff_ulp")
        return cls(
            aspect=str(raw["aspect"]),
            promised=bool(raw.get("promised", False)),
            draws=int(raw.get("draws", 0)),
            differing_draws=int(raw.get("differing_draws", 0)),
            max_diff_ulp=None if ulps is None else float(ulps),
            first_change=raw.get("first_change"),
            where=raw.get("where"),
        )


def _ulps(value: float | None) -> str:
    if value is None:
        return "0 ulp"
    return "inf ulp (a NaN or an infinity on one side)" if math.isinf(value) else f"{value:g} ulp"


class Draw:
    """The comparisons of one example of a bit-for-bit property: :meth:`compare` each pair of
    answers that should be the same bits, then :meth:`conclude`."""

    def __init__(self, aspect: str, promised: bool) -> None:
        self.aspect = aspect
        self.promised = promised
        self.changes: list[Change] = []

    def compare(
        self,
        quantity: str,
        at: int,
        first: tuple[str, np.ndarray],
        second: tuple[str, np.ndarray],
        where: str,
        reproduce: Callable[[], str],
    ) -> Difference | None:
        """Compare two answers, each ``(what it is, in words; the answer)``; a difference is kept."""
        found = difference(first[1], second[1])
        if found is not None:
            self.changes.append(Change(quantity, at, first[0], second[0], found, where, reproduce))
        return found

    def conclude(self) -> None:
        """Record the draw in the property's measurement; raise a :class:`ConformanceFailure`
        for its first change (the fewest rows, threads or calls) when the adapter promised it."""
        __tracebackhide__ = True
        recorder = measure.current()
        if recorder is not None:
            recorder.bitwise = (recorder.bitwise or BitwiseFinding(self.aspect, self.promised)).after(self.changes)
        if not self.promised or not self.changes:
            return
        change = min(self.changes, key=lambda found: found.at)
        found = change.difference
        index = ", ".join(map(str, found.index))
        first, second = np.asarray(found.first), np.asarray(found.second)
        message = (
            f"{change.quantity}[{index}] = {format_value(first, second)} (bits {_hex(first)}) in {change.first}, but "
            f"{format_value(second, first)} (bits {_hex(second)}) in {change.second}, "
            f"{_ulps(found.max_ulp)} apart at most {change.where}; {found.differing} of {found.compared} elements "
            f"differ in their bits, and the adapter promises bitwise {self.aspect!r}"
        )
        raise ConformanceFailure(
            message,
            change.reproduce(),
            worst=WorstElement(change.quantity, found.index, _number(first), _number(second)),
            dtype=dtype_name(first.dtype),
        )


def _hex(value: np.ndarray) -> str:
    return f"0x{int(bit_patterns(value.reshape(1))[0]):0{2 * value.dtype.itemsize}x}"


def _number(value: np.ndarray) -> float | str:
    number = float(value)
    return number if math.isfinite(number) else str(number)


# The lines a bits reproducer defines before its calls: the bit patterns of an answer.
BITS_HELPERS: tuple[str, ...] = (
    "def bits(answer):",
    "    answer = np.ascontiguousarray(answer)",
    "    return answer.view(f'u{answer.dtype.itemsize}')",
    "def shown(answer):",
    "    return np.array2string(bits(answer), formatter={'int': hex}, threshold=64, max_line_width=10**6)",
)


def bits_lines(first: tuple[str, str], second: tuple[str, str]) -> tuple[list[str], list[str]]:
    """The lines and the printed expressions of a reproducer whose earlier lines computed two
    answers that should be the same bits: each ``(what it is, in words; an expression for it)``.
    It prints both answers' bits, then which elements differ."""
    lines = [
        *BITS_HELPERS,
        f"first = np.asarray({first[1]})",
        f"second = np.asarray({second[1]})",
        "differ = np.flatnonzero(bits(first).ravel() != bits(second).ravel())",
    ]
    shown = [
        f"{first[0] + ', bits:'!r}, shown(first)",
        f"{second[0] + ', bits:'!r}, shown(second)",
        "'elements whose bits differ:', differ.size, 'of', first.size, differ[:16]",
    ]
    return lines, shown


def bits_reproducer(spec: str, setup: Sequence[str], first: tuple[str, str], second: tuple[str, str]) -> str:
    """A script that loads the adapter ``spec``, runs ``setup``, and prints the bits of the two
    answers ``first`` and ``second`` (see :func:`bits_lines`)."""
    lines, shown = bits_lines(first, second)
    return reproducer(spec, [*setup, *lines], shown)
