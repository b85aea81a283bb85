"""The input strategies reach every layout, mask and loss scale they promise, and every view
they make is rebuilt exactly, strides and all, by the reproducer's source."""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import ml_dtypes
import numpy as np
import pytest
from hypothesis import HealthCheck, find, given, settings
from hypothesis import strategies as st

from conformance import DTYPES
from conformance.checks.reproducer import array_source
from conformance.inputs.arguments import Argument
from conformance.inputs.shape_pool import Site
from conformance.inputs.strategies import (
    BLOCK_RUNS,
    CONTIGUOUS_MASKS,
    LAYOUTS,
    Problem,
    laid_out,
    problems,
    vectors,
)

SEARCH = settings(database=None, max_examples=3000, suppress_health_check=list(HealthCheck))
CHECKED = settings(database=None, max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
FLOAT16 = np.dtype(np.float16)
LONG_ROWS = Site((3, 300), 1)  # rows long enough for every block run


def layout_of(argument: Argument) -> str:
    """Which of LAYOUTS ``argument`` is, read from the expression that rebuilds it."""
    if argument.view is None:
        return "contiguous"
    expression = argument.view.expression
    for text, kind in (("base.T", "transposed"), ("::-1", "reversed"), ("::2", "strided"), ("1:", "offset")):
        if text in expression:
            return kind
    assert expression.startswith("np.broadcast_to(base"), expression
    return "broadcast"


def rebuilt(argument: Argument) -> np.ndarray:
    """What the reproducer's source for ``argument`` makes in a fresh namespace."""
    namespace = {"np": np, "DTYPES": DTYPES, "base64": base64}
    made: np.ndarray = eval(array_source(argument.value, argument.view), namespace)
    return made


def runs(row: np.ndarray) -> tuple[int, int]:
    """The lengths of the runs of -inf at the start and at the end of ``row``."""
    masked = np.isneginf(row)
    return int(np.argmin(masked)) if not masked.all() else row.size, int(np.argmin(masked[::-1]))


@pytest.mark.parametrize("kind", LAYOUTS)
@pytest.mark.parametrize("shape", [(3, 5), (40, 3)], ids=["small", "large"])
def test_each_layout_is_drawn_and_rebuilt_from_its_reproducer_with_its_strides(kind: str, shape: tuple[int, int]):
    array = np.arange(np.prod(shape), dtype=np.float64).reshape(shape).astype(ml_dtypes.bfloat16)
    argument = find(laid_out(array), lambda drawn: layout_of(drawn) == kind, settings=SEARCH)
    again = rebuilt(argument)
    assert again.dtype == argument.value.dtype and again.shape == array.shape
    assert again.strides == argument.value.strides
    assert again.tobytes() == argument.value.tobytes()
    if kind != "broadcast":
        assert np.array_equal(argument.value, array)


def test_reversed_offset_and_broadcast_views_have_the_strides_they_are_named_for():
    array = np.arange(12.0).reshape(3, 4)
    reversed_view = find(laid_out(array), lambda drawn: layout_of(drawn) == "reversed", settings=SEARCH).value
    assert min(reversed_view.strides) < 0
    offset = find(laid_out(array), lambda drawn: layout_of(drawn) == "offset", settings=SEARCH)
    assert offset.view is not None and offset.value.ctypes.data != offset.view.base.ctypes.data
    broadcast = find(laid_out(array), lambda drawn: layout_of(drawn) == "broadcast", settings=SEARCH).value
    assert 0 in broadcast.strides and not broadcast.flags.writeable


def test_a_broadcast_view_repeats_one_slice_along_its_side():
    array = np.arange(12.0).reshape(3, 4)
    broadcast = find(laid_out(array), lambda drawn: layout_of(drawn) == "broadcast", settings=SEARCH).value
    side = broadcast.strides.index(0)
    assert np.all(broadcast == np.take(broadcast, [0], axis=side))


@pytest.mark.parametrize(
    "wanted",
    [
        pytest.param(lambda row: runs(row)[0] in BLOCK_RUNS and runs(row)[1] == 0, id="prefix of a block run"),
        pytest.param(lambda row: runs(row)[1] in BLOCK_RUNS and runs(row)[0] == 0, id="suffix of a block run"),
        pytest.param(lambda row: runs(row)[0] == row.size - 1, id="all but the last place"),
        pytest.param(lambda row: 0 < runs(row)[0] <= 3, id="a short prefix"),
    ],
)
def test_contiguous_masks_of_every_length_are_drawn(wanted: Callable[[np.ndarray], bool]):
    def matches(problem: Problem) -> bool:
        return problem.x.view is None and wanted(problem.x.value[0])

    find(problems(np.dtype(np.float32), [LONG_ROWS], force_mask=True), matches, settings=SEARCH)


def test_a_contiguous_mask_may_differ_from_row_to_row():
    def per_row(problem: Problem) -> bool:
        prefixes = {runs(row)[0] for row in problem.x.value}
        return problem.x.view is None and 0 not in prefixes and len(prefixes) > 1

    find(problems(np.dtype(np.float32), [LONG_ROWS], force_mask=True), per_row, settings=SEARCH)


@CHECKED
@given(data=st.data(), site=st.sampled_from([LONG_ROWS, Site((2, 40), 0), Site((5,), 0), Site((4, 2, 3), -2)]))
def test_a_masked_row_always_keeps_a_finite_place(data: Any, site: Site):
    problem = data.draw(problems(np.dtype(np.float32), [site], force_mask=True))
    rows = np.moveaxis(problem.x.value, problem.axis, -1)
    assert np.isfinite(rows).any(axis=-1).all()


@CHECKED
@given(data=st.data())
def test_a_padding_or_causal_mask_is_one_run_at_the_start_or_the_end_of_each_row(data: Any):
    problem = data.draw(problems(np.dtype(np.float32), [LONG_ROWS], force_mask=True, mask_kinds=CONTIGUOUS_MASKS))
    for row in np.moveaxis(problem.x.value, problem.axis, -1).reshape(-1, LONG_ROWS.row_length):
        assert sum(runs(row)) == np.count_nonzero(np.isneginf(row))


@pytest.mark.parametrize("shape", [(3, 4), (2, 64)], ids=["drawn elements", "seeded"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_half_precision_vectors_are_loss_scaled_in_a_share_of_examples(shape: tuple[int, int], dtype: str):
    largest = find(
        vectors(shape, DTYPES[dtype], views=False),
        lambda drawn: float(np.max(np.abs(drawn.value.astype(np.float64)))) >= 2**12,
        settings=SEARCH,
    )
    assert np.isfinite(largest.value.astype(np.float64)).all()


def test_a_loss_scaled_float16_row_can_sum_past_the_largest_float16():
    def overflowing(drawn: Argument) -> bool:
        return bool(np.any(np.abs(drawn.value.astype(np.float64).sum(axis=-1)) > float(np.finfo(np.float16).max)))

    find(vectors((2, 64), FLOAT16, views=False), overflowing, settings=SEARCH)


@CHECKED
@given(data=st.data(), shape=st.sampled_from([(3, 4), (2, 64), (4096,)]))
def test_loss_scaled_vectors_stay_finite_and_only_the_half_types_are_scaled(data: Any, shape: tuple[int, ...]):
    half = data.draw(vectors(shape, FLOAT16)).value
    assert np.isfinite(half).all()
    single = data.draw(vectors(shape, np.dtype(np.float32))).value
    assert float(np.max(np.abs(single))) < 16


@CHECKED
@given(data=st.data())
def test_a_vector_asked_unscaled_is_never_scaled(data: Any):
    drawn = data.draw(vectors((3, 4), FLOAT16, loss_scaled=False)).value
    assert float(np.max(np.abs(drawn.astype(np.float64)))) <= 4


def test_dev_writes_each_high_rank_axis_one_way_per_run_and_ci_both_ways() -> None:
    """dev: one form per axis, fixed by the seed, so every example of a run reuses the same
    compiled programs; ci and thorough: each axis counted from the start and from the end."""
    from conformance.inputs.shape_pool import shape_pool

    dev = shape_pool(3, "softmax", "float32")
    assert len(dev.axis_forms) == 1 and len(dev.axis_forms[0]) == dev.high_rank.rank
    assert shape_pool(3, "softmax", "float32").axis_forms == dev.axis_forms  # the same in every worker
    drawn = {shape_pool(seed, "softmax", "float32").axis_forms[0][0] for seed in range(40)}
    assert drawn == {False, True}  # runs differ in how they write an axis
    every = shape_pool(3, "softmax", "float32", every_axis_form=True)
    assert every.axis_forms == ((False,) * every.high_rank.rank, (True,) * every.high_rank.rank)
    assert every.high_rank == dev.high_rank and every.wide == dev.wide  # the sites themselves do not move
