"""A batch, at any rank and over any axis, equals its rows taken one by one."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance import oracle, tolerance
from conformance.assertions import assert_within_bound
from conformance.checking import run
from conformance.profiles import budget
from conformance.properties.marks import conformance_property
from conformance.strategies import Argument, problems, vectors
from conformance.tolerance import Bound

ROWS_CHECKED = 3


def _row(array: np.ndarray, axis: int, index: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(array, axis, -1)[index])


def _twice(bound: Bound) -> Bound:
    """Batch and row each within the bound of the exact value: within twice of each other."""
    return Bound(2 * bound.absolute, bound.scale, bound.dtype)


@conformance_property("batch_equals_rows", needs=("forward", "vjp", "jacobian"))
@budget(1.0)
@given(data=st.data())
def test_batch_equals_its_rows_one_by_one(subject, op, dtype, pool, data):
    problem = data.draw(problems(dtype, pool.sites(min_rank=2)), label="problem")
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    axis = problem.axis % len(problem.shape)
    batch_forward = run(subject, op, "forward", problem.x, axis).actual
    batch_vjp = run(subject, op, "vjp", problem.x, axis, [cotangent]).actual
    batch_blocks = oracle.blocks_from_jacobian(run(subject, op, "jacobian", problem.x, axis).actual, axis)
    batch_shape = np.moveaxis(np.empty(problem.shape), axis, -1).shape[:-1]
    every_row = list(np.ndindex(*batch_shape))
    picked = data.draw(
        st.lists(st.sampled_from(every_row), min_size=1, max_size=ROWS_CHECKED, unique=True), label="rows"
    )
    row_axis = pool.row_axis
    for index in picked:
        x_row = Argument(_row(problem.x.value, axis, index))
        g_row = Argument(_row(cotangent.value, axis, index))
        where = f"row {index} alone vs in the batch"
        alone = run(subject, op, "forward", x_row, row_axis)
        assert_within_bound(
            f"{where}: forward",
            alone.actual,
            _row(batch_forward, axis, index),
            _twice(tolerance.forward_bound(op, x_row.value, row_axis, dtype)),
            alone.where,
            alone.call,
            "'the same row of the batch call'",
        )
        alone = run(subject, op, "vjp", x_row, row_axis, [g_row])
        assert_within_bound(
            f"{where}: vjp",
            alone.actual,
            _row(batch_vjp, axis, index),
            _twice(tolerance.vjp_bound(op, x_row.value, g_row.value, row_axis, dtype)),
            alone.where,
            alone.call,
            "'the same row of the batch call'",
        )
        alone = run(subject, op, "jacobian", x_row, row_axis)
        block = np.moveaxis(batch_blocks, axis, -2)[index]
        assert_within_bound(
            f"{where}: jacobian block",
            alone.actual,
            block,
            _twice(tolerance.blocks_bound(op, x_row.value, row_axis, dtype)),
            alone.where,
            alone.call,
            "'the same block of the batch jacobian'",
        )
