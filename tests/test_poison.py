"""The poisoned-row helpers (:mod:`conformance.inputs.poison`) and the rows they address."""

from __future__ import annotations

import numpy as np
from hypothesis import given

from conformance.checks.rows import batch_indices, row_of
from conformance.inputs.poison import POISONS, describe, poison_row, poisoned_places


def test_batch_indices_name_every_row_once_in_c_order():
    assert batch_indices((2, 5, 3), 1) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert batch_indices((4, 3), 0) == [(0,), (1,), (2,)]


def test_poison_lands_in_its_row_only_and_the_original_is_left_alone():
    x = np.arange(24, dtype=np.float32).reshape(2, 3, 4)
    poisoned = poison_row(x, 1, (1, 2), [(0, float("nan")), (2, float("-inf"))])
    assert poisoned.flags.c_contiguous and not np.isnan(x).any()
    row = row_of(poisoned, 1, (1, 2))
    assert np.isnan(row[0]) and row[2] == -np.inf and row[1] == x[1, 1, 2]
    untouched = np.ones(x.shape, dtype=bool)
    untouched[1, :, 2] = False
    assert np.array_equal(poisoned[untouched], x[untouched])


def test_the_description_lists_each_poison_by_place():
    assert describe([(3, float("-inf")), (0, float("nan"))]) == "nan at 0, -inf at 3"


@given(poisoned_places(5))
def test_poisoned_places_are_distinct_places_of_the_row_holding_a_poison(places):
    spots = [place for place, _ in places]
    assert 1 <= len(spots) == len(set(spots)) <= 5 and all(0 <= place < 5 for place in spots)
    assert all(any(np.array_equal(value, poison, equal_nan=True) for poison in POISONS) for _, value in places)


def test_the_places_strategy_is_built_once_per_length():
    assert poisoned_places(7) is poisoned_places(7)
