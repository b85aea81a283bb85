"""A misbehaving adapter becomes a reported result; nothing else is lost."""

from __future__ import annotations

import pytest

from tests.conftest import REPO, TESTS, run_cli

MISBEHAVING = TESTS / "misbehaving_adapters.py"
QUICK = (
    "--profile",
    "ci",
    "--dtypes",
    "float32",
    "--plain",
    "--properties",
    "forward_accuracy,vjp_accuracy,jvp_accuracy",
)


def _by_spec(result, name):
    return [record for record in result.records() if record["spec"].endswith(f":{name}")]


def test_a_segfault_a_hang_and_junk_do_not_lose_the_other_adapters_results(cli, tmp_path):
    html = tmp_path / "report.html"
    result = cli(
        "run",
        "--adapter",
        "numpy",
        "--adapter",
        f"{MISBEHAVING}:Segfaults",
        "--adapter",
        f"{MISBEHAVING}:HangsInC",
        "--adapter",
        f"{MISBEHAVING}:ReturnsJunk",
        "--call-timeout",
        "2",
        "--html",
        str(html),
        *QUICK,
    )
    assert result.returncode == 1
    numpy_records = _by_spec(result, "numpy") or [r for r in result.records() if r["spec"] == "numpy"]
    assert numpy_records and all(r["status"] == "passed" for r in numpy_records)
    segfaults = {r["property"] + " " + r["op"]: r for r in _by_spec(result, "Segfaults")}
    crashed = segfaults["forward_accuracy softmax"]
    assert crashed["status"] == "error" and "the worker died of SIGSEGV" in crashed["message"]
    # a fresh worker carried on with what the crash interrupted
    assert segfaults["vjp_accuracy softmax"]["status"] == "passed"
    hangs = _by_spec(result, "HangsInC")
    assert any(r["status"] == "error" and "no answer within" in r["message"] for r in hangs)
    junk = {r["property"] + " " + r["op"]: r for r in _by_spec(result, "ReturnsJunk")}
    assert "returned NoneType, not a numpy.ndarray" in junk["forward_accuracy softmax"]["message"]
    assert "returned list, not a numpy.ndarray" in junk["vjp_accuracy softmax"]["message"]
    assert "returned dtype float64 for float32 input" in junk["jvp_accuracy softmax"]["message"]
    assert "nan" in junk["forward_accuracy log_softmax"]["message"]
    assert html.exists() and "segfaults" in html.read_text()


def test_a_python_level_hang_is_interrupted_by_the_call_timeout(cli):
    result = cli("run", "--adapter", f"{MISBEHAVING}:HangsInPython", "--call-timeout", "1", *QUICK)
    assert result.returncode == 1
    forward = [r for r in result.records() if r["property"] == "forward_accuracy" and r["op"] == "softmax"]
    assert forward and all("timed out after 1 s" in r["message"] for r in forward)
    # later calls in the same worker are not made, and say why
    later = [r for r in result.records() if r["op"] == "softmax" and r["property"] != "forward_accuracy"]
    assert later and all("an earlier call of softmax hung" in r["message"] for r in later)


def test_an_adapter_that_raises_is_an_error_naming_the_exception(cli):
    result = cli("run", "--adapter", f"{MISBEHAVING}:Raises", *QUICK)
    assert result.returncode == 1
    [vjp] = [r for r in result.records() if r["property"] == "vjp_accuracy" and r["op"] == "softmax"]
    assert vjp["status"] == "error"
    assert "vjp raised RuntimeError: backward kernel not implemented" in vjp["message"]
    assert all(r["status"] == "passed" for r in result.records() if r["property"] == "forward_accuracy")


def test_an_adapter_that_fails_to_load_is_an_error_record(cli):
    result = cli("run", "--adapter", f"{MISBEHAVING}:FailsToLoad", *QUICK)
    assert result.returncode == 1
    [record] = result.records()
    assert record["property"] == "load_adapter" and record["status"] == "error"
    assert "libcustomkernel.so" in record["message"]


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (
            ("run", "--frameworks", "toch"),
            "--frameworks=toch, but the known frameworks are: jax, mlx, numpy, paddle, tensorflow, torch",
        ),
        (("run", "--adapter", "no/such/file.py:X"), "--adapter=no/such/file.py:X: no file"),
        (("run", "--adapter", "nonsense"), "--adapter=nonsense: unknown adapter; the built-in adapters are:"),
        (("run", "--profile", "fast"), "invalid choice: 'fast' (choose from 'ci', 'dev', 'thorough')"),
        (
            ("run", "--dtypes", "float8"),
            "dtype='float8', but the known dtypes are: float16, bfloat16, float32, float64",
        ),
        (("run", "--properties", "speed"), "--properties=speed, but the known properties are: shapes_and_dtypes"),
        (("frobnicate",), "invalid choice: 'frobnicate'"),
    ],
)
def test_bad_command_lines_get_one_line_and_exit_2(cli, arguments, expected):
    result = cli(*arguments)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr
    assert "Traceback" not in result.stderr


def test_a_crash_a_known_divergence_explains_is_xfailed_by_the_run_as_by_the_gate(cli, tmp_path):
    known = tmp_path / "known.toml"
    known.write_text(
        '[[divergence]]\nadapter = "segfaults"\nproperty = "forward_accuracy"\nop = "softmax"\n'
        'message = "the worker died of SIGSEGV while running this property*"\nreason = "r"\n',
        encoding="utf-8",
    )
    result = cli(
        "run",
        "--adapter",
        f"{MISBEHAVING}:Segfaults",
        "--divergences",
        str(known),
        "--profile",
        "ci",
        "--dtypes",
        "float32",
        "--plain",
        "--properties",
        "forward_accuracy",
    )
    crashed = {r["op"]: r for r in _by_spec(result, "Segfaults")}
    assert crashed["softmax"]["status"] == "xfailed" and "SIGSEGV" in crashed["softmax"]["message"]
    assert crashed["log_softmax"]["status"] == "passed"
    assert result.returncode == 0, result.stderr[-2000:]


def test_the_user_s_own_pytest_setup_does_not_reach_the_workers(tmp_path):
    """Run from a project's folder: its conftest files, its configuration file and the
    ``PYTEST_ADDOPTS`` of its shell are for its own tests. Here a hook that drops tests, a fixture that
    raises and options that do not exist would each cut or break the run if a worker took them."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    dropping = "def pytest_collection_modifyitems(items):\n    del items[1:]\n"
    raising = (
        "import pytest\n\n@pytest.fixture(autouse=True)\n"
        "def _boom():\n    raise RuntimeError('the project conftest ran in a worker')\n"
    )
    (project / "tests" / "conftest.py").write_text(dropping)
    (project / "conftest.py").write_text(raising)
    (project / "pytest.ini").write_text("[pytest]\naddopts = --an-option-of-the-project\n")
    result = run_cli(
        "run", "--adapter", f"{REPO / 'adapters' / 'numpy_adapter.py'}:NumpyReference", "--profile", "ci",
        "--dtypes", "float32", "--properties", "forward_accuracy,vjp_accuracy", "--plain",
        json_path=tmp_path / "results.json", cwd=project,
        env={"PYTEST_ADDOPTS": "--another-option -x"},
    )  # fmt: skip
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-2000:]
    found = {(record["property"], record["op"], record["status"]) for record in result.records()}
    assert found == {
        (prop, op, "passed") for prop in ("forward_accuracy", "vjp_accuracy") for op in ("softmax", "log_softmax")
    }
