"""Failures that say their likely cause: each hint on small arrays (it explains the mistake it
names, and nothing else), each through the CLI on a broken adapter that makes that mistake,
and none on the correct NumPy adapter."""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from conformance.checks import hints, quantities
from conformance.checks.assertions import assert_within_bound, exceeding
from conformance.checks.failures import ConformanceFailure
from conformance.results.documents import schema_problem
from conformance.results.records import Document, Record, metadata
from conformance.truth import oracle
from conformance.truth.oracle import Op, Quantity
from tests import broken_adapters
from tests.conftest import TESTS

RNG = np.random.default_rng(17)


def _failed(
    op: Op, quantity: Quantity, x: np.ndarray, axis: int, actual: Any, vectors: Sequence[np.ndarray] = ()
) -> hints.Computation:
    """The computation as compare() hands it to the hints, with ``actual`` as the result; it
    must fail, as every computation a hint sees has."""
    again = functools.partial(quantities.reference, op, quantity)
    exact, bound = again(x, vectors, axis)
    result = np.asarray(actual, x.dtype)
    assert exceeding(result, exact, bound).any(), "a result within its bound: no hint is asked for"
    return hints.Computation(op, quantity, x, axis, tuple(vectors), result, exact, bound, again)


def _logits(shape: tuple[int, ...], dtype: Any, scale: float = 3.0) -> np.ndarray:
    return (RNG.standard_normal(shape) * scale).astype(dtype)


# -- computed in a narrower dtype ---------------------------------------------------------------


def test_float64_computed_in_float32_is_named():
    x = _logits((3, 7), np.float64)
    actual = oracle.softmax(x.astype(np.float32), 1, work=np.float32)
    assert hints.narrower_dtype(_failed("softmax", "forward", x, 1, actual)) == (
        "computed in float32? the result is within the float32 bound of the same computation"
    )


def test_a_float64_vjp_computed_in_float32_is_named():
    x, g = _logits((2, 9), np.float64), _logits((2, 9), np.float64, 1.0)
    actual = oracle.vjp("softmax", x.astype(np.float32), g.astype(np.float32), -1, work=np.float32)
    assert hints.narrower_dtype(_failed("softmax", "vjp", x, -1, actual, [g])).startswith("computed in float32?")


def test_float32_computed_in_float16_is_named_and_beyond_its_range_bfloat16():
    x = _logits((4, 5), np.float32)
    in_half = oracle.log_softmax(x.astype(np.float16), 0).astype(np.float16)
    assert hints.narrower_dtype(_failed("log_softmax", "forward", x, 0, in_half)).startswith("computed in float16?")
    large = (x + 1e5).astype(np.float32)  # past float16's largest, 65504: only bfloat16 holds it
    in_bfloat16 = oracle.softmax(large.astype(ml_dtypes.bfloat16), 0).astype(ml_dtypes.bfloat16)
    assert hints.narrower_dtype(_failed("softmax", "forward", large, 0, in_bfloat16)).startswith(
        "computed in bfloat16?"
    )


def test_an_error_beyond_the_narrower_bound_is_not_blamed_on_the_dtype():
    x = _logits((3, 7), np.float64)
    off = oracle.softmax(x, 1) * (1 + 1e-4)  # about 800 float32 ulps
    assert hints.narrower_dtype(_failed("softmax", "forward", x, 1, off)) is None
    half = x.astype(np.float16)  # no narrower dtype to blame for float16
    assert hints.narrower_dtype(_failed("softmax", "forward", half, 1, oracle.softmax(half, 1) * 1.1)) is None


def test_a_tiny_wrong_value_no_narrower_dtype_holds_is_not_blamed_on_the_dtype():
    """Paddle's clip gives a masked logit's VJP -6e-30 where the oracle gives 0: within a float16
    bound, but float16 cannot hold it, so no float16 computation returned it."""
    x = _logits((2, 11), np.float32)
    x[0, 10] = -np.inf
    g = _logits((2, 11), np.float32, 1.0)
    actual = oracle.vjp("softmax", x, g, 1).astype(np.float32)
    actual[0, 10] = np.float32(-5.99718e-30)
    assert hints.narrower_dtype(_failed("softmax", "vjp", x, 1, actual, [g])) is None
    assert hints.likely_cause(_failed("softmax", "vjp", x, 1, actual, [g])) is None


# -- subnormals flushed to zero -----------------------------------------------------------------


def _with_subnormals() -> tuple[np.ndarray, np.ndarray]:
    """A float32 row whose softmax has two subnormal places, and that softmax exactly."""
    x = np.array([[0.0, -100.0, -1.0, -95.0, -2.0]], np.float32)
    s = oracle.softmax(x, 1)
    assert np.count_nonzero((s > 0) & (s < np.finfo(np.float32).smallest_normal)) == 2
    return x, s


def test_subnormals_returned_as_zero_are_named():
    x, s = _with_subnormals()
    flushed = np.where(s < np.finfo(np.float32).smallest_normal, 0.0, s)
    assert hints.flushed_subnormals(_failed("softmax", "forward", x, 1, flushed)) == (
        "flushed to zero? the elements over their bound are float32 subnormals of the exact result, 0 in the result"
    )


def test_a_wrong_normal_value_or_a_wrong_nonzero_subnormal_is_no_flush():
    x, s = _with_subnormals()
    flushed = np.where(s < np.finfo(np.float32).smallest_normal, 0.0, s)
    also_wrong = flushed.copy()
    also_wrong[0, 0] *= 1.01
    assert hints.flushed_subnormals(_failed("softmax", "forward", x, 1, also_wrong)) is None
    doubled = np.where(s < np.finfo(np.float32).smallest_normal, 2 * s, s)
    assert hints.flushed_subnormals(_failed("softmax", "forward", x, 1, doubled)) is None


# -- another axis -------------------------------------------------------------------------------


def test_softmax_over_another_axis_is_named():
    x = _logits((2, 3, 4), np.float32)
    actual = oracle.softmax(x, 2)
    assert hints.other_axis(_failed("softmax", "forward", x, 1, actual)) == (
        "computed over axis 2 instead of axis 1? the result is within the bound of softmax over axis 2"
    )
    g = _logits((2, 3, 4), np.float32, 1.0)
    vjp = oracle.vjp("log_softmax", x, g, 0)
    assert hints.other_axis(_failed("log_softmax", "vjp", x, -1, vjp, [g])) == (
        "computed over axis 0 instead of axis -1? the result is within the bound of the log_softmax vjp over axis 0"
    )


def test_a_result_of_no_axis_is_not_blamed_on_one():
    x = _logits((3, 4), np.float32)
    scrambled = oracle.softmax(x.reshape(4, 3), 1).reshape(3, 4)  # a reshape where a transpose belongs
    assert hints.other_axis(_failed("softmax", "forward", x, 0, scrambled)) is None
    row = _logits((5,), np.float32)
    assert hints.other_axis(_failed("softmax", "forward", row, 0, oracle.softmax(row, 0) * 2)) is None


# -- the VJP without its inner product ----------------------------------------------------------


def test_a_vjp_without_its_inner_product_is_named():
    x, g = _logits((3, 6), np.float32), _logits((3, 6), np.float32, 1.0)
    actual = oracle.softmax(x, 1) * g
    assert hints.missing_inner_product(_failed("softmax", "vjp", x, 1, actual, [g])) == (
        "the inner product is missing? the result is within the bound of s ⊙ g, without - s ⟨g, s⟩"
    )
    assert "s ⊙ t, without - s ⟨s, t⟩" in hints.missing_inner_product(_failed("softmax", "jvp", x, 1, actual, [g]))


def test_another_wrong_vjp_is_not_blamed_on_the_inner_product():
    x, g = _logits((3, 6), np.float32), _logits((3, 6), np.float32, 1.0)
    s = oracle.softmax(x, 1)
    whole_tensor = s * (g - np.sum(g * s))  # <g, s> over the whole tensor, not per row
    assert hints.missing_inner_product(_failed("softmax", "vjp", x, 1, whole_tensor, [g])) is None
    # log_softmax's VJP has no such term to forget
    assert hints.missing_inner_product(_failed("log_softmax", "vjp", x, 1, s * g, [g])) is None


# -- log_softmax formed naively -----------------------------------------------------------------


def test_the_log_of_a_rounded_softmax_is_named():
    x = np.array([0.0, -1.0, -120.0, -200.0], np.float32)  # exp(-200) underflows float32: log gives -inf
    with np.errstate(divide="ignore"):
        actual = np.log(oracle.softmax(x, 0).astype(np.float32).astype(np.float64))
    assert hints.naive_log_softmax(_failed("log_softmax", "forward", x, 0, actual)) == (
        "log of the rounded softmax? the result is within the bound of log(softmax(x)), softmax(x) rounded to float32"
    )


def test_x_minus_a_rounded_logsumexp_at_large_logits_is_named():
    x = np.array([[4096.5, 4100.25, 4097.0, 4099.75]], np.float32)
    logsumexp = (x.astype(np.float64) - oracle.log_softmax(x, 1)).astype(np.float32)
    actual = x - logsumexp
    failed = _failed("log_softmax", "forward", x, 1, actual)
    assert hints.naive_log_softmax(failed) == (
        "cancellation at large logits? the result is within the bound of x - logsumexp(x), logsumexp rounded to float32"
    )
    assert hints.likely_cause(failed) == hints.PREFIX + hints.naive_log_softmax(failed)


def test_another_wrong_log_softmax_is_not_blamed_on_its_formula():
    x = np.array([[4096.5, 4100.25, 4097.0, 4099.75]], np.float32)
    exact = oracle.log_softmax(x, 1)
    assert hints.naive_log_softmax(_failed("log_softmax", "forward", x, 1, exact - 0.01)) is None
    assert hints.naive_log_softmax(_failed("softmax", "forward", x, 1, np.exp(exact) * 2)) is None


# -- one line, only on failure ------------------------------------------------------------------


def test_a_hint_that_cannot_be_computed_is_no_hint(monkeypatch):
    def broken(c: hints.Computation) -> str | None:
        raise ValueError("not this input")

    monkeypatch.setattr(hints, "HINTS", (broken, hints.other_axis))
    x = _logits((3, 4), np.float32)
    assert hints.likely_cause(_failed("softmax", "forward", x, 0, oracle.softmax(x, 1))).startswith(
        "likely cause: computed over axis 1"
    )
    assert hints.likely_cause(_failed("softmax", "forward", x, 0, oracle.softmax(x, 0) * 2)) is None


def _check(actual: np.ndarray, explain: Any) -> None:
    x = _logits((3, 4), np.float32)
    exact, bound = quantities.reference("softmax", "forward", x, (), 0)
    assert_within_bound("softmax", actual(x), exact, bound, "[here]", lambda: "reproducer", explain=explain)


def test_a_passing_comparison_never_asks_for_a_hint():
    def never() -> str:
        raise AssertionError("a passing comparison asked for a hint")

    _check(lambda x: oracle.softmax(x, 0), never)


def test_the_hint_is_the_failure_message_last_line_and_its_typed_field():
    with pytest.raises(ConformanceFailure) as caught:
        _check(lambda x: oracle.softmax(x, 1), lambda: "likely cause: it was the other axis")
    failure = caught.value
    assert failure.hint == "likely cause: it was the other axis"
    lines = failure.message.splitlines()
    assert len(lines) == 2 and lines[0].startswith("softmax[") and lines[1] == failure.hint
    with pytest.raises(ConformanceFailure) as unexplained:
        _check(lambda x: oracle.softmax(x, 1), lambda: None)
    assert unexplained.value.hint is None and "\n" not in unexplained.value.message


def test_a_record_carries_its_hint_through_its_json_form():
    record = Record(
        "a", "forward_accuracy", "softmax", "float32", "failed", "m\nlikely cause: x", spec="a", hint="likely cause: x"
    )
    assert Record.from_dict(json.loads(json.dumps(record.as_dict()))) == record
    document = Document(metadata("ci", 0, [], "2025-01-01T00:00:00+00:00", 1.0), (record,)).as_dict()
    assert schema_problem(document) is None
    assert schema_problem({**document, "results": [{**document["results"][0], "hint": 3}]}) is not None
    assert "hint" not in Record("a", "p", "softmax", "float32", "passed").as_dict()


# -- through the CLI ----------------------------------------------------------------------------

BROKEN = [
    (broken_adapters.Float32InsideFloat64, "float64", "forward_accuracy", "softmax", "computed in float32?"),
    (broken_adapters.FlushesSubnormalsToZero, "float32", "forward_accuracy", "softmax", "flushed to zero?"),
    (broken_adapters.IgnoresAxis, "float32", "forward_accuracy", "softmax", "computed over axis "),
    (broken_adapters.VjpWithoutInnerProduct, "float32", "vjp_accuracy", "softmax", "the inner product is missing?"),
    (
        broken_adapters.LogOfRoundedSoftmax,
        "float32",
        "forward_accuracy",
        "log_softmax",
        "log of the rounded softmax?",
    ),
    (
        broken_adapters.LogSoftmaxCancelsAtLargeLogits,
        "float32",
        "forward_accuracy",
        "log_softmax",
        "cancellation at large logits?",
    ),
    (broken_adapters.MiddleAxisReshape, "float32", "forward_accuracy", "softmax", None),  # no cause we know
]


@pytest.mark.parametrize(("broken", "dtype", "prop", "op", "hint"), BROKEN, ids=[row[0].__name__ for row in BROKEN])
def test_a_broken_adapter_failure_says_its_likely_cause(cli, broken, dtype, prop, op, hint):
    result = cli(
        "run",
        "--adapter",
        f"{TESTS / 'broken_adapters.py'}:{broken.__name__}",
        "--profile",
        "ci",
        "--dtypes",
        dtype,
        "--properties",
        prop,
        "--plain",
    )
    [record] = [r for r in result.records() if r["property"] == prop and r["op"] == op]
    assert record["status"] == "failed", result.stderr[-2000:]
    lines = record["message"].splitlines()
    if hint is None:
        assert "hint" not in record and len(lines) == 1, record["message"]
        assert "likely cause:" not in result.stdout
        return
    assert record["hint"].startswith(f"likely cause: {hint}"), record["message"]
    assert len(lines) == 2 and lines[1] == record["hint"]
    assert f"\n  {record['hint']}\n" in result.stdout  # the terminal summary, under the failure


PROPERTIES_THAT_COMPARE_WITH_THE_ORACLE = (
    "forward_accuracy,vjp_accuracy,jvp_accuracy,long_row_accuracy,second_order_accuracy,jacobian_accuracy,"
    "single_row_and_column,every_axis_in_turn,masked_places_are_exact"
)


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_the_correct_numpy_adapter_gets_no_hint(cli, seed):
    """In the default profile, on five seeds, wherever a failure would be explained."""
    result = cli(
        "run",
        "--adapter",
        "numpy",
        "--seed",
        str(seed),
        "--properties",
        PROPERTIES_THAT_COMPARE_WITH_THE_ORACLE,
        "--plain",
        env={"CI": ""},  # the default profile off CI: dev
    )
    records = result.records()
    assert {r["property"] for r in records} == set(PROPERTIES_THAT_COMPARE_WITH_THE_ORACLE.split(","))
    hinted = [f"{r['property']} {r['op']} {r['dtype']}: {r['message']}" for r in records if "hint" in r]
    assert not hinted and not any("likely cause:" in r["message"] for r in records), "\n".join(hinted)
    assert result.returncode == 0 and all(r["status"] == "passed" for r in records), result.stderr[-2000:]
