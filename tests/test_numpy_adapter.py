"""The NumPy reference adapter computes a large input some rows at a time: the same bits as the
whole input at once, on any axis, for rows shorter and longer than one piece."""

from __future__ import annotations

import functools

import numpy as np
import pytest

from conformance.adapters import numpy_adapter
from conformance.adapters.numpy_adapter import ROWS_AT_ONCE_ELEMENTS, NumpyReference
from conformance.truth import oracle
from conformance.truth.dtypes import rounded_to

# (method, oracle function, vectors it takes after x)
METHODS = [
    ("softmax", oracle.softmax, 0),
    ("log_softmax", oracle.log_softmax, 0),
    ("vjp", functools.partial(oracle.vjp, "softmax"), 1),
    ("log_softmax_jvp", functools.partial(oracle.jvp, "log_softmax"), 1),
    ("vjp_derivative", functools.partial(oracle.vjp_derivative, "softmax"), 2),
]
SHAPES = [
    ((300, 257), -1),  # many rows to a piece, the last piece short
    ((257, 300), 0),  # rows along a strided axis
    ((3, ROWS_AT_ONCE_ELEMENTS + 3), 1),  # rows longer than a piece: one at a time
    ((5, 4001, 4), 1),  # rows in the middle of three axes
]


@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize(("method", "function", "vectors"), METHODS, ids=[method for method, _, _ in METHODS])
def test_rows_a_few_at_a_time_give_the_bits_of_the_whole_input(shape, axis, dtype, method, function, vectors) -> None:
    rng = np.random.default_rng(7)
    x, *others = (rng.standard_normal(shape).astype(dtype) for _ in range(1 + vectors))
    assert x.size > ROWS_AT_ONCE_ELEMENTS
    pieces = getattr(NumpyReference(), method)(x, *others, axis)
    whole = rounded_to(numpy_adapter._whole(function, x, tuple(others), axis), x.dtype)
    assert pieces.shape == x.shape and pieces.dtype == x.dtype
    assert pieces.tobytes() == whole.tobytes(), "bit for bit"
