"""The NumPy reference adapter computes a large input some rows at a time: the same bits as the
whole input at once, on any axis, for rows shorter and longer than one piece."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.adapters import numpy_adapter
from conformance.adapters.numpy_adapter import ROWS_AT_ONCE_ELEMENTS, NumpyReference

# each method, and the vectors it takes after x
METHODS = [("softmax", 0), ("log_softmax", 0), ("vjp", 1), ("log_softmax_jvp", 1), ("vjp_derivative", 2)]
SHAPES = [
    ((300, 257), -1),  # many rows to a piece, the last piece short
    ((257, 300), 0),  # rows along a strided axis
    ((3, ROWS_AT_ONCE_ELEMENTS + 3), 1),  # rows longer than a piece: one at a time
    ((5, 4001, 4), 1),  # rows in the middle of three axes
]


@pytest.mark.parametrize(("shape", "axis"), SHAPES)
@pytest.mark.parametrize("dtype", ["float16", "float32"])
@pytest.mark.parametrize(("method", "vectors"), METHODS, ids=[method for method, _ in METHODS])
def test_rows_a_few_at_a_time_give_the_bits_of_the_whole_input(
    shape, axis, dtype, method, vectors, monkeypatch: pytest.MonkeyPatch
) -> None:
    rng = np.random.default_rng(7)
    x, *others = (rng.standard_normal(shape).astype(dtype) for _ in range(1 + vectors))
    assert x.size > ROWS_AT_ONCE_ELEMENTS
    pieces = getattr(NumpyReference(), method)(x, *others, axis)
    monkeypatch.setattr(numpy_adapter, "ROWS_AT_ONCE_ELEMENTS", x.size)  # the whole input in one piece
    whole = getattr(NumpyReference(), method)(x, *others, axis)
    assert pieces.shape == x.shape and pieces.dtype == x.dtype
    assert pieces.tobytes() == whole.tobytes(), "bit for bit"
