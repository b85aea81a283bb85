"""Exact invariants: a length-1 axis, a 0-d input, and -inf masks."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import provided_method
from conformance.checks.assertions import assert_exactly
from conformance.checks.quantities import compare, draw_problem, run
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import Problem, vectors
from conformance.properties.marks import conformance_property


def _rows_of_length_one_are_exact(subject, op, dtype, problem: Problem, data, what: str) -> None:
    """softmax is exactly 1 (log_softmax 0), and the VJP, JVP (if provided) and Jacobian
    exactly 0, on inputs whose every row has one element (``what`` says which)."""
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    one = 1.0 if op == "softmax" else 0.0
    outcome = run(subject, op, "forward", problem.x, problem.axis)
    everywhere = np.ones(problem.shape, dtype=bool)
    assert_exactly(op, outcome.actual, one, everywhere, f"{what} gives exactly {one:g}", outcome.where, outcome.call)
    for quantity in ("vjp", "jvp"):
        if quantity == "jvp" and provided_method(subject.adapter, op, "jvp") is None:
            continue
        outcome = run(subject, op, quantity, problem.x, problem.axis, [cotangent])
        rule = f"{what} has a zero {'gradient' if quantity == 'vjp' else 'JVP'}"
        assert_exactly(quantity, outcome.actual, 0.0, everywhere, rule, outcome.where, outcome.call)
    outcome = run(subject, op, "jacobian", problem.x, problem.axis)
    whole = np.ones(outcome.actual.shape, dtype=bool)
    assert_exactly("jacobian", outcome.actual, 0.0, whole, f"{what} has a zero Jacobian", outcome.where, outcome.call)


@conformance_property("length_one_axis_is_exact", needs=("forward", "vjp", "jacobian"))
@budget(0.5)
@given(data=st.data())
def test_length_one_axis_gives_exactly_one_and_zero_gradient(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.unit, masks=False)
    _rows_of_length_one_are_exact(subject, op, dtype, problem, data, "a row of length 1")


@conformance_property("zero_dimensional_input", needs=("forward", "vjp", "jacobian"))
@budget(0.25)
@given(data=st.data())
def test_a_zero_dimensional_input_is_one_row_of_length_one(subject, op, dtype, pool, data):
    """A 0-d x (axis 0 or -1) is a single row of one element; every result is 0-d too."""
    problem = draw_problem(data, dtype, pool.scalar, masks=False)
    _rows_of_length_one_are_exact(subject, op, dtype, problem, data, "a 0-d input")


@conformance_property("masked_places_are_exact", needs=("forward", "vjp"))
@budget(1.0)
@given(data=st.data())
def test_masked_places_give_exact_zero_and_the_rest_is_finite(subject, op, dtype, pool, data):
    sites = pool.sites(min_rank=1, wide=True, min_row_length=2)
    problem = draw_problem(data, dtype, sites, force_mask=True)
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    masked = np.isneginf(problem.x.value)
    # compare() also fails NaN or inf anywhere the oracle is finite.
    outcome = compare(subject, op, "forward", problem.x, problem.axis)
    out_value = 0.0 if op == "softmax" else -np.inf
    assert_exactly(
        op, outcome.actual, out_value, masked, f"a -inf logit gives exactly {out_value:g}", outcome.where, outcome.call
    )
    outcome = compare(subject, op, "vjp", problem.x, problem.axis, [cotangent])
    if op == "softmax":
        assert_exactly(
            "vjp", outcome.actual, 0.0, masked, "a -inf logit gets exactly zero gradient", outcome.where, outcome.call
        )
