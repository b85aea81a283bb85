"""Bit for bit: the three properties measure what they say, report it as a fact, and fail only
an adapter that promised it (the broken adapters that break a promise are caught in
test_suite_catches_broken_implementations, through CAUGHT_BY)."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conformance.adapter import BITWISE_PROMISES, UnknownPromise, declared_promises
from conformance.adapters import from_jax, from_tensorflow, from_torch
from conformance.checks.bitwise import PROPERTY_OF, difference
from conformance.checks.large.at_scale import GRID_ROWS
from tests.conftest import REPO, TESTS
from tests.recording_adapter import LOG_VARIABLE

BITWISE_PROPERTIES = ",".join(PROPERTY_OF.values())


def _run(cli, spec: str, properties: str, *extra: str):
    return cli("run", "--adapter", spec, "--profile", "ci", "--dtypes", "float32", "--properties", properties, *extra)


def test_bits_agree_where_equal_or_both_nan_and_differ_by_ulps_elsewhere():
    first = np.array([1.0, 2.0, -0.0, np.nan, 3.0], dtype=np.float32)
    assert difference(first, first.copy()) is None
    other_nan = first.copy()
    other_nan[3] = -np.nan  # another NaN's bits: still no number on either side
    assert difference(first, other_nan) is None
    second = first.copy()
    second[1] = np.nextafter(np.float32(2), np.float32(3))
    second[2] = 0.0
    found = difference(first, second)
    assert found is not None and found.differing == 2 and found.compared == 5
    assert found.max_ulp == 1.0 and found.index == (1,)
    second[4] = np.inf
    found = difference(first, second)
    assert found is not None and math.isinf(found.max_ulp)


def test_a_promise_of_something_else_is_refused_with_the_valid_choices():
    for wrap in (from_torch, from_jax, from_tensorflow):
        with pytest.raises(UnknownPromise, match="but the promises are: batch, determinism, threads"):
            wrap(lambda x, axis: x, bitwise=("batch", "speed"))
    assert BITWISE_PROMISES == ("batch", "determinism", "threads")


def test_a_promise_made_through_from_torch_is_the_adapters():
    torch = pytest.importorskip("torch")
    adapter = from_torch(torch.softmax, bitwise=("batch", "threads"))
    assert declared_promises(adapter) == ("batch", "threads")
    assert declared_promises(from_torch(torch.softmax)) == ()


def test_the_command_line_refuses_an_adapter_that_promises_something_else(cli, tmp_path: Path):
    adapter = tmp_path / "promising.py"
    adapter.write_text(
        "from conformance.adapters.numpy_adapter import NumpyReference\n\n"
        "class Promising(NumpyReference):\n"
        "    bitwise = ('batch', 'reproducibility')\n"
    )
    result = cli("run", "--adapter", f"{adapter}:Promising", "--plain")
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "the promises are: batch, determinism, threads" in lines[0], lines


def test_the_thread_count_property_runs_in_ci_and_thorough_only():
    def collected(profile: str) -> str:
        command = [
            sys.executable,
            "-m",
            "pytest",
            "--pyargs",
            "conformance.properties",
            "--collect-only",
            "-q",
            "-p",
            "no:randomly",
            "-p",
            "no:cacheprovider",
            "--adapter",
            "numpy",
            "--conformance-profile",
            profile,
            "--dtypes",
            "float32",
            "--conformance-ops",
            "softmax",
        ]
        done = subprocess.run(command, capture_output=True, text=True, cwd=REPO, timeout=300)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
        return done.stdout

    dev, ci = collected("dev"), collected("ci")
    assert "test_the_same_call_gives_the_same_bits_every_time" in dev
    assert "test_one_thread_and_all_of_them_give_the_same_bits" not in dev
    assert "test_one_thread_and_all_of_them_give_the_same_bits" in ci


def test_a_correct_adapter_keeps_every_promise_on_one_thread_and_on_all(cli):
    result = _run(cli, f"{TESTS / 'conforming_adapters.py'}:RowsSharedOutOverThreads", BITWISE_PROPERTIES)
    records = result.records()
    assert result.returncode == 0, result.stderr[-3000:]
    assert {record["property"] for record in records} == set(PROPERTY_OF.values())
    for record in records:
        assert record["status"] == "passed", record["message"]
        finding = record["bitwise"]
        assert finding["promised"] and finding["draws"] >= 2 and finding["differing_draws"] == 0, finding
    [table] = result.document["metadata"]["bitwise"]
    assert table["promised"] == ["batch", "determinism", "threads"]
    assert {row[aspect]["verdict"] for row in table["rows"] for aspect in PROPERTY_OF} == {"same bits"}


def test_other_bits_without_a_promise_pass_and_are_reported(cli, tmp_path: Path):
    html = tmp_path / "report.html"
    result = _run(
        cli,
        f"{TESTS / 'conforming_adapters.py'}:BatchVariantWithoutPromise",
        "same_bits_in_any_batch",
        "--html",
        str(html),
    )
    assert result.returncode == 0, result.stderr[-3000:]
    records = result.records()
    assert records and all(record["status"] == "passed" for record in records)
    for record in records:
        finding = record["bitwise"]
        assert not finding["promised"] and finding["differing_draws"] >= 1, finding
        assert float(finding["max_diff_ulp"]) > 0
        assert finding["first_change"] >= 8, "a batch of fewer than 8 rows sums as a row alone does"
        assert "other bits in" in record["message"]
    [table] = result.document["metadata"]["bitwise"]
    assert {row["batch"]["verdict"] for row in table["rows"]} == {"other bits"}
    page = html.read_text(encoding="utf-8")
    assert 'id="bitwise-batch-variant-without-promise"' in page
    assert "batch-invariant" in page and "no: " in page
    assert "bit for bit: batch-variant-without-promise" in result.stdout


def test_a_seeded_large_input_is_computed_once_per_record_and_counted_in_every_example(cli, tmp_path: Path):
    """The pool's seeded inputs (more than 65535 rows, rows of a vocabulary's length) are the same
    in every example, so same_bits_in_any_batch gives each to the adapter once per record; what
    it found is still counted in each of the record's draws."""
    log = tmp_path / "inputs.log"
    result = cli(
        "run",
        "--adapter",
        f"{TESTS / 'recording_adapter.py'}:RecordsItsInputs",
        "--profile",
        "dev",
        "--dtypes",
        "float32",
        "--properties",
        "same_bits_in_any_batch",
        "--plain",
        env={LOG_VARIABLE: str(log)},
    )
    assert result.returncode == 0, result.stderr[-3000:]
    large: dict[str, list[str]] = {}
    for line in log.read_text().splitlines():
        test, given = line.split("\t", 1)
        shape = tuple(int(side) for side in re.findall(r"\d+", given.split(")")[0]))
        if len(shape) == 2 and (shape[0] > GRID_ROWS or shape[1] > 65536):
            large.setdefault(test, []).append(given)
    assert len(large) == 2, f"one record per op, each with its seeded inputs: {sorted(large)}"
    for test, given in large.items():
        assert len(given) == len(set(given)) >= 1, f"{test}: a seeded input given more than once: {given}"
    for record in result.records():
        assert record["examples"] > 1 and record["bitwise"]["draws"] == record["examples"], record


def test_a_broken_promise_fails_with_a_reproducer_that_prints_both_answers_bits(cli):
    result = _run(cli, f"{TESTS / 'broken_adapters.py'}:SplitsSmallBatchSums", "same_bits_in_any_batch")
    assert result.returncode == 1, result.stderr[-3000:]
    failed = result.records("failed")
    assert failed, [record["message"] for record in result.records()]
    record = min(failed, key=lambda found: len(found["reproducer"]))
    assert "the adapter promises bitwise 'batch'" in record["message"]
    assert record["bitwise"]["promised"] and record["bitwise"]["differing_draws"] >= 1
    done = subprocess.run(
        [sys.executable, "-c", record["reproducer"]], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stderr[-3000:]
    alone, in_batch, differing = done.stdout.strip().splitlines()[-3:]
    assert alone.startswith("the row alone, bits: [0x") and in_batch.startswith("the same row in the batch, bits: [0x")
    count = int(differing.split("elements whose bits differ:")[1].split()[0])
    assert count > 0 and alone != in_batch


_NAN_AT_THE_MAXIMUM = '''
import numpy as np
from conformance.adapters.numpy_adapter import NumpyReference

class NaNAtTheMaximum(NumpyReference):
    """Right everywhere but at each row's first maximum, which is NaN: the same NaNs alone,
    in any batch, on every call and from any thread."""

    name = "nan-at-the-maximum"
    bitwise = ("batch", "determinism")

    def softmax(self, x, axis):
        out = super().softmax(x, axis)
        if out.ndim and out.shape[axis]:
            rows = np.moveaxis(out, axis, -1)
            first = np.argmax(np.moveaxis(x, axis, -1), axis=-1)[..., None]
            np.put_along_axis(rows, first, np.nan, axis=-1)
        return out
'''


def test_the_same_nans_everywhere_pass_the_agreement_properties_and_fail_the_accuracy_one(cli, tmp_path: Path):
    """Agreement means agreement (issue 30): NaNs in the same places, alone, in a batch, on every
    call and from concurrent callers, are an accuracy bug, not a batching or threading one."""
    (tmp_path / "nan_at_the_maximum.py").write_text(_NAN_AT_THE_MAXIMUM)
    agreement = "batch_equals_rows,concurrent_calls_agree,same_bits_in_any_batch,same_bits_every_call"
    result = _run(cli, f"{tmp_path / 'nan_at_the_maximum.py'}:NaNAtTheMaximum", f"{agreement},forward_accuracy")
    softmax = {record["property"]: record for record in result.records() if record["op"] == "softmax"}
    assert softmax["forward_accuracy"]["status"] == "failed"
    for name in agreement.split(","):
        assert softmax[name]["status"] == "passed", f"{name}: {softmax[name]['message'][:500]}"
