"""Assertions whose failures explain themselves: quantity, adapter, op, dtype, axis, the worst
element against the oracle and its bound, and a paste-and-run reproducer.

The vectorised comparison runs first; the worst element is searched for only on failure.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np

from conformance.checks import measure
from conformance.checks.calls import ConformanceFailure
from conformance.checks.reproducer import Call, format_value
from conformance.truth import oracle
from conformance.truth.dtypes import dtype_name, ulp
from conformance.truth.tolerance import Bound


def _index(flat: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    return tuple(int(i) for i in np.unravel_index(flat, shape)) if shape else ()


def _at(quantity: str, index: tuple[int, ...]) -> str:
    return f"{quantity}[{', '.join(map(str, index))}]" if index else quantity


def absolute_error(actual: np.ndarray, exact: np.ndarray, bound: Bound, work: Any = np.longdouble) -> np.ndarray:
    """|actual - exact|, in ``work`` (or, for an exact value in the portable oracle's
    precision, taken there). Matching infinities count as 0, and so does an infinity that a
    value within ``bound`` of ``exact`` rounds to; NaN or a stray inf counts as inf."""
    a = np.asarray(actual).astype(work)
    if np.asarray(exact).dtype == oracle.PORTABLE:
        e = np.asarray(exact).astype(np.float64).astype(work)
        with np.errstate(invalid="ignore", over="ignore"):
            error = oracle.distance(actual, exact).astype(work)
    else:
        e = np.asarray(exact).astype(work, copy=False)
        with np.errstate(invalid="ignore", over="ignore"):
            error = np.abs(a - e)
    same_infinity = np.isinf(e) & (a == e)
    error = np.where(same_infinity, 0, np.where(np.isnan(error), np.inf, error))
    if np.isinf(a).any():
        error = np.where(_rounds_to_infinity(actual, exact, np.asarray(bound.absolute), bound.dtype), 0, error)
    return error


def assert_within_bound(
    quantity: str,
    actual: np.ndarray,
    exact: np.ndarray,
    bound: Bound,
    where: str,
    reproduce: Callable[[], str],
    *,
    reference: str = "the oracle",
) -> None:
    """Every element of ``actual`` is within ``bound`` of ``exact``, which ``reference`` gives
    (the message says so); ``reproduce()`` makes the reproducer, on failure only."""
    __tracebackhide__ = True
    limit = np.asarray(bound.absolute, dtype=np.longdouble)
    error = absolute_error(actual, exact, bound)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.asarray(np.where(limit > 0, error / limit, np.where(error > 0, np.inf, 0.0)), dtype=np.float64)
    if not ratio.size:
        return
    worst = int(np.argmax(ratio))
    at_worst = bound.at(worst, ratio.shape)
    error_ulp = float(at_worst.ulps(np.asarray([np.broadcast_to(error, ratio.shape).flat[worst]]))[0])
    bound_ulp = float(at_worst.bound_ulps[0])
    recorder = measure.current()
    if recorder is not None:
        recorder.observe(error_ulp, bound_ulp, ratio)
    if not np.any(error > limit):
        return
    index = _index(worst, np.shape(actual))
    over = int(np.count_nonzero(error > limit))
    value, expected = np.asarray(actual).flat[worst], np.asarray(exact).flat[worst]
    message = (
        f"{_at(quantity, index)} = {format_value(value, expected)}, "
        f"but {reference} gives {format_value(expected, value)}{_flushed(value, expected, bound.dtype)} "
        f"(err {error_ulp:.3g} ulp > bound {bound_ulp:.3g} ulp) {where}; "
        f"{over} of {np.size(actual)} elements exceed their bound"
    )
    raise ConformanceFailure(
        message,
        reproduce(),
        worst={
            "quantity": quantity,
            "index": list(index),
            "value": _number(value),
            "expected": _number(expected),
            "error_ulp": _number(error_ulp),
            "bound_ulp": _number(bound_ulp),
        },
    )


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
    reaches_float32_bottom = smallest_normal <= float(np.finfo(np.float32).smallest_normal)
    if reaches_float32_bottom and max(exact, abs(got)) < FLUSH_ZONE * smallest_normal:
        return f", near the bottom of the {name} range, where an intermediate flushed to zero shows"
    return ""


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
    raise ConformanceFailure(
        f"{_at(quantity, index)} = {format_value(value, target)}, but {rule} "
        f"(expected exactly {format_value(target, value)}) "
        f"{where}; {int(np.count_nonzero(wrong))} such elements",
        call.source(),
        worst={"quantity": quantity, "index": list(index), "value": _number(value), "expected": _number(target)},
    )


def _number(value: Any) -> float | str:
    number = float(value)
    return number if np.isfinite(number) else str(number)
