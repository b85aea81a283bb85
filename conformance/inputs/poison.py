"""Poison for one row of a batch: NaN or an infinity at one or more places of that row.

Real batches carry such rows (a diverged sequence, an overflowed activation, a padding row
filled with -inf), and softmax never mixes rows, so every other row must come out as it
would alone. What the poisoned row itself gives is the implementation's choice (NaN
propagation is not specified, nor softmax at +inf), so only the other rows are judged.
"""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import strategies as st
from hypothesis.strategies import SearchStrategy

POISONS: tuple[float, ...] = (float("nan"), float("inf"), float("-inf"))

Places = list[tuple[int, float]]  # (place in the row, the value put there)


@functools.cache
def poisoned_places(length: int) -> SearchStrategy[Places]:
    """One to ``length`` distinct places of a row of ``length``, each with a value of POISONS
    (shrinking towards one NaN at the row's start). The same length gives the same object."""
    return st.lists(
        st.tuples(st.integers(0, length - 1), st.sampled_from(POISONS)),
        min_size=1,
        max_size=length,
        unique_by=lambda pair: pair[0],
    )


def poison_row(array: np.ndarray, axis: int, row: tuple[int, ...], places: Places) -> np.ndarray:
    """A contiguous copy of ``array`` whose row ``row`` (a batch index; rows run along
    ``axis``, non-negative) holds each poison of ``places`` at its place."""
    poisoned = np.array(array, copy=True, order="C")
    rows = np.moveaxis(poisoned, axis, -1)  # a view: writing it writes ``poisoned``
    for place, value in places:
        rows[(*row, place)] = value
    return poisoned


def describe(places: Places) -> str:
    """``nan at 0, -inf at 3``: what a row was poisoned with, for a message."""
    return ", ".join(f"{value} at {place}" for place, value in sorted(places))
