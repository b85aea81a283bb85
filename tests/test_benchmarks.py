"""The benchmark scripts run and report what they measured (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

BENCHMARKS = REPO / "benchmarks"


def _script(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCHMARKS / name), *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )


def test_the_compile_floor_times_every_first_call_of_each_adapter(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    completed = _script("compile_floor.py", "--frameworks", "numpy", "--cores", "2", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    [numpy] = report["adapters"]
    # 4 dtypes x 2 ops x 5 quantities, each called once cold and once again
    assert numpy["spec"] == "numpy" and numpy["programs"] == 40 and numpy["failures"] == []
    assert numpy["first_calls_s"] >= 0 and numpy["interpreter_wall_s"] >= numpy["load_s"]
    assert report["floor_wall_s"] == round(report["serial_s"] / 2, 3)
    assert "no run can take less than" in completed.stdout


def test_the_compile_floor_rejects_an_unknown_framework_in_one_line() -> None:
    completed = _script("compile_floor.py", "--frameworks", "toch")
    assert completed.returncode == 2
    assert (
        completed.stderr.strip()
        .splitlines()[-1]
        .endswith("known frameworks are: jax, mlx, numpy, paddle, tensorflow, torch")
    )


def test_the_default_run_benchmark_breaks_the_run_down_by_adapter_and_property(tmp_path: Path) -> None:
    out = tmp_path / "timings.json"
    completed = _script(
        "default_run.py", "--frameworks", "numpy", "--imports", "1", "--out", str(out),
        "--", "--properties", "shapes_and_dtypes,forward_accuracy", "--dtypes", "float32",
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    assert report["run"]["returncode"] == 0 and report["run"]["records"] == 4
    assert set(report["per_property"]) == {"shapes_and_dtypes", "forward_accuracy"}
    assert set(report["per_adapter"]) == {"numpy"}
    assert "import_s" in report["imports"]["numpy"]


def test_the_targets_script_times_a_user_adapter_run_cold_and_warm_against_its_target(tmp_path: Path) -> None:
    out = tmp_path / "targets.json"
    keep = tmp_path / "kept"
    completed = _script(
        "targets.py", "--only", "user", "--profile", "ci", "--conditions", "cold,warm",
        "--keep", str(keep), "--out", str(out),
    )  # fmt: skip
    assert completed.returncode == 0, completed.stderr
    cold, warm = json.loads(out.read_text())["results"]
    assert (cold["target"], cold["condition"]) == ("user", "cold")
    assert (warm["target"], warm["condition"]) == ("user (warm)", "warm")
    for row in (cold, warm):
        assert row["limit_loops"] == 7 and row["returncode"] == 0
        assert row["met"] == (row["in_python_loops"] <= 7)
        assert row["in_python_loops"] > 0
        assert row["wall_s"] > 0 and row["peak_rss_mib"] > 0 and row["user_s"] > 0
        assert "NumpyReference" in row["command"]
    # the warm run found the cache the cold one left: the runner's timings of the adapter
    assert (keep / "cache-user").is_dir() and any((keep / "cache-user").iterdir())
    reference = json.loads(out.read_text())["reference"]["mean"]
    assert reference["python_loop_s"] > 0 and reference["worker_import_s"] > 0


def test_the_targets_script_rejects_an_unknown_target_in_one_line() -> None:
    completed = _script("targets.py", "--only", "fast", "--out", "/dev/null")
    assert completed.returncode == 2
    assert "but the targets are: default, user, paths, all-paths, ci" in completed.stderr.strip().splitlines()[-1]


def test_the_targets_script_rejects_an_unknown_condition_in_one_line() -> None:
    completed = _script("targets.py", "--conditions", "cold,lukewarm", "--out", "/dev/null")
    assert completed.returncode == 2
    last = completed.stderr.strip().splitlines()[-1]
    assert "but the conditions are: cold, files-cold, warm, loaded" in last


def test_the_targets_script_refuses_conditions_for_targets_that_take_none() -> None:
    completed = _script("targets.py", "--only", "ci", "--conditions", "warm", "--out", "/dev/null")
    assert completed.returncode == 2
    last = completed.stderr.strip().splitlines()[-1]
    assert "--conditions=warm applies to the default and user targets, but --only=ci" in last


def test_the_draws_benchmark_times_drawing_the_inputs_alone(tmp_path: Path) -> None:
    out = tmp_path / "draws.json"
    completed = _script("draws.py", "--examples", "2", "--repeat", "1", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    [only] = report["passes"]
    assert only["examples"] > 0 and only["cpu_s"] > 0
    assert report["median_ms_per_example"] == only["ms_per_example"]
    assert "ms per example" in completed.stdout
