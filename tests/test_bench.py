"""``python -m conformance bench``: the O(N) checks pass a correct adapter, catch broken
ones by the check that should catch them, and survive a crashing or hanging adapter."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.adapters.numpy_adapter import NumpyReference
from conformance.scale.checks import CHECK_NAMES, check_jvp_vjp_identity, check_vjp, run_checks
from conformance.scale.full_jacobian import check_full_jacobian
from conformance.scale.large_inputs import Layout, Vector, random_input, shifted_rows
from conformance.scale.memory import ALIGNMENT
from tests import broken_adapters
from tests.conftest import TESTS, run_cli

BROKEN = TESTS / "broken_adapters.py"
MISBEHAVING = TESTS / "misbehaving_adapters.py"
SMALL = ("--elements", "100000", "--scaling-sizes", "none")


def _checks(record):
    return {(check["op"], check["name"]): check for check in record["checks"]}


def _failed(record):
    return {name for (_, name), check in _checks(record).items() if not check["passed"]}


def _by_spec(document, suffix):
    (record,) = [record for record in document["results"] if record["spec"].endswith(suffix)]
    return record


def test_the_numpy_reference_passes_and_the_document_has_the_documented_keys(tmp_path):
    result = run_cli(
        "bench",
        "--adapter",
        "adapters/numpy_adapter.py:NumpyReference",
        "--elements",
        "1e5",
        "--scaling-sizes",
        "100,1000",
        "--ops",
        "softmax,log_softmax",
        json_path=tmp_path / "bench.json",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = result.document
    assert document is not None
    assert {"python", "platform", "timestamp", "frameworks"} <= set(document["metadata"])
    assert document["metadata"]["frameworks"]["numpy"] == np.__version__
    (record,) = document["results"]
    documented = {"adapter", "spec", "elements", "seconds", "peak_rss_bytes", "passed", "checks", "dtype", "row_length"}
    assert documented <= set(record)
    assert record["adapter"] == "numpy" and record["elements"] == 100_000 and record["passed"] is True
    assert record["dtype"] == "float32" and record["row_length"] == 1000
    assert 0 < record["peak_rss_bytes"] < 2**31 and record["seconds"] > 0
    checks = _checks(record)
    names = {name for _, name in checks}
    assert names == set(CHECK_NAMES)
    assert ("log_softmax", "row_sum_zero") not in checks  # a softmax property only
    for check in checks.values():
        assert {"name", "op", "passed", "max_error_ulp", "message"} <= set(check)
        assert check["passed"] and check["max_error_ulp"] is not None
    scaling = document["scaling"]
    assert {(entry["elements"], entry["approach"]) for entry in scaling} == {
        (100, "o_n"),
        (100, "full_jacobian"),
        (1000, "o_n"),
        (1000, "full_jacobian"),
        (100_000, "o_n"),
    }
    for entry in scaling:
        assert {"adapter", "elements", "approach", "seconds", "peak_rss_bytes"} <= set(entry)
        assert entry["passed"] and entry["seconds"] > 0 and entry["peak_rss_bytes"] > 0
    assert "conforms" in result.stdout and "full_jacobian" in result.stdout


def test_torch_passes():
    pytest.importorskip("torch")
    result = run_cli("bench", "--frameworks", "torch", *SMALL, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "conforms" in result.stdout


def test_broken_adapters_fail_the_checks_that_should_catch_them(tmp_path):
    result = run_cli(
        "bench",
        "--adapter",
        f"{BROKEN}:FlattenedJacobian",
        "--adapter",
        f"{BROKEN}:VjpReducesWholeTensor",
        "--adapter",
        f"{BROKEN}:VjpWithoutInnerProduct",
        "--adapter",
        "numpy",
        *SMALL,
        json_path=tmp_path / "bench.json",
        timeout=300,
    )
    assert result.returncode == 1
    document = result.document
    assert document is not None
    assert _by_spec(document, "numpy")["passed"] is True
    for name in ("FlattenedJacobian", "VjpReducesWholeTensor"):
        record = _by_spec(document, f":{name}")
        assert record["passed"] is False
        # rows are coupled: the VJP leaks into rows that have no cotangent
        assert {"vjp", "block_diagonal", "batched_agreement", "row_sum_zero"} <= _failed(record)
        assert "forward" not in _failed(record)
        block = _checks(record)[("softmax", "block_diagonal")]
        assert "rows without cotangent must give exactly 0" in block["message"]
        assert "[" in block["message"] and "N=100000]" in block["message"]
    record = _by_spec(document, ":VjpWithoutInnerProduct")
    # s * g stays within its rows, but misses - s <g, s>: wrong values, not wrong structure
    assert {"vjp", "block_diagonal", "row_sum_zero", "jvp_vjp_identity"} <= _failed(record)
    assert "forward" not in _failed(record)
    block = _checks(record)[("softmax", "block_diagonal")]
    assert "exactly 0" not in block["message"] and "but the oracle gives" in block["message"]
    vjp = _checks(record)[("softmax", "vjp")]
    assert "ulp > bound" in vjp["message"] and "vjp-without-inner-product softmax axis=-1 float32" in vjp["message"]
    assert "FAILS" in result.stdout


def test_a_crashing_and_a_hanging_adapter_become_failed_records(tmp_path):
    result = run_cli(
        "bench",
        "--adapter",
        f"{MISBEHAVING}:Segfaults",
        "--adapter",
        f"{MISBEHAVING}:HangsInC",
        "--adapter",
        "numpy",
        "--timeout",
        "10",
        *SMALL,
        json_path=tmp_path / "bench.json",
        timeout=300,
    )
    assert result.returncode == 1
    document = result.document
    assert document is not None
    crashed = _by_spec(document, ":Segfaults")
    assert crashed["passed"] is False and "the worker died of SIGSEGV during softmax forward" in crashed["message"]
    assert crashed["peak_rss_bytes"] and crashed["peak_rss_bytes"] > 0
    assert _checks(crashed)[("softmax", "forward")]["passed"] is False
    hung = _by_spec(document, ":HangsInC")
    assert hung["passed"] is False and "killed after 10 s (--timeout) during softmax forward" in hung["message"]
    assert _by_spec(document, "numpy")["passed"] is True


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("--elements", "1001"), "does not divide into rows of --row-length=1000"),
        (("--elements", "0"), "must be positive"),
        (("--elements", "lots"), "is not a number of elements"),
        (("--elements", "1e5", "--row-length", "0"), "must be positive"),
        (("--elements", "1e5", "--dtype", "float8"), "known dtypes are"),
        (("--elements", "1e5", "--ops", "softmin"), "the ops are: softmax, log_softmax"),
        (("--elements", "1e5", "--frameworks", "caffe"), "the known frameworks are"),
        (("--elements", "1e5", "--adapter", "nowhere.py:Thing"), "no file"),
        ((), "--elements"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(arguments, expected):
    result = run_cli("bench", *arguments, "--adapter", "numpy", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


# -- the checks in-process, at small sizes ----------------------------------------------------


def test_the_checks_pass_the_reference_along_either_axis_and_for_both_ops():
    x = random_input(40, 50, np.float32, seed=3, axis=0)
    assert x.shape == (50, 40)
    results = run_checks(NumpyReference(), x, 0, 3, ops=("softmax", "log_softmax"))
    assert [r for r in results if not r.passed] == []
    assert len(results) == 2 * len(CHECK_NAMES) - 1


def test_inputs_and_vectors_are_reproducible_chunk_by_chunk():
    layout = Layout.of((300, 7), -1, chunk_elements=64)
    vector = Vector(layout, np.dtype(np.float32), 5, "g")
    whole = vector.full()
    assert whole.ctypes.data % ALIGNMENT == 0
    assert np.array_equal(whole[9:18], vector.chunk(1))
    assert np.array_equal(whole[100], vector.row(100))
    again = random_input(300, 7, np.float32, 5)
    assert np.array_equal(random_input(300, 7, np.float32, 5), again)


def test_the_shifted_tangent_is_the_next_row_of_the_same_buffer():
    for axis in (-1, 0):
        x = random_input(30, 20, np.float32, seed=1, axis=axis)
        u = shifted_rows(x, axis)
        assert u is not None and np.shares_memory(x, u)
        layout = Layout.of(x.shape, axis)
        assert np.array_equal(layout.view(u)[:-1], layout.view(x)[1:])
        assert check_jvp_vjp_identity(NumpyReference(), x, axis, 0, shifted_tangent=True).passed
        broken = check_jvp_vjp_identity(broken_adapters.VjpWithoutInnerProduct(), x, axis, 0, shifted_tangent=True)
        assert not broken.passed and "u = x shifted by one row" in broken.message
    assert shifted_rows(np.ones((3, 4), np.float32), -1) is None


def test_an_adapter_that_returns_the_wrong_dtype_fails_with_the_suites_words():
    class Float64Out(NumpyReference):
        def vjp(self, x, cotangent, axis):
            return super().vjp(x, cotangent, axis).astype(np.float64)

    x = random_input(20, 30, np.float32, seed=0)
    result = check_vjp(Float64Out(), x, -1, 0)
    assert not result.passed and "returned dtype float64 for float32 input" in result.message


def test_the_full_jacobian_approach_catches_the_flattened_jacobian():
    x = random_input(4, 10, np.float32, seed=0)
    assert check_full_jacobian(NumpyReference(), x, -1).passed
    broken = check_full_jacobian(broken_adapters.FlattenedJacobian(), x, -1)
    assert not broken.passed and "jacobian[" in broken.message


def test_a_check_whose_method_is_missing_is_skipped_and_names_the_method():
    class ForwardOnly:
        name = "forward-only"

        def softmax(self, x, axis):
            return NumpyReference().softmax(x, axis)

    x = random_input(10, 30, np.float32, seed=0)
    results = {r.name: r for r in run_checks(ForwardOnly(), x, -1, 0)}
    assert results["forward"].passed and not results["forward"].skipped
    for name in ("vjp", "block_diagonal", "jvp_vjp_identity", "row_sum_zero"):
        assert results[name].skipped and results[name].message == "skipped: the adapter provides no vjp", name
    logs = {r.name: r for r in run_checks(ForwardOnly(), x, -1, 0, ops=("log_softmax",))}
    assert logs["forward"].message == "skipped: the adapter provides no log_softmax"
    assert logs["vjp"].message == "skipped: the adapter provides no log_softmax_vjp"


def test_the_full_jacobian_approach_checks_the_shape_and_dtype_of_what_it_gets():
    class FlatJacobian(NumpyReference):
        def jacobian(self, x, axis):
            return super().jacobian(x, axis).reshape(x.size, x.size)

    class Float64Jacobian(NumpyReference):
        def jacobian(self, x, axis):
            return super().jacobian(x, axis).astype(np.float64)

    x = random_input(4, 10, np.float32, seed=0)
    flat = check_full_jacobian(FlatJacobian(), x, -1)
    assert not flat.passed and "jacobian returned shape (40, 40), but the oracle gives (4, 10, 4, 10)" in flat.message
    wide = check_full_jacobian(Float64Jacobian(), x, -1)
    assert not wide.passed and "jacobian returned dtype float64 for float32 input" in wide.message
