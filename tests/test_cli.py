"""The report and gate commands end to end, as a user types them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.conftest import TESTS, run_cli

FIXTURES = TESTS / "fixtures"


def _one_line(result) -> str:
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


def test_report_merges_runs_into_one_html_file(tmp_path: Path):
    out = tmp_path / "index.html"
    result = run_cli(
        "report",
        str(FIXTURES / "torch_run.json"),
        str(FIXTURES / "jax_run.json"),
        str(FIXTURES / "hostile_run.json"),
        "-o",
        str(out),
    )
    assert result.returncode == 0, result.stderr
    html = out.read_text()
    assert "torch-func" in html and "jax-jit" in html
    assert "<img src=x onerror=alert(1)>" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html


@pytest.mark.parametrize("command", ["report", "gate"])
@pytest.mark.parametrize(("content", "needle"), [("{not json", "not JSON"), ('{"results": 3}', "")])
def test_corrupt_results_get_one_line_and_exit_2(tmp_path: Path, command: str, content: str, needle: str):
    bad = tmp_path / "bad.json"
    bad.write_text(content)
    extra = ["-o", str(tmp_path / "x.html")] if command == "report" else []
    result = run_cli(command, str(bad), *extra)
    assert result.returncode == 2
    assert str(bad) in _one_line(result) and needle in _one_line(result)


def test_a_missing_results_file_gets_one_line_and_exit_2(tmp_path: Path):
    result = run_cli("gate", str(tmp_path / "nothing.json"))
    assert result.returncode == 2 and "nothing.json" in _one_line(result)


def test_gate_fails_over_an_unexplained_failure_and_passes_clean_runs(tmp_path: Path):
    clean = []
    for name in ("torch_run.json", "jax_run.json"):
        document = json.loads((FIXTURES / name).read_text())
        document["results"] = [r for r in document["results"] if r["status"] in ("passed", "skipped")]
        path = tmp_path / name
        path.write_text(json.dumps(document))
        clean.append(str(path))
    empty = tmp_path / "none.toml"
    empty.write_text("")
    none = ("--no-default-divergences", "--divergences", str(empty))  # no entry: nothing is stale
    assert run_cli("gate", *clean, *none).returncode == 0
    assert run_cli("gate", *clean, "--expect", "torch,jax,tensorflow", *none).returncode == 1
    assert run_cli("gate", str(FIXTURES / "hostile_run.json"), *none).returncode == 1


def test_a_run_s_exit_status_summary_report_and_gate_give_one_verdict(tmp_path: Path):
    """A divergence entry that matches nothing fails the verdict: the run exits 1 and says so,
    and the report and the gate say the same sentence."""
    stale = tmp_path / "divergences.toml"
    stale.write_text(
        '[[divergence]]\nadapter = "numpy"\nproperty = "forward_accuracy"\nframework = "numpy"\n'
        'message = "*never*"\nreason = "r"\nreproducer = "print(1)"\n'
    )
    json_path, html_path, markdown = tmp_path / "run.json", tmp_path / "run.html", tmp_path / "run.md"
    quick = ("--adapter", "numpy", "--profile", "ci", "--dtypes", "float32", "--properties", "forward_accuracy")
    run = run_cli("run", *quick, "--divergences", str(stale), "--html", str(html_path), "--plain", json_path=json_path)
    assert run.returncode == 1
    sentence = "1 of 1 adapter conforms; 0 known divergences; 1 problem with the known-divergences file."
    assert f"FAIL: {sentence}" in run.stdout.replace("\n", " ")
    assert sentence in html_path.read_text()
    report = run_cli("report", str(json_path), "-o", str(tmp_path / "again.html"), "--divergences", str(stale),
                     "--markdown", str(markdown))  # fmt: skip
    assert report.returncode == 0 and sentence in (tmp_path / "again.html").read_text()
    assert markdown.read_text().startswith(f"## Softmax conformance: FAIL\n\n{sentence}\n")
    gate = run_cli("gate", str(json_path), "--divergences", str(stale))
    assert gate.returncode == 1 and "gate: FAILED" in gate.stdout
