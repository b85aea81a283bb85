"""The finite edges, enumerated: the (case, quantity) combinations of
:mod:`conformance.inputs.catalogue` that the run's plan gives a record (``edges``: all of them
in ``ci`` and ``thorough``, one block of a covering design in ``dev``, see
:mod:`conformance.inputs.covering`) run in every example of its property; only the values are
drawn.

* ``empty_inputs``: a zero-size side, on the axis and elsewhere, at ranks 1 to 4: every
  quantity has the documented (empty) shape and the input's dtype;
* ``zero_dimensional_input``: a 0-d input, axis 0 and -1. Taking it as one row of length 1
  (torch's convention, and the oracle's) and rejecting it (NumPy's ``moveaxis``, jax and
  TensorFlow raise) are both valid, but the choice is the whole function's: a softmax that
  returns on it and a VJP that raises on it fail; what an adapter returns for it must be right;
* ``length_one_axis_is_exact``: a length-1 axis at the start, middle and end of 16 rows gives
  exactly 1 (log: 0), and exactly zero derivatives;
* ``single_row_and_column``: the whole input is one row, along the last axis or the first;
* ``every_axis_in_turn``: the (op, dtype)'s rank 5 to 8 site, on each of its axes in turn, in
  one worker (a plan cached by shape and dtype alone keeps the first axis).
"""

from __future__ import annotations

from typing import cast

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.assertions import assert_exactly
from conformance.checks.calls import QuantityNotSupported, skipping_unsupported
from conformance.checks.failures import AdapterCallError, ConformanceFailure
from conformance.checks.headlines import cause_line
from conformance.checks.quantities import VECTORS, Outcome, compare, draw_problem, make_call, run
from conformance.checks.reproducer import Call, reproducer
from conformance.inputs import catalogue
from conformance.inputs.covering import Drawn, axis_of
from conformance.inputs.profiles import budget
from conformance.inputs.shape_pool import Site
from conformance.inputs.strategies import Problem, vectors
from conformance.properties.marks import conformance_property
from conformance.truth.oracle import Quantity


def _draw(data, dtype, case: catalogue.Case, index: int, **options) -> Problem:
    """The values of one case; the first case of an example counts the example."""
    return draw_problem(data, dtype, [case.site], label="problem" if index == 0 else case.what, **options)


def _by_case(edges: Drawn, cases: tuple[catalogue.Case, ...]) -> dict[catalogue.Case, list[Quantity]]:
    """The record's planned quantities of each case, cases in the catalogue's order."""
    planned: dict[catalogue.Case, list[Quantity]] = {}
    for index, quantity in edges.combinations:  # in the product's order: case by case
        planned.setdefault(cases[cast(int, index)], []).append(cast(Quantity, quantity))
    return planned


def _provided(subject, op, quantities: list[Quantity]) -> list[Quantity]:
    return [quantity for quantity in quantities if subject.computes(op, quantity)]


@conformance_property("empty_inputs", needs=("forward", "vjp", "jacobian"))
@budget(0.2)
@given(data=st.data())
def test_empty_inputs_give_empty_results(subject, op, dtype, pool, edges, data):
    """Every quantity of every empty case has the documented shape (empty) and dtype."""
    for index, (case, quantities) in enumerate(_by_case(edges, catalogue.EMPTY).items()):
        problem = _draw(data, dtype, case, index)
        for quantity in _provided(subject, op, quantities):
            names = VECTORS[quantity]
            drawn = [data.draw(vectors(problem.shape, dtype), label=f"{case.what}: {name}") for name in names]
            with skipping_unsupported():
                run(subject, op, quantity, problem.x, problem.axis, drawn)


def _rows_of_length_one_are_exact(
    subject, op, dtype, problem: Problem, data, what: str, quantities: list[Quantity]
) -> None:
    """softmax is exactly 1 (log_softmax 0), and the VJP, JVP and Jacobian exactly 0, on inputs
    whose every row has one element (``what`` says which). A 0-d input may also be rejected:
    a call that raises on it is a valid choice, not a failure, when every method of the
    adapter raises on it (:func:`_rejected_by_some_methods_only`)."""
    one = 1.0 if op == "softmax" else 0.0
    rules = {
        "forward": (one, f"{what} gives exactly {one:g}"),
        "vjp": (0.0, f"{what} has a zero gradient"),
        "jvp": (0.0, f"{what} has a zero JVP"),
        "jacobian": (0.0, f"{what} has a zero Jacobian"),
    }
    accepted: list[Outcome] = []
    rejected: list[tuple[Call, Exception]] = []  # the calls that raised on a 0-d input, and what they raised
    for quantity in _provided(subject, op, quantities):
        drawn = [data.draw(vectors(problem.shape, dtype), label=f"{what}: {name}") for name in VECTORS[quantity]]
        try:
            outcome = run(subject, op, quantity, problem.x, problem.axis, drawn)
        except QuantityNotSupported:
            continue
        except AdapterCallError as error:
            if problem.x.value.ndim == 0 and error.raised is not None:
                rejected.append((make_call(subject, op, quantity, problem.x, problem.axis, drawn), error.raised))
                continue
            raise
        accepted.append(outcome)
        expected, rule = rules[quantity]
        name = op if quantity == "forward" else quantity
        everywhere = np.ones(outcome.actual.shape, dtype=bool)
        assert_exactly(name, outcome.actual, expected, everywhere, rule, outcome.where, outcome.call)
    if accepted and rejected:
        raise _rejected_by_some_methods_only(accepted[0], *rejected[0])


def _rejected_by_some_methods_only(accepted: Outcome, rejected: Call, raised: Exception) -> ConformanceFailure:
    """The failure of an adapter whose one method returns on a 0-d input and another raises on
    it: rejecting a 0-d input is a choice for the whole function, or a caller cannot tell
    which of its calls will work. The reproducer makes both calls."""
    message = (
        f"{accepted.call.method} accepts a 0-d input (axis {accepted.call.axis}) but {rejected.method} raised "
        f"{type(raised).__name__} on it: {cause_line(str(raised))}; rejecting a 0-d input is a choice for the "
        f"whole function {accepted.where}"
    )
    returns = [*accepted.call.assignments(), f"print({accepted.call.method!r}, {accepted.call.expression()})"]
    raises = [*(line for line in rejected.assignments() if line not in returns), f"{rejected.expression()}  # raises"]
    return ConformanceFailure(message, reproducer(rejected.spec, [*returns, *raises], []))


@conformance_property("length_one_axis_is_exact", needs=("forward", "vjp", "jacobian"))
@budget(0.3)
@given(data=st.data())
def test_length_one_axis_gives_exactly_one_and_zero_gradient(subject, op, dtype, pool, edges, data):
    for index, (case, quantities) in enumerate(_by_case(edges, catalogue.LENGTH_ONE).items()):
        problem = _draw(data, dtype, case, index, masks=False)
        what = f"a row of length 1 ({case.what})"
        _rows_of_length_one_are_exact(subject, op, dtype, problem, data, what, quantities)


@conformance_property("zero_dimensional_input", needs=("forward", "vjp", "jacobian"))
@budget(0.2)
@given(data=st.data())
def test_a_zero_dimensional_input_is_one_row_of_length_one_or_rejected(subject, op, dtype, pool, edges, data):
    """A 0-d x (axis 0 or -1) is a single row of one element, every result 0-d too; or the
    adapter rejects it, raising at every call of every method. Anything it does return must
    be right."""
    for index, (case, quantities) in enumerate(_by_case(edges, catalogue.ZERO_DIMENSIONAL).items()):
        problem = _draw(data, dtype, case, index, masks=False)
        _rows_of_length_one_are_exact(subject, op, dtype, problem, data, case.what, quantities)


@conformance_property("single_row_and_column", needs=("forward", "vjp"))
@budget(0.3)
@given(data=st.data())
def test_a_single_row_or_column_is_within_its_bound(subject, op, dtype, pool, edges, data):
    for index, (case, quantities) in enumerate(_by_case(edges, catalogue.SINGLE_ROW).items()):
        problem = _draw(data, dtype, case, index)
        cotangent = data.draw(vectors(problem.shape, dtype), label=f"{case.what}: cotangent")
        for quantity in quantities:
            compare(subject, op, quantity, problem.x, problem.axis, [cotangent] if quantity == "vjp" else [])


@conformance_property("every_axis_in_turn", needs=("forward", "vjp"))
@budget(0.2)
@given(data=st.data())
def test_one_shape_on_each_of_its_axes_in_turn(subject, op, dtype, pool, edges, data):
    """The rank 5 to 8 site on axis 0, 1, ... in turn, each written as the run's pool says
    (counted from the start or from the end; both ways in ``ci`` and ``thorough``): the
    forward pass on every axis, the VJP on the first and the last (each axis is a program of
    its own for a compiled path, and the VJP's costs most), as far as the run's plan has them."""
    shape = pool.high_rank.shape
    rank = len(shape)
    planned: dict[int, list[Quantity]] = {}
    for ((position, quantity),) in edges.combinations:
        calls = planned.setdefault(axis_of(cast(int, position), rank), [])
        if quantity not in calls:
            calls.append(cast(Quantity, quantity))
    for form, from_end in enumerate(pool.axis_forms):
        for number, (position, quantities) in enumerate(sorted(planned.items())):
            axis = position - rank if from_end[position] else position
            first = form == 0 and number == 0
            problem = draw_problem(data, dtype, [Site(shape, axis)], label="problem" if first else f"axis {axis}")
            cotangent = data.draw(vectors(shape, dtype), label=f"axis {axis}: cotangent")
            for quantity in quantities:
                compare(subject, op, quantity, problem.x, problem.axis, [cotangent] if quantity == "vjp" else [])
