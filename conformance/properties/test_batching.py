"""A batch, at any rank and over any axis, equals its rows taken one by one."""

from __future__ import annotations

import functools

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import Quantity
from conformance.checks.assertions import assert_within_bound
from conformance.checks.quantities import Outcome, bound_for, draw_problem, run
from conformance.checks.reproducer import reproducer
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import Argument, vectors
from conformance.properties.marks import conformance_property
from conformance.truth import oracle, tolerance
from conformance.truth.tolerance import Bound

ROWS_CHECKED = 3
QUANTITIES_CHECKED: tuple[Quantity, ...] = ("forward", "vjp", "jacobian")


def _row(array: np.ndarray, axis: int, index: tuple[int, ...]) -> np.ndarray:
    return np.ascontiguousarray(np.moveaxis(array, axis, -1)[index])


def _in_batch(quantity: Quantity, batch: np.ndarray, axis: int, index: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """Row ``index``'s answer picked out of the batch's answer ``batch``, and the same as source
    (for the reproducer)."""
    if quantity == "jacobian":
        picked = np.moveaxis(oracle.blocks_from_jacobian(batch, axis), axis, -2)[index]
        return picked, f"np.moveaxis(oracle.blocks_from_jacobian(batch, {axis}), {axis}, -2)[{index!r}]"
    return np.moveaxis(batch, axis, -1)[index], f"np.moveaxis(batch, {axis}, -1)[{index!r}]"


def _twice(bound: Bound) -> Bound:
    """Batch and row each within the bound of the exact value: within twice of each other."""
    return Bound(2 * bound.absolute, bound.scale, bound.dtype)


def _row_bound(op, quantity: Quantity, x_row: np.ndarray, vectors: list[Argument], axis: int, dtype) -> Bound:
    if quantity == "jacobian":
        return tolerance.blocks_bound(op, x_row, axis, dtype)
    return bound_for(op, quantity, x_row, axis, [vector.value for vector in vectors])


def _reproduce(batch: Outcome, alone: Outcome, picking: str) -> str:
    return reproducer(
        batch.call.spec,
        [
            *batch.call.assignments("batch_"),
            *alone.call.assignments("row_"),
            f"batch = {batch.call.expression('batch_')}",
            f"row = {alone.call.expression('row_')}",
        ],
        ["'the row alone:', row", f"'the same row in the batch:', {picking}"],
    )


@conformance_property("batch_equals_rows", needs=("forward", "vjp", "jacobian"))
@budget(1.0)
@given(data=st.data())
def test_batch_equals_its_rows_one_by_one(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites(min_rank=2))
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    axis = problem.axis % len(problem.shape)
    batch = {
        quantity: run(subject, op, quantity, problem.x, problem.axis, [cotangent] if quantity == "vjp" else [])
        for quantity in QUANTITIES_CHECKED
    }
    batch_shape = np.moveaxis(np.empty(problem.shape), axis, -1).shape[:-1]
    every_row = list(np.ndindex(*batch_shape))
    picked = data.draw(
        st.lists(st.sampled_from(every_row), min_size=1, max_size=ROWS_CHECKED, unique=True), label="rows"
    )
    for index in picked:
        x_row = Argument(_row(problem.x.value, axis, index))
        g_row = Argument(_row(cotangent.value, axis, index))
        for quantity in QUANTITIES_CHECKED:
            row_vectors = [g_row] if quantity == "vjp" else []
            alone = run(subject, op, quantity, x_row, pool.row_axis, row_vectors)
            in_batch, picking = _in_batch(quantity, batch[quantity].actual, axis, index)
            assert_within_bound(
                f"row {index} alone vs in the batch: {quantity}",
                alone.actual,
                in_batch,
                _twice(_row_bound(op, quantity, x_row.value, row_vectors, pool.row_axis, dtype)),
                alone.where,
                functools.partial(_reproduce, batch[quantity], alone, picking),
                reference="the same row in the batch",
            )
