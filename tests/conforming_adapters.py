"""Correct implementations that make other valid choices than the NumPy reference; each must
conform."""

from __future__ import annotations

import functools
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from conformance.adapters.numpy_adapter import NumpyReference, _along_contiguous_rows
from conformance.truth import oracle
from conformance.truth.oracle import Op
from tests.broken_adapters import SplitsSmallBatchSums


class RejectsZeroDimensionalInput(NumpyReference):
    """NumPy's convention: softmax needs an axis, so a 0-d input raises at every call (as
    ``np.moveaxis``, jax and TensorFlow do). Everything else is the reference."""

    name = "rejects-zero-dimensional-input"

    def __getattribute__(self, name: str) -> Any:
        method = super().__getattribute__(name)
        if name.startswith(("softmax", "jacobian", "vjp", "jvp", "log_softmax")) and callable(method):

            def rejecting(x: np.ndarray, *arguments: Any) -> Any:
                if np.ndim(x) == 0:
                    raise ValueError(f"{name} needs at least one axis; got a 0-d input")
                return method(x, *arguments)

            return rejecting
        return method


PAIRWISE_WORK = 2**28  # the most exponentials (rows × length²) of an input the pairwise form takes: a second or two
PAIRWISE_BLOCK = 2**22  # elements of the pairwise matrices made at once


def _log_pairwise_sums(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each element x_i of the last axis, (m_i, log Σ_j exp(x_j - x_i - m_i)) with
    m_i = max_j (x_j - x_i): the pairwise differences of a row as an n×n matrix, made in
    blocks of at most PAIRWISE_BLOCK elements."""
    rows = rows.reshape(-1, rows.shape[-1])
    count, n = rows.shape
    shifts = np.max(rows, axis=-1, keepdims=True) - rows
    logs = np.empty_like(rows)
    rows_at_once = max(1, PAIRWISE_BLOCK // (n * n))
    columns_at_once = max(1, PAIRWISE_BLOCK // n)
    for first in range(0, count, rows_at_once):
        block = rows[first : first + rows_at_once]
        for column in range(0, n, columns_at_once):
            part = slice(column, column + columns_at_once)
            differences = block[:, None, :] - block[:, part, None] - shifts[first : first + rows_at_once, part, None]
            logs[first : first + rows_at_once, part] = np.log(np.sum(np.exp(differences), axis=-1))
    return shifts, logs


def _pairwise(op: Op, x: np.ndarray, axis: int) -> np.ndarray:
    """softmax or log_softmax of ``x`` along its last axis in float64, pairwise."""
    work = x.astype(np.float64)
    if work.size == 0:
        return work
    shifts, logs = _log_pairwise_sums(work)
    if op == "log_softmax":
        return (-shifts - logs).reshape(work.shape)
    return (np.exp(-shifts) / np.exp(logs)).reshape(work.shape)


class PairwiseQuadraticSoftmax(NumpyReference):
    """Correct and slow by construction: s_i = 1 / Σ_j exp(x_j - x_i), the pairwise form, an
    n×n matrix per row of n (shifted by its row's largest difference, so nothing overflows);
    the VJP uses those probabilities. A row of the long tier (8193) costs 67 million
    exponentials where the reference's costs 8193: each example of a long row takes a second
    or more. Inputs with a non-finite value (where -inf - -inf has no answer) and those of the
    large tier (67375 rows of 257, or 3 rows of 100277, would take half a minute to minutes a
    call, which only the call limit bounds, not a property's time budget) take the reference's
    form."""

    name = "pairwise-quadratic"

    def _forward(self, op: Op, x: np.ndarray, axis: int) -> np.ndarray:
        """Pairwise where the input is finite and takes at most PAIRWISE_WORK exponentials (the
        whole input: the adapter computes some rows at a time), the reference's elsewhere."""
        if x.ndim == 0 or x.size * x.shape[axis] > PAIRWISE_WORK or not np.isfinite(x).all():
            reference = NumpyReference.softmax if op == "softmax" else NumpyReference.log_softmax
            return reference(self, x, axis)
        return _along_contiguous_rows(lambda rows, axis: _pairwise(op, rows, axis), x, (), axis)

    def _vjp(self, op: Op, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        probabilities = self._forward("softmax", x.astype(np.float64), axis)
        return oracle.vjp(op, x, cotangent, axis, probabilities=probabilities).astype(x.dtype)

    softmax = functools.partialmethod(_forward, "softmax")
    log_softmax = functools.partialmethod(_forward, "log_softmax")
    vjp = functools.partialmethod(_vjp, "softmax")
    log_softmax_vjp = functools.partialmethod(_vjp, "log_softmax")


class RowsSharedOutOverThreads(NumpyReference):
    """The reference, its rows dealt out to as many threads as ``use_threads`` gives it (1 until
    then): each row is computed whole by one thread, in the same order whatever the thread
    count and whichever rows share its batch, so it keeps the promise it makes: the same bits
    in any batch, on every call, and on any number of threads. NumPy, under it, keeps them: a
    row's sum runs along its contiguous row, the same for a row alone as for one of a batch."""

    name = "rows-shared-out-over-threads"
    bitwise = ("batch", "determinism", "threads")
    threads = 1

    def use_threads(self, count: int) -> None:
        self.threads = count

    def _dealt_out(self, method: str, x: np.ndarray, *vectors_and_axis: Any) -> np.ndarray:
        *vectors, axis = vectors_and_axis
        compute = getattr(super(), method)
        if self.threads == 1 or x.ndim == 0 or x.size == 0:
            return compute(x, *vectors, axis)
        axis = oracle.normalize_axis(axis, x.ndim)
        rows = [np.moveaxis(array, axis, -1) for array in (x, *vectors)]
        flat = [array.reshape(-1, array.shape[-1]) for array in rows]
        groups = np.array_split(np.arange(flat[0].shape[0]), self.threads)
        with ThreadPoolExecutor(self.threads) as pool:
            parts = pool.map(lambda group: compute(*(array[group] for array in flat), -1), groups)
            out = np.concatenate(list(parts))
        return np.moveaxis(out.reshape(rows[0].shape), -1, axis)

    softmax = functools.partialmethod(_dealt_out, "softmax")
    log_softmax = functools.partialmethod(_dealt_out, "log_softmax")
    vjp = functools.partialmethod(_dealt_out, "vjp")
    log_softmax_vjp = functools.partialmethod(_dealt_out, "log_softmax_vjp")
    jvp = functools.partialmethod(_dealt_out, "jvp")
    log_softmax_jvp = functools.partialmethod(_dealt_out, "log_softmax_jvp")


class BatchVariantWithoutPromise(SplitsSmallBatchSums):
    """Accurate, and a row alone gets other bits than the same row in a batch of 8 rows or more
    (a small batch sums each row in two halves), as a kernel may: it promises nothing bit for
    bit, so it conforms, and its records say what was measured."""

    name = "batch-variant-without-promise"
    bitwise = ()
