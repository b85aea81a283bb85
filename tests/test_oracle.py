"""The oracle against mpmath at 50 digits, on generated inputs.

The softmax values are checked against mpmath's own exp and sum; the derivatives against
mpmath's numerical differentiation of that softmax, so the closed forms in the oracle are
checked against the definition, not against themselves.
"""

from __future__ import annotations

import mpmath
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.truth import oracle, tolerance
from conformance.truth.dtypes import ulp

mpmath.mp.dps = 50

rows = hnp.arrays(np.float64, st.integers(1, 6), elements=st.floats(-30, 30))
vectors_like = st.integers(0, 2**32 - 1)


def _mp_softmax(row: list[mpmath.mpf]) -> list[mpmath.mpf]:
    exps = [mpmath.exp(value) for value in row]
    total = mpmath.fsum(exps)
    return [value / total for value in exps]


def _mp_log_softmax(row: list[mpmath.mpf]) -> list[mpmath.mpf]:
    total = mpmath.log(mpmath.fsum(mpmath.exp(value) for value in row))
    return [value - total for value in row]


MP_OP = {"softmax": _mp_softmax, "log_softmax": _mp_log_softmax}


def _mp_jacobian(op: str, row: np.ndarray) -> list[list[mpmath.mpf]]:
    """d out_i / d x_j by mpmath's numerical differentiation of the definition."""
    point = [mpmath.mpf(float(value)) for value in row]
    n = len(point)
    jac = [[mpmath.mpf(0)] * n for _ in range(n)]
    for j in range(n):
        for i in range(n):

            def component(t, i=i, j=j):
                moved = list(point)
                moved[j] = moved[j] + t
                return MP_OP[op](moved)[i]

            jac[i][j] = mpmath.diff(component, 0)
    return jac


@pytest.mark.parametrize("op", oracle.OPS)
@settings(max_examples=40, deadline=None)
@given(row=rows)
def test_float64_oracle_is_within_the_tolerance_model_for_float64(op, row):
    """The float64 oracle is itself a correct float64 implementation: within the bound."""
    exact = np.array([float(value) for value in MP_OP[op]([mpmath.mpf(float(v)) for v in row])])
    bound = tolerance.forward_bound(op, row, -1, np.float64)
    assert np.all(np.abs(oracle.forward(op, row, -1) - exact) <= bound.absolute)


@pytest.mark.skipif(np.finfo(np.longdouble).nmant <= 52, reason="long double is float64 here")
@pytest.mark.parametrize("op", oracle.OPS)
@settings(max_examples=40, deadline=None)
@given(row=rows)
def test_long_double_oracle_is_within_a_small_fraction_of_a_float64_ulp(op, row):
    """What the accuracy check relies on for float64 under test."""
    exact = MP_OP[op]([mpmath.mpf(float(v)) for v in row])
    got = oracle.forward(op, row, -1, work=np.longdouble)
    exact_ld = np.array([mpmath.nstr(value, 30) for value in exact], dtype=np.longdouble)
    error = np.abs(got - exact_ld)
    bound = tolerance.forward_bound(op, row, -1, np.float64).absolute
    assert np.all(error <= 0.01 * bound), error / bound


@pytest.mark.parametrize("op", oracle.OPS)
@settings(max_examples=40, deadline=None)
@given(row=rows)
def test_portable_oracle_is_within_a_small_fraction_of_a_float64_ulp(op, row):
    """The reference for float64 where long double is float64: mpmath at 113 bits."""
    exact = MP_OP[op]([mpmath.mpf(float(v)) for v in row])
    got = oracle.forward(op, row, -1, work=oracle.PORTABLE)
    error = np.array([float(abs(mine - theirs)) for mine, theirs in zip(got, exact)])
    bound = tolerance.forward_bound(op, row, -1, np.float64).absolute
    assert np.all(error <= 1e-6 * bound), error / bound


WORKS = pytest.mark.parametrize("work", [np.float64, oracle.PORTABLE], ids=["float64", "portable"])


@WORKS
@pytest.mark.parametrize("op", oracle.OPS)
@settings(max_examples=15, deadline=None)
@given(row=hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(-5, 5)), seed=vectors_like)
def test_jacobian_vjp_and_jvp_agree_with_differentiating_the_definition(work, op, row, seed):
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(row.shape)
    jac = _mp_jacobian(op, row)
    n = len(row)
    exact_jac = [[jac[i][j] for j in range(n)] for i in range(n)]
    got = oracle.jacobian(op, row, -1, work=work).astype(float)
    assert np.allclose(got, np.array(exact_jac, dtype=float), rtol=1e-12, atol=1e-14)
    vjp_exact = [mpmath.fsum(mpmath.mpf(float(g[i])) * jac[i][j] for i in range(n)) for j in range(n)]
    jvp_exact = [mpmath.fsum(jac[i][j] * mpmath.mpf(float(g[j])) for j in range(n)) for i in range(n)]
    vjp, jvp = oracle.vjp(op, row, g, -1, work=work), oracle.jvp(op, row, g, -1, work=work)
    assert np.allclose(vjp.astype(float), np.array(vjp_exact, dtype=float), rtol=1e-12, atol=1e-14)
    assert np.allclose(jvp.astype(float), np.array(jvp_exact, dtype=float), rtol=1e-12, atol=1e-14)


@WORKS
@pytest.mark.parametrize("op", oracle.OPS)
@settings(max_examples=10, deadline=None)
@given(row=hnp.arrays(np.float64, st.integers(1, 4), elements=st.floats(-5, 5)), seed=vectors_like)
def test_second_order_agrees_with_differentiating_the_vjp(work, op, row, seed):
    rng = np.random.default_rng(seed)
    g, u = rng.standard_normal(row.shape), rng.standard_normal(row.shape)
    n = len(row)

    def vjp_at(t):
        point = [mpmath.mpf(float(row[k])) + t * mpmath.mpf(float(u[k])) for k in range(n)]
        s = _mp_softmax(point)
        if op == "softmax":
            inner = mpmath.fsum(mpmath.mpf(float(g[k])) * s[k] for k in range(n))
            return [s[k] * (mpmath.mpf(float(g[k])) - inner) for k in range(n)]
        total = mpmath.fsum(mpmath.mpf(float(value)) for value in g)
        return [mpmath.mpf(float(g[k])) - s[k] * total for k in range(n)]

    exact = [mpmath.diff(lambda t, k=k: vjp_at(t)[k], 0) for k in range(n)]
    got = oracle.vjp_derivative(op, row, g, u, -1, work=work).astype(float)
    assert np.allclose(got, np.array(exact, dtype=float), rtol=1e-10, atol=1e-13)


def test_the_forum_thread_numbers():
    """Printed in the thread that started the project (4 decimals)."""
    expected = [
        [0.0310, -0.0028, -0.0076, -0.0206],
        [-0.0028, 0.0796, -0.0206, -0.0561],
        [-0.0076, -0.0206, 0.1808, -0.1525],
        [-0.0206, -0.0561, -0.1525, 0.2293],
    ]
    assert np.array_equal(np.round(oracle.jacobian("softmax", np.arange(4.0), -1), 4), np.array(expected))
    batch = oracle.jacobian("softmax", np.arange(20.0).reshape(5, 4), -1)
    assert batch.shape == (5, 4, 5, 4) and int(np.sum(batch == 0)) == 320
    assert np.all(np.abs(oracle.vjp("softmax", np.arange(20.0).reshape(5, 4), np.ones((5, 4)), -1)) < 1e-16)


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ([0.0, -np.inf, 1.0], [1 / (1 + np.e), 0.0, np.e / (1 + np.e)]),
        ([-np.inf, -np.inf], [np.nan, np.nan]),
        ([np.inf, 1.0], [np.nan, np.nan]),
        ([np.nan, 1.0], [np.nan, np.nan]),
        ([1e308, -1e308], [1.0, 0.0]),
        ([5.0], [1.0]),
    ],
)
@WORKS
def test_documented_semantics_at_the_edges(work, row, expected):
    got = oracle.softmax(np.array(row), -1, work=work).astype(float)
    assert np.allclose(got, expected, equal_nan=True, rtol=1e-15, atol=0)


@WORKS
def test_masked_places_have_exactly_zero_output_and_gradient(work):
    x = np.array([[0.5, -np.inf, 2.0], [-np.inf, 1.0, -np.inf]])
    g = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    assert np.all(oracle.softmax(x, -1, work=work)[np.isneginf(x)] == 0)
    assert np.all(oracle.vjp("softmax", x, g, -1, work=work)[np.isneginf(x)] == 0)
    assert np.all(oracle.log_softmax(x, -1, work=work)[np.isneginf(x)] == -np.inf)


@WORKS
def test_empty_and_zero_dimensional_inputs(work):
    assert oracle.softmax(np.zeros((3, 0)), -1, work=work).shape == (3, 0)
    assert oracle.jacobian("softmax", np.zeros((2, 0)), 1, work=work).shape == (2, 0, 2, 0)
    assert oracle.softmax(np.array(7.0), 0, work=work) == 1.0
    assert oracle.jacobian("softmax", np.array(7.0), 0, work=work) == 0.0


def test_the_portable_oracle_is_chosen_where_long_double_is_float64(monkeypatch: pytest.MonkeyPatch) -> None:
    from conformance.truth.oracle import PORTABLE_ENVIRONMENT_VARIABLE, reference_work

    monkeypatch.delenv(PORTABLE_ENVIRONMENT_VARIABLE, raising=False)
    assert reference_work(np.float32) == np.float64
    monkeypatch.setattr(np, "longdouble", np.float64)  # macOS on Apple silicon, Windows
    assert reference_work(np.float64) == oracle.PORTABLE
    monkeypatch.undo()
    monkeypatch.setenv(PORTABLE_ENVIRONMENT_VARIABLE, "1")
    assert reference_work(np.float64) == oracle.PORTABLE


@pytest.mark.parametrize(
    ("value", "dtype", "spacing"),
    [
        (1.0, np.float32, 2.0**-23),
        (1.5, np.float16, 2.0**-10),
        (0.75, np.float64, 2.0**-53),
        (0.0, np.float16, 2.0**-24),
    ],
)
def test_ulp_is_the_spacing_of_the_dtype(value, dtype, spacing):
    assert float(ulp(np.array(value), dtype)) == spacing
