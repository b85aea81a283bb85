"""A large input and the random vectors that go with it, each defined chunk by chunk by a
seed: nothing of the full size is ever held in float64, and any chunk can be made again.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.scale.chunks import CHUNK_ELEMENTS
from conformance.scale.memory import aligned_empty
from conformance.truth import oracle


@dataclass(frozen=True)
class Layout:
    """A 2-d array seen as ``batch`` rows of ``length`` along ``axis``, cut into chunks of rows."""

    shape: tuple[int, int]
    axis: int
    chunk_elements: int

    @classmethod
    def of(cls, shape: Sequence[int], axis: int, chunk_elements: int | None = None) -> Layout:
        if len(shape) != 2:
            raise ValueError(f"the large checks take a 2-d input (rows x row length), not shape {tuple(shape)}")
        chunk = CHUNK_ELEMENTS if chunk_elements is None else chunk_elements
        return cls((int(shape[0]), int(shape[1])), oracle.normalize_axis(axis, 2), chunk)

    @property
    def length(self) -> int:
        return self.shape[self.axis]

    @property
    def batch(self) -> int:
        return self.shape[1 - self.axis]

    @property
    def size(self) -> int:
        return self.shape[0] * self.shape[1]

    @property
    def rows_per_chunk(self) -> int:
        return max(1, self.chunk_elements // max(self.length, 1))

    @property
    def chunks(self) -> int:
        return -(-self.batch // self.rows_per_chunk)

    def rows(self, k: int) -> slice:
        start = k * self.rows_per_chunk
        return slice(start, min(start + self.rows_per_chunk, self.batch))

    def chunk_of(self, row: int) -> int:
        return row // self.rows_per_chunk

    def view(self, array: np.ndarray) -> np.ndarray:
        """``array`` (shaped like x) as (batch, length): rows last, no copy."""
        return np.moveaxis(array, self.axis, -1)

    def index(self, row: int, place: int) -> tuple[int, int]:
        """The index into x of element ``place`` of row ``row``."""
        return (row, place) if self.axis == 1 else (place, row)


def stream_key(name: str) -> int:
    return zlib.crc32(name.encode())


@dataclass(frozen=True)
class Vector:
    """A random array shaped like x, defined chunk by chunk by ``(seed, stream, chunk)``, so
    any chunk can be regenerated after the whole array has been given away.

    ``kind``: "normal" (N(0, 1) * ``scale``), or "ones". With ``support`` (sorted row
    indices) only those rows are filled and every other row is exactly 0.
    """

    layout: Layout
    dtype: np.dtype[Any]
    seed: int
    stream: str
    kind: str = "normal"
    scale: float = 1.0
    support: np.ndarray | None = None

    def chunk(self, k: int) -> np.ndarray:
        rows = self.layout.rows(k)
        count, length = rows.stop - rows.start, self.layout.length
        if self.kind == "ones":
            return np.ones((count, length), dtype=self.dtype)
        rng = np.random.default_rng([self.seed, stream_key(self.stream), k])
        if self.support is None:
            return self._normal(rng, (count, length))
        out = np.zeros((count, length), dtype=self.dtype)
        local = self.local_support(rows)
        out[local] = self._normal(rng, (local.size, length))
        return out

    def _normal(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        wide = np.float64 if self.dtype == np.float64 else np.float32
        values = rng.standard_normal(shape, dtype=wide)
        if self.scale != 1.0:
            values *= wide(self.scale)
        return values.astype(self.dtype, copy=False)

    def local_support(self, rows: slice) -> np.ndarray:
        """The supported rows that fall in ``rows``, relative to its start."""
        assert self.support is not None
        lo, hi = np.searchsorted(self.support, [rows.start, rows.stop])
        return np.asarray(self.support[lo:hi] - rows.start, dtype=np.intp)

    def row(self, row: int) -> np.ndarray:
        k = self.layout.chunk_of(row)
        return np.ascontiguousarray(self.chunk(k)[row - self.layout.rows(k).start])

    def full(self) -> np.ndarray:
        """The whole array, shaped like x (C order, aligned), filled a chunk at a time."""
        out = aligned_empty(self.layout.shape, self.dtype)
        view = self.layout.view(out)
        for k in range(self.layout.chunks):
            view[self.layout.rows(k)] = self.chunk(k)
        return out


def random_input(rows: int, length: int, dtype: Any, seed: int, axis: int = -1) -> np.ndarray:
    """Logits N(0, 1) * 3 of shape (rows, length) (rows along ``axis``), generated directly
    in the dtype a chunk at a time: no float64 temporary of the full size.

    The array is C-contiguous and ends one row before the end of its (aligned) buffer; the
    spare row holds more random logits, so that :func:`shifted_rows` can offer a second
    random array of x's shape without allocating one."""
    shape = (rows, length) if oracle.normalize_axis(axis, 2) == 1 else (length, rows)
    layout = Layout.of(shape, axis)
    dtype = np.dtype(dtype)
    size = layout.size
    buffer = aligned_empty((size + length,), dtype)
    x = buffer[:size].reshape(shape)
    view = layout.view(x)
    logits = Vector(layout, dtype, seed, "x", scale=3.0)
    for k in range(layout.chunks):
        view[layout.rows(k)] = logits.chunk(k)
    spare = Vector(Layout.of((1, length), -1), dtype, seed, "x-spare", scale=3.0)
    buffer[size:] = spare.chunk(0)[0]
    return x


def shifted_rows(x: np.ndarray, axis: int) -> np.ndarray | None:
    """x from :func:`random_input` seen one row further on, in the same buffer: row b of the
    result is row b + 1 of x (the last one the spare row). Each of its rows is independent
    of the row of x at the same place, so it serves as a random tangent that costs no
    memory. None for an array without a spare row behind it."""
    owner = x.base
    if not isinstance(owner, np.ndarray) or not x.flags.c_contiguous or x.ndim != 2 or owner.ndim != 1:
        return None
    batch_axis = 1 - oracle.normalize_axis(axis, 2)
    step = x.strides[batch_axis]
    start = x.ctypes.data - owner.ctypes.data
    if start < 0 or start + x.nbytes + step > owner.nbytes or not owner.flags.c_contiguous:
        return None
    return np.ndarray(x.shape, x.dtype, buffer=owner, offset=start + step, strides=x.strides)
