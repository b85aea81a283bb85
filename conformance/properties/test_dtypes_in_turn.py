"""One shape with every dtype in turn, in one worker: an answer must not depend on the dtypes
called before it.

An implementation that keeps state between calls (a plan, a workspace, a compiled kernel)
and keys it by shape and element size alone serves float16 and bfloat16 (both 2 bytes) with
one plan: whichever half type arrives second has its bits decoded as the first's. Each
(op, dtype) of the run calls :data:`conformance.inputs.catalogue.EVERY_DTYPE` with its own
dtype, then with every other dtype of the run the adapter supports, then with its own again,
so across the run each pair of dtypes meets in both orders, whatever shard each runs in.

State outlives an example: a worker runs the records one after another, so the first call of
one may find what the examples of another left (a bfloat16 record served the float16
record's plan). A failure's calls before it therefore start with the last calls this worker
made here (an example's worth, whichever record made them), and so does its reproducer.
"""

from __future__ import annotations

import collections

from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.quantities import compare, draw_problem
from conformance.checks.reproducer import Call
from conformance.inputs import catalogue
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property
from conformance.truth.dtypes import DTYPE_NAMES, dtype_name

# the last calls this worker made here, an example's worth (two calls for each of its turns)
_recent: collections.deque[Call] = collections.deque(maxlen=2 * (len(DTYPE_NAMES) + 1))


@conformance_property("every_dtype_in_turn", needs=("forward", "vjp"))
@budget(0.2)
@given(data=st.data())
def test_one_shape_with_every_dtype_in_turn(subject, op, dtype, run_dtypes, data):
    """Forward and VJP of one shape, in this record's dtype, each other dtype, and this one
    again, each within its bound; a failure's reproducer makes the calls before it first."""
    site = catalogue.EVERY_DTYPE.site
    turns = [dtype, *(other for other in run_dtypes if other != dtype), dtype]
    earlier: list[Call] = list(_recent)
    for turn, each in enumerate(turns):
        what = f"turn {turn}, {dtype_name(each)}"
        problem = draw_problem(data, each, [site], label="problem" if turn == 0 else what)
        cotangent = data.draw(vectors(site.shape, each), label=f"{what}: cotangent")
        forward = compare(subject, op, "forward", problem.x, problem.axis, earlier=earlier)
        earlier.append(forward.call)
        _recent.append(forward.call)
        vjp = compare(subject, op, "vjp", problem.x, problem.axis, [cotangent], earlier=earlier)
        earlier.append(vjp.call)
        _recent.append(vjp.call)
