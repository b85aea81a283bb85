"""The suite proves its power: each deliberately broken adapter is flagged by the default
(ci) profile, and the correct NumPy adapter passes every property."""

from __future__ import annotations

import re
from typing import Any

import numpy as np
import pytest

from conformance import oracle
from tests import broken_adapters
from tests.conftest import TESTS

BROKEN = sorted(broken_adapters.CAUGHT_BY.items(), key=lambda item: item[0].__name__)


@pytest.mark.parametrize(("broken", "expectation"), BROKEN, ids=[cls.__name__ for cls, _ in BROKEN])
def test_each_broken_adapter_is_caught(cli, broken, expectation):
    dtype, properties = expectation
    result = cli(
        "run",
        "--adapter",
        f"{TESTS / 'broken_adapters.py'}:{broken.__name__}",
        "--profile",
        "ci",
        "--dtypes",
        dtype,
        "--properties",
        ",".join(properties),
        "--plain",
    )
    assert result.returncode == 1, (
        f"{broken.__name__} was not flagged (exit {result.returncode})\n{result.stderr[-2000:]}"
    )
    status = "error" if broken in broken_adapters.RAISE else "failed"  # not the suite's own error
    flagged = result.properties_with(status)
    assert flagged & set(properties), f"{broken.__name__}: expected one of {properties} {status}, got {flagged}"
    for record in result.records("failed"):
        assert record["reproducer"], f"a failure without a reproducer: {record['message']}"
        assert "load_adapter(" in record["reproducer"]


def test_the_correct_numpy_adapter_passes_every_property(cli):
    result = cli(
        "run",
        "--adapter",
        f"{TESTS.parent / 'adapters' / 'numpy_adapter.py'}:NumpyReference",
        "--profile",
        "ci",
        "--plain",
    )
    # NumPy has no thread setting: one thread against all of them has nothing to compare there
    no_threads = "same_bits_on_any_thread_count"
    bad = [
        f"{r['property']} {r['op']} {r['dtype']}: {r['message'][:300]}"
        for r in result.records()
        if r["status"] != "passed" and not (r["property"] == no_threads and r.get("not_provided"))
    ]
    assert result.returncode == 0 and not bad, "\n".join(bad) or result.stderr[-2000:]
    assert {r["status"] for r in result.records() if r["property"] == no_threads} == {"skipped"}
    from conformance.properties.marks import PROPERTY_NAMES

    asked_only = {"large_input", "past_2_31_elements"}  # bench's input; the thorough profile's 2**31
    assert {record["property"] for record in result.records()} == set(PROPERTY_NAMES) - asked_only


def test_a_correct_adapter_that_rejects_a_zero_dimensional_input_conforms(cli):
    """Raising on a 0-d input is NumPy's choice, and jax's and TensorFlow's: not a failure."""
    result = cli(
        "run",
        "--adapter",
        f"{TESTS / 'conforming_adapters.py'}:RejectsZeroDimensionalInput",
        "--profile",
        "ci",
        "--plain",
        "--properties",
        "zero_dimensional_input,shapes_and_dtypes,forward_accuracy",
    )
    bad = [
        f"{r['property']} {r['op']} {r['dtype']}: {r['message'][:300]}"
        for r in result.records()
        if r["status"] != "passed"
    ]
    assert result.returncode == 0 and not bad, "\n".join(bad) or result.stderr[-2000:]
    assert {record["property"] for record in result.records()} == {
        "zero_dimensional_input",
        "shapes_and_dtypes",
        "forward_accuracy",
    }


def test_the_flattening_bug_is_reported_with_the_coupling_entry_and_a_reproducer(cli):
    result = cli(
        "run",
        "--adapter",
        f"{TESTS / 'broken_adapters.py'}:FlattenedJacobian",
        "--profile",
        "ci",
        "--dtypes",
        "float64",
        "--properties",
        "jacobian_is_block_diagonal",
        "--plain",
    )
    [softmax] = [r for r in result.records("failed") if r["op"] == "softmax"]
    assert "coupling two different rows must be exactly 0" in softmax["message"]
    assert "[flattened-jacobian softmax axis=" in softmax["message"]
    assert softmax["worst"]["expected"] == 0.0 and softmax["worst"]["value"] != 0.0
    namespace: dict[str, Any] = {"print": lambda *args: None}
    exec(softmax["reproducer"], namespace)  # the reproducer really reproduces
    axis = int(re.search(r"axis=(-?\d+)", softmax["message"]).group(1))
    off_block = oracle.off_block_mask(namespace["x"].shape, axis)
    assert np.any(namespace["result"][off_block] != 0)
