"""Checks of a large input in O(N) memory: no N x N Jacobian is ever formed.

A full Jacobian of N elements has N**2 entries (4e16 bytes at N = 1e8 float32). These
checks see the same bugs through products with vectors instead:

* ``forward``: the op itself against the oracle;
* ``vjp``: ``J^T g`` against the oracle for several seeded random cotangents;
* ``block_diagonal``: a cotangent supported on a random subset of rows gives a VJP that
  is exactly 0 on every other row (an output never depends on another row, for softmax
  and log_softmax alike) and within its bound on the chosen rows;
* ``batched_agreement``: a few sampled rows of the batched forward and VJP against the
  same rows computed alone, within twice the per-row bound (each is within the bound of
  the exact value);
* ``jvp_vjp_identity``: ``<u, J^T v> = <J u, v>`` (when the adapter provides a JVP), within
  ``sum |u| B_vjp + sum |v| B_jvp`` plus the float64 rounding of the two dot products;
* ``row_sum_zero`` (softmax only): ``J^T 1 = 0`` because every row of softmax sums to 1,
  within ``tolerance.vjp_bound`` with ``g = ones``.

Memory: the adapter necessarily sees the whole tensor (that is what is being checked), but
the suite holds at most ``x``, one vector and one adapter output of N elements at a time.
Random vectors are defined chunk by chunk by the seed, so a cotangent is handed to the
adapter whole, dropped as soon as the call returns, and regenerated a chunk at a time for
the comparison. The oracle and the bounds (``conformance.truth.tolerance``, the one tolerance
model) are computed in float64 (long double for float64 inputs) on chunks of about
``CHUNK_ELEMENTS`` elements, a few chunks at once on worker threads.

Every check returns a :class:`CheckResult`; a check never raises for what the adapter
does (an exception, a wrong shape or dtype, NaN): that is a failed result.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import math
import os
import time
import zlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapter import Quantity, adapter_name, method_name, provided_method
from conformance.truth import oracle, tolerance
from conformance.truth.dtypes import dtype_name, unit_roundoff
from conformance.truth.oracle import Op
from conformance.truth.tolerance import Bound

CHUNK_ELEMENTS = 1 << 17  # elements per oracle chunk: float64 temporaries of 1 MiB, near the L2 cache
SAMPLED_ROWS = 8  # rows computed alone for batched_agreement
BLOCK_FRACTION = 0.01  # share of rows that carry a cotangent in block_diagonal
COTANGENTS = 3  # seeded random cotangents for vjp
ALIGNMENT = 64  # bytes; frameworks can wrap an aligned buffer instead of copying it
CHECK_NAMES: tuple[str, ...] = (
    "forward",
    "vjp",
    "block_diagonal",
    "batched_agreement",
    "jvp_vjp_identity",
    "row_sum_zero",
)


def _threads() -> int:
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        cores = os.cpu_count() or 1
    return max(1, min(4, cores))


THREADS = _threads()


@dataclass(frozen=True)
class CheckResult:
    """One check of one op: passed or not, the worst error in ulps, and why."""

    name: str
    passed: bool
    max_error_ulp: float | None
    message: str
    op: str = "softmax"
    skipped: bool = False
    seconds: float = 0.0

    def as_record(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite ulps become None; the message says what they were)."""
        ulps = self.max_error_ulp
        return {
            "name": self.name,
            "op": self.op,
            "passed": self.passed,
            "skipped": self.skipped,
            "max_error_ulp": float(f"{ulps:.4g}") if ulps is not None and math.isfinite(ulps) else None,
            "message": self.message,
            "seconds": round(self.seconds, 3),
        }


# -- layout and memory ---------------------------------------------------------------------


def aligned_empty(shape: tuple[int, ...], dtype: Any, alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``alignment`` boundary.

    NumPy's large buffers start 16 bytes into a page; JAX's CPU ``device_put`` wraps a
    64-byte aligned buffer without copying it, and copies anything else (measured: 0 vs
    400 MB for 1e8 float32).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def release_memory(full: bool = False) -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc ``malloc_trim``),
    so that what the chunked oracle freed does not linger in the resident set.

    Arrays are freed by reference counting as soon as they are dropped; the collector is
    for cycles a framework may build around an output (autograd graphs, tracebacks), which
    are young: collecting generations 0-1 takes milliseconds, a full collection with a
    framework imported a few tenths of a second (``full=True``)."""
    gc.collect() if full else gc.collect(1)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def tune_allocator() -> bool:
    """Have glibc serve the oracle's chunk temporaries (about 1 MiB each, a few dozen per
    chunk) from the heap, reused, instead of mapping fresh zeroed pages for each and
    trimming them again: measured, page faults were a third of the checking time.
    Framework buffers of 1e8 elements (far above 32 MiB) are still mapped and unmapped.
    Process-wide; the bench worker calls it. False where the C library is not glibc."""
    m_trim_threshold, m_mmap_threshold = -1, -3
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):
        return False


@dataclass(frozen=True)
class Layout:
    """A 2-d array seen as ``batch`` rows of ``length`` along ``axis``, cut into chunks of rows."""

    shape: tuple[int, int]
    axis: int
    chunk_elements: int

    @classmethod
    def of(cls, shape: Sequence[int], axis: int, chunk_elements: int | None = None) -> Layout:
        if len(shape) != 2:
            raise ValueError(f"the large checks take a 2-d input (rows x row length), not shape {tuple(shape)}")
        chunk = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
        return cls((int(shape[0]), int(shape[1])), oracle.normalize_axis(axis, 2), chunk)

    @property
    def length(self) -> int:
        return self.shape[self.axis]

    @property
    def batch(self) -> int:
        return self.shape[1 - self.axis]

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def rows_per_chunk(self) -> int:
        return max(1, self.chunk_elements // max(self.length, 1))

    @property
    def chunks(self) -> int:
        return -(-self.batch // self.rows_per_chunk)

    def rows(self, k: int) -> slice:
        start = k * self.rows_per_chunk
        return slice(start, min(start + self.rows_per_chunk, self.batch))

    def chunk_of(self, row: int) -> int:
        return row // self.rows_per_chunk

    def view(self, array: np.ndarray) -> np.ndarray:
        """``array`` (shaped like x) as (batch, length): rows last, no copy."""
        return np.moveaxis(array, self.axis, -1)

    def index(self, row: int, place: int) -> tuple[int, int]:
        """The index into x of element ``place`` of row ``row``."""
        return (row, place) if self.axis == 1 else (place, row)


def _stream(name: str) -> int:
    return zlib.crc32(name.encode())


@dataclass(frozen=True)
class Vector:
    """A random array shaped like x, defined chunk by chunk by ``(seed, stream, chunk)``, so
    any chunk can be regenerated after the whole array has been given away.

    ``kind``: "normal" (N(0, 1) * ``scale``), or "ones". With ``support`` (sorted row
    indices) only those rows are filled and every other row is exactly 0.
    """

    layout: Layout
    dtype: np.dtype[Any]
    seed: int
    stream: str
    kind: str = "normal"
    scale: float = 1.0
    support: np.ndarray | None = None

    def chunk(self, k: int) -> np.ndarray:
        rows = self.layout.rows(k)
        count, length = rows.stop - rows.start, self.layout.length
        if self.kind == "ones":
            return np.ones((count, length), dtype=self.dtype)
        rng = np.random.default_rng([self.seed, _stream(self.stream), k])
        if self.support is None:
            return self._normal(rng, (count, length))
        out = np.zeros((count, length), dtype=self.dtype)
        local = self.local_support(rows)
        out[local] = self._normal(rng, (local.size, length))
        return out

    def _normal(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        wide = np.float64 if self.dtype == np.float64 else np.float32
        values = rng.standard_normal(shape, dtype=wide)
        if self.scale != 1.0:
            values *= wide(self.scale)
        return values.astype(self.dtype, copy=False)

    def local_support(self, rows: slice) -> np.ndarray:
        """The supported rows that fall in ``rows``, relative to its start."""
        assert self.support is not None
        lo, hi = np.searchsorted(self.support, [rows.start, rows.stop])
        return np.asarray(self.support[lo:hi] - rows.start, dtype=np.intp)

    def row(self, row: int) -> np.ndarray:
        k = self.layout.chunk_of(row)
        return np.ascontiguousarray(self.chunk(k)[row - self.layout.rows(k).start])

    def full(self) -> np.ndarray:
        """The whole array, shaped like x (C order, aligned), filled a chunk at a time."""
        out = aligned_empty(self.layout.shape, self.dtype)
        view = self.layout.view(out)
        for k in range(self.layout.chunks):
            view[self.layout.rows(k)] = self.chunk(k)
        return out


def random_input(rows: int, length: int, dtype: Any, seed: int, axis: int = -1) -> np.ndarray:
    """Logits N(0, 1) * 3 of shape (rows, length) (rows along ``axis``), generated directly
    in the dtype a chunk at a time: no float64 temporary of the full size.

    The array is C-contiguous and ends one row before the end of its (aligned) buffer; the
    spare row holds more random logits, so that :func:`shifted_rows` can offer a second
    random array of x's shape without allocating one."""
    shape = (rows, length) if oracle.normalize_axis(axis, 2) == 1 else (length, rows)
    layout = Layout.of(shape, axis)
    dtype = np.dtype(dtype)
    size = layout.size
    buffer = aligned_empty((size + length,), dtype)
    x = buffer[:size].reshape(shape)
    view = layout.view(x)
    logits = Vector(layout, dtype, seed, "x", scale=3.0)
    for k in range(layout.chunks):
        view[layout.rows(k)] = logits.chunk(k)
    spare = Vector(Layout.of((1, length), -1), dtype, seed, "x-spare", scale=3.0)
    buffer[size:] = spare.chunk(0)[0]
    return x


def shifted_rows(x: np.ndarray, axis: int) -> np.ndarray | None:
    """x from :func:`random_input` seen one row further on, in the same buffer: row b of the
    result is row b + 1 of x (the last one the spare row). Each of its rows is independent
    of the row of x at the same place, so it serves as a random tangent that costs no
    memory. None for an array without a spare row behind it."""
    owner = x.base
    if not isinstance(owner, np.ndarray) or not x.flags.c_contiguous or x.ndim != 2 or owner.ndim != 1:
        return None
    batch_axis = 1 - oracle.normalize_axis(axis, 2)
    step = x.strides[batch_axis]
    start = x.ctypes.data - owner.ctypes.data
    if start < 0 or start + x.nbytes + step > owner.nbytes or not owner.flags.c_contiguous:
        return None
    return np.ndarray(x.shape, x.dtype, buffer=owner, offset=start + step, strides=x.strides)


def reference_work(dtype: Any) -> Any:
    """The precision of the exact values, as :func:`conformance.truth.oracle.reference_work` picks
    it, but None instead of the portable oracle: at 1e8 elements its ~20 us an element would
    take over half an hour."""
    work = oracle.reference_work(dtype)
    return None if np.dtype(work) == oracle.PORTABLE else work


def _map(function: Callable[..., Any], items: Iterable[int], *args: Any) -> list[Any]:
    """``[function(k, *args) for k in items]``, THREADS at a time (NumPy releases the GIL
    on large arrays). ``args`` (an adapter output) are passed, not closed over, so that the
    caller's ``del`` frees them."""
    items = list(items)
    if THREADS == 1 or len(items) < 2:
        return [function(k, *args) for k in items]
    with ThreadPoolExecutor(max_workers=THREADS, thread_name_prefix="oracle") as pool:
        return list(pool.map(lambda k: function(k, *args), items))


# -- comparing against a reference, a chunk at a time ---------------------------------------


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


def _absolute_error(actual: np.ndarray, expected: np.ndarray, work: Any) -> np.ndarray:
    """|actual - expected| in ``work``; matching infinities count as 0, NaN as inf."""
    a = np.asarray(actual).astype(work)
    e = np.asarray(expected).astype(work, copy=False)
    with np.errstate(invalid="ignore", over="ignore"):
        error = np.abs(a - e)
    same_infinity = np.isinf(e) & (a == e)
    return np.where(same_infinity, 0, np.where(np.isnan(error), np.inf, error))


def compare_rows(
    actual: np.ndarray, expected: np.ndarray, bound: Bound, row_ids: np.ndarray, work: Any, note: str = ""
) -> Worst:
    """Compare (rows x length) ``actual`` with ``expected`` within ``bound``; ``row_ids`` are
    the rows' indices in the batch, ``note`` names the case (e.g. which cotangent)."""
    error = _absolute_error(actual, expected, work)
    limit = np.asarray(bound.absolute)
    worst = Worst(max_ulp=_max_ulps(error, bound), compared=int(error.size))
    over = error > limit
    worst.over = int(np.count_nonzero(over))
    if worst.over:
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.where(limit > 0, error / limit, np.inf)
        flat = int(np.argmax(np.where(over, ratio, -1.0)))
        r, i = np.unravel_index(flat, error.shape)
        single = Bound(np.asarray(bound.absolute)[r, i : i + 1], np.asarray(bound.scale)[r, i : i + 1], bound.dtype)
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


def _digits(dtype: Any) -> int:
    """Significant digits that tell neighbouring values of ``dtype`` apart."""
    return math.ceil((int(ml_dtypes.finfo(dtype).nmant) + 1) * math.log10(2)) + 1


@dataclass(frozen=True)
class _Context:
    adapter: Any
    x: np.ndarray
    layout: Layout
    dtype: np.dtype[Any]
    op: Op
    seed: int
    work: Any
    axis: int  # as the caller gave it; the adapter gets exactly this

    @property
    def label(self) -> str:
        name = adapter_name(self.adapter)
        return f"[{name} {self.op} axis={self.axis} {dtype_name(self.dtype)} N={self.layout.size}]"

    def fmt(self, value: float) -> str:
        return f"{value:.{_digits(self.dtype)}g}"

    def at(self, quantity: str, where: tuple[int, int]) -> str:
        index = self.layout.index(*where)
        return f"{quantity}[{index[0]}, {index[1]}]"

    def rows(self, k: int) -> tuple[slice, np.ndarray]:
        rows = self.layout.rows(k)
        return rows, np.arange(rows.start, rows.stop)

    def xs(self, rows: slice | np.ndarray) -> np.ndarray:
        return self.layout.view(self.x)[rows]

    def vector(self, stream: str, **options: Any) -> Vector:
        return Vector(self.layout, self.dtype, self.seed, f"{self.op}/{stream}", **options)

    def verdict(self, name: str, quantity: str, worst: Worst, reference: str, extra: str = "") -> CheckResult:
        """The result of a comparison: on failure the worst element, in the suite's words
        (an element that should be exactly 0 first: that is a structural bug)."""
        if worst.passed:
            return CheckResult(name, True, worst.max_ulp, "", self.op)
        parts = []
        if worst.nonzero:
            assert worst.first_nonzero is not None
            where, value = worst.first_nonzero
            parts.append(
                f"{self.at(quantity, where)} = {self.fmt(value)}, but rows without cotangent must give exactly 0 "
                f"{self.label}; {worst.nonzero} elements in {len(worst.nonzero_rows)} such rows are not 0"
            )
        if worst.over:
            assert worst.where is not None
            note = f" {worst.note}" if worst.note else ""
            parts.append(
                f"{self.at(quantity, worst.where)} = {self.fmt(worst.value)}, but {reference} "
                f"{self.fmt(worst.expected)} (err {worst.error_ulp:.3g} ulp > bound {worst.bound_ulp:.3g} ulp)"
                f"{note} {self.label}; {worst.over} of {worst.compared} elements exceed their bound"
            )
        return CheckResult(name, False, worst.max_ulp, "; and ".join(parts) + extra, self.op)


class _CallFailed(Exception):
    """The adapter raised or returned something unusable; the message says what."""


def _call(
    context: _Context, quantity: Quantity, x: np.ndarray, *vectors: np.ndarray, axis: int | None = None
) -> np.ndarray:
    """Call the adapter's ``quantity`` of the op; check that it returned an array of x's
    shape and dtype."""
    method = provided_method(context.adapter, context.op, quantity)
    name = method_name(context.op, quantity)
    if method is None:
        raise _CallFailed(f"{name} is not provided {context.label}")
    axis = context.axis if axis is None else axis
    try:
        result = method(x, *vectors, axis)
    except Exception as error:
        first = (str(error).splitlines() or [""])[0]
        raise _CallFailed(f"{name} raised {type(error).__name__}: {first} {context.label}") from None
    if not isinstance(result, np.ndarray):
        raise _CallFailed(f"{name} returned {type(result).__name__}, not a numpy.ndarray {context.label}")
    if result.shape != x.shape:
        raise _CallFailed(f"{name} returned shape {result.shape}, but the oracle gives {x.shape} {context.label}")
    if result.dtype != x.dtype:
        raise _CallFailed(
            f"{name} returned dtype {dtype_name(result.dtype)} for {dtype_name(x.dtype)} input {context.label}"
        )
    return result


def _context(adapter: Any, x: np.ndarray, axis: int, seed: int, dtype: Any, op: Op) -> _Context:
    x = np.asarray(x)
    if dtype is not None and np.dtype(dtype) != x.dtype:
        raise ValueError(f"dtype={dtype_name(dtype)}, but x is {dtype_name(x.dtype)}")
    if op not in oracle.OPS:
        raise ValueError(f"op={op!r}, but the ops are: {', '.join(oracle.OPS)}")
    layout = Layout.of(x.shape, axis)
    return _Context(adapter, x, layout, x.dtype, op, int(seed), reference_work(x.dtype), axis)


def _guarded(name: str, op: Op, body: Callable[[], CheckResult]) -> CheckResult:
    """Run a check; an adapter failure becomes a failed result; time it; free its memory."""
    start = time.perf_counter()
    try:
        result = body()
    except _CallFailed as failure:
        result = CheckResult(name, False, None, str(failure), op)
    finally:
        release_memory()
    return replace(result, seconds=time.perf_counter() - start)


def _skip(name: str, op: Op, why: str) -> CheckResult:
    return CheckResult(name, True, None, f"skipped: {why}", op, skipped=True)


def _no_reference(name: str, context: _Context) -> CheckResult | None:
    if context.work is None:
        return _skip(name, context.op, "no reference wider than float64 on this platform (long double is float64)")
    return None


# -- the checks ------------------------------------------------------------------------------


def check_forward(
    adapter: Any, x: np.ndarray, axis: int, seed: int = 0, dtype: Any = None, *, op: Op = "softmax"
) -> CheckResult:
    """The op on the whole tensor against the oracle, element by element, within
    ``tolerance.forward_bound``."""
    context = _context(adapter, x, axis, seed, dtype, op)
    if (skipped := _no_reference("forward", context)) is not None:
        return skipped
    if provided_method(adapter, op, "forward") is None:
        return _skip("forward", op, f"the adapter provides no {op}")

    def body() -> CheckResult:
        out = context.layout.view(_call(context, "forward", context.x))

        def chunk(k: int, out: np.ndarray) -> Worst:
            rows, ids = context.rows(k)
            xc = context.xs(rows)
            exact = oracle.forward(op, xc, -1, work=context.work)
            return compare_rows(out[rows], exact, tolerance.forward_bound(op, xc, -1, context.dtype), ids, context.work)

        worst = _merged(_map(chunk, range(context.layout.chunks), out))
        del out
        return context.verdict("forward", op, worst, "the oracle gives")

    return _guarded("forward", op, body)


def _merged(parts: Iterable[Worst]) -> Worst:
    total = Worst()
    for part in parts:
        total.merge(part)
    return total


def check_vjp(
    adapter: Any,
    x: np.ndarray,
    axis: int,
    seed: int = 0,
    dtype: Any = None,
    *,
    op: Op = "softmax",
    cotangents: int = COTANGENTS,
) -> CheckResult:
    """``J^T g`` against the oracle within ``tolerance.vjp_bound``, for ``cotangents``
    seeded N(0, 1) cotangents, one after another."""
    context = _context(adapter, x, axis, seed, dtype, op)
    if (skipped := _no_reference("vjp", context)) is not None:
        return skipped
    if provided_method(adapter, op, "vjp") is None:
        return _skip("vjp", op, f"the adapter provides no {method_name(op, 'vjp')}")

    def body() -> CheckResult:
        total = Worst()
        for j in range(cotangents):
            vector = context.vector(f"vjp-cotangent-{j}")
            g = vector.full()
            out = context.layout.view(_call(context, "vjp", context.x, g))
            del g
            note = f"with cotangent {j + 1} of {cotangents} (seed {context.seed})"

            total.merge(_merged(_map(_vjp_chunk, range(context.layout.chunks), context, out, vector, note)))
            del out
            release_memory()
        return context.verdict("vjp", method_name(op, "vjp"), total, "the oracle gives")

    return _guarded("vjp", op, body)


def _vjp_chunk(k: int, context: _Context, out: np.ndarray, vector: Vector, note: str) -> Worst:
    rows, ids = context.rows(k)
    xc, gc_ = context.xs(rows), vector.chunk(k)
    exact = oracle.vjp(context.op, xc, gc_, -1, work=context.work)
    bound = tolerance.vjp_bound(context.op, xc, gc_, -1, context.dtype)
    return compare_rows(out[rows], exact, bound, ids, context.work, note)


def check_block_diagonal(
    adapter: Any,
    x: np.ndarray,
    axis: int,
    seed: int = 0,
    dtype: Any = None,
    *,
    op: Op = "softmax",
    fraction: float = BLOCK_FRACTION,
) -> CheckResult:
    """A cotangent on a random ``fraction`` of the rows (at least one) and exactly 0
    elsewhere: the VJP must be exactly 0 on every other row and within
    ``tolerance.vjp_bound`` of the oracle on the chosen ones."""
    context = _context(adapter, x, axis, seed, dtype, op)
    if (skipped := _no_reference("block_diagonal", context)) is not None:
        return skipped
    if provided_method(adapter, op, "vjp") is None:
        return _skip("block_diagonal", op, f"the adapter provides no {method_name(op, 'vjp')}")
    batch = context.layout.batch
    count = min(batch, max(1, round(batch * fraction)))
    rng = np.random.default_rng([context.seed, _stream(f"{op}/block-rows")])
    chosen = np.sort(rng.choice(batch, size=count, replace=False))
    vector = context.vector("block-cotangent", support=chosen)

    def body() -> CheckResult:
        g = vector.full()
        out = context.layout.view(_call(context, "vjp", context.x, g))
        del g

        def chunk(k: int, out: np.ndarray) -> Worst:
            rows, ids = context.rows(k)
            local = vector.local_support(rows)
            others = np.ones(rows.stop - rows.start, dtype=bool)
            others[local] = False
            worst = zero_rows(out[rows][others], ids[others])
            if local.size:
                xc = context.xs(rows)[local]
                gc_ = vector.chunk(k)[local]
                exact = oracle.vjp(op, xc, gc_, -1, work=context.work)
                bound = tolerance.vjp_bound(op, xc, gc_, -1, context.dtype)
                worst.merge(compare_rows(out[rows][local], exact, bound, ids[local], context.work))
            return worst

        worst = _merged(_map(chunk, range(context.layout.chunks), out))
        del out
        extra = f" (cotangent on {count} of {batch} rows, seed {context.seed})"
        return context.verdict("block_diagonal", method_name(op, "vjp"), worst, "the oracle gives", extra)

    return _guarded("block_diagonal", op, body)


def check_batched_agreement(
    adapter: Any,
    x: np.ndarray,
    axis: int,
    seed: int = 0,
    dtype: Any = None,
    *,
    op: Op = "softmax",
    sampled: int = SAMPLED_ROWS,
) -> CheckResult:
    """``sampled`` random rows of the batched forward and VJP against the same rows computed
    alone (1-d, axis -1), within twice the per-row bound."""
    context = _context(adapter, x, axis, seed, dtype, op)
    wanted: tuple[Quantity, ...] = ("forward", "vjp")
    quantities = [q for q in wanted if provided_method(adapter, op, q) is not None]
    if not quantities:
        return _skip("batched_agreement", op, f"the adapter provides neither {op} nor its vjp")
    batch = context.layout.batch
    rng = np.random.default_rng([context.seed, _stream(f"{op}/batched-rows")])
    picked = np.sort(rng.choice(batch, size=min(sampled, batch), replace=False))
    vector = context.vector("batched-cotangent")
    work = context.work or np.float64

    def body() -> CheckResult:
        verdicts = []
        for quantity in quantities:
            vectors: tuple[np.ndarray, ...] = (vector.full(),) if quantity == "vjp" else ()
            out = _call(context, quantity, context.x, *vectors)
            del vectors
            batched = np.array(context.layout.view(out)[picked])  # a copy: the rest is freed
            del out
            release_memory()
            worst = Worst()
            for j, row in enumerate(picked):
                xr = np.ascontiguousarray(context.layout.view(context.x)[int(row)])
                row_vectors: tuple[np.ndarray, ...] = (vector.row(int(row)),) if quantity == "vjp" else ()
                alone = _call(context, quantity, xr, *row_vectors, axis=-1)
                if quantity == "vjp":
                    bound = tolerance.vjp_bound(op, xr, row_vectors[0], -1, context.dtype)
                else:
                    bound = tolerance.forward_bound(op, xr, -1, context.dtype)
                twice = Bound(2 * bound.absolute[None], bound.scale[None], bound.dtype)
                note = "(bound: twice the row's, as both may be off by it)"
                worst.merge(compare_rows(batched[j][None], alone[None], twice, np.array([row]), work, note))
            name = method_name(op, quantity)
            verdicts.append(
                context.verdict(
                    "batched_agreement",
                    name,
                    worst,
                    "the same row computed alone gives",
                    f"; sampled rows {', '.join(map(str, picked))}",
                )
            )
        failed = [v for v in verdicts if not v.passed]
        worst_ulp = max((v.max_error_ulp for v in verdicts if v.max_error_ulp is not None), default=None)
        return replace(failed[0] if failed else verdicts[0], max_error_ulp=worst_ulp)

    return _guarded("batched_agreement", op, body)


Chunks = Callable[[int], np.ndarray]


def _identity_bound_terms(
    context: _Context, quantity: Quantity, out: np.ndarray, weights: Chunks, vector: Chunks
) -> tuple[list[float], float, float, float]:
    """For an adapter output ``out`` (the VJP with ``vector``, or the JVP with it), the
    per-chunk sums of ``weights * out``, and sum |weights * out|, sum |weights| B and
    sum |weights| M over all chunks, B and M the bound and scale of ``out``."""
    bound_of = tolerance.vjp_bound if quantity == "vjp" else tolerance.jvp_bound

    def chunk(k: int, view: np.ndarray) -> tuple[float, float, float, float]:
        rows, _ = context.rows(k)
        xc, vc = context.xs(rows), vector(k)
        w = weights(k).astype(np.float64)
        got = view[rows].astype(np.float64)
        bound = bound_of(context.op, xc, vc, -1, context.dtype)
        product = w * got
        return (
            float(np.sum(product)),
            float(np.sum(np.abs(product))),
            float(np.sum(np.abs(w) * bound.absolute)),
            float(np.sum(np.abs(w) * bound.scale)),
        )

    parts = _map(chunk, range(context.layout.chunks), context.layout.view(out))
    return (
        [p[0] for p in parts],
        math.fsum(p[1] for p in parts),
        math.fsum(p[2] for p in parts),
        math.fsum(p[3] for p in parts),
    )


def check_jvp_vjp_identity(
    adapter: Any,
    x: np.ndarray,
    axis: int,
    seed: int = 0,
    dtype: Any = None,
    *,
    op: Op = "softmax",
    shifted_tangent: bool = False,
) -> CheckResult:
    """``<u, J^T v> = <J u, v>`` for random u, v. Each side is a dot product of an adapter
    output with a vector, so the exact sides are equal and the computed ones differ by at
    most ``sum |u_i| B_vjp,i + sum |v_i| B_jvp,i`` (the element bounds of
    ``tolerance.vjp_bound`` and ``jvp_bound``) plus the float64 rounding of the dot products.

    v is seeded N(0, 1). u is too, unless ``shifted_tangent`` and x comes from
    :func:`random_input`: then u is :func:`shifted_rows` of x, so that during the JVP call
    the suite holds x alone instead of x and a tangent of N elements (for TensorFlow at 1e8
    float32 that is the difference between 3.6 and 4.0 GiB peak)."""
    context = _context(adapter, x, axis, seed, dtype, op)
    needed: tuple[Quantity, ...] = ("vjp", "jvp")
    for quantity in needed:
        if provided_method(adapter, op, quantity) is None:
            return _skip("jvp_vjp_identity", op, f"the adapter provides no {method_name(op, quantity)}")
    v = context.vector("identity-v")
    shared = shifted_rows(context.x, axis) if shifted_tangent else None
    random_u = context.vector("identity-u")

    def u_chunk(k: int) -> np.ndarray:
        if shared is None:
            return random_u.chunk(k)
        return np.asarray(context.layout.view(shared)[context.layout.rows(k)])

    def body() -> CheckResult:
        g = v.full()
        a = _call(context, "vjp", context.x, g)
        del g
        lhs_parts, lhs_mag, lhs_bound, lhs_scale = _identity_bound_terms(context, "vjp", a, u_chunk, v.chunk)
        del a
        release_memory()
        t = random_u.full() if shared is None else shared
        b = _call(context, "jvp", context.x, t)
        del t
        rhs_parts, rhs_mag, rhs_bound, rhs_scale = _identity_bound_terms(context, "jvp", b, v.chunk, u_chunk)
        del b
        lhs, rhs = math.fsum(lhs_parts), math.fsum(rhs_parts)
        # each chunk's np.sum is pairwise: relative error (summation_allowance + 1) 2**-53
        rounding = (tolerance.summation_allowance(CHUNK_ELEMENTS) + 2) * 2.0**-53 * (lhs_mag + rhs_mag)
        absolute = lhs_bound + rhs_bound + rounding
        bound = Bound(np.array([absolute]), np.array([lhs_scale + rhs_scale]), context.dtype)
        error = abs(lhs - rhs) if math.isfinite(lhs) and math.isfinite(rhs) else math.inf
        error_ulp = float(bound.ulps(np.array([error]))[0])
        if error <= absolute:
            return CheckResult("jvp_vjp_identity", True, error_ulp, "", op)
        tangent = "u = x shifted by one row" if shared is not None else "u seeded N(0, 1)"
        message = (
            f"<u, {method_name(op, 'vjp')}(v)> = {lhs:.17g}, but <{method_name(op, 'jvp')}(u), v> = {rhs:.17g} "
            f"(err {error_ulp:.3g} ulp > bound {float(bound.bound_ulps[0]):.3g} ulp of the terms' scale) "
            f"with {tangent}, v seeded N(0, 1) (seed {context.seed}) {context.label}"
        )
        return CheckResult("jvp_vjp_identity", False, error_ulp, message, op)

    return _guarded("jvp_vjp_identity", op, body)


def check_row_sum_zero(
    adapter: Any, x: np.ndarray, axis: int, seed: int = 0, dtype: Any = None, *, op: Op = "softmax"
) -> CheckResult:
    """softmax only: every row sums to 1, so ``J^T 1 = 0``; the VJP of ones must be within
    ``tolerance.vjp_bound`` (g = ones) of 0."""
    if op != "softmax":
        raise ValueError("row_sum_zero is a softmax property (the VJP of ones is 1 - n s for log_softmax)")
    context = _context(adapter, x, axis, seed, dtype, op)
    if provided_method(adapter, op, "vjp") is None:
        return _skip("row_sum_zero", op, "the adapter provides no vjp")
    ones = context.vector("ones", kind="ones")

    def body() -> CheckResult:
        g = ones.full()
        out = context.layout.view(_call(context, "vjp", context.x, g))
        del g

        def chunk(k: int, out: np.ndarray) -> Worst:
            rows, ids = context.rows(k)
            xc, gc_ = context.xs(rows), ones.chunk(k)
            bound = tolerance.vjp_bound("softmax", xc, gc_, -1, context.dtype)
            return compare_rows(out[rows], np.zeros(gc_.shape), bound, ids, np.float64, "(cotangent: ones)")

        worst = _merged(_map(chunk, range(context.layout.chunks), out))
        del out
        return context.verdict("row_sum_zero", "vjp", worst, "the exact value is")

    return _guarded("row_sum_zero", op, body)


CHECKS: dict[str, Callable[..., CheckResult]] = {
    "forward": check_forward,
    "vjp": check_vjp,
    "block_diagonal": check_block_diagonal,
    "batched_agreement": check_batched_agreement,
    "jvp_vjp_identity": check_jvp_vjp_identity,
    "row_sum_zero": check_row_sum_zero,
}


def run_checks(
    adapter: Any,
    x: np.ndarray,
    axis: int,
    seed: int = 0,
    *,
    ops: Sequence[Op] = ("softmax",),
    cotangents: int = COTANGENTS,
    shifted_tangent: bool = True,
    progress: Callable[[str, Op, CheckResult | None], None] | None = None,
) -> list[CheckResult]:
    """Every check for every op, one after another; ``progress(name, op, None)`` before a
    check and ``progress(name, op, result)`` after it. ``shifted_tangent``: see
    :func:`check_jvp_vjp_identity`."""
    found: list[CheckResult] = []
    for op in ops:
        for name, check in CHECKS.items():
            if name == "row_sum_zero" and op != "softmax":
                continue
            if progress is not None:
                progress(name, op, None)
            options: dict[str, Any] = {}
            if name == "vjp":
                options["cotangents"] = cotangents
            if name == "jvp_vjp_identity":
                options["shifted_tangent"] = shifted_tangent
            result = check(adapter, x, axis, seed, x.dtype, op=op, **options)
            found.append(result)
            if progress is not None:
                progress(name, op, result)
    return found


# -- the full-Jacobian approach, for comparison ----------------------------------------------


def check_full_jacobian(
    adapter: Any, x: np.ndarray, axis: int, dtype: Any = None, *, op: Op = "softmax"
) -> CheckResult:
    """What a full-Jacobian checker does (the suite's ``jacobian_accuracy`` property): the
    adapter's N x N Jacobian against the whole oracle Jacobian within the block bound
    (``tolerance.blocks_bound`` embedded in N x N, exactly 0 off the blocks). Memory grows
    as N**2; it is here to measure that against the O(N) checks."""
    context = _context(adapter, x, axis, 0, dtype, op)
    if (skipped := _no_reference("full_jacobian", context)) is not None:
        return skipped

    def body() -> CheckResult:
        full = _call_jacobian(context)
        exact = oracle.jacobian(op, context.x, context.layout.axis, work=context.work)
        blocks = tolerance.blocks_bound(op, context.x, context.layout.axis, context.dtype)
        bound = Bound(
            oracle.jacobian_from_blocks(blocks.absolute, context.layout.axis),
            oracle.jacobian_from_blocks(blocks.scale, context.layout.axis),
            blocks.dtype,
        )
        del blocks
        n = context.layout.size
        worst = compare_rows(
            full.reshape(n, n),
            exact.reshape(n, n),
            Bound(bound.absolute.reshape(n, n), bound.scale.reshape(n, n), bound.dtype),
            np.arange(n),
            context.work,
        )
        if worst.over:
            assert worst.where is not None
            out_index = np.unravel_index(worst.where[0], context.x.shape)
            in_index = np.unravel_index(worst.where[1], context.x.shape)
            message = (
                f"{method_name(op, 'jacobian')}[{', '.join(map(str, (*out_index, *in_index)))}] = "
                f"{context.fmt(worst.value)}, but the oracle gives {context.fmt(worst.expected)} "
                f"(err {worst.error_ulp:.3g} ulp > bound {worst.bound_ulp:.3g} ulp) {context.label}; "
                f"{worst.over} of {worst.compared} entries exceed their bound"
            )
            return CheckResult("full_jacobian", False, worst.max_ulp, message, op)
        return CheckResult("full_jacobian", True, worst.max_ulp, "", op)

    return _guarded("full_jacobian", op, body)


def _call_jacobian(context: _Context) -> np.ndarray:
    method = provided_method(context.adapter, context.op, "jacobian")
    name = method_name(context.op, "jacobian")
    if method is None:
        raise _CallFailed(f"{name} is not provided {context.label}")
    try:
        result = method(context.x, context.axis)
    except Exception as error:
        first = (str(error).splitlines() or [""])[0]
        raise _CallFailed(f"{name} raised {type(error).__name__}: {first} {context.label}") from None
    expected = context.x.shape * 2
    if not isinstance(result, np.ndarray):
        raise _CallFailed(f"{name} returned {type(result).__name__}, not a numpy.ndarray {context.label}")
    if result.shape != expected or result.dtype != context.x.dtype:
        raise _CallFailed(
            f"{name} returned shape {result.shape} dtype {dtype_name(result.dtype)}; expected shape {expected} "
            f"dtype {dtype_name(context.x.dtype)} {context.label}"
        )
    return result
