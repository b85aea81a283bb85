"""Failure messages say what they saw: the worst element, and why it may be off."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.checks.assertions import assert_within_bound
from conformance.checks.failures import ConformanceFailure
from conformance.checks.reproducer import Call
from conformance.truth import tolerance


def _fail(actual: np.ndarray, exact: np.ndarray, dtype: type) -> str:
    x = np.zeros(actual.shape, dtype=dtype)
    call = Call(spec="numpy", method="softmax", axis=-1, arrays={"x": x})
    bound = tolerance.Bound.of(np.zeros(actual.shape), np.abs(exact), dtype, actual.shape)
    with pytest.raises(ConformanceFailure) as caught:
        assert_within_bound("softmax", actual, exact, bound, "[here]", lambda: call.source("oracle"))
    return str(caught.value)


def test_a_subnormal_returned_as_zero_is_named_flush_to_zero():
    message = _fail(np.array([0.0, 0.5], dtype=np.float32), np.array([1.1253e-38, 0.5]), np.float32)
    assert "softmax[0] = 0, but the oracle gives 1.1253e-38, a float32 subnormal flushed to zero (err" in message


def test_a_number_of_the_lowest_normal_binade_returned_as_zero_is_named_too():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([2e-38]), np.float32)
    assert "oracle gives 2e-38, a float32 number in the lowest normal binade flushed to zero (err" in message


def test_a_number_near_the_bottom_of_the_range_names_a_flushed_intermediate():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([3e-38]), np.float32)
    assert "gives 3e-38, near the bottom of the float32 range, where an intermediate flushed to zero shows" in message


def test_a_larger_number_returned_as_zero_is_just_wrong():
    message = _fail(np.array([0.0], dtype=np.float32), np.array([1e-30]), np.float32)
    assert "flushed" not in message and "softmax[0] = 0, but the oracle gives 1e-30 (err" in message


def test_an_infinity_is_right_where_the_exact_value_rounds_to_it():
    """float16's largest number is 65504; round to nearest takes anything beyond 65520 to inf."""
    exact = np.array([-65520.7, -1.0])
    bound = tolerance.Bound.of(np.array([1.0, 1e-3]), np.abs(exact), np.float16, (2,))
    assert_within_bound("log_softmax", np.array([-np.inf, -1.0], np.float16), exact, bound, "", lambda: "")
    with pytest.raises(ConformanceFailure):  # -65000 is a float16 number, and -inf is wrong for it
        assert_within_bound("log_softmax", np.array([-np.inf, -1.0], np.float16), exact / 1.008, bound, "", lambda: "")


def test_an_error_near_the_smallest_normal_is_named_as_a_flushed_intermediate():
    message = _fail(np.array([-2.21306e-38], dtype=np.float32), np.array([-2.10839e-38]), np.float32)
    assert "near the bottom of the float32 range, where an intermediate flushed to zero shows (err" in message


def test_float16_values_near_its_bottom_are_not_blamed_on_a_flushed_intermediate():
    """0.0019 is within 64 smallest normals of float16's bottom, but float16 is computed in
    float32, which flushes only below 1.2e-38: the error there is the implementation's own."""
    message = _fail(np.array([0.00204468], dtype=np.float16), np.array([0.00191882]), np.float16)
    assert "flushed" not in message and "but the oracle gives 0.00191882 (err" in message
    message = _fail(np.array([0.0], dtype=np.float16), np.array([3e-5]), np.float16)
    assert "a float16 subnormal flushed to zero (err" in message  # what it did, whatever the cause


def test_a_chunked_comparison_takes_the_same_infinity_as_right():
    """One comparison for every size: a correctly rounded -inf passes a chunk as it passes a
    whole array, and a wrong one fails both; the worst element is named in the whole result."""
    from conformance.checks.assertions import Comparison

    exact = np.array([[-65520.7, -1.0]])
    bound = tolerance.Bound.of(np.array([[1.0, 1e-3]]), np.abs(exact), np.float16, (1, 2))
    chunk = Comparison("log_softmax")
    chunk.add(np.array([[-np.inf, -1.0]], np.float16), exact, bound, locate=lambda flat: (70000, flat))
    assert chunk.over == 0
    finite = np.array([[-65000.0, -1.0]])  # a float16 number: -inf is wrong for it
    chunk.add(np.array([[-np.inf, -1.0]], np.float16), finite, bound, locate=lambda flat: (70001, flat))
    assert chunk.over == 1 and chunk.worst is not None and chunk.worst.index == (70001, 0)
    with pytest.raises(ConformanceFailure, match=r"log_softmax\[70001, 0\] = -inf, but the oracle gives -65000"):
        chunk.conclude("[here]", lambda: "", np.float16)


# -- a VJP against its own Jacobian, whose entries near the bottom were flushed -----------------

# Row 0 of the input on which the campaign (thorough profile, seed 1) saw jax-jit and
# tensorflow-function's vjp[0, 6] = 4.44902e-35 against their own Jacobian's 4.44892e-35: the
# exact entry J[4, 6] = -s4 s6 = -1.9e-39 is a float32 subnormal, and both gave -0.
_ROW = [-3.9306528568267822, -12.176162719726562, -9.965141296386719, 34.172298431396484, 24.269699096679688,
        -6.862693786621094, -45.10704040527344, -23.6130313873291, -27.473413467407227, -31.103288650512695,
        18.133581161499023, 6.864285945892334]  # fmt: skip
_COTANGENT = [0.1257302165031433, -0.13210485875606537, 0.6404226422309875, 0.10490011423826218,
              -0.5356693863868713, 0.3615950644016266, 1.3040000200271606, 0.9470809698104858,
              -0.7037352323532104, -1.2654215097427368, -0.6232744455337524, 0.04132597893476486]  # fmt: skip


def _vjp_against_own_jacobian(flush: bool) -> str | None:
    """The vjp_equals_jacobian_transpose comparison of a correct VJP with a correct Jacobian
    whose float32 subnormal entries are (``flush``) or are not 0: its failure message, or None."""
    from conformance.checks.assertions import flushed_jacobian_entries
    from conformance.checks.quantities import transposed_product
    from conformance.truth import oracle

    x = np.array([_ROW], dtype=np.float32)
    g = np.array([_COTANGENT], dtype=np.float32)
    jacobian = oracle.jacobian("softmax", x, 1).astype(np.float32)
    if flush:
        jacobian[np.abs(jacobian) < np.finfo(np.float32).smallest_normal] = 0
    vjp = oracle.vjp("softmax", x, g, 1).astype(np.float32)
    wide_g, wide_jacobian = g.astype(np.longdouble), jacobian.astype(np.longdouble)
    product, bound = transposed_product("softmax", x, 1, wide_jacobian, wide_g)
    try:
        assert_within_bound(
            "vjp",
            vjp,
            product,
            bound,
            "[here]",
            lambda: "",
            reference="its own Jacobian, transposed, times the cotangent,",
            cause=lambda index: flushed_jacobian_entries(
                "softmax", x, 1, wide_jacobian, wide_g, index, vjp, product, bound
            ),
        )
    except ConformanceFailure as failure:
        return str(failure)
    return None


def test_a_vjp_against_its_own_flushed_jacobian_names_the_flush_and_the_flush_entries_match_it():
    from conformance.results import divergences
    from conformance.results.records import Record

    message = _vjp_against_own_jacobian(flush=True)
    assert message is not None and message.startswith("vjp[0, 6] = ")
    assert (
        ", where entries of its own Jacobian near the bottom of the float32 range are flushed to zero (err" in message
    )
    versions = {"jax": "0.10.2", "tensorflow": "2.21.0"}
    for adapter, framework in (("jax-jit", "jax"), ("tensorflow-function", "tensorflow")):
        failure = Record(
            adapter, "vjp_equals_jacobian_transpose", "softmax", "float32", "failed", message, framework=framework
        )
        assert any(entry.matches(failure, versions) for entry in divergences.load_default()), adapter
    assert _vjp_against_own_jacobian(flush=False) is None  # the same, unflushed, agrees


def test_a_jacobian_zero_that_flushing_cannot_explain_is_not_blamed_on_it():
    from conformance.checks.assertions import flushed_jacobian_entries
    from conformance.truth import oracle

    x = np.array([_ROW], dtype=np.float32)
    g = np.array([_COTANGENT], dtype=np.float64)
    jacobian = oracle.jacobian("softmax", x, 1)
    vjp = oracle.vjp("softmax", x, g, 1)
    product = vjp * (1 + 1e-3)  # off by far more than the flushed entries move it
    bound = tolerance.Bound.of(np.zeros(vjp.shape), np.abs(vjp), np.float32, vjp.shape)
    flushed = np.where(np.abs(jacobian) < np.finfo(np.float32).smallest_normal, 0, jacobian)
    assert flushed_jacobian_entries("softmax", x, 1, flushed, g, (0, 6), vjp, product, bound) == ""
    # and no flushed entry at all: nothing to name
    assert flushed_jacobian_entries("softmax", x, 1, jacobian, g, (0, 6), vjp, vjp * (1 + 1e-6), bound) == ""


def test_float16_is_widened_by_its_bits_to_the_same_float64_as_numpys_cast():
    """Every one of the 65536 float16 values, in a strided view too (the comparison widens an
    adapter's float16 answer by looking it up)."""
    from conformance.truth.dtypes import as_float64

    every = np.arange(2**16, dtype=np.uint16).view(np.float16).reshape(256, 256)
    for array in (every, every[:, ::3], every.T, every[7, 7]):
        widened = as_float64(array)
        assert widened.dtype == np.float64 and widened.shape == np.shape(array)
        assert np.array_equal(widened, np.asarray(array).astype(np.float64), equal_nan=True)
    assert as_float64(np.array([1.5], np.float32)).dtype == np.float64


def test_rounding_to_float16_gives_numpys_bits_on_every_value_and_every_tie():
    """The NumPy adapter rounds its float64 answers to float16 through :func:`rounded_to`,
    which rounds the subnormal range by hand: it must give ``astype``'s bits everywhere. The
    values are every float16 value, every midpoint between two (the ties), the float64
    neighbours of each midpoint, the edges of the range and random magnitudes from 1e-12 to
    1e5, shuffled so that the chunks mix mostly-subnormal and mostly-normal ones; and no
    warning, where ``astype`` warns of overflow."""
    import warnings

    from conformance.truth.dtypes import rounded_to

    every = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float64)
    finite = np.sort(every[np.isfinite(every)])
    ties = (finite[1:] + finite[:-1]) / 2
    edges = [np.inf, -np.inf, np.nan, -0.0, 0.0, 65504, 65520, np.nextafter(65520, 0), 1e300, -1e-300, 5e-324]
    edges += [2.0**-25, -(2.0**-25), np.nextafter(2.0**-25, 1), np.nextafter(2.0**-14, 0), -np.nextafter(2.0**-14, 0)]
    rng = np.random.default_rng(4)
    scattered = rng.standard_normal(200_000) * 10.0 ** rng.integers(-12, 6, 200_000)
    values = np.concatenate([every, ties, np.nextafter(ties, np.inf), np.nextafter(ties, -np.inf), edges, scattered])
    rng.shuffle(values)
    # mostly subnormal first, then mostly normal, then the shuffle: both of each chunk's paths
    ordered = np.concatenate([np.sort(np.abs(values)), values]).reshape(2, -1)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        expected = ordered.astype(np.float16)
    for array, want in ((ordered, expected), (ordered[:, ::3], expected[:, ::3]), (ordered[0, 5], expected[0, 5])):
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            got = rounded_to(array, np.float16)
        assert got.dtype == np.float16 and got.shape == np.shape(array)
        assert np.array_equal(got.view(np.uint16), np.asarray(want).view(np.uint16)), "bits differ from astype's"
    assert rounded_to(np.array([1.5, 2.5]), np.float32).dtype == np.float32


def test_identical_nans_agree_when_the_reference_is_the_same_computation_done_otherwise() -> None:
    """A row alone against the same row in the batch, a call alone against the same call from
    another thread: NaN facing NaN is agreement (whether NaN is right is the accuracy
    properties' question), while against the oracle it stays a failure."""
    same = np.array([np.nan, 0.25, np.inf], dtype=np.float32)
    bound = tolerance.Bound(np.full(3, 1e-7), np.ones(3), np.dtype(np.float32))
    assert_within_bound("softmax", same, same.astype(np.float64), bound, "[t]", lambda: "", agreement=True)
    with pytest.raises(ConformanceFailure, match="softmax"):
        assert_within_bound("softmax", same, same.astype(np.float64), bound, "[t]", lambda: "")
    other = np.array([0.5, 0.25, np.inf], dtype=np.float32)
    with pytest.raises(ConformanceFailure, match="nan"):
        assert_within_bound("softmax", same, other.astype(np.float64), bound, "[t]", lambda: "", agreement=True)
