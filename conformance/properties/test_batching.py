"""A batch, at any rank and over any axis, equals its rows taken one by one."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import Quantity
from conformance.checks.quantities import draw_problem, run
from conformance.checks.rows import assert_row_alone_agrees, row_of
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import Argument, vectors
from conformance.properties.marks import conformance_property

ROWS_CHECKED = 3
QUANTITIES_CHECKED: tuple[Quantity, ...] = ("forward", "vjp", "jacobian")


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
        x_row = Argument(row_of(problem.x.value, axis, index))
        g_row = Argument(row_of(cotangent.value, axis, index))
        for quantity in QUANTITIES_CHECKED:
            row_vectors = [g_row] if quantity == "vjp" else []
            assert_row_alone_agrees(
                subject, op, quantity, batch[quantity], axis, index, x_row, row_vectors, pool.row_axis
            )
