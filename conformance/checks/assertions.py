"""Assertions whose failures explain themselves: quantity, adapter, op, dtype, axis, the worst
element against the oracle and its bound, and a paste-and-run reproducer.

The vectorised comparison runs first; the worst element is searched for only on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np

from conformance.checks import measure
from conformance.checks.failures import ConformanceFailure, WorstElement
from conformance.checks.native import native_script
from conformance.checks.reproducer import Call, format_value
from conformance.truth import oracle
from conformance.truth.dtypes import as_float64, dtype_name, ulp
from conformance.truth.tolerance import Bound


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _at(quantity: str, index: tuple[int, ...]) -> str:
    return f"{quantity}[{', '.join(map(str, index))}]" if index else quantity


def absolute_error(actual: np.ndarray, exact: np.ndarray, bound: Bound, *, agreement: bool = False) -> np.ndarray:
    """|actual - exact|, in the precision of ``exact`` (float64 or long double; for an exact
    value in the portable oracle's precision, taken there). Matching infinities count as 0,
    and so does an infinity that a value within ``bound`` of ``exact`` rounds to; NaN or a
    stray inf counts as inf. With ``agreement`` (``exact`` is the same computation done
    otherwise, not the truth) a NaN facing a NaN counts as 0 too: the two agree, and whether
    NaN is right is the accuracy properties' question."""
    exact = np.asarray(exact)
    if exact.dtype == oracle.PORTABLE:
        work: Any = np.float64
        e = exact.astype(np.float64)
        with np.errstate(invalid="ignore", over="ignore"):
            error = oracle.distance(actual, exact)
    else:
        work = np.longdouble if exact.dtype == np.longdouble else np.float64
        e = exact.astype(work, copy=False)
        wide = as_float64(actual) if work == np.float64 else np.asarray(actual).astype(work)
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(wide - e)
        if np.isfinite(error).all():  # no infinity or NaN on either side: nothing to adjust
            return error
    a = np.asarray(actual)
    same_infinity = np.isinf(e) & (a == e)
    if agreement:
        same_infinity |= np.isnan(e) & np.isnan(a.astype(np.float64))
    error = np.where(same_infinity, 0, np.where(np.isnan(error), np.inf, error))
    if np.isinf(a).any():
        error = np.where(_rounds_to_infinity(actual, exact, np.asarray(bound.absolute), bound.dtype), 0, error)
    return error


def exceeding(actual: np.ndarray, exact: np.ndarray, bound: Bound) -> np.ndarray:
    """Where an element of ``actual`` is farther from ``exact`` than ``bound`` allows."""
    return _beyond(absolute_error(actual, exact, bound), bound, np.shape(actual))


def _beyond(error: np.ndarray, bound: Bound, shape: tuple[int, ...]) -> np.ndarray:
    limit = np.asarray(bound.absolute, dtype=np.float64)
    return np.asarray(np.broadcast_to(error, shape) > np.broadcast_to(limit, shape))


@dataclass
class Worst:
    """The element worst against its bound: where it is, what it is, and by how much."""

    ratio: float
    index: tuple[int, ...]
    value: Any
    expected: Any
    error_ulp: float
    bound_ulp: float


@dataclass
class Comparison:
    """Elements compared with their bounds, in one piece or chunk after chunk (a large input),
    summed up by the element worst against its bound (the largest error/bound ratio).

    :meth:`add` takes each piece, :meth:`merge` joins comparisons made on other threads, and
    :meth:`conclude` records the figures and raises a :class:`ConformanceFailure` naming the
    worst element when any element exceeds its bound.
    """

    quantity: str
    reference: str = "the oracle"
    compared: int = 0
    over: int = 0
    worst: Worst | None = None
    samples: list[float] = field(default_factory=list)
    sampling: bool = True  # whether :meth:`add` keeps the largest ratios (the report's plots)
    agreement: bool = False  # the reference is the same computation done otherwise: NaN agrees with NaN

    def part(self, number: int) -> Comparison:
        """An empty comparison for piece ``number`` of this one, to :meth:`merge` back in order:
        only the first pieces keep samples, as many as :meth:`merge` takes."""
        return Comparison(
            self.quantity,
            self.reference,
            sampling=number < _SAMPLES_KEPT // _SAMPLES_PER_PIECE,
            agreement=self.agreement,
        )

    def add(
        self,
        actual: np.ndarray,
        exact: np.ndarray,
        bound: Bound,
        locate: Callable[[int], tuple[int, ...]] | None = None,
    ) -> None:
        """Compare one piece; ``locate`` turns a flat index into the piece into the index into
        the whole result (by default the piece is the whole result)."""
        limit = np.asarray(bound.absolute, dtype=np.float64)
        error = absolute_error(actual, exact, bound, agreement=self.agreement)
        if not np.size(error):
            return
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            if limit.size and limit.min() > 0:
                ratio = np.asarray(error / limit, dtype=np.float64)
            else:
                ratio = np.asarray(np.where(limit > 0, error / limit, np.where(error > 0, np.inf, 0.0)), np.float64)
        ratio = np.broadcast_to(ratio, np.shape(actual))
        self.compared += ratio.size
        self.over += int(np.count_nonzero(_beyond(error, bound, ratio.shape)))
        flat = int(np.argmax(ratio))
        worst_ratio = float(ratio.flat[flat])
        if self.sampling and len(self.samples) < _SAMPLES_KEPT:
            self.samples.extend(_largest(ratio, _SAMPLES_PER_PIECE))
        if self.worst is not None and not worst_ratio > self.worst.ratio:
            return
        at = bound.at(flat, ratio.shape)
        error_ulp = float(at.ulps(np.asarray([np.broadcast_to(error, ratio.shape).flat[flat]]))[0])
        index = locate(flat) if locate is not None else _index(flat, ratio.shape)
        self.worst = Worst(
            worst_ratio,
            index,
            np.asarray(actual).flat[flat],
            np.broadcast_to(np.asarray(exact), ratio.shape).flat[flat],
            error_ulp,
            float(at.bound_ulps[0]),
        )

    def merge(self, other: Comparison) -> None:
        self.compared += other.compared
        self.over += other.over
        self.samples.extend(other.samples[: max(0, _SAMPLES_KEPT - len(self.samples))])
        if other.worst is not None and (self.worst is None or other.worst.ratio > self.worst.ratio):
            self.worst = other.worst

    def conclude(
        self,
        where: str,
        reproduce: Callable[[], str],
        dtype: Any,
        note: str = "",
        explain: Callable[[], str | None] | None = None,
        cause: Callable[[tuple[int, ...]], str] | None = None,
        native: Callable[[WorstElement], str | None] | None = None,
    ) -> None:
        """Record the figures; raise, naming the worst element, when an element is over its bound.
        ``note`` follows the counts (which cotangent, which row); ``explain()``, called only
        then, gives the likely cause (:mod:`conformance.checks.hints`), the message's last line.
        ``cause(index)`` describes what flushed to zero in the reference of the worst element
        when the result itself shows nothing of it (``", where ..."`` or ""). ``native(worst)``
        makes the reproducer in the framework's own words, if there is one."""
        __tracebackhide__ = True
        worst = self.worst
        if worst is None:
            return
        recorder = measure.current()
        if recorder is not None:
            recorder.observe(worst.error_ulp, worst.bound_ulp, worst.ratio, self.samples)
        if not self.over:
            return
        value, expected = worst.value, worst.expected
        flushed = _flushed(value, expected, dtype) or (cause(worst.index) if cause is not None else "")
        message = (
            f"{_at(self.quantity, worst.index)} = {format_value(value, expected)}, "
            f"but {self.reference} gives {format_value(expected, value)}{flushed} "
            f"(err {worst.error_ulp:.3g} ulp > bound {worst.bound_ulp:.3g} ulp) {where}; "
            f"{self.over} of {self.compared} elements exceed their bound{note}"
        )
        hint = explain() if explain is not None else None
        if hint:
            message = f"{message}\n{hint}"
        named = WorstElement(
            self.quantity,
            worst.index,
            _number(value),
            _number(expected),
            _number(worst.error_ulp),
            _number(worst.bound_ulp),
        )
        raise ConformanceFailure(
            message,
            reproduce(),
            worst=named,
            hint=hint or None,
            native_reproducer=native(named) if native is not None else None,
            dtype=dtype_name(dtype),
        )


_SAMPLES_PER_PIECE = 16
_SAMPLES_KEPT = 256


def _largest(ratio: np.ndarray, count: int) -> list[float]:
    """The ``count`` largest finite ratios (a sample for the report's plots)."""
    finite = ratio[np.isfinite(ratio)]
    if finite.size > count:
        finite = np.partition(finite, finite.size - count)[-count:]
    return [float(value) for value in finite]


def assert_within_bound(
    quantity: str,
    actual: np.ndarray,
    exact: np.ndarray,
    bound: Bound,
    where: str,
    reproduce: Callable[[], str],
    *,
    reference: str = "the oracle",
    explain: Callable[[], str | None] | None = None,
    cause: Callable[[tuple[int, ...]], str] | None = None,
    note: str = "",
    native: Callable[[WorstElement], str | None] | None = None,
    agreement: bool = False,
) -> None:
    """Every element of ``actual`` is within ``bound`` of ``exact``, which ``reference`` gives
    (the message says so); ``reproduce()`` makes the reproducer and ``explain()`` the likely
    cause, on failure only (``cause``, ``note``, ``native``: see :meth:`Comparison.conclude`).
    ``agreement``: ``exact`` is the same computation done otherwise (a row alone, a call made
    alone), so identical NaNs agree."""
    __tracebackhide__ = True
    comparison = Comparison(quantity, reference, agreement=agreement)
    comparison.add(actual, exact, bound)
    comparison.conclude(where, reproduce, bound.dtype, note, explain=explain, cause=cause, native=native)


FLUSH_ZONE = 64  # multiples of the smallest normal that a flushed intermediate, times a factor, can reach


def _rounds_to_infinity(actual: np.ndarray, exact: np.ndarray, limit: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """Where ``actual`` is an infinity that a value within ``limit`` of ``exact`` rounds to:
    beyond the dtype's largest finite number plus half its spacing, round to nearest gives
    inf (a float16 log_softmax of -65520.7 is correctly -inf)."""
    largest = float(ml_dtypes.finfo(dtype).max)
    overflow = largest + float(ulp(np.asarray(largest), dtype)) / 2
    a = np.asarray(actual).astype(np.float64)
    with np.errstate(invalid="ignore", over="ignore"):
        reach = np.sign(a) * np.asarray(exact).astype(np.float64) + np.asarray(limit, dtype=np.float64)
        return np.asarray(np.isinf(a) & (reach >= overflow))


def _flushed(value: Any, expected: Any, dtype: np.dtype[Any]) -> str:
    """A note when the error is what flush-to-zero arithmetic makes: zero where the exact value
    is a nonzero subnormal or lies in the lowest normal binade, or any error near the bottom of
    the range, where an intermediate flushed to zero (a probability, a product) shows. The
    last needs the dtype's range to reach down to float32's smallest normal: processors flush
    in float32 or float64 arithmetic, and float16 is computed in float32, far above where it
    flushes, so float16's bottom binades hold ordinary values (a softmax output of 0.002)."""
    exact, got = abs(float(expected)), float(value)
    smallest_normal = float(ml_dtypes.finfo(dtype).smallest_normal)
    name = dtype_name(dtype)
    if got == 0 and 0 < exact < smallest_normal:
        return f", a {name} subnormal flushed to zero"
    if got == 0 and 0 < exact < 2 * smallest_normal:
        return f", a {name} number in the lowest normal binade flushed to zero"
    if _reaches_float32_bottom(dtype) and max(exact, abs(got)) < FLUSH_ZONE * smallest_normal:
        return f", near the bottom of the {name} range, where an intermediate flushed to zero shows"
    return ""


def _reaches_float32_bottom(dtype: Any) -> bool:
    """Whether ``dtype``'s range reaches down to float32's smallest normal, where processors
    flush (float16's bottom binades hold ordinary values, computed in float32)."""
    return float(ml_dtypes.finfo(dtype).smallest_normal) <= float(np.finfo(np.float32).smallest_normal)


def flushed_to_zero(actual: np.ndarray, exact: np.ndarray, dtype: Any) -> np.ndarray:
    """Where ``actual`` is 0 and ``exact`` is not, and flush-to-zero arithmetic explains it:
    ``exact`` is a subnormal or in the lowest normal binade, or (for dtypes whose range reaches
    float32's bottom, see :func:`_flushed`) below FLUSH_ZONE times the smallest normal."""
    reach = (FLUSH_ZONE if _reaches_float32_bottom(dtype) else 2) * float(ml_dtypes.finfo(dtype).smallest_normal)
    magnitude = np.abs(np.asarray(exact, dtype=np.float64))
    return np.asarray((np.asarray(actual) == 0) & (magnitude > 0) & (magnitude < reach))


def flushed_jacobian_entries(
    op: oracle.Op,
    x: np.ndarray,
    axis: int,
    jacobian: np.ndarray,
    g: np.ndarray,
    index: tuple[int, ...],
    vjp: np.ndarray,
    transposed_product: np.ndarray,
    bound: Bound,
) -> str:
    """``", where ..."`` when entries of the adapter's Jacobian flushed to zero (0 where the exact
    entry is a subnormal or near the bottom of the range) move element ``index`` of ``J^T g``
    by at least its excess over ``bound``, else "". A framework that flushes to zero (a
    divergence of its Jacobian's accuracy, reported there) moves the transposed product by
    that much, and its VJP need not move with it."""
    if np.ndim(x) == 0:
        return ""
    exact = oracle.jacobian(op, x, axis)
    missing = np.where(flushed_to_zero(jacobian, exact, x.dtype), np.abs(exact.astype(np.float64)), 0.0)
    moved = float(np.tensordot(np.abs(g.astype(np.float64)), missing, axes=np.ndim(x))[index])
    error = abs(float(vjp[index]) - float(transposed_product[index]))
    excess = error - float(np.broadcast_to(bound.absolute, np.shape(vjp))[index])
    if not 0 < excess <= moved:
        return ""
    return f", where entries of its own Jacobian near the bottom of the {dtype_name(x.dtype)} range are flushed to zero"


def assert_exactly(
    quantity: str, actual: np.ndarray, expected: Any, where_mask: np.ndarray, rule: str, where: str, call: Call
) -> None:
    """``actual`` equals ``expected`` exactly wherever ``where_mask`` holds (``rule`` says why)."""
    __tracebackhide__ = True
    expected = np.broadcast_to(np.asarray(expected), np.shape(actual))
    wrong = where_mask & ~((actual == expected) | (np.isnan(expected) & np.isnan(actual)))
    if not np.any(wrong):
        return
    worst = int(np.flatnonzero(wrong)[0])
    index = _index(worst, np.shape(actual))
    value, target = np.asarray(actual).flat[worst], expected.flat[worst]
    named = WorstElement(quantity, index, _number(value), _number(target))
    raise ConformanceFailure(
        f"{_at(quantity, index)} = {format_value(value, target)}, but {rule} "
        f"(expected exactly {format_value(target, value)}) "
        f"{where}; {int(np.count_nonzero(wrong))} such elements",
        call.source(),
        worst=named,
        native_reproducer=native_script(call, named, f"but {rule}: expected exactly"),
    )


def _number(value: Any) -> float | str:
    number = float(value)
    return number if np.isfinite(number) else str(number)
