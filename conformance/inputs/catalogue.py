"""The finite edge catalogues: every case runs for every adapter, op and dtype; in every run of
``ci`` and ``thorough``, and within a few consecutive runs of ``dev``, which checks one block of
a covering design of them per run (:mod:`conformance.inputs.covering`).

Random draws find what nobody thought of; they also miss, by chance, a finite edge that
somebody did think of. These edges are few, so they are enumerated instead of sampled:

* ``EMPTY``: a zero-size side, on the axis (an empty row) and elsewhere (rows, but none of
  them), at each rank from 1 to 4;
* ``ZERO_DIMENSIONAL``: a 0-d input, with axis 0 and with axis -1;
* ``LENGTH_ONE``: an axis of length 1 at the start, in the middle and at the end, over a batch of
  16 rows (two whole vectors of 8 lanes: a kernel that is wrong only on full vectors shows);
* ``SINGLE_ROW``: one row of 16 (the whole input is the row), and one column of 16 (the row
  runs along the first axis of an (16, 1) input).

One more catalogue is per run, not fixed: the high-rank site of each (op, dtype) (rank 5 to 8,
see :mod:`conformance.inputs.shape_pool`) is called on each of its axes in turn, in one worker,
so an implementation that caches its plan by shape and dtype alone and reuses the first call's
axis is caught. And one case, the single row of 16, is called with every dtype of the run in
turn, in one worker, so a plan cached by shape and element size alone (float16 and bfloat16
share it) is caught.

Every catalogue case is a :class:`~conformance.inputs.shape_pool.Site`, drawn in no way: the
same in every run. Their values are drawn as usual.
"""

from __future__ import annotations

from dataclasses import dataclass

from conformance.inputs.shape_pool import Site

BATCH = 16  # rows over a length-1 axis: two whole vectors of 8 float32 lanes


@dataclass(frozen=True)
class Case:
    """One enumerated input site, and what it is, in a few words for messages."""

    what: str
    site: Site


EMPTY: tuple[Case, ...] = (
    Case("zero on the axis, rank 1", Site((0,), 0)),
    Case("zero on the axis, rank 2", Site((3, 0), -1)),
    Case("zero elsewhere, rank 2", Site((0, 4), 1)),
    Case("zero on the axis, rank 3", Site((2, 0, 3), 1)),
    Case("zero elsewhere, rank 3", Site((2, 3, 0), 0)),
    Case("zero on the axis, rank 4", Site((1, 2, 3, 0), -1)),
    Case("zero elsewhere, rank 4", Site((0, 1, 2, 3), -2)),
)
ZERO_DIMENSIONAL: tuple[Case, ...] = (
    Case("a 0-d input, axis 0", Site((), 0)),
    Case("a 0-d input, axis -1", Site((), -1)),
)
LENGTH_ONE: tuple[Case, ...] = (
    Case(f"a length-1 axis at the start, {BATCH} rows", Site((1, BATCH), 0)),
    Case(f"a length-1 axis in the middle, {BATCH} rows", Site((4, 1, 4), 1)),
    Case(f"a length-1 axis at the end, {BATCH} rows", Site((BATCH, 1), -1)),
)
SINGLE_ROW: tuple[Case, ...] = (
    Case(f"a single row of {BATCH}", Site((1, BATCH), 1)),
    Case(f"a single column of {BATCH}", Site((BATCH, 1), 0)),
)
# The shape every dtype takes in turn, in one worker (``every_dtype_in_turn``): the single row,
# which ``single_row_and_column`` already calls in every dtype, so a compiled path builds
# nothing new for it.
EVERY_DTYPE: Case = SINGLE_ROW[0]
CATALOGUES: dict[str, tuple[Case, ...]] = {
    "empty": EMPTY,
    "zero-dimensional": ZERO_DIMENSIONAL,
    "length-one": LENGTH_ONE,
    "single-row": SINGLE_ROW,
}
