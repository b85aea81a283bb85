"""Forward and reverse mode agree: <u, J^T v> = <J u, v>, an O(N) check with no Jacobian."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from conformance.checks.assertions import assert_within_bound
from conformance.checks.native import steps_script
from conformance.checks.quantities import draw_problem, run
from conformance.checks.reproducer import array_source, reproducer
from conformance.inputs.profiles import budget
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property
from conformance.truth import tolerance
from conformance.truth.tolerance import Bound


@conformance_property("jvp_vjp_adjoint", needs=("jvp", "vjp"))
@budget(1.0)
@given(data=st.data())
def test_jvp_and_vjp_are_adjoint(subject, op, dtype, pool, data):
    """The vectors are never loss-scaled: a scaled one can make a correct VJP or JVP round to
    inf (past the dtype's range), where the two sides no longer say anything."""
    problem = draw_problem(data, dtype, pool.sites(wide=True))
    u = data.draw(vectors(problem.shape, dtype, loss_scaled=False), label="tangent")
    v = data.draw(vectors(problem.shape, dtype, loss_scaled=False), label="cotangent")
    pulled = run(subject, op, "vjp", problem.x, problem.axis, [v])
    pushed = run(subject, op, "jvp", problem.x, problem.axis, [u])
    u_, v_ = u.value.astype(np.longdouble), v.value.astype(np.longdouble)
    left = np.sum(u_ * pulled.actual.astype(np.longdouble))
    right = np.sum(pushed.actual.astype(np.longdouble) * v_)
    vjp_bound = tolerance.vjp_bound(op, problem.x.value, v.value, problem.axis, dtype)
    jvp_bound = tolerance.jvp_bound(op, problem.x.value, u.value, problem.axis, dtype)
    bound = Bound(
        np.asarray(np.sum(np.abs(u_) * vjp_bound.absolute) + np.sum(np.abs(v_) * jvp_bound.absolute)),
        np.asarray(np.sum(np.abs(u_) * vjp_bound.scale) + np.sum(np.abs(v_) * jvp_bound.scale)),
        np.dtype(dtype),
    )
    assert_within_bound(
        "<u, vjp(v)>",
        np.asarray(left),
        np.asarray(right),
        bound,
        pulled.where,
        lambda: reproducer(
            pulled.call.spec,
            [
                *pulled.call.assignments(),
                f"tangent = {array_source(u.value, u.view)}",
                f"pulled = {pulled.call.expression()}",
                f"pushed = {pushed.call.expression()}",
            ],
            [
                "'<u, vjp(v)> =', np.sum(tangent.astype(np.float64) * pulled.astype(np.float64))",
                "'<jvp(u), v> =', np.sum(pushed.astype(np.float64) * cotangent.astype(np.float64))",
            ],
        ),
        reference="<jvp(u), v>",
        native=lambda worst: steps_script(
            [("pulled", pulled.call), "v = numpy_of(cotangent)", ("pushed", pushed.call), "u = numpy_of(tangent)"],
            [
                "'<u, vjp(v)> =', float(np.sum(u * numpy_of(pulled)))",
                "'<jvp(u), v> =', float(np.sum(numpy_of(pushed) * v))",
            ],
        ),
    )
