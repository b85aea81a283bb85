"""The gate: reading results files, baselines, and the verdict."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.results import divergences, documents, gate
from conformance.results.baseline import load_baseline, make_baseline, save_baseline
from conformance.results.documents import ResultsFileError

FIXTURES = Path(__file__).with_name("fixtures")
SCHEMA = documents.schema()


def fixture(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


def clean(document: dict[str, Any]) -> dict[str, Any]:
    """The document with every failed/error/xfailed record passing."""
    document = copy.deepcopy(document)
    for record in document["results"]:
        if record["status"] in ("failed", "error", "xfailed"):
            record.update(status="passed", message="", reproducer=None, worst=None, xfail_reason=None)
    return document


def find(document: dict[str, Any], adapter: str, prop: str, op: str, dtype: str) -> dict[str, Any]:
    [record] = [
        r
        for r in document["results"]
        if (r["adapter"], r["property"], r["op"], r["dtype"]) == (adapter, prop, op, dtype)
    ]
    return record


# --- files ------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["torch_run", "jax_run", "hostile_run"])
def test_fixtures_are_valid_results(name: str) -> None:
    jsonschema.Draft202012Validator.check_schema(SCHEMA)
    jsonschema.Draft202012Validator(SCHEMA).validate(fixture(name))


def test_load_documents_reads_in_order_and_expands_patterns() -> None:
    loaded = documents.load_documents([FIXTURES / "torch_run.json", str(FIXTURES / "jax_run.json")])
    assert [d.metadata["frameworks"].get("torch") for d in loaded] == ["2.13.0", None]
    expanded = documents.load_documents([str(FIXTURES / "*_run.json")])  # tox passes globs unexpanded
    assert len(expanded) == 3


@pytest.mark.parametrize(
    ("content", "needle"),
    [
        (b"", "empty file"),
        (b'{"schema_version": 1, "metadata": {', "not JSON"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "not UTF-8"),
        (b"[1, 2]", "top level is a JSON list"),
        (b'{"schema_version": 2, "metadata": {}, "results": []}', "not a valid results document"),
        (b'{"schema_version": 1, "results": []}', "'metadata' is a required property"),
    ],
)
def test_corrupt_files_raise_one_line(tmp_path: Path, content: bytes, needle: str) -> None:
    path = tmp_path / "broken.json"
    path.write_bytes(content)
    with pytest.raises(ResultsFileError) as caught:
        documents.load_documents([FIXTURES / "torch_run.json", path])
    message = str(caught.value)
    assert message.startswith(str(path)) and needle in message and "\n" not in message


def test_schema_errors_name_the_place(tmp_path: Path) -> None:
    document = fixture("jax_run")
    document["results"][5]["status"] = "exploded"
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    with pytest.raises(ResultsFileError, match=r"\$\.results\[5\]\.status"):
        documents.load_documents([path])


def test_missing_files_and_patterns(tmp_path: Path) -> None:
    with pytest.raises(ResultsFileError, match="no such file"):
        documents.load_documents([tmp_path / "absent.json"])
    with pytest.raises(ResultsFileError, match="no file matches"):
        documents.load_documents([str(tmp_path / "*.json")])
    with pytest.raises(ResultsFileError, match="is a directory"):
        documents.load_documents([tmp_path])
    with pytest.raises(ResultsFileError, match="no results files"):
        documents.load_documents([])


# --- baselines --------------------------------------------------------------------------------


def test_make_baseline_keeps_the_worst_status_per_record(tmp_path: Path) -> None:
    first, second = clean(fixture("torch_run")), clean(fixture("torch_run"))
    find(second, "torch", "vjp_accuracy", "softmax", "float32")["status"] = "failed"
    baseline = make_baseline([first, second])
    assert baseline["baseline_version"] == 1 and baseline["frameworks"] == {"torch": "2.13.0", "numpy": "2.1.3"}
    assert len(baseline["results"]) == len(first["results"])
    [entry] = [
        e
        for e in baseline["results"]
        if (e["adapter"], e["property"], e["op"], e["dtype"]) == ("torch", "vjp_accuracy", "softmax", "float32")
    ]
    assert entry == {
        "framework": "torch",
        "adapter": "torch",
        "property": "vjp_accuracy",
        "op": "softmax",
        "dtype": "float32",
        "status": "failed",
    }
    path = tmp_path / "baseline.json"
    save_baseline(baseline, path)
    assert load_baseline(path) == baseline
    # a full results document is a baseline too
    assert load_baseline(FIXTURES / "torch_run.json") == make_baseline([fixture("torch_run")])


def test_bad_baselines(tmp_path: Path) -> None:
    path = tmp_path / "baseline.json"
    path.write_text('{"baseline_version": 1, "results": [{"adapter": "torch"}]}', encoding="utf-8")
    with pytest.raises(ResultsFileError, match="not a valid baseline"):
        load_baseline(path)
    path.write_text("[]", encoding="utf-8")
    with pytest.raises(ResultsFileError, match="not a baseline"):
        load_baseline(path)


# --- the verdict ------------------------------------------------------------------------------


def test_clean_torch_and_jax_pass() -> None:
    documents = [clean(fixture("torch_run")), fixture("jax_run")]
    verdict = gate.evaluate(documents, make_baseline(documents), ["torch", "jax"], [])
    assert verdict.passed, verdict.lines
    assert verdict.lines == [] and verdict.baseline_used
    without = gate.evaluate(documents, None, None, None)
    assert without.passed and not without.baseline_used


def test_unexplained_failures_fail_even_without_a_baseline() -> None:
    verdict = gate.evaluate([fixture("torch_run")])
    assert not verdict.passed
    assert len(verdict.unexplained) == 2  # one failed, one error; the xfailed one is explained
    assert any(
        line.startswith("FAILED torch-compile forward_accuracy (log_softmax, float16): failed")
        for line in verdict.lines
    )
    assert verdict.regressed == []


def test_regression_against_the_baseline_fails() -> None:
    before = clean(fixture("torch_run"))
    after = copy.deepcopy(before)
    broken = find(after, "torch-func", "vjp_accuracy", "log_softmax", "float32")
    broken.update(status="failed", message="vjp: error 12 ulp exceeds the bound 7.5 ulp\nmore detail")
    verdict = gate.evaluate([after], make_baseline([before]))
    assert not verdict.passed
    assert verdict.lines[0] == (
        "REGRESSED torch-func vjp_accuracy (log_softmax, float32): failed: "
        "vjp: error 12 ulp exceeds the bound 7.5 ulp (baseline: passed)"
    )
    assert len(verdict.regressed) == 1 and verdict.regressed[0] in verdict.lines[0]


def test_newly_passing_is_reported_and_passes() -> None:
    before = fixture("torch_run")
    baseline = make_baseline([before])
    verdict = gate.evaluate([clean(before)], baseline)
    assert verdict.passed
    assert len(verdict.newly_passing) == 3
    assert "NEWLY PASSES torch jacobian_accuracy (softmax, float16) (baseline: xfailed)" in verdict.lines


def test_an_expected_framework_without_results_fails() -> None:
    documents = [clean(fixture("torch_run")), fixture("jax_run")]
    verdict = gate.evaluate(documents, None, ["torch", "jax", "tensorflow"])
    assert not verdict.passed
    assert verdict.lines == ["MISSING framework tensorflow: no results (expected)"]
    # all-skipped is no results either
    skipped = fixture("jax_run")
    for record in skipped["results"]:
        record["status"] = "skipped"
    assert not gate.evaluate([skipped], None, ["jax"]).passed


def test_a_framework_in_the_baseline_is_expected() -> None:
    torch_run, jax_run = clean(fixture("torch_run")), fixture("jax_run")
    verdict = gate.evaluate([torch_run], make_baseline([torch_run, jax_run]))
    assert not verdict.passed
    assert verdict.missing_frameworks == ["framework jax: no results (in the baseline)"]
    assert verdict.missing_results == []  # reported once, as the framework


def test_fewer_results_than_the_baseline_fails() -> None:
    before = clean(fixture("torch_run"))
    after = copy.deepcopy(before)
    after["results"] = [
        r for r in after["results"] if not (r["adapter"] == "torch-compile" and r["property"] == "forward_accuracy")
    ]
    find(after, "torch", "forward_accuracy", "softmax", "float64").update(status="skipped", not_provided=True)
    verdict = gate.evaluate([after], make_baseline([before]), ["torch"])
    assert not verdict.passed
    assert len(verdict.missing_results) == 9
    [line] = verdict.lines
    assert line.startswith("MISSING torch forward_accuracy: 23 of 32 baseline results; missing ")
    assert "torch (softmax, float64)" in line


def test_a_stale_divergence_fails() -> None:
    documents = [clean(fixture("torch_run"))]
    stale = divergences.parse(
        '[[divergence]]\nadapter = "torch-compile"\nproperty = "forward_accuracy"\nop = "log_softmax"\n'
        'dtype = "float16"\nreason = "fixed upstream since"\n'
    )
    verdict = gate.evaluate(documents, None, ["torch"], stale)
    assert not verdict.passed
    [line] = verdict.lines
    assert line.startswith("DIVERGENCE known_divergences.toml divergence #1") and "stale" in line


def test_divergences_explain_failures() -> None:
    found = divergences.parse(
        '[[divergence]]\nadapter = "torch-compile"\nproperty = "forward_accuracy"\nop = "log_softmax"\n'
        'dtype = "float16"\nframework = "torch"\nversions = "==2.13.*"\n'
        'reason = "inductor lowers softmax differently"\n'
        '[[divergence]]\nadapter = "torch-compile"\nproperty = "vjp_derivative_*"\ndtype = "bfloat16"\nop = "softmax"\n'
        'framework = "torch"\nversions = "==2.13.*"\nreason = "inductor lowers softmax differently"\n'
        '[[divergence]]\nadapter = "jax*"\nproperty = "forward_accuracy"\nreason = "about jax: not in this run"\n'
    )
    verdict = gate.evaluate([fixture("torch_run")], None, ["torch"], found)
    assert verdict.passed, verdict.lines
    explained = [r for r in verdict.records if r.xfail_reason == "inductor lowers softmax differently"]
    assert {r.property for r in explained} == {"forward_accuracy", "vjp_derivative_accuracy"}
    # outside the version range the entry does not apply, and nothing is explained
    other = fixture("torch_run")
    other["metadata"]["frameworks"]["torch"] = "2.12.1"
    assert len(gate.evaluate([other], None, ["torch"], found).unexplained) == 2


def test_recorded_divergence_problems_fail_when_no_entries_are_given() -> None:
    document = clean(fixture("torch_run"))
    document["metadata"]["divergence_problems"] = ["known_divergences.toml divergence #2 (...): stale"]
    verdict = gate.evaluate([document])
    assert not verdict.passed
    assert verdict.lines == ["DIVERGENCE known_divergences.toml divergence #2 (...): stale"]
    # given entries, the audit is redone and replaces what the run recorded
    assert gate.evaluate([document], None, None, []).passed


def test_the_same_framework_from_two_pythons() -> None:
    py311, py312 = clean(fixture("jax_run")), clean(fixture("jax_run"))
    py312["metadata"]["python"] = "3.12.7"
    baseline = make_baseline([py311, py312])
    find(py312, "jax-jit", "jvp_accuracy", "softmax", "bfloat16").update(status="error", message="XlaRuntimeError")
    verdict = gate.evaluate([py311, py312], baseline, ["jax"])
    assert not verdict.passed
    assert verdict.regressed == ["jax-jit jvp_accuracy (softmax, bfloat16): error: XlaRuntimeError (baseline: passed)"]


def test_long_diffs_are_capped() -> None:
    document = clean(fixture("jax_run"))
    for record in document["results"]:
        if record["status"] == "passed":
            record.update(status="failed", message="boom")
    verdict = gate.evaluate([document])
    assert len(verdict.unexplained) > gate.MAX_LINES_PER_KIND
    assert len(verdict.lines) == gate.MAX_LINES_PER_KIND + 1
    assert verdict.lines[-1].startswith("FAILED ... and ")
