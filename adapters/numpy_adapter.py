"""A correct softmax in plain NumPy: the closed forms, computed in float64 and rounded once.

It is the suite's control: every property must pass on it. It is also the template for
testing your own code: copy it, replace the bodies with calls into your implementation.

Each row is summed with the row laid out contiguously, last: NumPy then sums it pairwise, with
an error that grows as log n. Along a strided axis NumPy adds one term after another instead,
and over a long row of tied values every rounding falls the same way: 8192 rows of two values,
summed along the first axis, came out 244 float64 ulp off, past the bound a pairwise sum keeps.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import numpy as np

from conformance.truth import oracle
from conformance.truth.dtypes import rounded_to

ROWS_AT_ONCE_ELEMENTS = 2**16  # rows are computed this many elements at a time (at least one row)


def _along_contiguous_rows(
    function: Callable[..., np.ndarray], x: np.ndarray, vectors: tuple[np.ndarray, ...], axis: int
) -> np.ndarray:
    """``function(x, *vectors, axis)`` computed on copies whose rows are contiguous and last,
    rounded to ``x``'s dtype and laid back along ``axis`` (a 0-d input is passed as it is)."""
    if x.ndim == 0:
        return rounded_to(function(x, *vectors, axis), x.dtype)
    axis = oracle.normalize_axis(axis, x.ndim)
    rows = [np.moveaxis(array, axis, -1) for array in (x, *vectors)]
    return np.moveaxis(_some_rows_at_a_time(function, rows, x.dtype), -1, axis)


def _some_rows_at_a_time(function: Callable[..., np.ndarray], rows: list[np.ndarray], dtype: np.dtype) -> np.ndarray:
    """``function(*rows, -1)`` rounded to ``dtype``, ROWS_AT_ONCE_ELEMENTS of rows at a time, each
    piece copied to contiguous rows first: its float64 temporaries then stay in the cache (a
    large input's are hundreds of MB), and a 2-d input along its first axis is never copied
    whole (a 2**24-element one took 0.1 s more a call than along its last)."""
    if rows[0].size <= ROWS_AT_ONCE_ELEMENTS:  # an empty axis among them
        return rounded_to(function(*map(np.ascontiguousarray, rows), -1), dtype)
    length = rows[0].shape[-1]
    flat = [array.reshape(-1, length) for array in rows]  # a view where it can be: the pieces are copied
    out = np.empty(rows[0].shape, dtype)
    out_rows = out.reshape(-1, length)
    step = max(1, ROWS_AT_ONCE_ELEMENTS // length)
    for start in range(0, len(out_rows), step):
        pieces = (np.ascontiguousarray(array[start : start + step]) for array in flat)
        out_rows[start : start + step] = rounded_to(function(*pieces, -1), dtype)
    return out


class NumpyReference:
    name = "numpy"
    device = "cpu"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return _along_contiguous_rows(oracle.softmax, x, (), axis)

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(oracle.jacobian("softmax", x, axis), x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return _along_contiguous_rows(functools.partial(oracle.vjp, "softmax"), x, (cotangent,), axis)

    def jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        return _along_contiguous_rows(functools.partial(oracle.jvp, "softmax"), x, (tangent,), axis)

    def vjp_derivative(self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int) -> np.ndarray:
        derivative = functools.partial(oracle.vjp_derivative, "softmax")
        return _along_contiguous_rows(derivative, x, (cotangent, direction), axis)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return _along_contiguous_rows(oracle.log_softmax, x, (), axis)

    def log_softmax_jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(oracle.jacobian("log_softmax", x, axis), x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        vjp = functools.partial(oracle.vjp, "log_softmax")
        return _along_contiguous_rows(vjp, x, (cotangent,), axis)

    def log_softmax_jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        jvp = functools.partial(oracle.jvp, "log_softmax")
        return _along_contiguous_rows(jvp, x, (tangent,), axis)

    def log_softmax_vjp_derivative(
        self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int
    ) -> np.ndarray:
        derivative = functools.partial(oracle.vjp_derivative, "log_softmax")
        return _along_contiguous_rows(derivative, x, (cotangent, direction), axis)
