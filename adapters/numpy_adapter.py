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


def _along_contiguous_rows(
    function: Callable[..., np.ndarray], x: np.ndarray, vectors: tuple[np.ndarray, ...], axis: int
) -> np.ndarray:
    """``function(x, *vectors, axis)`` computed on copies whose rows are contiguous and last,
    its result laid back along ``axis`` (a 0-d input is passed as it is)."""
    if x.ndim == 0:
        return function(x, *vectors, axis)
    axis = oracle.normalize_axis(axis, x.ndim)
    rows = [np.ascontiguousarray(np.moveaxis(array, axis, -1)) for array in (x, *vectors)]
    return np.moveaxis(function(*rows, -1), -1, axis)


class NumpyReference:
    name = "numpy"
    device = "cpu"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(_along_contiguous_rows(oracle.softmax, x, (), axis), x.dtype)

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(oracle.jacobian("softmax", x, axis), x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(
            _along_contiguous_rows(functools.partial(oracle.vjp, "softmax"), x, (cotangent,), axis), x.dtype
        )

    def jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(
            _along_contiguous_rows(functools.partial(oracle.jvp, "softmax"), x, (tangent,), axis), x.dtype
        )

    def vjp_derivative(self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int) -> np.ndarray:
        derivative = functools.partial(oracle.vjp_derivative, "softmax")
        return rounded_to(_along_contiguous_rows(derivative, x, (cotangent, direction), axis), x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(_along_contiguous_rows(oracle.log_softmax, x, (), axis), x.dtype)

    def log_softmax_jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return rounded_to(oracle.jacobian("log_softmax", x, axis), x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        vjp = functools.partial(oracle.vjp, "log_softmax")
        return rounded_to(_along_contiguous_rows(vjp, x, (cotangent,), axis), x.dtype)

    def log_softmax_jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        jvp = functools.partial(oracle.jvp, "log_softmax")
        return rounded_to(_along_contiguous_rows(jvp, x, (tangent,), axis), x.dtype)

    def log_softmax_vjp_derivative(
        self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int
    ) -> np.ndarray:
        derivative = functools.partial(oracle.vjp_derivative, "log_softmax")
        return rounded_to(_along_contiguous_rows(derivative, x, (cotangent, direction), axis), x.dtype)
