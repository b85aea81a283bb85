"""The full-Jacobian approach, for comparison with the O(N) checks: what a checker that forms
the whole N x N Jacobian does, and what that costs.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.adapter import method_name
from conformance.scale.checks import CheckResult, call, check_context, guarded, unavailable
from conformance.scale.chunks import compare_rows
from conformance.truth import oracle, tolerance
from conformance.truth.oracle import Op
from conformance.truth.tolerance import Bound


def check_full_jacobian(
    adapter: Any, x: np.ndarray, axis: int, dtype: Any = None, *, op: Op = "softmax"
) -> CheckResult:
    """What a full-Jacobian checker does (the suite's ``jacobian_accuracy`` property): the
    adapter's N x N Jacobian against the whole oracle Jacobian within the block bound
    (``tolerance.blocks_bound`` embedded in N x N, exactly 0 off the blocks). Memory grows
    as N**2; it is here to measure that against the O(N) checks."""
    context = check_context(adapter, x, axis, 0, dtype, op)
    if (skipped := unavailable("full_jacobian", context)) is not None:
        return skipped

    def body() -> CheckResult:
        full = call(context, "jacobian", context.x, shape=context.x.shape * 2)
        exact = oracle.jacobian(op, context.x, context.layout.axis, work=context.work)
        blocks = tolerance.blocks_bound(op, context.x, context.layout.axis, context.dtype)
        bound = Bound(
            oracle.jacobian_from_blocks(blocks.absolute, context.layout.axis),
            oracle.jacobian_from_blocks(blocks.scale, context.layout.axis),
            blocks.dtype,
        )
        del blocks
        n = context.layout.size
        worst = compare_rows(
            full.reshape(n, n),
            exact.reshape(n, n),
            Bound(bound.absolute.reshape(n, n), bound.scale.reshape(n, n), bound.dtype),
            np.arange(n),
            context.work,
        )
        if worst.over:
            assert worst.where is not None
            out_index = np.unravel_index(worst.where[0], context.x.shape)
            in_index = np.unravel_index(worst.where[1], context.x.shape)
            message = (
                f"{method_name(op, 'jacobian')}[{', '.join(map(str, (*out_index, *in_index)))}] = "
                f"{context.fmt(worst.value)}, but the oracle gives {context.fmt(worst.expected)} "
                f"(err {worst.error_ulp:.3g} ulp > bound {worst.bound_ulp:.3g} ulp) {context.label}; "
                f"{worst.over} of {worst.compared} entries exceed their bound"
            )
            return CheckResult("full_jacobian", False, worst.max_ulp, message, op)
        return CheckResult("full_jacobian", True, worst.max_ulp, "", op)

    return guarded("full_jacobian", op, body)
