"""Arrays defined by a seed: the large inputs and their vectors, made a chunk of rows at a time.

A large input (``65537 x 257`` logits, a row of 256000) is never drawn through Hypothesis and
never written into a reproducer: it is defined by a :class:`Seeded` recipe, ``(shape, dtype,
seed, stream, axis, kind)``, and :func:`array` makes it again anywhere, in any worker or in a
pasted reproducer, bit for bit. Each chunk of rows has its own generator, so any chunk can be
made again after the whole array has been given away: the checks compare an adapter's answer
with the oracle chunk by chunk and hold nothing of the full size in float64.

The arrays are 2-d, a batch of rows of one ``length``; ``axis`` says which dimension the rows
run along (the adapter is called with exactly that axis, negative or not).
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.truth import oracle
from conformance.truth.arrays import aligned_empty
from conformance.truth.dtypes import DTYPES

CHUNK_ELEMENTS = 1 << 16  # elements per chunk: float64 temporaries of 512 KiB, that stay in the L2 cache
KINDS: tuple[str, ...] = ("logits", "normal", "ones")
LOGIT_SCALE = 3.0  # logits are N(0, 1) * 3: spread enough that a row's largest terms dominate its sum


@dataclass(frozen=True)
class Layout:
    """A 2-d array seen as ``batch`` rows of ``length`` along ``axis``, cut into chunks of rows."""

    shape: tuple[int, int]
    axis: int  # 0 or 1

    @classmethod
    def of(cls, shape: tuple[int, ...], axis: int) -> Layout:
        if len(shape) != 2:
            raise ValueError(f"a seeded array is 2-d (rows x row length), not shape {tuple(shape)}")
        return cls((int(shape[0]), int(shape[1])), oracle.normalize_axis(axis, 2))

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
        return max(1, CHUNK_ELEMENTS // max(self.length, 1))

    @property
    def chunks(self) -> int:
        return -(-self.batch // self.rows_per_chunk)

    def rows(self, k: int) -> slice:
        start = k * self.rows_per_chunk
        return slice(start, min(start + self.rows_per_chunk, self.batch))

    def chunk_of(self, row: int) -> int:
        return row // self.rows_per_chunk

    def view(self, array: np.ndarray) -> np.ndarray:
        """``array`` (shaped like the input) as (batch, length): rows last, no copy."""
        return np.moveaxis(array, self.axis, -1)

    def index(self, row: int, place: int) -> tuple[int, int]:
        """The index into the array of element ``place`` of row ``row``."""
        return (row, place) if self.axis == 1 else (place, row)


def stream_key(name: str) -> int:
    return zlib.crc32(name.encode())


@dataclass(frozen=True)
class Seeded:
    """How to make one argument from a seed; :meth:`source` is the call that makes it again.

    ``kind``: ``logits`` (N(0, 1) * 3), ``normal`` (N(0, 1), a cotangent) or ``ones``. With
    ``zero_fraction``, that share of the rows (drawn from the seed; at least one and not all,
    when there are two or more) is exactly 0.
    """

    shape: tuple[int, int]
    dtype: str
    seed: int
    stream: str
    axis: int
    kind: str = "normal"
    zero_fraction: float | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"kind={self.kind!r}, but the kinds are: {', '.join(KINDS)}")
        if self.dtype not in DTYPES:
            raise ValueError(f"dtype={self.dtype!r}, but the dtypes are: {', '.join(DTYPES)}")

    @property
    def layout(self) -> Layout:
        return Layout.of(self.shape, self.axis)

    @property
    def numpy_dtype(self) -> np.dtype[Any]:
        return DTYPES[self.dtype]

    @functools.cached_property
    def zero_rows(self) -> np.ndarray:
        """The rows that are exactly 0, sorted (none without ``zero_fraction``)."""
        batch = self.layout.batch
        if self.zero_fraction is None or batch < 2:
            return np.zeros(0, dtype=np.intp)
        count = min(batch - 1, max(1, round(batch * self.zero_fraction)))
        rng = np.random.default_rng([self.seed, stream_key(f"{self.stream}/rows")])
        return np.sort(rng.choice(batch, size=count, replace=False))

    def chunk(self, k: int) -> np.ndarray:
        """Rows ``layout.rows(k)``, as (rows, length)."""
        layout = self.layout
        rows = layout.rows(k)
        count = rows.stop - rows.start
        if self.kind == "ones":
            return np.ones((count, layout.length), dtype=self.numpy_dtype)
        rng = np.random.default_rng([self.seed, stream_key(self.stream), k])
        out = self._normal(rng, (count, layout.length))
        if self.zero_fraction is not None:
            out[local_rows(self.zero_rows, rows)] = 0
        return out

    def _normal(self, rng: np.random.Generator, shape: tuple[int, int]) -> np.ndarray:
        wide = np.float64 if self.numpy_dtype == np.float64 else np.float32
        values = rng.standard_normal(shape, dtype=wide)
        if self.kind == "logits":
            values *= wide(LOGIT_SCALE)
        return values.astype(self.numpy_dtype, copy=False)

    def row(self, row: int) -> np.ndarray:
        """One row, contiguous."""
        layout = self.layout
        k = layout.chunk_of(row)
        return np.ascontiguousarray(self.chunk(k)[row - layout.rows(k).start])

    def build(self, progress: Callable[[], None] | None = None) -> np.ndarray:
        """The whole array (C order, aligned), filled a chunk at a time; ``progress()`` after
        each chunk (a 2**31-element input takes minutes, and a worker must show it is alive)."""
        layout = self.layout
        out = aligned_empty(layout.shape, self.numpy_dtype)
        view = layout.view(out)
        for k in range(layout.chunks):
            view[layout.rows(k)] = self.chunk(k)
            if progress is not None:
                progress()
        return out

    def arguments(self) -> str:
        """This recipe as the arguments of :func:`array`."""
        zeros = "" if self.zero_fraction is None else f", zero_fraction={self.zero_fraction!r}"
        return (
            f"{self.shape!r}, {self.dtype!r}, seed={self.seed}, stream={self.stream!r}, "
            f"axis={self.axis}, kind={self.kind!r}{zeros}"
        )

    def source(self) -> str:
        """``seeded.array(...)``: the call that makes this array again."""
        return f"seeded.array({self.arguments()})"

    def changed(self, array: np.ndarray) -> int:
        """How many elements of ``array`` differ, bit for bit, from what this recipe makes (a
        chunk of rows at a time, so nothing of the full size is made again)."""
        layout = self.layout
        view = layout.view(array)
        return sum(
            _differences(np.ascontiguousarray(view[layout.rows(k)]), self.chunk(k)) for k in range(layout.chunks)
        )


@dataclass(frozen=True)
class SeededRow:
    """One row of a seeded array, made alone (a row of a large input, checked by itself)."""

    parent: Seeded
    row_index: int

    def build(self) -> np.ndarray:
        return self.parent.row(self.row_index)

    def source(self) -> str:
        return f"seeded.row({self.parent.arguments()}, row={self.row_index})"

    def changed(self, array: np.ndarray) -> int:
        return _differences(array, self.build())


Recipe = Seeded | SeededRow


def _differences(a: np.ndarray, b: np.ndarray) -> int:
    width = f"u{a.dtype.itemsize}"
    return int(np.count_nonzero(np.ascontiguousarray(a).view(width) != np.ascontiguousarray(b).view(width)))


def array(
    shape: tuple[int, int],
    dtype: str,
    *,
    seed: int,
    stream: str,
    axis: int,
    kind: str = "normal",
    zero_fraction: float | None = None,
) -> np.ndarray:
    """The seeded array a failure message names: the same bits as in the run."""
    return Seeded(tuple(shape), dtype, int(seed), stream, axis, kind, zero_fraction).build()  # type: ignore[arg-type]


def row(
    shape: tuple[int, int],
    dtype: str,
    *,
    seed: int,
    stream: str,
    axis: int,
    kind: str = "normal",
    zero_fraction: float | None = None,
    row: int,
) -> np.ndarray:
    """Row ``row`` of the seeded array, made alone (without the rest of the array)."""
    return Seeded(tuple(shape), dtype, int(seed), stream, axis, kind, zero_fraction).row(row)  # type: ignore[arg-type]


def local_rows(support: np.ndarray, rows: slice) -> np.ndarray:
    """The rows of ``support`` that fall in ``rows``, relative to its start."""
    lo, hi = np.searchsorted(support, [rows.start, rows.stop])
    return np.asarray(support[lo:hi] - rows.start, dtype=np.intp)
