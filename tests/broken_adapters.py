"""Deliberately broken softmax implementations, each a plausible bug.

Each subclasses the correct :class:`conformance.adapters.numpy_adapter.NumpyReference` and breaks one
thing, so that a test that catches it is catching that bug and nothing else. ``CAUGHT_BY``
names the properties expected to flag each one.
"""

from __future__ import annotations

import numpy as np

from conformance import oracle
from conformance.adapters.numpy_adapter import NumpyReference


def _rows_last(x: np.ndarray, axis: int) -> np.ndarray:
    return np.moveaxis(x, axis, -1)


class FlattenedJacobian(NumpyReference):
    """The forum bug: one big diag(s) - s s^T over the flattened batch, reshaped.

    Rows get coupled by spurious -s_i s_j terms; its VJP is J^T g of that matrix."""

    name = "flattened-jacobian"

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        s = oracle.softmax(x, axis).reshape(-1)
        flat = np.diagflat(s) - np.outer(s, s)
        return flat.reshape(x.shape + x.shape).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        s = oracle.softmax(x, axis).reshape(-1)
        g = cotangent.astype(np.float64).reshape(-1)
        return (s * (g - g @ s)).reshape(x.shape).astype(x.dtype)


class IgnoresAxis(NumpyReference):
    """Always normalises over the last axis, whatever ``axis`` says."""

    name = "ignores-axis"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return super().softmax(x, -1)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return super().vjp(x, cotangent, -1)


class MiddleAxisReshape(NumpyReference):
    """Brings the axis last with a reshape instead of a transpose: right for the last axis
    (and for rank <= 2 first axes that happen to be square), wrong for middle axes."""

    name = "middle-axis-reshape"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            return super().softmax(x, axis)
        axis = axis % x.ndim
        n = x.shape[axis]
        moved_shape = np.moveaxis(x, axis, -1).shape
        rows = x.reshape(moved_shape)
        out = oracle.softmax(rows, -1) if n else rows.astype(np.float64)
        return out.reshape(x.shape).astype(x.dtype)


class NoMaxSubtraction(NumpyReference):
    """exp(x) / sum(exp(x)) in the input dtype: overflows to inf / inf = NaN for large logits."""

    name = "no-max-subtraction"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x.astype(np.float32) if x.dtype == np.float16 else x).astype(x.dtype)
            return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)


class VjpWithoutInnerProduct(NumpyReference):
    """VJP taken as s * g: the - s <g, s> term (from the off-diagonal -s_i s_j) is forgotten."""

    name = "vjp-without-inner-product"

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return (oracle.softmax(x, axis) * cotangent).astype(x.dtype)


class VjpReducesWholeTensor(NumpyReference):
    """<g, s> summed over the whole tensor instead of per row."""

    name = "vjp-reduces-whole-tensor"

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        s = oracle.softmax(x, axis)
        return (s * (cotangent - np.sum(cotangent * s))).astype(x.dtype)


class VjpUsesNeighbouringRow(NumpyReference):
    """Rows mixed up in a batch: the VJP pairs each cotangent row with the next row's softmax."""

    name = "vjp-uses-neighbouring-row"

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim < 2:
            return super().vjp(x, cotangent, axis)
        batch_axis = 0 if axis % x.ndim else 1
        s = np.roll(oracle.softmax(x, axis), 1, axis=batch_axis)
        g = cotangent.astype(np.float64)
        return (s * (g - np.sum(g * s, axis=axis, keepdims=True))).astype(x.dtype)


class AsymmetricJacobian(NumpyReference):
    """J_ij = s_i (d_ij - s_i): a broadcasting slip that squares s_i instead of s_i s_j."""

    name = "asymmetric-jacobian"

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            return super().jacobian(x, axis)
        s = np.moveaxis(oracle.softmax(x, axis), axis, -1)
        n = s.shape[-1]
        wrong = s[..., :, None] * np.eye(n) - s[..., :, None] * s[..., :, None]
        blocks = np.moveaxis(np.broadcast_to(wrong, s.shape + (n,)), -2, axis)
        return oracle.jacobian_from_blocks(blocks, axis).astype(x.dtype)


class TransposedLogSoftmaxJacobian(NumpyReference):
    """log_softmax's J = I - 1 s^T is not symmetric; this returns I - s 1^T."""

    name = "transposed-log-softmax-jacobian"

    def log_softmax_jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        full = oracle.jacobian("log_softmax", x, axis)
        rank = x.ndim
        return np.transpose(full, list(range(rank, 2 * rank)) + list(range(rank))).astype(x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return oracle.jvp("log_softmax", x, cotangent, axis).astype(x.dtype)


class Float32InsideFloat64(NumpyReference):
    """Computes in float32 whatever the input: float64 results carry float32 error."""

    name = "float32-inside-float64"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return oracle.softmax(x.astype(np.float32), axis, work=np.float32).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return oracle.vjp("softmax", x.astype(np.float32), cotangent, axis, work=np.float32).astype(x.dtype)


class SequentialHalfSum(NumpyReference):
    """Sums the exponentials one after another in the input dtype (float16 stays float16):
    the running sum's rounding error grows with the row length."""

    name = "sequential-half-sum"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().softmax(x, axis)
        rows = np.moveaxis(x, axis, -1)
        top = np.max(rows, axis=-1, keepdims=True)
        with np.errstate(invalid="ignore"):
            e = np.exp((rows - top).astype(np.float32)).astype(x.dtype)
        total = np.add.accumulate(e, axis=-1, dtype=x.dtype)[..., -1:]
        return np.moveaxis((e.astype(np.float32) / total.astype(np.float32)).astype(x.dtype), -1, axis)


class MeanShift(NumpyReference):
    """Shifts by the row mean instead of the max: fine until a -inf mask makes the mean -inf,
    and x - mean is then NaN or +inf."""

    name = "mean-shift"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(invalid="ignore", over="ignore"):
            wide = x.astype(np.float64)
            e = np.exp(wide - np.mean(wide, axis=axis, keepdims=True))
            return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        s = self.softmax(x, axis).astype(np.float64)
        g = cotangent.astype(np.float64)
        with np.errstate(invalid="ignore"):
            return (s * (g - np.sum(g * s, axis=axis, keepdims=True))).astype(x.dtype)


class CrashesOnEmptyAxis(NumpyReference):
    """Takes the max without an initial value: an empty axis raises ValueError."""

    name = "crashes-on-empty-axis"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        np.max(x, axis=axis)
        return super().softmax(x, axis)


class EpsilonInDenominator(NumpyReference):
    """Divides by sum + 1e-12 "for safety": a length-1 axis no longer gives exactly 1."""

    name = "epsilon-in-denominator"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        e = np.exp(_shift(x, axis))
        return (e / (np.sum(e, axis=axis, keepdims=True) + 1e-12)).astype(x.dtype)


def _shift(x: np.ndarray, axis: int) -> np.ndarray:
    wide = x.astype(np.float64)
    with np.errstate(invalid="ignore"):
        return wide - np.max(wide, axis=axis, keepdims=True, initial=-np.inf)


class DtypeDrift(NumpyReference):
    """Returns float32 for half-precision input (a forgotten cast back)."""

    name = "dtype-drift"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        result = super().softmax(x, axis)
        return result.astype(np.float32) if x.dtype.itemsize == 2 else result


class ForgetsTheSimdTail(NumpyReference):
    """A kernel that sums each row's exponentials 8 lanes at a time and forgets the remainder
    loop: rows of 8k + r elements (r > 0, at least one full vector) leave their last r terms
    out of the denominator. Shorter rows take a scalar path that is right."""

    name = "forgets-the-simd-tail"
    LANES = 8

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0 or x.shape[axis] <= self.LANES:
            return super().softmax(x, axis)
        rows = np.moveaxis(x.astype(np.float64), axis, -1)
        e = np.exp(rows - np.max(rows, axis=-1, keepdims=True, initial=-np.inf))
        full = rows.shape[-1] - rows.shape[-1] % self.LANES
        total = np.sum(e[..., :full], axis=-1, keepdims=True)
        return np.moveaxis(e / total, -1, axis).astype(x.dtype)


class ShiftsItsInputInPlace(NumpyReference):
    """Subtracts the row maximum from the caller's array in place (x -= max): softmax is
    shift-invariant, so every value it returns is right, and the caller's logits are changed."""

    name = "shifts-its-input-in-place"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.size and x.flags.writeable:
            x -= np.max(x, axis=axis, keepdims=True)
        return super().softmax(x, axis)


class ReusesItsOutputBuffer(NumpyReference):
    """Returns a workspace kept per (method, shape, dtype), which its next call of that shape
    overwrites: every result is right when returned, and wrong once the caller calls again."""

    name = "reuses-its-output-buffer"

    def __init__(self) -> None:
        self._workspace: dict[tuple[str, tuple[int, ...], str], np.ndarray] = {}

    def _into_workspace(self, method: str, result: np.ndarray) -> np.ndarray:
        key = (method, result.shape, result.dtype.str)
        buffer = self._workspace.setdefault(key, np.empty_like(result))
        buffer[...] = result
        return buffer

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return self._into_workspace("softmax", super().softmax(x, axis))

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return self._into_workspace("vjp", super().vjp(x, cotangent, axis))


class ShiftsByTheBatchMaximum(NumpyReference):
    """Subtracts the maximum of the whole batch instead of each row's: right while the rows
    have similar scales, 0/0 = NaN for a row far below the largest."""

    name = "shifts-by-the-batch-maximum"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        wide = x.astype(np.float64)
        with np.errstate(invalid="ignore", under="ignore"):
            e = np.exp(wide - np.max(wide, initial=-np.inf))
            return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)


class RejectsZeroDimensionalInput(NumpyReference):
    """Its Jacobian assumes at least one axis: a 0-d input raises."""

    name = "rejects-zero-dimensional-input"

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            raise ValueError("softmax needs at least one axis")
        return super().jacobian(x, axis)


# broken adapter -> (dtypes to run it on, properties any of which must flag it)
CAUGHT_BY: dict[type, tuple[str, tuple[str, ...]]] = {
    FlattenedJacobian: ("float64", ("jacobian_is_block_diagonal", "jacobian_accuracy", "vjp_accuracy")),
    IgnoresAxis: ("float32", ("forward_accuracy", "vjp_accuracy")),
    MiddleAxisReshape: ("float32", ("forward_accuracy", "batch_equals_rows")),
    NoMaxSubtraction: ("float32", ("forward_accuracy",)),
    VjpWithoutInnerProduct: ("float32", ("vjp_accuracy", "vjp_of_ones_is_zero")),
    VjpReducesWholeTensor: ("float32", ("vjp_accuracy", "batch_equals_rows")),
    VjpUsesNeighbouringRow: ("float32", ("vjp_accuracy", "batch_equals_rows")),
    AsymmetricJacobian: ("float32", ("jacobian_accuracy", "vjp_equals_jacobian_transpose")),
    TransposedLogSoftmaxJacobian: ("float32", ("jacobian_accuracy", "vjp_accuracy")),
    Float32InsideFloat64: ("float64", ("forward_accuracy", "vjp_accuracy")),
    SequentialHalfSum: ("float16", ("long_row_accuracy",)),
    MeanShift: ("float32", ("masked_places_are_exact",)),
    CrashesOnEmptyAxis: ("float32", ("empty_inputs",)),
    EpsilonInDenominator: ("float64", ("length_one_axis_is_exact",)),
    DtypeDrift: ("float16", ("shapes_and_dtypes",)),
    ForgetsTheSimdTail: ("float32", ("forward_accuracy",)),
    ShiftsItsInputInPlace: ("float32", ("forward_accuracy",)),
    ReusesItsOutputBuffer: ("float32", ("results_are_not_reused",)),
    ShiftsByTheBatchMaximum: ("float32", ("forward_accuracy", "batch_equals_rows")),
    RejectsZeroDimensionalInput: ("float64", ("zero_dimensional_input",)),
}
