"""What the workers of a run share (:mod:`conformance.checks.large.shared`): a large input and its
reference values are made once per run, and each worker gets the same values back."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.checks.large.seeded import Seeded
from conformance.checks.large.shared import SHARED_ENVIRONMENT_VARIABLE, shared, shared_array
from conformance.truth.arrays import ALIGNMENT
from conformance.truth.tolerance import Bound

RECIPE = Seeded((3000, 70), "float16", 4, "softmax/x", 0, "logits")


def _each_chunk(work):
    return [work(k) for k in range(RECIPE.layout.chunks)]


@pytest.fixture
def run_folder(tmp_path, monkeypatch):
    monkeypatch.setenv(SHARED_ENVIRONMENT_VARIABLE, str(tmp_path / "references"))
    return tmp_path / "references"


def test_a_shared_input_is_made_once_and_every_worker_gets_a_copy_of_its_own(run_folder):
    made = []

    def make():
        made.append(1)
        return RECIPE.build()

    first = shared_array(RECIPE.source(), RECIPE.layout, RECIPE.numpy_dtype, make)
    second = shared_array(RECIPE.source(), RECIPE.layout, RECIPE.numpy_dtype, make)
    assert len(made) == 1 and any(run_folder.iterdir())
    assert second.dtype == np.float16 and second.shape == (3000, 70) and second.ctypes.data % ALIGNMENT == 0
    assert RECIPE.changed(second) == 0
    second[0, 0] += 1  # an adapter that writes into its input changes its own copy only
    assert RECIPE.changed(shared_array(RECIPE.source(), RECIPE.layout, RECIPE.numpy_dtype, make)) == 0
    assert RECIPE.changed(first) == 0 and len(made) == 1


def test_reference_values_are_computed_once_and_read_back_the_same(run_folder):
    computed = []
    x = RECIPE.build()

    def reference(k):
        computed.append(k)
        rows = RECIPE.layout.view(x)[RECIPE.layout.rows(k)].astype(np.float64)
        return rows * 2, Bound(rows + 1, np.abs(rows), np.dtype(np.float16))

    read = shared("key", RECIPE.layout, np.float16, reference, _each_chunk)
    again = shared("key", RECIPE.layout, np.float16, reference, _each_chunk)
    assert sorted(computed) == list(range(RECIPE.layout.chunks))
    for k in range(RECIPE.layout.chunks):
        exact, bound = again(k)
        direct, direct_bound = reference(k)
        assert np.array_equal(exact, direct) and np.array_equal(bound.absolute, direct_bound.absolute)
        assert np.array_equal(read(k)[0], direct)


def test_without_a_run_folder_nothing_is_shared(monkeypatch):
    monkeypatch.delenv(SHARED_ENVIRONMENT_VARIABLE, raising=False)
    made = []
    shared_array(RECIPE.source(), RECIPE.layout, RECIPE.numpy_dtype, lambda: made.append(1) or RECIPE.build())
    shared_array(RECIPE.source(), RECIPE.layout, RECIPE.numpy_dtype, lambda: made.append(1) or RECIPE.build())
    assert len(made) == 2

    def reference(k):
        return np.zeros(1), Bound(np.zeros(1), np.zeros(1), np.dtype(np.float16))

    assert shared("key", RECIPE.layout, np.float16, reference, _each_chunk) is reference
