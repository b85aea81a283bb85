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


# The row on which the campaign (dev, every path, seed 5) saw torch's float32 log_softmax
# Jacobian entry -s_11 = -1.96636e-29 against the oracle's -1.96634e-29, 82 ulps off.
_DEEP_ROW = [4.727427005767822, -23.28021812438965, 7.359257221221924, 41.79676818847656, -3.9536402225494385,
             28.657291412353516, -30.283727645874023, 50.146480560302734, 53.57900619506836, -42.99675750732422,
             -60.93756866455078, -12.487983703613281]  # fmt: skip


def _log_softmax_jacobian_from_its_output(x: np.ndarray) -> np.ndarray:
    """The log_softmax Jacobian as a backward pass forms it, all in float32: the output
    y = (x - m) - log Z, rounded at each step, then J = I - 1 exp(y)^T."""
    shifted = (x - x.max()).astype(np.float32)
    y = (shifted - np.log(np.sum(np.exp(shifted), dtype=np.float32))).astype(np.float32)
    s = np.exp(y).astype(np.float32)
    return (np.eye(x.size, dtype=np.float32) - s[None, :]).astype(np.float32)


def test_a_log_softmax_jacobian_formed_from_its_rounded_output_is_within_the_bound():
    """exp of the computed log_softmax carries the rounding of d_j - log Z, u (|d_j| + log Z),
    besides the shift's: the bound of an entry -s_j allows both."""
    x = np.array(_DEEP_ROW, dtype=np.float32)
    got = _log_softmax_jacobian_from_its_output(x)
    exact = oracle.jacobian("log_softmax", x, 0)
    bound = tolerance.blocks_bound("log_softmax", x, 0, np.float32)
    error = np.abs(got.astype(np.float64) - exact)
    assert np.all(error <= bound.absolute), float(np.max(error / bound.absolute))
    rng = np.random.default_rng(11)
    for scale in (10.0, 30.0, 100.0):
        for _ in range(50):
            row = (rng.standard_normal(12) * scale).astype(np.float32)
            error = np.abs(
                _log_softmax_jacobian_from_its_output(row).astype(np.float64) - oracle.jacobian("log_softmax", row, 0)
            )
            assert np.all(error <= tolerance.blocks_bound("log_softmax", row, 0, np.float32).absolute), row.tolist()
