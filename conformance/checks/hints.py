"""Failures that say their likely cause: a cheap second look at a comparison that has already
failed, one function per cause.

Each function takes the failed :class:`Computation` and returns one line (without the
``likely cause:`` prefix) when the result is explained by a known mistake, else None:

* :func:`narrower_dtype`: the result is within the bound of the same computation done in a
  narrower dtype (float64 computed in float32; float32 in float16 or bfloat16);
* :func:`overflowed_row_sum`: the result is inf or NaN (a softmax 0) where the exact value is
  finite, and a sum over a row that the computation needs passes the dtype's largest number:
  Σexp(x - max) over more near-equal logits than float16 counts to, or a loss-scaled
  cotangent's Σ|g|;
* :func:`flushed_subnormals`: the elements over their bound are all subnormals of the exact
  result, returned as 0;
* :func:`other_axis`: the result is within its bound of the same quantity over another axis;
* :func:`missing_inner_product`: the softmax VJP (or JVP) is ``s ⊙ g``, without ``- s ⟨g, s⟩``;
* :func:`naive_log_softmax`: log_softmax is ``log`` of the softmax rounded in the dtype, or
  ``x - logsumexp(x)`` with logsumexp rounded in the dtype (cancellation at large logits).

:func:`likely_cause` tries them in that order of specificity (the first that explains the
result wins) and is called only by :meth:`conformance.checks.assertions.Comparison.conclude`,
once an element is over its bound: a passing comparison never computes any of this.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from conformance.checks.assertions import exceeding
from conformance.truth import oracle
from conformance.truth.dtypes import DTYPES, dtype_name
from conformance.truth.oracle import Op, Quantity
from conformance.truth.tolerance import Bound

PREFIX = "likely cause: "

# (x, vectors, axis) -> the oracle's value of the failed quantity and its bound, for that input
# (in its own dtype) and axis
Reference = Callable[[np.ndarray, Sequence[np.ndarray], int], tuple[np.ndarray, Bound]]

# dtype under test -> the narrower dtypes an implementation may have computed in, tightest first
NARROWER: dict[str, tuple[str, ...]] = {"float64": ("float32",), "float32": ("float16", "bfloat16")}


@dataclass(frozen=True)
class Computation:
    """A failed comparison with the oracle, with what a second look at it needs."""

    op: Op
    quantity: Quantity
    x: np.ndarray
    axis: int
    vectors: tuple[np.ndarray, ...]  # the cotangent, tangent, direction the quantity took
    actual: np.ndarray  # the adapter's result
    exact: np.ndarray  # the oracle's
    bound: Bound  # the bound it failed
    reference: Reference  # the same quantity of other inputs or over another axis

    @property
    def dtype(self) -> np.dtype[Any]:
        return np.dtype(self.x.dtype)


def _within(actual: np.ndarray, exact: np.ndarray, bound: Bound) -> bool:
    """Every element of ``actual`` within ``bound`` of ``exact``."""
    with np.errstate(all="ignore"):
        return np.shape(exact) == np.shape(actual) and not exceeding(actual, exact, bound).any()


def narrower_dtype(c: Computation) -> str | None:
    """The result holds only numbers of the narrower dtype and is within its bound of the oracle
    on the input rounded to it: what an implementation that casts down, computes, and casts
    back returns. (Within the bound alone is not enough: a float16 bound takes in a tiny wrong
    value, such as a masked logit's nonzero gradient, that no float16 computation gives.)"""
    for name in NARROWER.get(dtype_name(c.dtype), ()):
        narrow = DTYPES[name]
        with np.errstate(all="ignore"):  # a value beyond the narrow range rounds to inf
            if not np.array_equal(c.actual.astype(narrow).astype(c.dtype), c.actual, equal_nan=True):
                continue  # a result cast back from the narrower dtype holds only its numbers
            x = c.x.astype(narrow)
            vectors = [vector.astype(narrow) for vector in c.vectors]
        exact, bound = c.reference(x, vectors, c.axis)
        if _within(c.actual, exact, bound):
            return f"computed in {name}? the result is within the {name} bound of the same computation"
    return None


# quantity -> the vectors it takes, in order, as messages name them
_VECTOR_NAMES: dict[str, tuple[str, ...]] = {
    "vjp": ("cotangent",),
    "jvp": ("tangent",),
    "vjp_derivative": ("cotangent", "direction"),
}


def _row_sums(values: np.ndarray, axis: int) -> np.ndarray:
    """Each row's sum along ``axis``, in float64 (rows of a 0-d input: the value)."""
    return np.sum(np.atleast_1d(values), axis=axis if values.ndim else 0)


def overflowed_row_sum(c: Computation) -> str | None:
    """The result is not finite (a softmax is 0) where the exact value is, and a row sum the
    computation needs passes the dtype's largest number: Σexp(x - max) for the forward pass,
    Σ|v| of a vector (a loss-scaled cotangent) for a derivative, and that sum times the
    direction's largest element for the second order (which multiplies them). What an
    implementation that accumulates in the dtype itself returns, though the result fits in it."""
    actual = np.asarray(c.actual).astype(np.float64)
    exact = np.asarray(c.exact).astype(np.float64)
    wrong = np.isfinite(exact) & ~np.isfinite(actual)
    if c.quantity == "forward" and c.op == "softmax":
        wrong |= (actual == 0) & (exact != 0)
    if not wrong.any():
        return None
    largest = float(ml_dtypes.finfo(c.dtype).max)
    name = dtype_name(c.dtype)
    with np.errstate(all="ignore"):
        if c.quantity == "forward":
            x = c.x.astype(np.float64)
            top = np.max(x, axis=c.axis if x.ndim else None, keepdims=True, initial=-np.inf)
            sums = {"exp(x - max)": _row_sums(np.exp(x - top), c.axis)}
        else:
            names = _VECTOR_NAMES.get(c.quantity, ())
            magnitudes = [np.abs(v.astype(np.float64)) for v in c.vectors]
            sums = {f"|{n}|": _row_sums(m, c.axis) for n, m in zip(names, magnitudes)}
            if c.quantity == "vjp_derivative":
                # the second order multiplies the cotangent's sum by the direction's terms
                largest_direction = np.max(np.atleast_1d(magnitudes[1]), axis=c.axis if c.x.ndim else 0)
                sums["|cotangent| times the direction's largest |u|"] = (
                    _row_sums(magnitudes[0], c.axis) * largest_direction
                )
    found = {what: float(np.nanmax(total, initial=0.0)) for what, total in sums.items()}
    what, reached = max(found.items(), key=lambda item: item[1], default=("", 0.0))
    if reached <= largest:
        return None
    return (
        f"a row sum overflows {name}? Σ{what} over a row reaches {reached:.4g}, past {name}'s largest "
        f"number {largest:g}, though the result fits in {name}: accumulate in a wider type"
    )


def flushed_subnormals(c: Computation) -> str | None:
    """Every element over its bound has a nonzero subnormal (of the dtype) as its exact value,
    and 0 as the result: subnormals flushed to zero, the rest right."""
    with np.errstate(all="ignore"):
        over = exceeding(c.actual, c.exact, c.bound)
        exact = np.abs(np.asarray(c.exact).astype(np.float64))
    subnormal = (exact > 0) & (exact < float(ml_dtypes.finfo(c.dtype).smallest_normal))
    if not over.any() or (over & ~subnormal).any() or (np.asarray(c.actual)[over] != 0).any():
        return None
    name = dtype_name(c.dtype)
    return f"flushed to zero? the elements over their bound are {name} subnormals of the exact result, 0 in the result"


def other_axis(c: Computation) -> str | None:
    """The result is within its bound of the same quantity over another axis of the input."""
    if c.x.ndim < 2:
        return None
    axis = oracle.normalize_axis(c.axis, c.x.ndim)
    for other in range(c.x.ndim):
        if other == axis:
            continue
        exact, bound = c.reference(c.x, c.vectors, other)
        if _within(c.actual, exact, bound):
            what = c.op if c.quantity == "forward" else f"the {c.op} {c.quantity}"
            return (
                f"computed over axis {other} instead of axis {c.axis}? "
                f"the result is within the bound of {what} over axis {other}"
            )
    return None


def missing_inner_product(c: Computation) -> str | None:
    """The softmax VJP (JVP) is ``s ⊙ g`` (``s ⊙ t``): the ``- s ⟨g, s⟩`` term is missing."""
    if c.op != "softmax" or c.quantity not in ("vjp", "jvp"):
        return None
    s = oracle.softmax(c.x, c.axis)
    with np.errstate(invalid="ignore"):
        candidate = s * np.asarray(c.vectors[0], dtype=np.float64)
    if not _within(c.actual, candidate, c.bound):
        return None
    v, term = ("g", "⟨g, s⟩") if c.quantity == "vjp" else ("t", "⟨s, t⟩")
    return f"the inner product is missing? the result is within the bound of s ⊙ {v}, without - s {term}"


def naive_log_softmax(c: Computation) -> str | None:
    """log_softmax formed as ``log(softmax(x))`` with the softmax rounded in the dtype (-inf
    where it underflows), or as ``x - logsumexp(x)`` with logsumexp rounded in the dtype (at
    large logits the subtraction cancels, and the rounding of logsumexp is all that is left)."""
    if c.op != "log_softmax" or c.quantity != "forward":
        return None
    name = dtype_name(c.dtype)
    exact = np.asarray(c.exact)
    with np.errstate(all="ignore"):
        rounded_softmax = np.exp(exact.astype(np.float64)).astype(c.dtype).astype(np.float64)
        log_of_rounded = np.log(rounded_softmax)
        logsumexp = (c.x.astype(np.float64) - exact).astype(np.float64).astype(c.dtype)  # x - log_softmax
        cancelled = (c.x - logsumexp).astype(c.dtype)
    if _within(c.actual, log_of_rounded, c.bound):
        return (
            "log of the rounded softmax? the result is within the bound of log(softmax(x)), "
            f"softmax(x) rounded to {name}"
        )
    if _within(c.actual, cancelled, c.bound):
        return (
            "cancellation at large logits? the result is within the bound of x - logsumexp(x), "
            f"logsumexp rounded to {name}"
        )
    return None


HINTS: tuple[Callable[[Computation], str | None], ...] = (
    missing_inner_product,
    other_axis,
    naive_log_softmax,
    overflowed_row_sum,
    flushed_subnormals,
    narrower_dtype,
)


def likely_cause(c: Computation) -> str | None:
    """The first hint that explains the failed ``c``, as ``likely cause: ...``; None if none does.

    A hint that cannot be computed (an input the second look does not handle) is no hint: it
    must never replace the failure it is meant to explain."""
    for hint in HINTS:
        try:
            found = hint(c)
        except Exception:  # the failure itself is what matters
            continue
        if found:
            return PREFIX + found
    return None
