"""A row of a batch, computed alone, agrees with the same row computed in the batch.

Softmax never mixes rows, so a batch (any rank, any axis, any size) must give each row what
that row gives alone. Each answer may be off the exact value by its bound, so the two may
differ by twice the bound of the row alone. Both the small property ``batch_equals_rows``
and the large tier use this one check.
"""

from __future__ import annotations

import functools

import numpy as np

from conformance.checks.assertions import assert_within_bound
from conformance.checks.calls import Subject
from conformance.checks.failures import WorstElement
from conformance.checks.native import element, steps_script
from conformance.checks.quantities import Outcome, bound_for, exact_value, likely_cause, run
from conformance.checks.reproducer import reproducer
from conformance.inputs.arguments import Argument
from conformance.truth import oracle, tolerance
from conformance.truth.oracle import Op, Quantity
from conformance.truth.tolerance import Bound


def row_of(array: np.ndarray, axis: int, index: tuple[int, ...]) -> np.ndarray:
    """Row ``index`` (a batch index) of ``array`` along ``axis``, contiguous."""
    return np.ascontiguousarray(np.moveaxis(array, axis, -1)[index])


def batch_indices(shape: tuple[int, ...], axis: int) -> list[tuple[int, ...]]:
    """The batch index of every row of an input of ``shape`` whose rows run along ``axis``
    (non-negative), in C order."""
    return list(np.ndindex(*shape[:axis], *shape[axis + 1 :]))


def in_batch(quantity: Quantity, batch: np.ndarray, axis: int, index: tuple[int, ...]) -> tuple[np.ndarray, str]:
    """Row ``index``'s answer picked out of the batch's answer ``batch``, and the same as source
    (for the reproducer)."""
    if quantity == "jacobian":
        picked = np.moveaxis(oracle.blocks_from_jacobian(batch, axis), axis, -2)[index]
        return picked, f"np.moveaxis(oracle.blocks_from_jacobian(batch, {axis}), {axis}, -2)[{index!r}]"
    return np.moveaxis(batch, axis, -1)[index], f"np.moveaxis(batch, {axis}, -1)[{index!r}]"


def _twice(bound: Bound) -> Bound:
    """Batch and row each within the bound of the exact value: within twice of each other."""
    return Bound(2 * bound.absolute, bound.scale, bound.dtype)


def _row_bound(op: Op, quantity: Quantity, x_row: np.ndarray, vectors: list[Argument], axis: int) -> Bound:
    if quantity == "jacobian":
        return tolerance.blocks_bound(op, x_row, axis, x_row.dtype)
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


def assert_row_alone_agrees(
    subject: Subject,
    op: Op,
    quantity: Quantity,
    batch: Outcome,
    axis: int,
    index: tuple[int, ...],
    x_row: Argument,
    vectors: list[Argument],
    row_axis: int,
    note: str = "",
) -> None:
    """Call ``quantity`` on row ``index`` alone (1-d, ``row_axis``) and compare it with the same
    row of ``batch``, the answer for the whole input along ``axis`` (non-negative); ``note``
    ends the message's first line (what else the batch held)."""
    __tracebackhide__ = True
    alone = run(subject, op, quantity, x_row, row_axis, vectors)
    picked, picking = in_batch(quantity, batch.actual, axis, index)
    assert_within_bound(
        f"row {index} alone vs in the batch: {quantity}",
        alone.actual,
        picked,
        _twice(_row_bound(op, quantity, x_row.value, vectors, row_axis)),
        alone.where,
        functools.partial(_reproduce, batch, alone, picking),
        reference="the same row in the batch",
        agreement=True,
        explain=functools.partial(_likely_cause, op, quantity, x_row, vectors, row_axis, (alone.actual, picked)),
        note=note,
        native=functools.partial(_native, op, quantity, batch, alone, axis, index, x_row, vectors),
    )


def _likely_cause(
    op: Op,
    quantity: Quantity,
    x_row: Argument,
    vectors: list[Argument],
    row_axis: int,
    answers: tuple[np.ndarray, np.ndarray],
) -> str | None:
    """Why the row alone and the row in the batch disagree, when one of them is off the oracle
    for a known reason (a row sum that overflows the dtype in one kernel and not the other):
    the likely cause of the first answer that has one."""
    plain = [vector.value for vector in vectors]
    causes = (likely_cause(op, quantity, x_row.value, row_axis, plain, answer) for answer in answers)
    return next((cause for cause in causes if cause), None)


def _native(
    op: Op,
    quantity: Quantity,
    batch: Outcome,
    alone: Outcome,
    axis: int,
    index: tuple[int, ...],
    x_row: Argument,
    vectors: list[Argument],
    worst: WorstElement,
) -> str | None:
    """Both calls in the framework's own API, then the ``worst`` element of the row alone beside
    the same element in the batch (each place in the row, one for a Jacobian entry's each
    side, put in row ``index`` along ``axis``) and the oracle's value of it."""
    in_the_batch = tuple(place for in_row in worst.index for place in (*index[:axis], in_row, *index[axis:]))
    work = oracle.reference_work(x_row.value.dtype)
    exact = exact_value(op, quantity, x_row.value, alone.call.axis, [vector.value for vector in vectors], work)
    name = alone.call.method
    return steps_script(
        [("batch", batch.call), ("row", alone.call)],
        [
            f"'row {index} alone: {name}{list(worst.index)} =', {element('row', worst.index)}, "
            f"'in the batch: {name}{list(in_the_batch)} =', {element('batch', in_the_batch)}, "
            f"'the oracle gives {float(exact[worst.index])!r}'"
        ],
    )
