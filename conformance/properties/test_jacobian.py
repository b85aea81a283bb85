"""The Jacobian: against the oracle, its block-diagonal structure, its row sums, and its
agreement with the adapter's own VJP."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import method_name
from conformance.checks.assertions import assert_exactly, assert_within_bound, flushed_jacobian_entries
from conformance.checks.failures import WorstElement
from conformance.checks.native import call_script, element, native_script, steps_script
from conformance.checks.quantities import compare, draw_problem, likely_cause, run, transposed_product
from conformance.inputs.arguments import Argument
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property
from conformance.truth import oracle, tolerance
from conformance.truth.tolerance import Bound


@conformance_property("jacobian_accuracy", needs=("jacobian",))
@budget(1.0)
@given(data=st.data())
def test_jacobian_is_within_its_bound(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites())
    compare(subject, op, "jacobian", problem.x, problem.axis)


@conformance_property("jacobian_is_block_diagonal", needs=("jacobian",))
@budget(1.0)
@given(data=st.data())
def test_jacobian_is_block_diagonal(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites(min_rank=2))
    outcome = run(subject, op, "jacobian", problem.x, problem.axis)
    assert_exactly(
        "jacobian",
        outcome.actual,
        0.0,
        oracle.off_block_mask(problem.shape, problem.axis),
        "an entry coupling two different rows must be exactly 0 (softmax never mixes rows)",
        outcome.where,
        outcome.call,
    )


@conformance_property("jacobian_rows_sum_to_zero", needs=("jacobian",))
@budget(1.0)
@given(data=st.data())
def test_jacobian_times_ones_is_zero(subject, op, dtype, pool, data):
    """J 1 = 0 for both ops: shifting every logit of a row by the same amount changes nothing."""
    problem = draw_problem(data, dtype, pool.sites(min_rank=1))
    outcome = run(subject, op, "jacobian", problem.x, problem.axis)
    block = oracle.blocks_from_jacobian(outcome.actual.astype(np.longdouble), problem.axis)
    entry_bound = tolerance.blocks_bound(op, problem.x.value, problem.axis, dtype)
    row_sums = np.sum(block, axis=-1)
    bound = Bound(np.sum(entry_bound.absolute, axis=-1), np.sum(np.abs(block), axis=-1), np.dtype(dtype))
    assert_within_bound(
        "jacobian @ ones",
        row_sums,
        np.zeros(problem.shape),
        bound,
        outcome.where,
        lambda: outcome.call.source(f"oracle.blocks_from_jacobian(result, {problem.axis}).sum(axis=-1)"),
        reference="shift invariance (a row shifted by a constant has the same softmax)",
        native=lambda worst: call_script(outcome.call, [_row_sum_shown(worst, problem.axis)]),
    )


def _row_sum_shown(worst: WorstElement, axis: int) -> str:
    """What prints the sum of the Jacobian ``result``'s entries of output ``worst.index`` over
    the inputs of its row (along ``axis``), and the 0 it should be."""
    index = worst.index
    along = axis % len(index)
    inputs = [*map(str, index[:along]), ":", *map(str, index[along + 1 :])]
    entries = f"numpy_of(result)[{', '.join([*map(str, index), *inputs])}]"
    return f"'jacobian @ ones{list(index)} =', float({entries}.sum()), 'but shift invariance gives 0'"


@conformance_property("vjp_of_ones_is_zero", needs=("vjp",), ops=("softmax",))
@budget(1.0)
@given(data=st.data())
def test_vjp_of_ones_is_zero(subject, op, dtype, pool, data):
    """1^T J = 0 for softmax only: each row sums to one, a constant, so the gradient of
    softmax(x).sum() is zero. (log_softmax's is 1 - n s.)"""
    problem = draw_problem(data, dtype, pool.sites(wide=True))
    ones = Argument(np.ones(problem.shape, dtype=dtype))
    outcome = run(subject, op, "vjp", problem.x, problem.axis, [ones])
    bound = tolerance.vjp_bound(op, problem.x.value, ones.value, problem.axis, dtype)
    assert_within_bound(
        "vjp(ones)",
        outcome.actual,
        np.zeros(problem.shape),
        bound,
        outcome.where,
        lambda: outcome.call.source(f"np.zeros({problem.shape!r})"),
        reference="sum(softmax(x)) = 1, a constant,",
        native=lambda worst: native_script(outcome.call, worst, "but sum(softmax(x)) = 1, a constant, gives"),
    )


@conformance_property("vjp_equals_jacobian_transpose", needs=("jacobian", "vjp"))
@budget(1.0)
@given(data=st.data())
def test_vjp_equals_transposed_jacobian_times_cotangent(subject, op, dtype, pool, data):
    problem = draw_problem(data, dtype, pool.sites())
    cotangent = data.draw(vectors(problem.shape, dtype), label="cotangent")
    own = run(subject, op, "jacobian", problem.x, problem.axis)
    jacobian = own.actual.astype(np.longdouble)
    outcome = run(subject, op, "vjp", problem.x, problem.axis, [cotangent])
    g = cotangent.value.astype(np.longdouble)
    transposed, bound = transposed_product(op, problem.x.value, problem.axis, jacobian, g)
    jacobian_call = method_name(op, "jacobian")
    assert_within_bound(
        "vjp",
        outcome.actual,
        transposed,
        bound,
        outcome.where,
        lambda: outcome.call.source(
            f"np.tensordot(cotangent, adapter.{jacobian_call}(x, axis={problem.axis}), axes=x.ndim)"
        ),
        reference="its own Jacobian, transposed, times the cotangent,",
        explain=lambda: likely_cause(op, "vjp", problem.x.value, problem.axis, [cotangent.value], outcome.actual),
        cause=lambda index: flushed_jacobian_entries(
            op, problem.x.value, problem.axis, jacobian, g, index, outcome.actual, transposed, bound
        ),
        native=lambda worst: steps_script(
            [("jacobian", own.call), ("vjp", outcome.call), "g = numpy_of(cotangent)"],
            [
                f"'vjp{list(worst.index)} =', {element('vjp', worst.index)}, 'but its own Jacobian, transposed, "
                f"times the cotangent gives', float(np.tensordot(g, numpy_of(jacobian), axes=g.ndim)"
                f"{list(worst.index) if worst.index else ''})"
            ],
        ),
    )
