"""Arrays defined by a seed: the large inputs and their vectors, made a chunk of rows at a time.

A large input (``65537 x 257`` logits, a row of 256000) is never drawn through Hypothesis and
never written into a reproducer: it is defined by a :class:`Seeded` recipe, ``(shape, dtype,
seed, stream, axis, kind)``, and :func:`array` makes it again anywhere, in any worker or in a
pasted reproducer, bit for bit. Each chunk of rows has its own generator, so any chunk can be
made again after the whole array has been given away: the checks compare an adapter's answer
with the oracle chunk by chunk and hold nothing of the full size in float64.

The arrays are 2-d, a batch of rows of one ``length``; ``axis`` says which dimension the rows
run along (the adapter is called with exactly that axis, negative or not).

Large logits are not all tame, because real ones are not, and the kernels that only large
inputs reach break on the rest: a share of the rows reach the dtype's exp overflow (a
multi-block path that skipped the max shift gives inf / inf there), and a share hold
near-equal logits, whose sum(exp(x - max)) is about the row's length (a vocabulary row of
them passes float16's 65504, where a sum kept in float16 overflows). Every input of two rows
or more has at least one row of each, so every run checks them, ``ci`` included.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from conformance.inputs.arguments import Argument
from conformance.truth import oracle
from conformance.truth.arrays import aligned_empty
from conformance.truth.dtypes import DTYPES

CHUNK_ELEMENTS = 1 << 16  # elements per chunk: float64 temporaries of 512 KiB, that stay in the L2 cache
KINDS: tuple[str, ...] = ("logits", "normal", "ones")
LOGIT_SCALE = 3.0  # logits are N(0, 1) * 3: spread enough that a row's largest terms dominate its sum
OVERFLOWING_SHARE = 1 / 4  # of the rows: N(0, 1) * 3 + log(the dtype's largest number), half past exp overflow
NEAR_EQUAL_SHARE = 1 / 8  # of the rows: every logit in [-NEAR_EQUAL_WIDTH, 0]
# sum(exp(x - max)) > 0.88 n over such a row: past float16's 65504 in every vocabulary (n >= 100277)
NEAR_EQUAL_WIDTH = 0.25
# The half types' N(0, 1) values are looked up in a fixed table of 2**16 of them by uniform 16-bit
# indices: 0.06 to 0.10 s for a 2**24-element array against 0.18 to 0.24 s by the ziggurat, and
# a large check makes two (the input and a cotangent). Three times the table, rounded to float16,
# holds 13,387 values: those of 95 % of 2**24 logits drawn by the ziggurat (bfloat16: 99 %); the
# values of the others, each rare, lie next to 0 and in the far tails.
TABLE_DTYPES: tuple[str, ...] = ("float16", "bfloat16")
NORMAL_TABLE_SEED = 20260524
NORMAL_TABLE = np.random.default_rng(NORMAL_TABLE_SEED).standard_normal(2**16, dtype=np.float32)


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

    ``kind``: ``logits`` (N(0, 1) * 3, except the rows :attr:`regime_rows` names), ``normal``
    (N(0, 1), a cotangent) or ``ones``. With ``zero_fraction``, that share of the rows (drawn
    from the seed; at least one and not all, when there are two or more) is exactly 0.
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

    @functools.cached_property
    def regime_rows(self) -> tuple[np.ndarray, np.ndarray]:
        """For ``logits``, the rows that reach the dtype's exp overflow (OVERFLOWING_SHARE of
        them) and the rows of near-equal logits (NEAR_EQUAL_SHARE), each sorted, drawn from the
        seed: at least one of each when there are two rows or more. None for other kinds."""
        batch = self.layout.batch
        if self.kind != "logits" or batch < 2:
            return np.zeros(0, dtype=np.intp), np.zeros(0, dtype=np.intp)
        overflowing = max(1, round(batch * OVERFLOWING_SHARE))
        near_equal = max(1, round(batch * NEAR_EQUAL_SHARE))
        order = np.random.default_rng([self.seed, stream_key(f"{self.stream}/regimes")]).permutation(batch)
        return np.sort(order[:overflowing]), np.sort(order[overflowing : overflowing + near_equal])

    def chunk(self, k: int) -> np.ndarray:
        """Rows ``layout.rows(k)``, as (rows, length)."""
        layout = self.layout
        rows = layout.rows(k)
        count = rows.stop - rows.start
        if self.kind == "ones":
            return np.ones((count, layout.length), dtype=self.numpy_dtype)
        rng = np.random.default_rng([self.seed, stream_key(self.stream), k])
        out = self._normal(rng, rows, (count, layout.length))
        if self.zero_fraction is not None:
            out[local_rows(self.zero_rows, rows)] = 0
        return out

    def _normal(self, rng: np.random.Generator, rows: slice, shape: tuple[int, int]) -> np.ndarray:
        """N(0, 1) values of ``rows``; for logits scaled, and in their regimes (:attr:`regime_rows`)."""
        if self.dtype in TABLE_DTYPES:
            return self._from_table(rng.integers(0, NORMAL_TABLE.size, shape, dtype=np.uint16), rows)
        values = rng.standard_normal(shape, dtype=np.float64 if self.numpy_dtype == np.float64 else np.float32)
        if self.kind == "logits":
            self._logits(values, *(local_rows(regime, rows) for regime in self.regime_rows))
        return values.astype(self.numpy_dtype, copy=False)

    def _logits(self, values: np.ndarray, overflowing: np.ndarray, near_equal: np.ndarray) -> None:
        """N(0, 1) ``values`` (float32 or float64) made logits in place: scaled, and the rows
        ``overflowing`` and ``near_equal`` put in their regimes."""
        wide = values.dtype.type
        narrow = np.minimum(np.abs(values[near_equal]), 4) * wide(-NEAR_EQUAL_WIDTH / 4)
        values *= wide(LOGIT_SCALE)
        values[overflowing] += wide(exp_overflow(self.numpy_dtype))
        values[near_equal] = narrow

    def _from_table(self, indices: np.ndarray, rows: slice) -> np.ndarray:
        """NORMAL_TABLE[indices] as :meth:`_normal` goes on with float32 values, bit for bit,
        but with the rows in no regime read from the table already scaled and rounded to the
        dtype: rounding 2**24 float32 values to float16 alone takes 0.11 s."""
        out = _rounded_table(self.dtype, LOGIT_SCALE if self.kind == "logits" else 1.0)[indices]
        if self.kind == "logits":
            overflowing, near_equal = (local_rows(regime, rows) for regime in self.regime_rows)
            special = np.concatenate([overflowing, near_equal])
            values = NORMAL_TABLE[indices[special]]
            self._logits(values, np.arange(overflowing.size), np.arange(overflowing.size, special.size))
            out[special] = values.astype(self.numpy_dtype)
        return out

    def row(self, row: int) -> np.ndarray:
        """One row, contiguous."""
        layout = self.layout
        k = layout.chunk_of(row)
        return np.ascontiguousarray(self.chunk(k)[row - layout.rows(k).start])

    def alone(self, array: np.ndarray, row: int) -> Argument:
        """Row ``row`` of ``array``, which this recipe made, as an argument of its own:
        contiguous, what :meth:`row` gives, with the recipe that makes it again from the seed.
        It is taken from ``array`` rather than made again, which would draw the row's whole
        chunk (a second of draws for the 16 rows of the large tier's float16 input); the caller
        answers for ``array`` holding the recipe's values: every adapter call is checked to
        leave its inputs as they were."""
        return Argument(np.ascontiguousarray(self.layout.view(array)[row]), recipe=SeededRow(self, row))

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

    def native_source(self, name: str) -> list[str]:
        """NumPy lines that make this array as variable ``name``, bit for bit, without this
        suite: what :meth:`chunk` does, spelled out for a framework's issue tracker. bfloat16,
        which NumPy alone cannot hold, comes as float32 values rounded to bfloat16."""
        layout = self.layout
        return [
            *self._native_chunk(name),
            f"{name} = np.empty({layout.shape!r}, np.{self._native_dtype})",
            f"for k in range({layout.chunks}):",
            f"    np.moveaxis({name}, {layout.axis}, -1)[k * {layout.rows_per_chunk}:][:{layout.rows_per_chunk}]"
            f" = {name}_chunk(k)",
        ]

    @property
    def _native_dtype(self) -> str:
        """The NumPy dtype a native script holds this array in."""
        return "float32" if self.dtype == "bfloat16" else self.dtype

    def _native_chunk(self, name: str) -> list[str]:
        """``def {name}_chunk(k)``: rows ``layout.rows(k)``, as :meth:`chunk` makes them."""
        layout = self.layout
        per = layout.rows_per_chunk
        head = [
            f"def {name}_chunk(k):  # rows k * {per} on, of {layout.batch} rows of {layout.length}",
            f"    count = min({per}, {layout.batch} - k * {per})",
        ]
        if self.kind == "ones":
            return [*head, f"    return np.ones((count, {layout.length}), np.{self._native_dtype})"]
        wide = "float64" if self.dtype == "float64" else "float32"
        shape = f"(count, {layout.length})"
        if self.dtype in TABLE_DTYPES:
            table = f"np.random.default_rng({NORMAL_TABLE_SEED}).standard_normal({NORMAL_TABLE.size}, dtype=np.float32)"
            before = [f"{name}_table = {table}"]
            draw = f"{name}_table[rng.integers(0, {NORMAL_TABLE.size}, {shape}, dtype=np.uint16)]"
        else:
            before, draw = [], f"rng.standard_normal({shape}, dtype=np.{wide})"
        lines = [
            *before,
            *head,
            f"    rng = np.random.default_rng([{self.seed}, {stream_key(self.stream)}, k])",
            f"    values = {draw}",
        ]
        if self.kind == "logits":
            overflowing, near_equal = (int(rows.size) for rows in self.regime_rows)
            lines = [
                f"{name}_order = np.random.default_rng([{self.seed}, {stream_key(self.stream + '/regimes')}])"
                f".permutation({layout.batch})",
                f"{name}_overflowing = np.sort({name}_order[:{overflowing}])",
                f"{name}_near_equal = np.sort({name}_order[{overflowing}:{overflowing + near_equal}])",
                *lines,
                f"    overflowing = {name}_overflowing[({name}_overflowing >= k * {per}) & "
                f"({name}_overflowing < k * {per} + count)] - k * {per}",
                f"    near_equal = {name}_near_equal[({name}_near_equal >= k * {per}) & "
                f"({name}_near_equal < k * {per} + count)] - k * {per}",
                f"    narrow = np.minimum(np.abs(values[near_equal]), 4) * np.{wide}({-NEAR_EQUAL_WIDTH / 4!r})",
                f"    values *= np.{wide}({LOGIT_SCALE!r})",
                f"    values[overflowing] += np.{wide}({exp_overflow(self.numpy_dtype)!r})",
                "    values[near_equal] = narrow",
            ]
        if self.dtype == "bfloat16":  # to the nearest bfloat16, ties to even: what astype(bfloat16) does
            lines += [
                "    bits = values.view(np.uint32)",
                "    values = ((bits + 0x7FFF + ((bits >> 16) & 1)) & 0xFFFF0000).astype(np.uint32).view(np.float32)",
            ]
        elif self.dtype != wide:
            lines.append(f"    values = values.astype(np.{self.dtype})")
        if self.zero_fraction is not None and self.zero_rows.size:
            lines = [
                f"{name}_zero_rows = np.random.default_rng([{self.seed}, {stream_key(self.stream + '/rows')}])"
                f".choice({layout.batch}, size={self.zero_rows.size}, replace=False)",
                *lines,
                f"    values[{name}_zero_rows[({name}_zero_rows >= k * {per}) & "
                f"({name}_zero_rows < k * {per} + count)] - k * {per}] = 0",
            ]
        return [*lines, "    return values"]


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

    def native_source(self, name: str) -> list[str]:
        """NumPy lines that make this row as variable ``name`` without this suite (see
        :meth:`Seeded.native_source`): its chunk, made alone, then the row."""
        layout = self.parent.layout
        k = layout.chunk_of(self.row_index)
        return [
            *self.parent._native_chunk(name),
            f"{name} = np.ascontiguousarray({name}_chunk({k})[{self.row_index - layout.rows(k).start}])",
        ]


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


@functools.cache
def _rounded_table(dtype: str, scale: float) -> np.ndarray:
    """NORMAL_TABLE times ``scale`` (in float32), rounded to ``dtype``."""
    return (NORMAL_TABLE * np.float32(scale)).astype(DTYPES[dtype])


def exp_overflow(dtype: Any) -> float:
    """log of ``dtype``'s largest number: exp of anything larger is inf in ``dtype``."""
    return float(np.log(float(ml_dtypes.finfo(dtype).max)))


def local_rows(support: np.ndarray, rows: slice) -> np.ndarray:
    """The rows of ``support`` that fall in ``rows``, relative to its start."""
    lo, hi = np.searchsorted(support, [rows.start, rows.stop])
    return np.asarray(support[lo:hi] - rows.start, dtype=np.intp)
