"""Deliberately broken softmax implementations, each a plausible bug.

Each subclasses the correct :class:`conformance.adapters.numpy_adapter.NumpyReference` and breaks one
thing, so that a test that catches it is catching that bug and nothing else. ``CAUGHT_BY``
names the properties expected to flag each one.
"""

from __future__ import annotations

import ml_dtypes
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
    have similar scales, 0/0 = NaN for a row far below the largest, and NaN in every row once
    one row holds NaN or +inf (which poison_stays_in_its_row draws in every profile)."""

    name = "shifts-by-the-batch-maximum"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        wide = x.astype(np.float64)
        with np.errstate(invalid="ignore", under="ignore"):
            e = np.exp(wide - np.max(wide, initial=-np.inf))
            return (e / np.sum(e, axis=axis, keepdims=True)).astype(x.dtype)


def _rows(x: np.ndarray, axis: int) -> tuple[np.ndarray, tuple[int, ...]]:
    """x as (rows, length), rows in C order of the other axes, and the shape to put it back."""
    moved = np.moveaxis(x, axis, -1)
    return moved.reshape(-1, moved.shape[-1]), moved.shape


def _from_rows(rows: np.ndarray, moved_shape: tuple[int, ...], axis: int, dtype: np.dtype) -> np.ndarray:
    return np.moveaxis(rows.reshape(moved_shape), -1, axis).astype(dtype)


class GridWrapsPast65535Rows(NumpyReference):
    """A kernel that launches one block per row on a grid of at most 65535 blocks and lets the
    row index wrap: row 65535 gets row 0's result, row 65536 row 1's, and so on."""

    name = "grid-wraps-past-65535-rows"
    GRID = 65535

    def _wrapped(self, result: np.ndarray, axis: int) -> np.ndarray:
        if result.ndim == 0 or result.size == 0:
            return result
        rows, shape = _rows(result, axis)
        wrapped = rows[np.arange(rows.shape[0]) % self.GRID]
        return _from_rows(wrapped, shape, axis, result.dtype)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return self._wrapped(super().softmax(x, axis), axis)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return self._wrapped(super().vjp(x, cotangent, axis), axis)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return self._wrapped(super().log_softmax(x, axis), axis)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return self._wrapped(super().log_softmax_vjp(x, cotangent, axis), axis)


class SixteenBitRowCounter(NumpyReference):
    """Counts a row's elements in a 16-bit counter: the sums over a row (the normaliser, and
    the VJP's inner product) stop after its first 65536 elements."""

    name = "sixteen-bit-row-counter"
    COUNTER = 65536

    def _sums(self, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
        rows, shape = _rows(x.astype(np.float64), axis)
        with np.errstate(invalid="ignore"):
            e = np.exp(rows - np.max(rows, axis=-1, keepdims=True, initial=-np.inf))
        total = np.sum(e[:, : self.COUNTER], axis=-1, keepdims=True)
        return e / total, rows, shape

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            return super().softmax(x, axis)
        s, _, shape = self._sums(x, axis)
        return _from_rows(s, shape, axis, x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            return super().vjp(x, cotangent, axis)
        s, _, shape = self._sums(x, axis)
        g, _ = _rows(cotangent.astype(np.float64), axis)
        inner = np.sum((g * s)[:, : self.COUNTER], axis=-1, keepdims=True)
        return _from_rows(s * (g - inner), shape, axis, x.dtype)


class MergesTheLastTwoSidesOfRank5(NumpyReference):
    """Supports up to rank 4: a rank-5 input has its last two sides merged into one, so a
    softmax over either of them runs over both."""

    name = "merges-the-last-two-sides-of-rank-5"

    def _merged(self, x: np.ndarray, axis: int) -> tuple[np.ndarray, int]:
        if x.ndim != 5:
            return x, axis
        axis %= 5
        return x.reshape(x.shape[:3] + (x.shape[3] * x.shape[4],)), min(axis, 3)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        merged, merged_axis = self._merged(x, axis)
        return super().softmax(merged, merged_axis).reshape(x.shape)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        merged, merged_axis = self._merged(x, axis)
        return super().vjp(merged, cotangent.reshape(merged.shape), merged_axis).reshape(x.shape)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        merged, merged_axis = self._merged(x, axis)
        return super().log_softmax(merged, merged_axis).reshape(x.shape)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        merged, merged_axis = self._merged(x, axis)
        return super().log_softmax_vjp(merged, cotangent.reshape(merged.shape), merged_axis).reshape(x.shape)


class SharesAScratchBufferAcrossCalls(NumpyReference):
    """Keeps one float64 workspace per shape and dtype, reused by every call: right from one
    thread, and from several at once one caller's logits get into another's result."""

    name = "shares-a-scratch-buffer-across-calls"

    def __init__(self) -> None:
        self._scratch: dict[tuple[tuple[int, ...], str], np.ndarray] = {}

    def _workspace(self, x: np.ndarray) -> np.ndarray:
        return self._scratch.setdefault((x.shape, x.dtype.str), np.empty(x.shape, np.float64))

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().softmax(x, axis)
        work = self._workspace(x)
        work[...] = x
        work -= np.max(work, axis=axis, keepdims=True)
        np.exp(work, out=work)
        work /= np.sum(work, axis=axis, keepdims=True)
        return work.astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().vjp(x, cotangent, axis)
        work = self._workspace(x)
        work[...] = self.softmax(x, axis)
        inner = np.sum(cotangent * work, axis=axis, keepdims=True)
        work *= cotangent - inner
        return work.astype(x.dtype)


class PlanCacheKeyedWithoutAxis(NumpyReference):
    """Caches a plan per (method, shape, dtype), and the plan holds the axis of the first call:
    a later call of the same shape over another axis runs over the first one."""

    name = "plan-cache-keyed-without-axis"

    def __init__(self) -> None:
        self._plans: dict[tuple[str, tuple[int, ...], str], int] = {}

    def _axis(self, method: str, x: np.ndarray, axis: int) -> int:
        return self._plans.setdefault((method, x.shape, x.dtype.str), axis)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return super().softmax(x, self._axis("softmax", x, axis))

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return super().vjp(x, cotangent, self._axis("vjp", x, axis))

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return super().log_softmax(x, self._axis("log_softmax", x, axis))

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return super().log_softmax_vjp(x, cotangent, self._axis("log_softmax_vjp", x, axis))


class LengthOneAxisWrongOnWholeVectors(NumpyReference):
    """Over an axis of length 1, rows are done 8 at a time in a vector path that divides by a
    sum rounded up by one ulp (the last rows, fewer than 8, take a scalar path that is exact):
    one ulp below 1 instead of exactly 1 in whole vectors of 8 rows, and a gradient that is
    not exactly 0 there."""

    name = "length-one-axis-wrong-on-whole-vectors"
    LANES = 8

    def _vector_rows(self, x: np.ndarray, axis: int) -> np.ndarray | None:
        """The rows (in x's moved layout) the vector path takes, or None off a length-1 axis."""
        if x.ndim == 0 or x.size == 0 or x.shape[axis] != 1:
            return None
        rows = x.size
        whole = rows - rows % self.LANES
        mask = np.zeros(rows, dtype=bool)
        mask[:whole] = True
        return mask

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        result = super().softmax(x, axis)
        vector = self._vector_rows(x, axis)
        if vector is None:
            return result
        below_one = np.nextafter(np.ones((), x.dtype), np.zeros((), x.dtype))
        rows, shape = _rows(result, axis)
        rows[vector] = below_one
        return _from_rows(rows, shape, axis, x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        result = super().vjp(x, cotangent, axis)
        vector = self._vector_rows(x, axis)
        if vector is None:
            return result
        s, shape = _rows(self.softmax(x, axis).astype(np.float64), axis)
        g, _ = _rows(cotangent.astype(np.float64), axis)
        rows, _ = _rows(result, axis)
        rows[vector] = (s * (g - g * s))[vector]  # the vector path's s(1 - s) g, with s one ulp below 1
        return _from_rows(rows, shape, axis, x.dtype)


class FlushesSubnormalsToZero(NumpyReference):
    """Runs with flush-to-zero on (a processor's FTZ mode, a GPU's default for float32): every
    probability below the dtype's smallest normal comes back 0; the rest is right."""

    name = "flushes-subnormals-to-zero"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        result = super().softmax(x, axis)
        subnormal = np.abs(result.astype(np.float64)) < float(ml_dtypes.finfo(x.dtype).smallest_normal)
        return np.where(subnormal, 0, result).astype(x.dtype)


class LogOfRoundedSoftmax(NumpyReference):
    """log_softmax as log(softmax(x)), the softmax rounded to the dtype first: a probability
    that underflows gives -inf instead of a finite log, a subnormal one loses its digits."""

    name = "log-of-rounded-softmax"

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        with np.errstate(divide="ignore"):
            return np.log(self.softmax(x, axis).astype(np.float64)).astype(x.dtype)


class LogSoftmaxCancelsAtLargeLogits(NumpyReference):
    """log_softmax as x - logsumexp(x) in the dtype: at large logits the two terms are large
    and close, and what is left of their difference is logsumexp's rounding to the dtype."""

    name = "log-softmax-cancels-at-large-logits"

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            return super().log_softmax(x, axis)
        wide = x.astype(np.float64)
        with np.errstate(invalid="ignore", divide="ignore"):
            top = np.max(wide, axis=axis, keepdims=True, initial=-np.inf)
            logsumexp = (top + np.log(np.sum(np.exp(wide - top), axis=axis, keepdims=True))).astype(x.dtype)
            return (x - logsumexp).astype(x.dtype)


def _in_memory_order(array: np.ndarray) -> np.ndarray:
    """``array`` as a kernel that walks every axis up from its lowest address sees it:
    reversed along each axis whose stride is negative."""
    reversed_axes = tuple(axis for axis, stride in enumerate(array.strides) if stride < 0)
    return np.flip(array, reversed_axes) if reversed_axes else array


class IgnoresNegativeStrides(NumpyReference):
    """A C kernel that takes |stride| of each axis and walks the buffer up from its lowest
    address: a reversed view (a negative stride) is read as if it were not reversed, and the
    result is written in that same memory order, so a reversed row comes back reversed and a
    batch reversed along its rows comes back with its rows swapped."""

    name = "ignores-negative-strides"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return super().softmax(_in_memory_order(x), axis)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return super().log_softmax(_in_memory_order(x), axis)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return super().vjp(_in_memory_order(x), _in_memory_order(cotangent), axis)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return super().log_softmax_vjp(_in_memory_order(x), _in_memory_order(cotangent), axis)


class NaNOnFullyMaskedBlock(NumpyReference):
    """A blocked softmax, the way split-row kernels combine partial results: each whole block
    of BLOCK places along the row gets its own maximum m_b and sum l_b = sum exp(x - m_b), the
    places past the last whole block are added on against the row maximum m, and
    Z = sum_b l_b exp(m_b - m) + sum_tail exp(x - m). A block that is -inf throughout has
    m_b = -inf, and exp(-inf - (-inf)) = NaN spreads through Z over the whole row. A padding
    or causal mask as long as a block makes one; scattered masks almost never do."""

    name = "nan-on-fully-masked-block"
    BLOCK = 64

    def _shifted_and_log_total(self, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        """x - m and log Z, rows last, in float64."""
        rows = np.moveaxis(x.astype(np.float64), axis, -1)
        whole = rows.shape[-1] // self.BLOCK * self.BLOCK
        blocks = rows[..., :whole].reshape(rows.shape[:-1] + (-1, self.BLOCK))
        tail = rows[..., whole:]
        with np.errstate(invalid="ignore", divide="ignore"):
            block_max = np.max(blocks, axis=-1, initial=-np.inf)
            block_sum = np.sum(np.exp(blocks - block_max[..., None]), axis=-1)
            top = np.max(rows, axis=-1, keepdims=True)
            total = np.sum(block_sum * np.exp(block_max - top), axis=-1, keepdims=True)
            total += np.sum(np.exp(tail - top), axis=-1, keepdims=True)
            return rows - top, np.log(total)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().softmax(x, axis)
        shifted, log_total = self._shifted_and_log_total(x, axis)
        with np.errstate(invalid="ignore"):
            return np.moveaxis(np.exp(shifted - log_total), -1, axis).astype(x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().log_softmax(x, axis)
        shifted, log_total = self._shifted_and_log_total(x, axis)
        with np.errstate(invalid="ignore"):
            return np.moveaxis(shifted - log_total, -1, axis).astype(x.dtype)


class LossScaledSumOverflows(NumpyReference):
    """log_softmax's VJP g - s * sum(g) with sum(g) kept in the cotangent's dtype, as a kernel
    that stores its row sums in the input type: under a mixed-precision loss scale (2**8 to
    2**16) a float16 row sum passes 65504 and is inf, and the gradient inf (NaN where s is 0)
    where the exact one is finite."""

    name = "loss-scaled-sum-overflows"

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0:
            return super().log_softmax_vjp(x, cotangent, axis)
        with np.errstate(over="ignore", invalid="ignore"):
            total = np.sum(cotangent, axis=axis, keepdims=True, dtype=x.dtype)
            s = oracle.softmax(x, axis)
            return (cotangent.astype(np.float64) - s * total.astype(np.float64)).astype(x.dtype)


class NaNSpreadsAcrossTheBatch(NumpyReference):
    """A fast path for batches whose logits span less than LIMIT (no row can underflow below
    the batch's maximum) shifts every row by that one maximum. Its test is written
    ``not spread > LIMIT``, which a NaN anywhere passes, and the NaN maximum then makes every
    row NaN. The shift cancels exactly otherwise: this computes each row exactly and lets only
    the shift's NaN through, so it is right on every input without NaN."""

    name = "nan-spreads-across-the-batch"
    LIMIT = 30.0

    def _cancelled_shift(self, x: np.ndarray) -> float:
        """shift - shift for the fast path's shift: 0, or NaN where that shift is NaN."""
        if x.size == 0:
            return 0.0
        wide = x.astype(np.float64)
        with np.errstate(invalid="ignore"):
            spread = np.max(wide) - np.min(wide)
            shift = np.max(wide) if not spread > self.LIMIT else 0.0
            return float(shift - shift)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return (super().softmax(x, axis) * np.exp(self._cancelled_shift(x))).astype(x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return (super().log_softmax(x, axis) + self._cancelled_shift(x)).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return (super().vjp(x, cotangent, axis) * np.exp(self._cancelled_shift(x))).astype(x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return (super().log_softmax_vjp(x, cotangent, axis) + self._cancelled_shift(x)).astype(x.dtype)


class MultiBlockSkipsMaxShift(NumpyReference):
    """Inputs of more than ROWS rows take a multi-block kernel that forgot the max shift:
    exp(x) / sum(exp(x)) in the dtype, which overflows to inf / inf = NaN once a logit passes
    log of the dtype's largest number (11.1 in float16, 88.7 in bfloat16 and float32, 709.8 in
    float64). Fewer rows take the single-block kernel, which is right."""

    name = "multi-block-skips-max-shift"
    ROWS = 4096

    def _multi_block(self, x: np.ndarray, axis: int) -> bool:
        return x.ndim > 0 and x.shape[axis] > 0 and x.size // x.shape[axis] > self.ROWS

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if not self._multi_block(x, axis):
            return super().softmax(x, axis)
        with np.errstate(over="ignore", invalid="ignore"):
            e = np.exp(x)
            return (e / np.sum(e, axis=axis, keepdims=True, dtype=x.dtype)).astype(x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if not self._multi_block(x, axis):
            return super().log_softmax(x, axis)
        with np.errstate(over="ignore", invalid="ignore"):
            return (x - np.log(np.sum(np.exp(x), axis=axis, keepdims=True, dtype=x.dtype))).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if not self._multi_block(x, axis):
            return super().vjp(x, cotangent, axis)
        s = self.softmax(x, axis).astype(np.float64)
        g = cotangent.astype(np.float64)
        with np.errstate(invalid="ignore"):
            return (s * (g - np.sum(g * s, axis=axis, keepdims=True))).astype(x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if not self._multi_block(x, axis):
            return super().log_softmax_vjp(x, cotangent, axis)
        s = self.softmax(x, axis).astype(np.float64)
        g = cotangent.astype(np.float64)
        with np.errstate(invalid="ignore"):
            return (g - s * np.sum(g, axis=axis, keepdims=True)).astype(x.dtype)


class HalfRowSumInHalf(NumpyReference):
    """Rows longer than LONG take a two-pass kernel that keeps each row's sum(exp(x - max))
    between its passes in a buffer of the input's dtype. In float16 a sum past 65504 (more than
    65504 near-equal logits) is kept as inf, and the row comes out 0 (log_softmax: -inf).
    Shorter rows, and wider dtypes, are right (a kept sum is off by half an ulp at most)."""

    name = "half-row-sum-in-half"
    LONG = 65536

    def _rows_and_kept_sums(self, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray] | None:
        """x - max and the sums as kept, in float64, on the long-row path; None off it."""
        if x.ndim == 0 or x.shape[axis] <= self.LONG:
            return None
        wide = x.astype(np.float64)
        with np.errstate(invalid="ignore"):
            shifted = wide - np.max(wide, axis=axis, keepdims=True)
        total = np.sum(np.exp(shifted), axis=axis, keepdims=True)
        with np.errstate(over="ignore"):
            return shifted, total.astype(x.dtype).astype(np.float64)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        found = self._rows_and_kept_sums(x, axis)
        if found is None:
            return super().softmax(x, axis)
        shifted, kept = found
        return (np.exp(shifted) / kept).astype(x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        found = self._rows_and_kept_sums(x, axis)
        if found is None:
            return super().log_softmax(x, axis)
        shifted, kept = found
        return (shifted - np.log(kept)).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if self._rows_and_kept_sums(x, axis) is None:
            return super().vjp(x, cotangent, axis)
        s = self.softmax(x, axis).astype(np.float64)
        g = cotangent.astype(np.float64)
        return (s * (g - np.sum(g * s, axis=axis, keepdims=True))).astype(x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        if self._rows_and_kept_sums(x, axis) is None:
            return super().log_softmax_vjp(x, cotangent, axis)
        s = self.softmax(x, axis).astype(np.float64)
        g = cotangent.astype(np.float64)
        return (g - s * np.sum(g, axis=axis, keepdims=True)).astype(x.dtype)


class PlanCachedByElementSize(NumpyReference):
    """Caches a plan per (method, shape, axis, element size), and a plan decodes elements as
    the dtype of the call that made it: float16 and bfloat16 (2 bytes each) share plans, so the
    second of them to arrive with a shape has its bits read as the first's, and its answer's
    bits written back the same way. Right until both half types meet one shape in a process."""

    name = "plan-cached-by-element-size"

    def __init__(self) -> None:
        self._plans: dict[tuple[str, tuple[int, ...], int, int], np.dtype] = {}

    def _planned(self, method: str, x: np.ndarray, axis: int, *vectors: np.ndarray) -> np.ndarray:
        plan = self._plans.setdefault((method, x.shape, axis, x.dtype.itemsize), x.dtype)
        decoded = [array.copy().view(plan) for array in (x, *vectors)]
        return getattr(super(), method)(*decoded, axis).copy().view(x.dtype)

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return self._planned("softmax", x, axis)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return self._planned("vjp", x, axis, cotangent)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return self._planned("log_softmax", x, axis)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return self._planned("log_softmax_vjp", x, axis, cotangent)


class AcceptsZeroDimensionalOnlyForward(NumpyReference):
    """softmax takes a 0-d input as one row of length 1 (1.0, torch's convention), but the VJP
    and the Jacobian, written rows-last, first move the axis to the end, which NumPy refuses on
    a 0-d array: they raise on the very input softmax answered."""

    name = "accepts-zero-dimensional-only-forward"

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        _rows_last(x, axis)
        return super().vjp(x, cotangent, axis)

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        _rows_last(x, axis)
        return super().jacobian(x, axis)


class _SummedInPieces(NumpyReference):
    """softmax and log_softmax with each row's sum(exp(x - max)) added up by :meth:`_total`, in
    float32 (float64 for float64 inputs), as a kernel does: right within the bound whatever the
    order of the sum, and other bits for another order. The derivatives are the reference's."""

    def _total(self, e: np.ndarray) -> np.ndarray:
        return np.sum(e, axis=-1, keepdims=True)

    def _shifted_and_total(self, x: np.ndarray, axis: int) -> tuple[np.ndarray, np.ndarray]:
        work = np.float64 if x.dtype == np.float64 else np.float32
        rows = np.ascontiguousarray(np.moveaxis(x, axis, -1), dtype=work)  # along a strided axis NumPy sums in order
        with np.errstate(invalid="ignore"):
            shifted = rows - np.max(rows, axis=-1, keepdims=True)
        return shifted, self._total(np.exp(shifted))

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().softmax(x, axis)
        shifted, total = self._shifted_and_total(x, axis)
        with np.errstate(invalid="ignore"):
            return np.moveaxis(np.exp(shifted) / total, -1, axis).astype(x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        if x.ndim == 0 or x.size == 0:
            return super().log_softmax(x, axis)
        shifted, total = self._shifted_and_total(x, axis)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.moveaxis(shifted - np.log(total), -1, axis).astype(x.dtype)


def _in_pieces(e: np.ndarray, starts: list[int], order: np.ndarray | None = None) -> np.ndarray:
    """The row sums of ``e`` (rows last), each piece from one of ``starts`` to the next summed
    alone, then the pieces added one after another, in ``order`` (by default as they come)."""
    bounds = [*starts, e.shape[-1]]
    parts = [np.sum(e[..., bounds[k] : bounds[k + 1]], axis=-1, keepdims=True) for k in range(len(starts))]
    total = np.zeros_like(parts[0])
    for k in range(len(parts)) if order is None else order:
        total = total + parts[k]
    return total


def _halves(e: np.ndarray, pieces: int = 2) -> np.ndarray:
    """The row sums of ``e`` in ``pieces`` contiguous pieces of (nearly) equal length."""
    return _in_pieces(e, [e.shape[-1] * k // pieces for k in range(pieces)])


class SplitsSmallBatchSums(_SummedInPieces):
    """A batch of fewer than ROWS rows has too few rows to keep every core busy, so each row's
    sum is split in two halves, summed separately and then added; larger batches sum each row
    whole. Both are accurate, and a row alone gets other bits than the same row in a large
    batch. It promises batch invariance and determinism all the same."""

    name = "splits-small-batch-sums"
    bitwise = ("batch", "determinism")
    ROWS = 8

    def _total(self, e: np.ndarray) -> np.ndarray:
        return _halves(e) if e.size // max(e.shape[-1], 1) < self.ROWS else super()._total(e)


class SplitsSumsPastTheGrid(_SummedInPieces):
    """A batch of more than GRID_ROWS rows needs a second launch loop, whose kernel sums each
    row in two halves; smaller batches sum each row whole. Only a batch past 65535 rows (the
    pool's seeded ``many_rows`` input) gives a row other bits than the row alone. It promises
    batch invariance."""

    name = "splits-sums-past-the-grid"
    bitwise = ("batch",)
    GRID_ROWS = 65535

    def _total(self, e: np.ndarray) -> np.ndarray:
        return _halves(e) if e.size // max(e.shape[-1], 1) > self.GRID_ROWS else super()._total(e)


class ShufflesLongRowChunks(_SummedInPieces):
    """Rows of LONG or more elements are summed in chunks of CHUNK, whose partial sums are added
    in the order their threads finish: a new order on every call. The same call gives other
    bits from one call to the next. It promises batch invariance and determinism."""

    name = "shuffles-long-row-chunks"
    bitwise = ("batch", "determinism")
    LONG = 256
    CHUNK = 64

    def _total(self, e: np.ndarray) -> np.ndarray:
        n = e.shape[-1]
        if n < self.LONG:
            return super()._total(e)
        starts = list(range(0, n, self.CHUNK))
        return _in_pieces(e, starts, np.random.default_rng().permutation(len(starts)))


class ThreadCountSplitsRowSums(_SummedInPieces):
    """Sums each row in as many pieces as it has threads (its ``use_threads``, called where a
    process starts on a set number of them; 1 until then), one piece a thread: one thread and
    two give other bits. It promises batch invariance, determinism and thread invariance."""

    name = "thread-count-splits-row-sums"
    bitwise = ("batch", "determinism", "threads")
    threads = 1

    def use_threads(self, count: int) -> None:
        self.threads = count

    def _total(self, e: np.ndarray) -> np.ndarray:
        return _halves(e, min(self.threads, e.shape[-1])) if self.threads > 1 else super()._total(e)


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
    ShiftsByTheBatchMaximum: ("float32", ("forward_accuracy", "batch_equals_rows", "poison_stays_in_its_row")),
    GridWrapsPast65535Rows: ("float32", ("many_rows",)),
    SixteenBitRowCounter: ("float32", ("vocabulary_rows",)),
    MergesTheLastTwoSidesOfRank5: ("float16,bfloat16,float32,float64", ("every_axis_in_turn",)),
    SharesAScratchBufferAcrossCalls: ("float32", ("concurrent_calls_agree",)),
    PlanCacheKeyedWithoutAxis: ("float32", ("every_axis_in_turn", "single_row_and_column")),
    LengthOneAxisWrongOnWholeVectors: ("float32", ("length_one_axis_is_exact",)),
    FlushesSubnormalsToZero: ("float32", ("forward_accuracy",)),
    LogOfRoundedSoftmax: ("float32", ("forward_accuracy",)),
    LogSoftmaxCancelsAtLargeLogits: ("float32", ("forward_accuracy",)),
    IgnoresNegativeStrides: ("float32", ("forward_accuracy", "vjp_accuracy")),
    NaNOnFullyMaskedBlock: ("float32", ("masked_places_are_exact",)),
    LossScaledSumOverflows: ("float16", ("vjp_accuracy", "long_row_accuracy", "masked_places_are_exact")),
    AcceptsZeroDimensionalOnlyForward: ("float32", ("zero_dimensional_input",)),
    NaNSpreadsAcrossTheBatch: ("float32", ("poison_stays_in_its_row",)),
    MultiBlockSkipsMaxShift: ("float32", ("many_rows",)),
    HalfRowSumInHalf: ("float16", ("vocabulary_rows",)),
    PlanCachedByElementSize: ("float16,bfloat16", ("every_dtype_in_turn",)),
    SplitsSmallBatchSums: ("float32", ("same_bits_in_any_batch",)),
    SplitsSumsPastTheGrid: ("float32", ("same_bits_in_any_batch",)),
    ShufflesLongRowChunks: ("float32", ("same_bits_every_call",)),
    ThreadCountSplitsRowSums: ("float32", ("same_bits_on_any_thread_count",)),
}
# the broken adapters whose bug is an exception (an ``error`` record), not a wrong answer
RAISE: frozenset[type] = frozenset({CrashesOnEmptyAxis})
