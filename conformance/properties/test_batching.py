"""A batch, at any rank and over any axis, equals its rows taken one by one; and so do its
clean rows when one row is poisoned with NaN or an infinity (:mod:`conformance.inputs.poison`)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.calls import skipping_unsupported
from conformance.checks.quantities import VECTORS, Outcome, draw_problem, run
from conformance.checks.rows import assert_row_alone_agrees, batch_indices, row_of
from conformance.inputs.arguments import Argument
from conformance.inputs.poison import describe, poison_row, poisoned_places
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property
from conformance.truth.oracle import Quantity

ROWS_CHECKED = 3
QUANTITIES_CHECKED: tuple[Quantity, ...] = ("forward", "vjp", "jacobian")
POISONED_QUANTITIES: tuple[Quantity, ...] = ("forward", "jacobian", "vjp", "jvp")


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
    every_row = batch_indices(problem.shape, axis)
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


def _rows_checked(data, count: int, poisoned: int) -> list[int]:
    """The poisoned row's neighbours in C order (a vector spanning two rows leaks into them),
    and one more row drawn from the rest."""
    neighbours = [number for number in (poisoned - 1, poisoned + 1) if 0 <= number < count]
    rest = [number for number in range(count) if number != poisoned and number not in neighbours]
    return neighbours + ([data.draw(st.sampled_from(rest), label="row checked")] if rest else [])


@conformance_property("poison_stays_in_its_row", needs=("forward", "vjp"))
@budget(0.5)
@given(data=st.data())
def test_a_poisoned_row_leaves_the_other_rows_alone(subject, op, dtype, pool, data):
    """NaN or an infinity in one row of x, and then in the same row of the cotangent (and
    tangent) with x clean: forward, Jacobian, VJP and JVP of the batch must give every row
    checked what it gives alone. The poisoned row itself is not judged."""
    problem = draw_problem(data, dtype, pool.sites(min_rank=2), views=False)
    axis = problem.axis % len(problem.shape)
    every_row = batch_indices(problem.shape, axis)
    poisoned = data.draw(st.integers(0, len(every_row) - 1), label="poisoned row")
    index = every_row[poisoned]
    places = poisoned_places(problem.shape[axis])
    x_places = data.draw(places, label="poison in x")
    poisoned_x = Argument(poison_row(problem.x.value, axis, index, x_places))
    in_x = f"; row {index} of x holds {describe(x_places)}"
    batches: list[tuple[Quantity, Outcome, str]] = []
    clean: dict[Quantity, Argument] = {}
    for quantity in POISONED_QUANTITIES:
        if not subject.computes(op, quantity):
            continue
        with skipping_unsupported():
            if not VECTORS[quantity]:
                batches.append((quantity, run(subject, op, quantity, poisoned_x, problem.axis), in_x))
                continue
            name = VECTORS[quantity][0]
            vector = data.draw(vectors(problem.shape, dtype, views=False), label=name)
            vector_places = data.draw(places, label=f"poison in the {name}")
            poisoned_vector = Argument(poison_row(vector.value, axis, index, vector_places))
            in_vector = f"; row {index} of the {name} holds {describe(vector_places)}"
            clean[quantity] = vector
            batches.append((quantity, run(subject, op, quantity, poisoned_x, problem.axis, [vector]), in_x))
            with_poisoned_vector = run(subject, op, quantity, problem.x, problem.axis, [poisoned_vector])
            batches.append((quantity, with_poisoned_vector, in_vector))
    for number in _rows_checked(data, len(every_row), poisoned):
        row = every_row[number]
        x_row = Argument(row_of(problem.x.value, axis, row))
        for quantity, batch, note in batches:
            row_vectors = [Argument(row_of(clean[quantity].value, axis, row))] if quantity in clean else []
            assert_row_alone_agrees(subject, op, quantity, batch, axis, row, x_row, row_vectors, pool.row_axis, note)
