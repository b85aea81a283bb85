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
Random vectors are defined chunk by chunk by the seed (:mod:`conformance.scale.large_inputs`),
so a cotangent is handed to the adapter whole, dropped as soon as the call returns, and
regenerated a chunk at a time for the comparison. The oracle and the bounds
(``conformance.truth.tolerance``, the one tolerance model) are computed in float64 (long
double for float64 inputs) on chunks of about ``CHUNK_ELEMENTS`` elements, a few chunks at
once on worker threads (:mod:`conformance.scale.chunks`). The full-Jacobian approach, for
comparison, is :mod:`conformance.scale.full_jacobian`.

Every check returns a :class:`CheckResult`; a check never raises for what the adapter
does (an exception, a wrong shape or dtype, NaN): that is a failed result.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapter import Quantity, adapter_name, method_name, provided_method
from conformance.scale.chunks import (
    CHUNK_ELEMENTS,
    Worst,
    compare_rows,
    merged,
    reference_work,
    threaded_map,
    zero_rows,
)
from conformance.scale.large_inputs import Layout, Vector, shifted_rows, stream_key
from conformance.scale.memory import release_memory
from conformance.scale.options import COTANGENTS
from conformance.truth import oracle, tolerance
from conformance.truth.dtypes import dtype_name
from conformance.truth.oracle import Op
from conformance.truth.tolerance import Bound

SAMPLED_ROWS = 8  # rows computed alone for batched_agreement
BLOCK_FRACTION = 0.01  # share of rows that carry a cotangent in block_diagonal
CHECK_NAMES: tuple[str, ...] = (
    "forward",
    "vjp",
    "block_diagonal",
    "batched_agreement",
    "jvp_vjp_identity",
    "row_sum_zero",
)


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


def _digits(dtype: Any) -> int:
    """Significant digits that tell neighbouring values of ``dtype`` apart."""
    return math.ceil((int(ml_dtypes.finfo(dtype).nmant) + 1) * math.log10(2)) + 1


@dataclass(frozen=True)
class CheckContext:
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


class CallFailed(Exception):
    """The adapter raised or returned something unusable; the message says what."""


def call(
    context: CheckContext,
    quantity: Quantity,
    x: np.ndarray,
    *vectors: np.ndarray,
    axis: int | None = None,
    shape: tuple[int, ...] | None = None,
) -> np.ndarray:
    """Call the adapter's ``quantity`` of the op; check that it returned an array of x's
    dtype and of ``shape`` (by default x's)."""
    method = provided_method(context.adapter, context.op, quantity)
    name = method_name(context.op, quantity)
    if method is None:
        raise CallFailed(f"{name} is not provided {context.label}")
    axis = context.axis if axis is None else axis
    try:
        result = method(x, *vectors, axis)
    except Exception as error:
        first = (str(error).splitlines() or [""])[0]
        raise CallFailed(f"{name} raised {type(error).__name__}: {first} {context.label}") from None
    if not isinstance(result, np.ndarray):
        raise CallFailed(f"{name} returned {type(result).__name__}, not a numpy.ndarray {context.label}")
    expected = x.shape if shape is None else shape
    if result.shape != expected:
        raise CallFailed(f"{name} returned shape {result.shape}, but the oracle gives {expected} {context.label}")
    if result.dtype != x.dtype:
        raise CallFailed(
            f"{name} returned dtype {dtype_name(result.dtype)} for {dtype_name(x.dtype)} input {context.label}"
        )
    return result


def check_context(adapter: Any, x: np.ndarray, axis: int, seed: int, dtype: Any, op: Op) -> CheckContext:
    x = np.asarray(x)
    if dtype is not None and np.dtype(dtype) != x.dtype:
        raise ValueError(f"dtype={dtype_name(dtype)}, but x is {dtype_name(x.dtype)}")
    if op not in oracle.OPS:
        raise ValueError(f"op={op!r}, but the ops are: {', '.join(oracle.OPS)}")
    layout = Layout.of(x.shape, axis)
    return CheckContext(adapter, x, layout, x.dtype, op, int(seed), reference_work(x.dtype), axis)


def guarded(name: str, op: Op, body: Callable[[], CheckResult]) -> CheckResult:
    """Run a check; an adapter failure becomes a failed result; time it; free its memory."""
    start = time.perf_counter()
    try:
        result = body()
    except CallFailed as failure:
        result = CheckResult(name, False, None, str(failure), op)
    finally:
        release_memory()
    return replace(result, seconds=time.perf_counter() - start)


def _skip(name: str, op: Op, why: str) -> CheckResult:
    return CheckResult(name, True, None, f"skipped: {why}", op, skipped=True)


def unavailable(name: str, context: CheckContext, *quantities: Quantity, reference: bool = True) -> CheckResult | None:
    """The skipped result of check ``name`` when it cannot run: it compares with the oracle
    (``reference``) and there is no reference wider than float64, or the adapter lacks a
    method for one of ``quantities``; None when it can run."""
    if reference and context.work is None:
        return _skip(name, context.op, "no reference wider than float64 on this platform (long double is float64)")
    for quantity in quantities:
        if provided_method(context.adapter, context.op, quantity) is None:
            return _skip(name, context.op, f"the adapter provides no {method_name(context.op, quantity)}")
    return None


def check_forward(
    adapter: Any, x: np.ndarray, axis: int, seed: int = 0, dtype: Any = None, *, op: Op = "softmax"
) -> CheckResult:
    """The op on the whole tensor against the oracle, element by element, within
    ``tolerance.forward_bound``."""
    context = check_context(adapter, x, axis, seed, dtype, op)
    if (skipped := unavailable("forward", context, "forward")) is not None:
        return skipped

    def body() -> CheckResult:
        out = context.layout.view(call(context, "forward", context.x))

        def chunk(k: int, out: np.ndarray) -> Worst:
            rows, ids = context.rows(k)
            xc = context.xs(rows)
            exact = oracle.forward(op, xc, -1, work=context.work)
            return compare_rows(out[rows], exact, tolerance.forward_bound(op, xc, -1, context.dtype), ids, context.work)

        worst = merged(threaded_map(chunk, range(context.layout.chunks), out))
        del out
        return context.verdict("forward", op, worst, "the oracle gives")

    return guarded("forward", op, body)


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
    context = check_context(adapter, x, axis, seed, dtype, op)
    if (skipped := unavailable("vjp", context, "vjp")) is not None:
        return skipped

    def body() -> CheckResult:
        total = Worst()
        for j in range(cotangents):
            vector = context.vector(f"vjp-cotangent-{j}")
            g = vector.full()
            out = context.layout.view(call(context, "vjp", context.x, g))
            del g
            note = f"with cotangent {j + 1} of {cotangents} (seed {context.seed})"

            total.merge(merged(threaded_map(_vjp_chunk, range(context.layout.chunks), context, out, vector, note)))
            del out
            release_memory()
        return context.verdict("vjp", method_name(op, "vjp"), total, "the oracle gives")

    return guarded("vjp", op, body)


def _vjp_chunk(k: int, context: CheckContext, out: np.ndarray, vector: Vector, note: str) -> Worst:
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
    context = check_context(adapter, x, axis, seed, dtype, op)
    if (skipped := unavailable("block_diagonal", context, "vjp")) is not None:
        return skipped
    batch = context.layout.batch
    count = min(batch, max(1, round(batch * fraction)))
    rng = np.random.default_rng([context.seed, stream_key(f"{op}/block-rows")])
    chosen = np.sort(rng.choice(batch, size=count, replace=False))
    vector = context.vector("block-cotangent", support=chosen)

    def body() -> CheckResult:
        g = vector.full()
        out = context.layout.view(call(context, "vjp", context.x, g))
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

        worst = merged(threaded_map(chunk, range(context.layout.chunks), out))
        del out
        extra = f" (cotangent on {count} of {batch} rows, seed {context.seed})"
        return context.verdict("block_diagonal", method_name(op, "vjp"), worst, "the oracle gives", extra)

    return guarded("block_diagonal", op, body)


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
    context = check_context(adapter, x, axis, seed, dtype, op)
    wanted: tuple[Quantity, ...] = ("forward", "vjp")
    quantities = [q for q in wanted if provided_method(adapter, op, q) is not None]
    if not quantities:
        return _skip("batched_agreement", op, f"the adapter provides neither {op} nor its vjp")
    batch = context.layout.batch
    rng = np.random.default_rng([context.seed, stream_key(f"{op}/batched-rows")])
    picked = np.sort(rng.choice(batch, size=min(sampled, batch), replace=False))
    vector = context.vector("batched-cotangent")
    work = context.work or np.float64

    def body() -> CheckResult:
        verdicts = []
        for quantity in quantities:
            vectors: tuple[np.ndarray, ...] = (vector.full(),) if quantity == "vjp" else ()
            out = call(context, quantity, context.x, *vectors)
            del vectors
            batched = np.array(context.layout.view(out)[picked])  # a copy: the rest is freed
            del out
            release_memory()
            worst = Worst()
            for j, row in enumerate(picked):
                xr = np.ascontiguousarray(context.layout.view(context.x)[int(row)])
                row_vectors: tuple[np.ndarray, ...] = (vector.row(int(row)),) if quantity == "vjp" else ()
                alone = call(context, quantity, xr, *row_vectors, axis=-1)
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

    return guarded("batched_agreement", op, body)


Chunks = Callable[[int], np.ndarray]


def _identity_bound_terms(
    context: CheckContext, quantity: Quantity, out: np.ndarray, weights: Chunks, vector: Chunks
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

    parts = threaded_map(chunk, range(context.layout.chunks), context.layout.view(out))
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
    context = check_context(adapter, x, axis, seed, dtype, op)
    if (skipped := unavailable("jvp_vjp_identity", context, "vjp", "jvp", reference=False)) is not None:
        return skipped
    v = context.vector("identity-v")
    shared = shifted_rows(context.x, axis) if shifted_tangent else None
    random_u = context.vector("identity-u")

    def u_chunk(k: int) -> np.ndarray:
        if shared is None:
            return random_u.chunk(k)
        return np.asarray(context.layout.view(shared)[context.layout.rows(k)])

    def body() -> CheckResult:
        g = v.full()
        a = call(context, "vjp", context.x, g)
        del g
        lhs_parts, lhs_mag, lhs_bound, lhs_scale = _identity_bound_terms(context, "vjp", a, u_chunk, v.chunk)
        del a
        release_memory()
        t = random_u.full() if shared is None else shared
        b = call(context, "jvp", context.x, t)
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

    return guarded("jvp_vjp_identity", op, body)


def check_row_sum_zero(
    adapter: Any, x: np.ndarray, axis: int, seed: int = 0, dtype: Any = None, *, op: Op = "softmax"
) -> CheckResult:
    """softmax only: every row sums to 1, so ``J^T 1 = 0``; the VJP of ones must be within
    ``tolerance.vjp_bound`` (g = ones) of 0."""
    if op != "softmax":
        raise ValueError("row_sum_zero is a softmax property (the VJP of ones is 1 - n s for log_softmax)")
    context = check_context(adapter, x, axis, seed, dtype, op)
    if (skipped := unavailable("row_sum_zero", context, "vjp", reference=False)) is not None:
        return skipped
    ones = context.vector("ones", kind="ones")

    def body() -> CheckResult:
        g = ones.full()
        out = context.layout.view(call(context, "vjp", context.x, g))
        del g

        def chunk(k: int, out: np.ndarray) -> Worst:
            rows, ids = context.rows(k)
            xc, gc_ = context.xs(rows), ones.chunk(k)
            bound = tolerance.vjp_bound("softmax", xc, gc_, -1, context.dtype)
            return compare_rows(out[rows], np.zeros(gc_.shape), bound, ids, np.float64, "(cotangent: ones)")

        worst = merged(threaded_map(chunk, range(context.layout.chunks), out))
        del out
        return context.verdict("row_sum_zero", "vjp", worst, "the exact value is")

    return guarded("row_sum_zero", op, body)


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
