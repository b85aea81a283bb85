"""What a new user hit with adapters of their own: runs that checked nothing, inputs that never
arrived, reproducers that did not reproduce, messages that named the wrong side."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from conformance import oracle
from tests.conftest import REPO, run_cli

NO_JACOBIAN = """
import numpy as np
from conformance import oracle


class NoJac:
    def softmax(self, x, axis):
        return oracle.softmax(x, axis).astype(x.dtype)

    def vjp(self, x, cotangent, axis):
        return oracle.vjp("softmax", x, cotangent, axis).astype(x.dtype)
"""

QUICK = ("--profile", "ci", "--dtypes", "float32", "--plain")


def test_an_adapter_without_a_required_method_is_an_error_and_fails_the_gate(cli, tmp_path: Path) -> None:
    (tmp_path / "nojac.py").write_text(NO_JACOBIAN)
    result = cli("run", "--adapter", f"{tmp_path / 'nojac.py'}:NoJac", *QUICK)
    assert result.returncode == 1, result.stderr
    [record] = result.records("error")
    assert "NoJac lacks jacobian" in record["message"]
    gate = cli("gate", str(tmp_path / "results.json"))
    assert gate.returncode == 1 and "gate: FAILED" in gate.stdout


def test_a_mistyped_class_is_a_usage_error_naming_what_the_file_defines(cli, tmp_path: Path) -> None:
    (tmp_path / "nojac.py").write_text(NO_JACOBIAN)
    result = cli("run", "--adapter", f"{tmp_path / 'nojac.py'}:NoSuchClass", *QUICK)
    assert result.returncode == 2
    [line] = result.stderr.strip().splitlines()
    assert line.endswith("has no 'NoSuchClass'; it defines: NoJac, oracle")  # not np: `import numpy as np`


def test_an_adapter_file_imports_the_modules_beside_it(cli, tmp_path: Path) -> None:
    (tmp_path / "kernels.py").write_text(NO_JACOBIAN.replace("class NoJac:", "class Base:"))
    (tmp_path / "mine.py").write_text(
        "import numpy as np\nfrom conformance import oracle\nfrom kernels import Base\n\n\n"
        "class Mine(Base):\n    def jacobian(self, x, axis):\n"
        "        return oracle.jacobian('softmax', x, axis).astype(x.dtype)\n"
    )
    result = cli("run", "--adapter", f"{tmp_path / 'mine.py'}:Mine", *QUICK, "--properties", "shapes_and_dtypes")
    assert result.returncode == 0, result.stderr
    assert result.records("passed") and not result.records("error") and not result.records("failed")


def test_the_gate_fails_an_adapter_that_was_asked_for_and_has_no_results(tmp_path: Path) -> None:
    from conformance.results.gate import evaluate
    from conformance.results.records import Document

    verdict = evaluate([Document({"requested": ["mine.py:Mine"], "frameworks": {}})])
    assert not verdict.passed
    assert any("adapter mine.py:Mine: asked for, but no property ran on it" in line for line in verdict.lines)


def test_a_zero_dimensional_input_reaches_the_adapter_and_stays_zero_dimensional() -> None:
    from hypothesis import given, settings
    from hypothesis import strategies as st

    from conformance.inputs.catalogue import ZERO_DIMENSIONAL
    from conformance.inputs.strategies import problems

    seen: list[int] = []

    @settings(max_examples=5, database=None)
    @given(st.data())
    def draw(data: Any) -> None:
        seen.append(data.draw(problems(np.dtype(np.float32), [case.site for case in ZERO_DIMENSIONAL])).x.value.ndim)

    draw()
    assert seen and set(seen) == {0}


# -- reproducers ----------------------------------------------------------------------------


def _failures(spec: str, dtype: str, properties: str, folder: Path) -> list[dict[str, Any]]:
    """The failed records of a run given ``spec`` as a path relative to the repository."""
    result = run_cli(
        "run", "--adapter", spec, "--profile", "ci", "--dtypes", dtype, "--properties", properties, "--plain",
        json_path=folder / f"{properties}.json",
    )  # fmt: skip
    failed = result.records("failed")
    assert failed, f"{spec} was not caught by {properties}: {result.stderr[-2000:]}"
    return failed


def _run_pasted(reproducer: str, folder: Path) -> str:
    """Run ``reproducer`` as a user would paste it: a fresh interpreter, in ``folder``."""
    completed = subprocess.run(
        [sys.executable, "-c", reproducer], cwd=folder, capture_output=True, text=True, timeout=300,
        env={**os.environ, "PYTHONPATH": ""},
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


def _namespace(reproducer: str, folder: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    monkeypatch.chdir(folder)
    namespace: dict[str, Any] = {"print": lambda *args: None}
    exec(reproducer, namespace)
    return namespace


# spec, dtype, property, and what the reproducer's variables must show
REPRODUCERS = {
    "accuracy": ("VjpWithoutInnerProduct", "float32", "vjp_accuracy"),
    "exact": ("EpsilonInDenominator", "float64", "length_one_axis_is_exact"),
    "adjoint": ("TransposedLogSoftmaxJacobian", "float32", "jvp_vjp_adjoint"),
    "batch": ("VjpUsesNeighbouringRow", "float32", "batch_equals_rows"),
    "modified input": ("ShiftsItsInputInPlace", "float32", "forward_accuracy"),
    "reused output": ("ReusesItsOutputBuffer", "float32", "results_are_not_reused"),
}


def _shows_the_failure(kind: str, record: dict[str, Any], names: dict[str, Any]) -> bool:
    if kind == "accuracy":
        expected = oracle.vjp(record["op"], names["x"], names["cotangent"], axis=_axis(record))
        return bool(np.any(np.abs(names["result"].astype(np.float64) - expected) > 1e-3))
    if kind == "exact":
        return bool(np.any(names["result"] != 1.0))
    if kind == "adjoint":
        left = np.sum(names["tangent"].astype(np.float64) * names["pulled"])
        right = np.sum(names["pushed"].astype(np.float64) * names["cotangent"])
        return bool(abs(left - right) > 1e-3)
    if kind == "batch":
        picked = re.search(r"'the same row in the batch:', (.*)\)$", record["reproducer"], re.M)
        assert picked is not None
        in_batch = eval(picked.group(1), {"np": np, "oracle": oracle, "batch": names["batch"]})
        return bool(np.any(np.abs(names["row"].astype(np.float64) - in_batch) > 1e-3))
    if kind == "modified input":
        return not np.array_equal(names["x"], names["x_as_given"])
    return bool(
        np.may_share_memory(names["first"], names["later"]) or not np.array_equal(names["first"], names["kept"])
    )


def _axis(record: dict[str, Any]) -> int:
    found = re.search(r"axis=(-?\d+)", record["message"])
    assert found is not None
    return int(found.group(1))


@pytest.mark.parametrize("kind", list(REPRODUCERS))
def test_every_kind_of_reproducer_runs_from_another_folder_and_shows_the_failure(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    adapter, dtype, prop = REPRODUCERS[kind]
    spec = f"tests/broken_adapters.py:{adapter}"  # relative, as a user types it
    record = _failures(spec, dtype, prop, tmp_path)[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert str(REPO / "tests" / "broken_adapters.py") in record["reproducer"]  # absolute in the reproducer
    assert _run_pasted(record["reproducer"], elsewhere).strip()
    assert _shows_the_failure(kind, record, _namespace(record["reproducer"], elsewhere, monkeypatch)), kind


def test_a_reproducer_rebuilds_the_input_as_it_was_before_the_adapter_overwrote_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = _failures("tests/broken_adapters.py:ShiftsItsInputInPlace", "float32", "forward_accuracy", tmp_path)[0]
    assert "modified its argument `x` in place (" in record["message"]
    names = _namespace(record["reproducer"].split("\nx_as_given")[0], tmp_path, monkeypatch)
    row_maxima = np.max(names["x"], axis=_axis(record))
    assert not np.all(row_maxima == 0)  # the original logits, not the shifted ones (whose maxima are all 0)


def test_the_adjoint_failure_compares_the_two_sides_of_the_identity(tmp_path: Path) -> None:
    spec = "tests/broken_adapters.py:TransposedLogSoftmaxJacobian"
    record = _failures(spec, "float32", "jvp_vjp_adjoint", tmp_path)[0]
    assert "<u, vjp(v)>" in record["message"] and "but <jvp(u), v> gives" in record["message"]
    assert "oracle" not in record["message"]


def test_a_failure_message_and_max_error_ulp_are_the_same_measure(tmp_path: Path) -> None:
    for record in _failures("tests/broken_adapters.py:Float32InsideFloat64", "float64", "vjp_accuracy", tmp_path):
        said = float(re.search(r"\(err (\S+) ulp > bound (\S+) ulp\)", record["message"]).group(1))
        assert f"{record['max_error_ulp']:.3g}" == f"{said:.3g}" == f"{record['worst']['error_ulp']:.3g}"
        assert f"{record['bound_ulp']:.3g}" == f"{record['worst']['bound_ulp']:.3g}"
    document = json.loads((tmp_path / "vjp_accuracy.json").read_text())
    assert document["results"]


def test_the_terminal_alone_prints_a_reproducer_that_shows_the_failure_and_says_where_the_rest_are(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A run given neither --json nor --html still leaves the user something to paste."""
    quick = ("--adapter", "tests/broken_adapters.py:VjpWithoutInnerProduct", *QUICK, "--properties", "vjp_accuracy")
    bare = run_cli("run", *quick)
    assert bare.returncode == 1, bare.stderr[-2000:]
    shown = re.search(r"^Reproduce (.*) with:\n(.*?)\nEvery failure's reproducer ([^\n]*)\.$", bare.stdout, re.M | re.S)
    assert shown is not None, bare.stdout[-3000:]
    label, reproducer, where = shown.groups()
    assert label == "tests/broken_adapters.py:VjpWithoutInnerProduct vjp_accuracy softmax float32"
    assert where == "goes to --json FILE and --html FILE; this run had neither"
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    assert _run_pasted(reproducer, elsewhere).strip()
    names = _namespace(reproducer, elsewhere, monkeypatch)
    failed = {"op": "softmax", "message": bare.stdout, "reproducer": reproducer}
    assert _shows_the_failure("accuracy", failed, names)
    kept = run_cli("run", *quick, json_path=tmp_path / "kept.json")
    assert f"Every failure's reproducer is in {tmp_path / 'kept.json'}." in kept.stdout
    assert reproducer in {record["reproducer"] for record in kept.records("failed")}  # the same, shortest one
