"""Every quantity has the documented shape and the input's dtype, at every rank."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.calls import skipping_unsupported
from conformance.checks.quantities import draw_problem, run
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import Problem, vectors
from conformance.properties.marks import conformance_property
from conformance.truth.oracle import Quantity


def _every_quantity(subject, op, dtype, problem: Problem, data) -> None:
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    calls: tuple[tuple[Quantity, list], ...] = (
        ("forward", []),
        ("vjp", [cotangent]),
        ("jvp", [cotangent]),
        ("jacobian", []),
    )
    for quantity, drawn in calls:
        if subject.computes(op, quantity):
            with skipping_unsupported():
                run(subject, op, quantity, problem.x, problem.axis, drawn)


@conformance_property("shapes_and_dtypes", needs=("forward", "vjp", "jacobian"))
@budget(1.0)
@given(data=st.data())
def test_results_have_the_documented_shape_and_dtype(subject, op, dtype, pool, data):
    """Ranks 0 to 4: softmax, VJP and JVP have x.shape, the Jacobian x.shape + x.shape."""
    _every_quantity(subject, op, dtype, draw_problem(data, dtype, pool.sites()), data)
