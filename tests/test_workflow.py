"""The CI workflow and tox.ini say what the project promises: every framework, two Pythons, a gate."""

from __future__ import annotations

import configparser
import importlib.util
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parent.parent
FRAMEWORKS = ["torch", "jax", "tensorflow", "mlx", "paddle"]
OPTIONAL = ["mlx", "paddle"]  # not installed by default, not expected by the gate


@pytest.fixture(scope="module")
def workflow() -> dict[str, Any]:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "conformance.yml").read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def tox_ini() -> configparser.ConfigParser:
    parser = configparser.ConfigParser(interpolation=None)
    parser.read(ROOT / "tox.ini", encoding="utf-8")
    return parser


def steps_text(job: dict[str, Any]) -> str:
    return "\n".join(str(step.get("run", "")) for step in job["steps"])


def uses(job: dict[str, Any]) -> list[str]:
    return [str(step["uses"]) for step in job["steps"] if "uses" in step]


def test_triggers(workflow: dict[str, Any]) -> None:
    triggers = workflow.get("on", workflow.get(True))  # YAML 1.1 reads a bare `on` as true
    assert {"push", "pull_request"} <= set(triggers)


def test_the_matrix_runs_every_ad_path_in_a_job_of_its_own_on_two_pythons(workflow: dict[str, Any]) -> None:
    from conformance.adapters import FRAMEWORKS as PATHS

    job = workflow["jobs"]["conformance"]
    matrix = job["strategy"]["matrix"]
    expected = {path: framework for framework in FRAMEWORKS for path in PATHS[framework][1]}
    assert sorted(matrix["path"]) == sorted(expected)
    assert {entry["path"]: entry["framework"] for entry in matrix["include"]} == expected
    optional = {entry["path"] for entry in matrix["include"] if entry.get("optional")}
    assert optional == {path for framework in OPTIONAL for path in PATHS[framework][1]}
    assert matrix["python"] == ["3.11", "3.12"]
    assert job["strategy"]["fail-fast"] is False
    assert "tox -e ${{ matrix.framework }} -- --adapter ${{ matrix.path }}" in steps_text(job)
    [upload] = [step for step in job["steps"] if str(step.get("uses", "")).startswith("actions/upload-artifact@")]
    assert upload["uses"] == "actions/upload-artifact@v4"
    assert upload["if"] == "always()"
    assert "${{ matrix.path }}" in upload["with"]["name"] and "${{ matrix.python }}" in upload["with"]["name"]
    assert "reports/${{ matrix.framework }}.json" in upload["with"]["path"]


def test_the_gate_job(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["gate"]
    needs = job["needs"] if isinstance(job["needs"], list) else [job["needs"]]
    assert "conformance" in needs
    assert job["if"] == "always()"
    assert "actions/download-artifact@v4" in uses(job)
    download = next(step for step in job["steps"] if step.get("uses") == "actions/download-artifact@v4")
    upload_name = workflow["jobs"]["conformance"]["steps"][-1]["with"]["name"]
    assert upload_name.startswith(download["with"]["pattern"].rstrip("*"))
    text = steps_text(job)
    assert "python -m conformance report" in text and "-o reports/index.html" in text
    assert "--markdown reports/summary.md" in text and 'cat reports/summary.md >> "$GITHUB_STEP_SUMMARY"' in text
    assert "python -m conformance gate" in text and "--expect torch,jax,tensorflow" in text
    assert 'exit "$status"' in text  # the gate's exit status fails the workflow
    report_upload = [step for step in job["steps"] if step.get("uses") == "actions/upload-artifact@v4"]
    assert report_upload and report_upload[0]["with"]["path"] == "reports/index.html"


def test_the_project_tests_run_in_ci(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["tests"]
    assert "tox -e tests" in steps_text(job) or "bash .ci/run" in steps_text(job)


def test_tox_envs(tox_ini: configparser.ConfigParser) -> None:
    env_list = [name.strip() for name in tox_ini["tox"]["env_list"].replace("\n", ",").split(",") if name.strip()]
    assert set(env_list) == {"tests", "report", *FRAMEWORKS}
    base = tox_ini["testenv"]["commands"]
    assert "python -m conformance run {posargs:--frameworks {envname} --all-paths}" in base
    assert "--json reports{/}{envname}.json" in base and "--junit reports{/}{envname}.xml" in base
    for framework in FRAMEWORKS:
        assert tox_ini[f"testenv:{framework}"]["extras"].strip() == framework
    report = tox_ini["testenv:report"]
    assert [d.strip() for d in report["depends"].split(",")] == FRAMEWORKS
    assert "python -m conformance report" in report["commands"] and "-o reports{/}index.html" in report["commands"]
    assert "python -m conformance gate" in report["commands"] and "--expect torch,jax,tensorflow" in report["commands"]
    assert "extras" not in report  # no framework needed to report
    assert tox_ini["testenv:tests"]["extras"].strip() == "test"
    assert "pytest" in tox_ini["testenv:tests"]["commands"]


def test_the_torch_extra_is_pinned() -> None:
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    assert project["optional-dependencies"]["torch"] == ["torch==2.13.0"]
    assert project["optional-dependencies"]["tensorflow"][0].startswith("tensorflow-cpu")
    # MLX's Linux wheels are its CPU build; Paddle's plain wheel is the CPU one
    assert any(r.startswith("mlx[cpu]") and "linux" in r for r in project["optional-dependencies"]["mlx"])
    assert project["optional-dependencies"]["paddle"][0].startswith("paddlepaddle")


def test_an_optional_framework_s_job_skips_in_one_line_where_it_cannot_be_installed(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["conformance"]
    [check] = [step for step in job["steps"] if step.get("id") == "installable"]
    assert "pip install --dry-run" in check["run"] and "::notice::skipping" in check["run"]
    [run] = [step for step in job["steps"] if "tox -e" in str(step.get("run", ""))]
    assert run["if"] == "steps.installable.outputs.ok == 'true'"


def test_setup_installs_the_three_frameworks_and_the_others_on_request() -> None:
    text = (ROOT / "scripts" / "setup.sh").read_text(encoding="utf-8")
    assert '-e ".[torch,jax,tensorflow,test]"' in text
    assert "SETUP_EXTRA_FRAMEWORKS" in text and '".[$name]"' in text
    assert "setup: skipping $name" in text


@pytest.mark.skipif(importlib.util.find_spec("tox") is None, reason="tox is not installed")
def test_tox_reads_the_config() -> None:
    listed = subprocess.run(
        [sys.executable, "-m", "tox", "list", "--no-desc"], cwd=ROOT, capture_output=True, text=True, timeout=120
    )
    assert listed.returncode == 0, listed.stderr
    assert set(listed.stdout.split()) >= {"tests", "report", *FRAMEWORKS}


@pytest.mark.skipif(importlib.util.find_spec("tox") is None, reason="tox is not installed")
def test_a_framework_env_runs_every_path_and_one_path_on_request() -> None:
    def commands(*posargs: str) -> str:
        command = [sys.executable, "-m", "tox", "config", "-e", "torch", "-k", "commands"]
        command += ["--", *posargs] if posargs else []
        shown = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)
        assert shown.returncode == 0, shown.stderr
        return shown.stdout

    assert "python -m conformance run --frameworks torch --all-paths --json reports" in commands()
    assert "python -m conformance run --adapter torch-compile --json reports" in commands("--adapter", "torch-compile")


def test_ci_checks_the_suite_as_installed_from_its_wheel(workflow: dict[str, Any]) -> None:
    job = workflow["jobs"]["wheel"]
    runs = " ".join(step.get("run", "") for step in job["steps"])
    assert "tests/test_installed.py" in runs
    assert "download.pytorch.org/whl/cpu" in job["env"]["PIP_EXTRA_INDEX_URL"]


def version_envs(tox_ini: configparser.ConfigParser) -> list[str]:
    return [
        name.removeprefix("testenv:")
        for name in tox_ini.sections()
        if name.startswith(("testenv:jax-", "testenv:tensorflow-v"))
    ]


def test_the_version_matrix_has_an_env_per_release_line_writing_its_own_document(
    tox_ini: configparser.ConfigParser,
) -> None:
    envs = version_envs(tox_ini)
    assert sum(env.startswith("jax-") for env in envs) >= 4 and sum(env.startswith("tensorflow-") for env in envs) >= 3
    for env in envs:
        section = tox_ini[f"testenv:{env}"]
        release = env.rsplit("-", 1)[1].lstrip("v")
        pins = section["deps"].split()
        assert (f"jax=={release}.*" in pins and f"jaxlib=={release}.*" in pins) or pins == [
            f"tensorflow-cpu=={release}.*"
        ]
        assert "extras" not in section  # the pin, not the extra's newest release
    commands = tox_ini["versions"]
    for framework in ("jax", "tensorflow"):
        run = commands[f"{framework}_commands"]
        assert f"--frameworks {framework} --profile ci" in run and "--json reports{/}versions{/}{envname}.json" in run
        assert "--all-paths" not in run  # the primary path
    gate_env = tox_ini["testenv:versions"]
    assert [d.strip() for d in gate_env["depends"].split(",")] == envs
    assert "-o reports{/}versions.html" in gate_env["commands"] and "python -m conformance gate" in gate_env["commands"]
    assert "download.pytorch.org/whl/cpu" in (ROOT / "tox.ini").read_text(encoding="utf-8")  # how a torch env would


def test_the_version_matrix_workflow_runs_on_schedule_and_on_request_only(tox_ini: configparser.ConfigParser) -> None:
    data = yaml.safe_load((ROOT / ".github" / "workflows" / "versions.yml").read_text(encoding="utf-8"))
    triggers = data.get("on", data.get(True))
    assert set(triggers) == {"schedule", "workflow_dispatch"}
    job = data["jobs"]["release"]
    assert job["strategy"]["matrix"]["env"] == version_envs(tox_ini)
    assert "tox -e ${{ matrix.env }}" in steps_text(job)
    gate_job = data["jobs"]["gate"]
    assert gate_job["needs"] == ["release"] and gate_job["if"] == "always()"
    text = steps_text(gate_job)
    assert "python -m conformance report results/*/*.json -o reports/versions.html" in text
    assert "python -m conformance gate results/*/*.json" in text and 'exit "$status"' in text
