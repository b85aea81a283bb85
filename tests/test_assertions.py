"""Failure messages say what they saw: the worst element, and why it may be off."""

from __future__ import annotations

import numpy as np
import pytest

from conformance import tolerance
from conformance.assertions import assert_within_bound
from conformance.calls import ConformanceFailure
from conformance.reproducer import Call


def _fail(actual: np.ndarray, exact: np.ndarray, dtype: type) -> str:
    x = np.zeros(actual.shape, dtype=dtype)
    call = Call(spec="numpy", method="softmax", axis=-1, arrays={"x": x})
    bound = tolerance.Bound.of(np.zeros(actual.shape), np.abs(exact), dtype, actual.shape)
    with pytest.raises(ConformanceFailure) as caught:
        assert_within_bound("softmax", actual, exact, bound, "[here]", lambda: call.source("oracle"))
    return str(caught.value)


def test_a_subnormal_returned_as_zero_is_named_flush_to_zero():
    message = _fail(np.array([0.0, 0.5], dtype=np.float32), np.array([1.1253e-38, 0.5]), np.float32)
    assert "softmax[0] = 0, but the oracle gives 1.1253e-38, a float32 subnormal flushed to zero (err" in message


def test_a_normal_number_returned_as_zero_is_just_wrong():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([2e-38]), np.float32)
    assert "flushed" not in message and "softmax[0] = 0, but the oracle gives 2e-38 (err" in message
