"""The tolerance model's allowance for sums: strict for half precision, a running sum for wider types."""

from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

from conformance.truth import oracle, tolerance


def _running_sum_softmax(x: np.ndarray, dtype: type, lanes: int) -> np.ndarray:
    """softmax of a row with every operation in ``dtype`` and Z a running sum per lane (a
    SIMD kernel keeps one per vector lane, then adds the lanes; 1 lane is a plain loop)."""
    x = x.astype(dtype)
    e = np.exp(x - x.max()).astype(dtype)
    partial = np.zeros(lanes, dtype=dtype)
    for start in range(0, e.size, lanes):
        partial = (partial + e[start : start + lanes]).astype(dtype)
    total = dtype(0)
    for lane in partial:
        total = dtype(total + lane)
    return (e / total).astype(dtype)


def _exceeds(row: np.ndarray, got: np.ndarray, dtype: type) -> bool:
    exact = oracle.forward("softmax", row, -1, work=np.longdouble if dtype == np.float64 else np.float64)
    bound = tolerance.forward_bound("softmax", row, -1, dtype)
    return bool(np.any(np.abs(got.astype(np.float64) - exact.astype(np.float64)) > bound.absolute))


@pytest.mark.parametrize("lanes", [1, 8])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_running_sum_in_float32_or_float64_is_within_the_bound(dtype: type, lanes: int) -> None:
    rng = np.random.default_rng(0)
    for _ in range(5):
        row = rng.uniform(-8, 8, 4096).astype(dtype).astype(np.float64)
        assert not _exceeds(row, _running_sum_softmax(row, dtype, lanes), dtype)


def test_a_running_sum_in_float16_is_still_a_precision_bug() -> None:
    rng = np.random.default_rng(0)
    row = rng.uniform(-1, 1, 4096).astype(np.float16).astype(np.float64)
    assert _exceeds(row, _running_sum_softmax(row, np.float16, lanes=1), np.float16)


def test_the_allowances() -> None:
    assert tolerance.summation_allowance(2048) == 12
    for half in (np.float16, ml_dtypes.bfloat16):
        assert tolerance.accumulation_allowance(2048, half) == 12
    # 5 standard deviations of a random walk of 2048 roundings, far below the worst case 2047
    assert tolerance.accumulation_allowance(2048, np.float32) == pytest.approx(5 * np.sqrt(2048 / 3))
    # short rows: never more than the worst case, never less than the pairwise bound
    assert tolerance.accumulation_allowance(3, np.float64) == tolerance.summation_allowance(3) == 3
    assert tolerance.running_sum_allowance(5) == 4


@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_probabilities_rounded_below_the_normal_range_are_allowed_their_half_spacing(op: str) -> None:
    """A float64 implementation that forms s in float64: where s_i is subnormal (1e-317 here)
    it carries an absolute error of half a subnormal spacing, which the second-order products
    multiply by sum(g) (a VJP, by <g, s>). Half of float64's spacing is not a float64 itself,
    so the bound must not compute it first."""
    x = np.array([0.0, -729.5, -740.25])
    g, direction = np.array([5.0, -3.0, 2.0]) * 40, np.array([0.3, -0.7, 1.2])
    s = oracle.softmax(x, -1)  # float64, rounded to the subnormal grid
    ds = s * (direction - np.sum(s * direction))
    if op == "softmax":
        computed = ds * (g - np.sum(g * s)) - s * np.sum(g * ds)
    else:
        computed = -ds * np.sum(g)
    exact = oracle.vjp_derivative(op, x, g, direction, -1, work=np.longdouble)
    bound = tolerance.vjp_derivative_bound(op, x, g, direction, -1, np.float64)
    assert np.all(np.abs(computed.astype(np.longdouble) - exact) <= bound.absolute)
    assert bound.absolute[1] > 10 * tolerance.UNDERFLOW * 5e-324  # the half spacing, magnified, is in it
