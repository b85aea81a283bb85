"""Accuracy against a high-precision oracle, element by element, within the tolerance model."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.quantities import compare, draw_problem
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property


@conformance_property("forward_accuracy", needs=("forward",))
@budget(1.5)
@given(data=st.data())
def test_forward_is_within_its_bound(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites(wide=True))
    compare(subject, op, "forward", problem.x, problem.axis)


@conformance_property("vjp_accuracy", needs=("vjp",))
@budget(1.5)
@given(data=st.data())
def test_vjp_with_random_cotangents_is_within_its_bound(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites(wide=True))
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    compare(subject, op, "vjp", problem.x, problem.axis, [cotangent])


@conformance_property("jvp_accuracy", needs=("jvp",))
@budget(1.0)
@given(data=st.data())
def test_jvp_with_random_tangents_is_within_its_bound(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites(wide=True))
    tangent = data.draw(vectors(problem.shape, dtype), label="tangent")
    compare(subject, op, "jvp", problem.x, problem.axis, [tangent])


@conformance_property("long_row_accuracy", needs=("forward", "vjp"))
@budget(0.6)
@given(data=st.data())
def test_long_rows_are_within_their_bound(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.long)
    compare(subject, op, "forward", problem.x, problem.axis)
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    compare(subject, op, "vjp", problem.x, problem.axis, [cotangent])


@conformance_property("second_order_accuracy", needs=("vjp_derivative",))
@budget(0.75)
@given(data=st.data())
def test_derivative_of_the_vjp_is_within_its_bound(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites(wide=True))
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    direction = data.draw(vectors(problem.shape, dtype, loss_scaled=False), label="direction")
    compare(subject, op, "vjp_derivative", problem.x, problem.axis, [cotangent, direction])
