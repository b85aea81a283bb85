"""Every quantity has the documented shape and the input's dtype, at every rank."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import provided_method
from conformance.checks.quantities import draw_problem, run
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import Problem, vectors
from conformance.properties.marks import conformance_property


def _every_quantity(subject, op, dtype, problem: Problem, data) -> None:
    run(subject, op, "forward", problem.x, problem.axis)
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    run(subject, op, "vjp", problem.x, problem.axis, [cotangent])
    if provided_method(subject.adapter, op, "jvp") is not None:
        run(subject, op, "jvp", problem.x, problem.axis, [cotangent])
    run(subject, op, "jacobian", problem.x, problem.axis)


@conformance_property("shapes_and_dtypes", needs=("forward", "vjp", "jacobian"))
@budget(1.0)
@given(data=st.data())
def test_results_have_the_documented_shape_and_dtype(subject, op, dtype, pool, data):
    """Ranks 0 to 4: softmax, VJP and JVP have x.shape, the Jacobian x.shape + x.shape."""
    _every_quantity(subject, op, dtype, draw_problem(data, dtype, pool.sites()), data)
