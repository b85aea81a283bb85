"""Comparing a large output with its reference a chunk of rows at a time: the precision of
the exact values, the threads that share the chunks, and the worst element merged over them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import ml_dtypes
import numpy as np

from conformance.checks.assertions import absolute_error
from conformance.running.processes import available_cores
from conformance.truth import oracle
from conformance.truth.dtypes import unit_roundoff
from conformance.truth.tolerance import Bound

CHUNK_ELEMENTS = 1 << 17  # elements per oracle chunk: float64 temporaries of 1 MiB, near the L2 cache


THREADS = max(1, min(4, available_cores()))


def reference_work(dtype: Any) -> Any:
    """The precision of the exact values, as :func:`conformance.truth.oracle.reference_work` picks
    it, but None instead of the portable oracle: at 1e8 elements its ~20 us an element would
    take over half an hour."""
    work = oracle.reference_work(dtype)
    return None if np.dtype(work) == oracle.PORTABLE else work


def threaded_map(function: Callable[..., Any], items: Iterable[int], *args: Any) -> list[Any]:
    """``[function(k, *args) for k in items]``, THREADS at a time (NumPy releases the GIL
    on large arrays). ``args`` (an adapter output) are passed, not closed over, so that the
    caller's ``del`` frees them."""
    items = list(items)
    if THREADS == 1 or len(items) < 2:
        return [function(k, *args) for k in items]
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="oracle") as pool:
        return list(pool.map(lambda k: function(k, *args), items))


@dataclass
class Worst:
    """The worst element seen so far, and counts, merged over chunks."""

    max_ulp: float = 0.0
    compared: int = 0
    over: int = 0
    ratio: float = -1.0
    where: tuple[int, int] | None = None
    value: float = 0.0
    expected: float = 0.0
    error_ulp: float = 0.0
    bound_ulp: float = 0.0
    note: str = ""
    nonzero: int = 0
    nonzero_rows: set[int] = field(default_factory=set)
    first_nonzero: tuple[tuple[int, int], float] | None = None

    def merge(self, other: Worst) -> None:
        self.max_ulp = _nanmax(self.max_ulp, other.max_ulp)
        self.compared += other.compared
        self.over += other.over
        if other.over and other.ratio > self.ratio:
            self.ratio, self.where, self.note = other.ratio, other.where, other.note
            self.value, self.expected = other.value, other.expected
            self.error_ulp, self.bound_ulp = other.error_ulp, other.bound_ulp
        self.nonzero += other.nonzero
        self.nonzero_rows |= other.nonzero_rows
        if self.first_nonzero is None:
            self.first_nonzero = other.first_nonzero

    @property
    def passed(self) -> bool:
        return self.over == 0 and self.nonzero == 0


def merged(parts: Iterable[Worst]) -> Worst:
    total = Worst()
    for part in parts:
        total.merge(part)
    return total


def _nanmax(a: float, b: float) -> float:
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def _max_ulps(error: np.ndarray, bound: Bound) -> float:
    """``max(bound.ulps(error))``, computed on the few elements that can attain it.

    ``bound.ulps`` works in long double (slow on 1e8 elements). For normal scales
    ``u |M| < ulp(M) <= 2u |M|`` and below them ulp(M) is the subnormal spacing, so
    ``error / max(2u|M|, eta) <= ulps <= error / max(u|M|, eta)``; only elements whose upper
    estimate reaches the largest lower estimate are measured exactly.
    """
    if error.size == 0:
        return 0.0
    u, eta = unit_roundoff(bound.dtype), float(ml_dtypes.finfo(bound.dtype).smallest_subnormal)
    scale = np.abs(np.asarray(bound.scale, dtype=np.float64))
    wide = np.asarray(error, dtype=np.float64)
    if np.isnan(wide).any():
        return math.nan
    level = float(np.max(wide / np.maximum(2 * u * scale, eta)))
    if level == 0.0:
        return 0.0
    if not math.isfinite(level):
        return math.inf
    candidates = wide / np.maximum(u * scale, eta) >= level
    picked = Bound(np.asarray(bound.absolute)[candidates], np.asarray(bound.scale)[candidates], bound.dtype)
    return float(np.max(picked.ulps(np.asarray(error)[candidates])))


def compare_rows(
    actual: np.ndarray, expected: np.ndarray, bound: Bound, row_ids: np.ndarray, work: Any, note: str = ""
) -> Worst:
    """Compare (rows x length) ``actual`` with ``expected`` within ``bound``; ``row_ids`` are
    the rows' indices in the batch, ``note`` names the case (e.g. which cotangent)."""
    error = absolute_error(actual, expected, bound, work)
    limit = np.asarray(bound.absolute)
    worst = Worst(max_ulp=_max_ulps(error, bound), compared=int(error.size))
    over = error > limit
    worst.over = int(np.count_nonzero(over))
    if worst.over:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(limit > 0, error / limit, np.inf)
        flat = int(np.argmax(np.where(over, ratio, -1.0)))
        r, i = np.unravel_index(flat, error.shape)
        single = bound.at(flat, error.shape)
        worst.ratio = float(ratio[r, i])
        worst.where = (int(row_ids[r]), int(i))
        worst.value, worst.expected = float(actual[r, i]), float(expected[r, i])
        worst.error_ulp = float(single.ulps(error[r, i : i + 1])[0])
        worst.bound_ulp = float(single.bound_ulps[0])
        worst.note = note
    return worst


def zero_rows(actual: np.ndarray, row_ids: np.ndarray) -> Worst:
    """Every element of (rows x length) ``actual`` must be exactly 0 (-0.0 counts; NaN not)."""
    nonzero = actual != 0
    worst = Worst(nonzero=int(np.count_nonzero(nonzero)))
    if worst.nonzero:
        rows = np.flatnonzero(nonzero.any(axis=1))
        worst.nonzero_rows = {int(row_ids[r]) for r in rows}
        r = int(rows[0])
        i = int(np.flatnonzero(nonzero[r])[0])
        worst.first_nonzero = ((int(row_ids[r]), i), float(actual[r, i]))
    return worst
