"""Failure messages say what they saw: the worst element, and why it may be off."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.checks.assertions import assert_within_bound
from conformance.checks.failures import ConformanceFailure
from conformance.checks.reproducer import Call
from conformance.truth import tolerance


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


def test_a_number_of_the_lowest_normal_binade_returned_as_zero_is_named_too():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([2e-38]), np.float32)
    assert "oracle gives 2e-38, a float32 number in the lowest normal binade flushed to zero (err" in message


def test_a_number_near_the_bottom_of_the_range_names_a_flushed_intermediate():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([3e-38]), np.float32)
    assert "gives 3e-38, near the bottom of the float32 range, where an intermediate flushed to zero shows" in message


def test_a_larger_number_returned_as_zero_is_just_wrong():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([1e-30]), np.float32)
    assert "flushed" not in message and "softmax[0] = 0, but the oracle gives 1e-30 (err" in message


def test_an_infinity_is_right_where_the_exact_value_rounds_to_it():
    """float16's largest number is 65504; round to nearest takes anything beyond 65520 to inf."""
    exact = np.array([-65520.7, -1.0])
    bound = tolerance.Bound.of(np.array([1.0, 1e-3]), np.abs(exact), np.float16, (2,))
    assert_within_bound("log_softmax", np.array([-np.inf, -1.0], np.float16), exact, bound, "", lambda: "")
    with pytest.raises(ConformanceFailure):  # -65000 is a float16 number, and -inf is wrong for it
        assert_within_bound("log_softmax", np.array([-np.inf, -1.0], np.float16), exact / 1.008, bound, "", lambda: "")


def test_an_error_near_the_smallest_normal_is_named_as_a_flushed_intermediate():
    message = _fail(np.array([-2.21306e-38], dtype=np.float32), np.array([-2.10839e-38]), np.float32)
    assert "near the bottom of the float32 range, where an intermediate flushed to zero shows (err" in message


def test_float16_values_near_its_bottom_are_not_blamed_on_a_flushed_intermediate():
    """0.0019 is within 64 smallest normals of float16's bottom, but float16 is computed in
    float32, which flushes only below 1.2e-38: the error there is the implementation's own."""
    message = _fail(np.array([0.00204468], dtype=np.float16), np.array([0.00191882]), np.float16)
    assert "flushed" not in message and "but the oracle gives 0.00191882 (err" in message
    message = _fail(np.array([0.0], dtype=np.float16), np.array([3e-5]), np.float16)
    assert "a float16 subnormal flushed to zero (err" in message  # what it did, whatever the cause


def test_a_chunked_comparison_takes_the_same_infinity_as_right():
    """One comparison for every size: a correctly rounded -inf passes a chunk as it passes a
    whole array, and a wrong one fails both; the worst element is named in the whole result."""
    from conformance.checks.assertions import Comparison

    exact = np.array([[-65520.7, -1.0]])
    bound = tolerance.Bound.of(np.array([[1.0, 1e-3]]), np.abs(exact), np.float16, (1, 2))
    chunk = Comparison("log_softmax")
    chunk.add(np.array([[-np.inf, -1.0]], np.float16), exact, bound, locate=lambda flat: (70000, flat))
    assert chunk.over == 0
    finite = np.array([[-65000.0, -1.0]])  # a float16 number: -inf is wrong for it
    chunk.add(np.array([[-np.inf, -1.0]], np.float16), finite, bound, locate=lambda flat: (70001, flat))
    assert chunk.over == 1 and chunk.worst is not None and chunk.worst.index == (70001, 0)
    with pytest.raises(ConformanceFailure, match=r"log_softmax\[70001, 0\] = -inf, but the oracle gives -65000"):
        chunk.conclude("[here]", lambda: "", np.float16)
