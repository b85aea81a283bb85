"""One place that knows, for each quantity, its oracle, its bound and its shape.

Properties ask for ``compare(subject, op, quantity, ...)``: the adapter is called, the
result checked against the oracle within the tolerance model, and the result returned
for any further structural check.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from conformance.adapter import method_name
from conformance.checks import hints, measure
from conformance.checks.assertions import assert_within_bound
from conformance.checks.calls import Subject, invoke, label
from conformance.checks.failures import WorstElement
from conformance.checks.native import Step, native_call, native_script, steps_script, worst_shown
from conformance.checks.reproducer import Call
from conformance.inputs.arguments import Argument
from conformance.inputs.shape_pool import Site
from conformance.inputs.strategies import Problem, problems
from conformance.truth import oracle, tolerance
from conformance.truth.dtypes import dtype_name
from conformance.truth.oracle import Op, Quantity
from conformance.truth.tolerance import Bound, RowTerms

# Names of the vectors each quantity takes after x, in the adapter's argument order.
VECTORS: dict[Quantity, tuple[str, ...]] = {
    "forward": (),
    "jacobian": (),
    "vjp": ("cotangent",),
    "jvp": ("tangent",),
    "vjp_derivative": ("cotangent", "direction"),
}


def exact_value(
    op: Op,
    quantity: Quantity,
    x: np.ndarray,
    axis: int,
    vectors: Sequence[np.ndarray],
    work: Any,
    terms: RowTerms | None = None,
) -> np.ndarray:
    """The oracle's ``quantity`` of ``op``; ``terms`` (of x, when the bound made them) carry
    the float64 softmax, so a float64 reference is not computed twice."""
    reusable = terms is not None and np.dtype(work) == np.float64
    if quantity == "forward":
        if reusable:
            assert terms is not None
            return (terms.softmax if op == "softmax" else terms.log_softmax).reshape(np.shape(x))
        return oracle.forward(op, x, axis, work=work)
    if quantity == "jacobian":
        return oracle.jacobian(op, x, axis, work=work)
    probabilities = terms.softmax if reusable and terms is not None else None
    if quantity == "vjp":
        return oracle.vjp(op, x, vectors[0], axis, work=work, probabilities=probabilities)
    if quantity == "jvp":
        return oracle.jvp(op, x, vectors[0], axis, work=work, probabilities=probabilities)
    return oracle.vjp_derivative(op, x, vectors[0], vectors[1], axis, work=work)


def jacobian_bound(op: Op, x: np.ndarray, axis: int, dtype: Any) -> Bound:
    """The block bound embedded in the full Jacobian: off the blocks, exactly 0 is required."""
    blocks = tolerance.blocks_bound(op, x, axis, dtype)
    if np.ndim(x) == 0:
        return Bound(blocks.absolute.reshape(()), blocks.scale.reshape(()), blocks.dtype)
    return Bound(
        oracle.jacobian_from_blocks(blocks.absolute, axis),
        oracle.jacobian_from_blocks(blocks.scale, axis),
        blocks.dtype,
    )


def transposed_product(
    op: Op, x: np.ndarray, axis: int, jacobian: np.ndarray, cotangent: np.ndarray
) -> tuple[np.ndarray, Bound]:
    """``J^T g`` from an adapter's own Jacobian (``jacobian`` and ``cotangent`` in long double)
    and how far its VJP may be from it: the VJP's own bound plus each Jacobian entry's bound,
    spread through ``|g|``."""
    rank = np.ndim(x)
    product = np.tensordot(cotangent, jacobian, axes=rank) if rank else cotangent * jacobian
    entry_bound = jacobian_bound(op, x, axis, x.dtype).absolute
    spread = np.tensordot(np.abs(cotangent), entry_bound, axes=rank) if rank else np.abs(cotangent) * entry_bound
    own = tolerance.vjp_bound(op, x, cotangent, axis, x.dtype)
    return product, Bound(own.absolute + spread, own.scale, own.dtype)


_BOUNDS: dict[Quantity, Callable[..., Bound]] = {
    "forward": tolerance.forward_bound,
    "vjp": tolerance.vjp_bound,
    "jvp": tolerance.jvp_bound,
    "vjp_derivative": tolerance.vjp_derivative_bound,
}


def bound_for(
    op: Op, quantity: Quantity, x: np.ndarray, axis: int, vectors: Sequence[np.ndarray], terms: RowTerms | None = None
) -> Bound:
    if quantity == "jacobian":
        return jacobian_bound(op, x, axis, x.dtype)
    return _BOUNDS[quantity](op, x, *vectors, axis, x.dtype, terms)


def reference(
    op: Op, quantity: Quantity, x: np.ndarray, vectors: Sequence[np.ndarray], axis: int
) -> tuple[np.ndarray, Bound]:
    """The oracle's ``quantity`` of ``op`` and its bound, for ``x`` in its own dtype: what a
    hint compares a failed result with (the same computation in another dtype or axis)."""
    exact = exact_value(op, quantity, x, axis, vectors, oracle.reference_work(x.dtype))
    return exact, bound_for(op, quantity, x, axis, vectors)


def likely_cause(
    op: Op, quantity: Quantity, x: np.ndarray, axis: int, vectors: Sequence[np.ndarray], answer: np.ndarray
) -> str | None:
    """Why ``answer`` (``quantity`` of ``op`` at ``x``) is off the oracle, when a second look
    finds a known reason (:mod:`conformance.checks.hints`): for the checks that compare it with
    something else than the oracle (the same row in a batch, the adapter's own Jacobian)."""
    again = functools.partial(reference, op, quantity)
    exact, bound = again(x, vectors, axis)
    return hints.likely_cause(hints.Computation(op, quantity, x, axis, tuple(vectors), answer, exact, bound, again))


def expected_shape(quantity: Quantity, x: np.ndarray) -> tuple[int, ...]:
    return tuple(x.shape) * 2 if quantity == "jacobian" else tuple(x.shape)


@dataclass
class Outcome:
    """An adapter's answer and everything it was judged by."""

    actual: np.ndarray
    call: Call
    where: str


def draw_problem(data: Any, dtype: Any, sites: Sequence[Site], *, label: str = "problem", **options: Any) -> Problem:
    """Draw an example's input from ``sites`` (see :func:`conformance.inputs.strategies.problems`);
    the first draw of an example, labelled "problem", counts it in the property's measurement."""
    if label == "problem":
        measure.count_example()
    drawn: Problem = data.draw(problems(dtype, sites, **options), label=label)
    return drawn


def make_call(
    subject: Subject, op: Op, quantity: Quantity, x: Argument, axis: int, vectors: Sequence[Argument]
) -> Call:
    names = ("x", *VECTORS[quantity])
    arguments = [x, *vectors]
    return Call(
        spec=subject.location,
        method=method_name(op, quantity),
        axis=axis,
        arrays={name: argument.value for name, argument in zip(names, arguments)},
        views={name: argument.view for name, argument in zip(names, arguments) if argument.view is not None},
        recipes={name: argument.recipe for name, argument in zip(names, arguments) if argument.recipe is not None},
        native=native_call(subject.adapter, op, quantity),
    )


def oracle_source(op: Op, quantity: Quantity, call: Call) -> str:
    function = {"forward": "forward", "jacobian": "jacobian", "vjp": "vjp", "jvp": "jvp"}.get(quantity, quantity)
    return f"oracle.{function}({op!r}, {call.argument_list()})"


def run(
    subject: Subject, op: Op, quantity: Quantity, x: Argument, axis: int, vectors: Sequence[Argument] = ()
) -> Outcome:
    """Call the adapter; check the answer's type, shape and dtype only."""
    return answer(subject, op, quantity, make_call(subject, op, quantity, x, axis, vectors))


def answer(subject: Subject, op: Op, quantity: Quantity, call: Call) -> Outcome:
    """Make ``call``, prepared by :func:`make_call`; check the answer's type, shape and dtype only."""
    x = call.arrays["x"]
    actual = invoke(subject, op, quantity, call, expected_shape(quantity, x))
    return Outcome(actual, call, label(subject, op, x.dtype, call.axis))


def compare(
    subject: Subject,
    op: Op,
    quantity: Quantity,
    x: Argument,
    axis: int,
    vectors: Sequence[Argument] = (),
    earlier: Sequence[Call] = (),
) -> Outcome:
    """Call the adapter and check every element against the oracle within its bound.
    ``earlier``: the calls made before it that its answer may depend on (state an adapter
    keeps between calls); the message names them and the reproducer makes them first."""
    __tracebackhide__ = True
    outcome = run(subject, op, quantity, x, axis, vectors)
    work = oracle.reference_work(x.value.dtype)
    plain = [vector.value for vector in vectors]
    terms = None if quantity == "jacobian" else tolerance.row_terms(x.value, axis, x.value.dtype)
    exact = exact_value(op, quantity, x.value, axis, plain, work, terms)
    bound = bound_for(op, quantity, x.value, axis, plain, terms)
    again = functools.partial(reference, op, quantity)
    failed = hints.Computation(op, quantity, x.value, axis, tuple(plain), outcome.actual, exact, bound, again)
    assert_within_bound(
        method_name(op, quantity),
        outcome.actual,
        exact,
        bound,
        outcome.where,
        lambda: outcome.call.source(oracle_source(op, quantity, outcome.call), earlier),
        explain=functools.partial(hints.likely_cause, failed),
        note=f", after {', '.join(map(_named, earlier))} in the same process" if earlier else "",
        native=functools.partial(_native_after, earlier, outcome.call),
    )
    return outcome


def _native_after(earlier: Sequence[Call], call: Call, worst: WorstElement) -> str | None:
    """The native reproducer of ``call`` whose ``worst`` element is off: the ``earlier`` calls
    first, in the same process (state the framework keeps, such as a compiled program's
    cache, may change the answer), then the call."""
    if not earlier:
        return native_script(call, worst)
    turns: list[Step] = [(f"turn{number}", turn) for number, turn in enumerate(earlier, 1)]
    return steps_script([*turns, ("result", call)], [worst_shown(worst, "but the oracle gives")])


def _named(call: Call) -> str:
    """``vjp(float16)``: an earlier call, in a message."""
    return f"{call.method}({dtype_name(call.arrays['x'].dtype)})"
