"""The reference: softmax, log_softmax and their derivatives in NumPy, per row.

A *row* is the 1-d slice along ``axis``; every other index is a batch index. With
``s = softmax(x)`` on a row of length n::

    softmax_i(x)     = exp(x_i - m) / sum_j exp(x_j - m),    m = max_j x_j
    log_softmax_i(x) = (x_i - m) - log(sum_j exp(x_j - m))

    softmax:      J = diag(s) - s s^T    vjp(g) = s * (g - <g, s>)   jvp(t) = s * (t - <s, t>)
    log_softmax:  J = I - 1 s^T          vjp(g) = g - s * sum(g)     jvp(t) = t - <s, t>

and the Jacobian of a batch is block diagonal: an output never depends on another row.
Subtracting m makes every exponent <= 0, so nothing overflows however large the logits.

Semantics at the edges (the same as torch, jax and tensorflow today, measured):

* ``-inf`` at some places of a row: those places get exactly 0 (log_softmax: ``-inf``)
  and contribute nothing to the sums; the rest is the softmax of the finite part.
  The softmax gradient is exactly 0 there too.
* a row that is all ``-inf``, or holds ``+inf`` or NaN: the whole row is NaN.
* an empty axis gives an empty result; a length-1 axis gives exactly 1 (log: 0) and a
  zero gradient.

Every function computes in ``work`` precision (float64 by default). ``np.longdouble``
gives a reference more precise than float64 where the platform's long double is wider
(x86-64: 64-bit significand), which the accuracy check needs for float64 under test.
:data:`PORTABLE` works on any platform: the same formulas on arrays of mpmath numbers of
:data:`PORTABLE_BITS` bits (quadruple precision). It costs about 20 us an element, against
well under 1 us, so it is the fallback where long double is float64 (macOS on Apple
silicon, Windows, some ARM builds), or where ``$CONFORMANCE_PORTABLE_ORACLE`` asks for it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Callable, Iterator
from typing import Any, Literal, TypeVar

import numpy as np

Op = Literal["softmax", "log_softmax"]
OPS: tuple[Op, ...] = ("softmax", "log_softmax")
# what is computed of an op, here and by an adapter
Quantity = Literal["forward", "jacobian", "vjp", "jvp", "vjp_derivative"]
QUANTITIES: tuple[Quantity, ...] = ("forward", "jacobian", "vjp", "jvp", "vjp_derivative")
PORTABLE = np.dtype(object)  # the work precision of mpmath numbers, the same on every platform
PORTABLE_BITS = 113
PORTABLE_ENVIRONMENT_VARIABLE = "CONFORMANCE_PORTABLE_ORACLE"
F = TypeVar("F", bound=Callable[..., Any])


def reference_work(dtype: Any) -> Any:
    """A precision well beyond ``dtype`` for the exact values: float64 for the half and single
    types; for float64, long double where it is wider, else (or when
    ``$CONFORMANCE_PORTABLE_ORACLE`` is set) the portable oracle's quadruple precision."""
    if np.dtype(dtype) != np.float64:
        return np.float64
    portable = os.environ.get(PORTABLE_ENVIRONMENT_VARIABLE, "").strip().lower() not in ("", "0", "no", "false")
    if portable or np.finfo(np.longdouble).nmant <= np.finfo(np.float64).nmant:
        return PORTABLE
    return np.longdouble


def _portable(work: Any) -> bool:
    return np.dtype(work) == PORTABLE


def _elementwise(function: Callable[[Any], Any]) -> Callable[[np.ndarray], np.ndarray]:
    mapped = np.frompyfunc(function, 1, 1)

    def apply(array: np.ndarray) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore", divide="ignore"):
            return np.asarray(mapped(array), dtype=object)

    return apply


@functools.cache
def _mpmath() -> Any:
    """mpmath, imported when the portable oracle first needs it (30 ms a process that never does)."""
    import mpmath

    return mpmath


_to_mpf = _elementwise(lambda value: _mpmath().mpf(float(value)))
_mp_exp = _elementwise(lambda value: _mpmath().exp(value))
_mp_log = _elementwise(lambda value: _mpmath().log(value))


def _cast(array: Any, work: Any) -> np.ndarray:
    """``array`` in ``work`` precision (every tested dtype converts to float64 exactly)."""
    array = np.asarray(array)
    return _to_mpf(array.astype(np.float64)) if _portable(work) else array.astype(work)


def _exp(array: np.ndarray) -> np.ndarray:
    return _mp_exp(array) if array.dtype == PORTABLE else np.exp(array)


def _log(array: np.ndarray) -> np.ndarray:
    return _mp_log(array) if array.dtype == PORTABLE else np.log(array)


def _in_work_precision(function: F) -> F:
    """Run ``function`` with mpmath at :data:`PORTABLE_BITS` bits when its ``work`` is portable."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with _precision(kwargs.get("work", np.float64)):
            return function(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _scalar_as_a_row(function: F) -> F:
    """Compute a 0-d ``x`` as a row of one (whatever ``axis`` says), and give back a 0-d result."""

    @functools.wraps(function)
    def wrapper(x: np.ndarray, axis: int = -1, *, work: Any = np.float64) -> np.ndarray:
        if np.ndim(x) == 0:
            return function(np.asarray(x)[None], 0, work=work).reshape(())
        return function(x, axis, work=work)

    return wrapper  # type: ignore[return-value]


@contextlib.contextmanager
def _precision(work: Any) -> Iterator[None]:
    if _portable(work):
        with _mpmath().workprec(PORTABLE_BITS):
            yield
    else:
        yield


def distance(actual: np.ndarray, exact: np.ndarray) -> np.ndarray:
    """|actual - exact| in float64, for ``exact`` in :data:`PORTABLE` work precision: the
    difference is taken at :data:`PORTABLE_BITS` bits, then rounded once."""
    with _mpmath().workprec(PORTABLE_BITS):
        difference = _cast(actual, PORTABLE) - np.asarray(exact, dtype=object)
        return np.abs(difference).astype(np.float64)


def _prepare(x: np.ndarray, axis: int, work: Any) -> tuple[np.ndarray, int]:
    x = np.asarray(x)
    axis = normalize_axis(axis, x.ndim)
    return _cast(x, work), axis


def normalize_axis(axis: int, ndim: int) -> int:
    """``axis`` as a non-negative index into ``ndim`` dimensions (0-d arrays take 0 or -1)."""
    if isinstance(axis, bool) or not isinstance(axis, (int, np.integer)):
        raise TypeError(f"axis={axis!r}, but axis must be an int")
    size = max(ndim, 1)
    if not -size <= axis < size:
        raise ValueError(f"axis={axis} is out of range for an array of rank {ndim}")
    return int(axis) % size


def _shifted(x: np.ndarray, axis: int) -> np.ndarray:
    """``x - max(row)`` (in place: ``x`` is the oracle's own copy in work precision). It holds a
    NaN on a row that is all -inf or holds +inf or NaN, so that row's sum of exponentials is
    NaN, and with it every value the oracle derives from the row."""
    with np.errstate(invalid="ignore", over="ignore"):
        top = np.max(x, axis=axis, keepdims=True, initial=-np.inf)
        if x.dtype == PORTABLE:
            return x - top
        return np.subtract(x, top, out=x)


@_in_work_precision
@_scalar_as_a_row
def softmax(x: np.ndarray, axis: int = -1, *, work: Any = np.float64) -> np.ndarray:
    """softmax along ``axis`` in ``work`` precision (see the module docstring)."""
    x, axis = _prepare(x, axis, work)
    e = _exp(_shifted(x, axis))
    with np.errstate(invalid="ignore", divide="ignore"):
        total = np.sum(e, axis=axis, keepdims=True)
        if e.dtype == PORTABLE:
            return e / total
        return np.divide(e, total, out=e)


@_in_work_precision
@_scalar_as_a_row
def log_softmax(x: np.ndarray, axis: int = -1, *, work: Any = np.float64) -> np.ndarray:
    """log_softmax along ``axis`` in ``work`` precision (see the module docstring)."""
    x, axis = _prepare(x, axis, work)
    shifted = _shifted(x, axis)
    with np.errstate(invalid="ignore", divide="ignore"):
        return shifted - _log(np.sum(_exp(shifted), axis=axis, keepdims=True))


def forward(op: Op, x: np.ndarray, axis: int, *, work: Any = np.float64) -> np.ndarray:
    return (softmax if op == "softmax" else log_softmax)(x, axis, work=work)


def _row_dot(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    return np.sum(a * b, axis=axis, keepdims=True)


def _probabilities(x: np.ndarray, axis: int, work: Any, given: Any) -> np.ndarray:
    """softmax(x) in ``work`` precision: ``given`` (shaped like x) when the caller made it."""
    return softmax(x, axis, work=work) if given is None else np.asarray(given).reshape(x.shape)


def _rows_and_vector(x: np.ndarray, vector: np.ndarray, axis: int, work: Any) -> tuple[np.ndarray, int, np.ndarray]:
    """The operands of a product of the Jacobian with ``vector`` (shaped like ``x``): ``x`` with
    a leading axis for 0-d input, the axis normalised, and ``vector`` in ``work`` precision,
    shaped like those rows."""
    x = np.asarray(x)
    x, axis = (x[None], 0) if x.ndim == 0 else (x, normalize_axis(axis, x.ndim))
    return x, axis, _cast(vector, work).reshape(x.shape)


@_in_work_precision
def vjp(
    op: Op, x: np.ndarray, cotangent: np.ndarray, axis: int, *, work: Any = np.float64, probabilities: Any = None
) -> np.ndarray:
    """Vector-Jacobian product ``J(x)^T g`` per row (``probabilities``: softmax(x) in ``work``
    precision, when the caller has it already)."""
    shape = np.shape(x)
    x, axis, g = _rows_and_vector(x, cotangent, axis, work)
    s = _probabilities(x, axis, work, probabilities)
    with np.errstate(invalid="ignore"):
        if op == "softmax":
            out = s * (g - _row_dot(g, s, axis))
        else:
            out = g - s * np.sum(g, axis=axis, keepdims=True)
    return out.reshape(shape)


@_in_work_precision
def jvp(
    op: Op, x: np.ndarray, tangent: np.ndarray, axis: int, *, work: Any = np.float64, probabilities: Any = None
) -> np.ndarray:
    """Jacobian-vector product ``J(x) t`` per row (``probabilities`` as for :func:`vjp`)."""
    shape = np.shape(x)
    x, axis, t = _rows_and_vector(x, tangent, axis, work)
    s = _probabilities(x, axis, work, probabilities)
    with np.errstate(invalid="ignore"):
        if op == "softmax":
            out = s * (t - _row_dot(s, t, axis))
        else:
            out = t - _row_dot(s, t, axis)
    return out.reshape(shape)


@_in_work_precision
def vjp_derivative(
    op: Op,
    x: np.ndarray,
    cotangent: np.ndarray,
    direction: np.ndarray,
    axis: int,
    *,
    work: Any = np.float64,
) -> np.ndarray:
    """Second order: d/de vjp(x + e*u, g) at e = 0, a Hessian-vector product.

    With ds = s * (u - <s, u>) (the softmax JVP):
    softmax: ds * (g - <g, s>) - s * <g, ds>;  log_softmax: -ds * sum(g).
    """
    shape = np.shape(x)
    x, axis, g = _rows_and_vector(x, cotangent, axis, work)
    ds = jvp("softmax", x, np.asarray(direction).reshape(x.shape), axis, work=work)
    s = softmax(x, axis, work=work)
    with np.errstate(invalid="ignore"):
        if op == "softmax":
            out = ds * (g - _row_dot(g, s, axis)) - s * _row_dot(g, ds, axis)
        else:
            out = -ds * np.sum(g, axis=axis, keepdims=True)
    return out.reshape(shape)


@_in_work_precision
def blocks(op: Op, x: np.ndarray, axis: int, *, work: Any = np.float64) -> np.ndarray:
    """The diagonal blocks of the Jacobian, shape ``x.shape + (n,)``.

    ``blocks[..., i, ..., j]`` (i at ``axis``) is d out_i / d x_j within one row.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        return blocks(op, x[None], 0, work=work)[0]
    axis = normalize_axis(axis, x.ndim)
    s = np.moveaxis(softmax(x, axis, work=work), axis, -1)
    n = s.shape[-1]
    eye = np.eye(n, dtype=s.dtype)
    with np.errstate(invalid="ignore"):
        if op == "softmax":
            rows = s[..., :, None] * eye - s[..., :, None] * s[..., None, :]
        else:
            rows = eye - np.broadcast_to(s[..., None, :], s.shape + (n,))
    return np.moveaxis(rows, -2, axis)


def jacobian_from_blocks(block_array: np.ndarray, axis: int) -> np.ndarray:
    """Embed per-row blocks (shape ``x.shape + (n,)``) in the full ``x.shape + x.shape``
    Jacobian, with exact zeros wherever two different rows meet."""
    shape = block_array.shape[:-1]
    if len(shape) == 0:
        return block_array.reshape(())
    axis = normalize_axis(axis, len(shape))
    rows = np.moveaxis(block_array, axis, -2)  # (batch..., n, n)
    batch_shape, n = rows.shape[:-2], rows.shape[-1]
    batch = int(np.prod(batch_shape, dtype=np.int64))
    flat = rows.reshape(batch, n, n)
    full = np.zeros((batch, n, batch, n), dtype=block_array.dtype)
    index = np.arange(batch)
    full[index, :, index, :] = flat
    moved = full.reshape(batch_shape + (n,) + batch_shape + (n,))
    rank = len(shape)
    return np.moveaxis(moved, [rank - 1, 2 * rank - 1], [axis, rank + axis])


@_in_work_precision
def jacobian(op: Op, x: np.ndarray, axis: int, *, work: Any = np.float64) -> np.ndarray:
    """The full Jacobian, shape ``x.shape + x.shape``."""
    x = np.asarray(x)
    if x.ndim == 0:
        return blocks(op, x, axis, work=work).reshape(())
    return jacobian_from_blocks(blocks(op, x, axis, work=work), axis)


def blocks_from_jacobian(full: np.ndarray, axis: int) -> np.ndarray:
    """The inverse of :func:`jacobian_from_blocks`: pick each row's diagonal block."""
    rank = full.ndim // 2
    if rank == 0:
        return full.reshape(())
    axis = normalize_axis(axis, rank)
    moved = np.moveaxis(full, [axis, rank + axis], [rank - 1, 2 * rank - 1])
    batch_shape, n = moved.shape[: rank - 1], moved.shape[rank - 1]
    batch = int(np.prod(batch_shape, dtype=np.int64))
    flat = moved.reshape(batch, n, batch, n)
    index = np.arange(batch)
    picked = flat[index, :, index, :].reshape(batch_shape + (n, n))
    return np.moveaxis(picked, -2, axis)


def off_block_mask(shape: tuple[int, ...], axis: int) -> np.ndarray:
    """Boolean mask over ``shape + shape``: True where the two indices lie in different rows."""
    if len(shape) == 0:
        return np.zeros((), dtype=bool)
    axis = normalize_axis(axis, len(shape))
    same_row = jacobian_from_blocks(np.ones(shape + (shape[axis],), dtype=bool), axis)
    return ~same_row
