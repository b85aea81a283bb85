"""A result belongs to the caller: a later call of the same method and shape leaves it alone.

That the arguments come back untouched, and that no result shares memory with an
argument, is checked inside every call (:func:`conformance.checks.calls.invoke`). Whether a
result survives the *next* call needs two calls in one example, so it is a property.
"""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.calls import QuantityNotSupported, shares_memory
from conformance.checks.failures import ConformanceFailure
from conformance.checks.native import steps_script
from conformance.checks.quantities import VECTORS, draw_problem, run
from conformance.checks.reproducer import bit_patterns, reproducer
from conformance.inputs.profiles import budget
from conformance.inputs.shape_pool import Site
from conformance.inputs.strategies import problems, vectors
from conformance.properties.marks import conformance_property
from conformance.truth.oracle import QUANTITIES


@conformance_property("results_are_not_reused", needs=("forward", "vjp", "jacobian"))
@budget(0.5)
@given(data=st.data())
def test_a_result_is_not_overwritten_by_a_later_call(subject, op, dtype, pool, data):
    """Every quantity, called twice on inputs of one shape: the first result must not change
    and must not share memory with the second (a workspace returned twice)."""
    problem = draw_problem(data, dtype, pool.sites(), masks=False)
    site = Site(problem.shape, problem.axis)
    later = data.draw(problems(dtype, [site], masks=False), label="later problem")
    for quantity in QUANTITIES:
        if not subject.computes(op, quantity):
            continue
        names = VECTORS[quantity]
        first_vectors = [data.draw(vectors(problem.shape, dtype), label=name) for name in names]
        later_vectors = [data.draw(vectors(problem.shape, dtype), label=f"later {name}") for name in names]
        try:
            first = run(subject, op, quantity, problem.x, problem.axis, first_vectors)
        except QuantityNotSupported:
            continue
        kept = first.actual.copy()
        second = run(subject, op, quantity, later.x, problem.axis, later_vectors)
        changed = int(np.count_nonzero(bit_patterns(first.actual) != bit_patterns(kept)))
        shared = shares_memory(first.actual, second.actual)
        if changed or shared:
            what = (
                f"a second call of the same shape overwrote the array the first returned ({changed} of "
                f"{kept.size} elements changed)"
                if changed
                else "two calls of the same shape returned arrays that share memory"
            )
            raise ConformanceFailure(
                f"{first.call.method} reused its output: {what} {first.where}",
                reproducer(
                    first.call.spec,
                    [
                        *first.call.assignments("first_"),
                        *second.call.assignments("later_"),
                        f"first = {first.call.expression('first_')}",
                        "kept = first.copy()",
                        f"later = {second.call.expression('later_')}",
                    ],
                    [
                        "'first result unchanged, bit for bit:', first.tobytes() == kept.tobytes()",
                        "'shares memory with the later result:', np.may_share_memory(first, later)",
                    ],
                ),
                native_reproducer=steps_script(
                    [("first", first.call), "kept = numpy_of(first)", ("later", second.call)],
                    [
                        "'first result unchanged by the later call:', np.array_equal(numpy_of(first), kept, True)",
                        "'first and later share memory:', np.may_share_memory(np.asarray(first), np.asarray(later))",
                    ],
                ),
            )
