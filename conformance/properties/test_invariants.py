"""Exact invariants under -inf masks."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.assertions import assert_exactly
from conformance.checks.quantities import compare, draw_problem
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import BLOCK_RUNS, CONTIGUOUS_MASKS, vectors
from conformance.properties.marks import conformance_property


@conformance_property("masked_places_are_exact", needs=("forward", "vjp"))
@budget(1.0)
@given(data=st.data())
def test_masked_places_give_exact_zero_and_the_rest_is_finite(subject, op, dtype, pool, data):
    """Half the examples take rows longer than the longest block run (a wide or the long
    site) under a padding or causal mask, which covers whole blocks of a blocked kernel."""
    sites = pool.sites(min_rank=1, wide=True, min_row_length=2)
    block_rows = tuple(site for site in (*sites, *pool.long) if site.row_length > max(BLOCK_RUNS))
    if data.draw(st.booleans(), label="rows longer than a block, under a padding or causal mask"):
        problem = draw_problem(data, dtype, block_rows, force_mask=True, mask_kinds=CONTIGUOUS_MASKS)
    else:
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
