"""Every quantity has the documented shape and the input's dtype, at every rank, empty dims included."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import provided_method
from conformance.checking import run
from conformance.profiles import budget
from conformance.properties.marks import conformance_property
from conformance.strategies import problems, vectors


@conformance_property("shapes_and_dtypes", needs=("forward", "vjp", "jacobian"))
@budget(1.0)
@given(data=st.data())
def test_results_have_the_documented_shape_and_dtype(subject, op, dtype, data):
    problem = data.draw(problems(dtype, max_size=48), label="problem")
    run(subject, op, "forward", problem.x, problem.axis)
    run(subject, op, "jacobian", problem.x, problem.axis)
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    run(subject, op, "vjp", problem.x, problem.axis, [cotangent])
    if provided_method(subject.adapter, op, "jvp") is not None:
        run(subject, op, "jvp", problem.x, problem.axis, [cotangent])
