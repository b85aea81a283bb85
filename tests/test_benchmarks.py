"""The benchmark driver and its probes run and report what they measured (no timing is asserted here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from benchmarks.breakdown import breakdown
from benchmarks.workloads import GROUPS, USER_ADAPTER, WORKLOADS, named
from tests.conftest import REPO

FIXTURES = REPO / "tests" / "fixtures"


def _module(name: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", name, *args], capture_output=True, text=True, cwd=REPO, timeout=600
    )  # fmt: skip


def test_every_workload_is_listed_with_its_limit() -> None:
    completed = _module("benchmarks", "list")
    assert completed.returncode == 0, completed.stderr
    listed = [line.split()[0] for line in completed.stdout.splitlines()]
    assert listed == [*WORKLOADS, *GROUPS]
    assert "<= 7 loops" in next(line for line in completed.stdout.splitlines() if line.startswith("user "))


def test_the_targets_are_the_issue_s_workloads_each_with_a_limit() -> None:
    """``python -m benchmarks.targets`` times the default run, a user's adapter, a slow one,
    every path and CI, each against its limit in loops."""
    assert [workload.name for workload in named(["targets"])] == ["default", "user", "slow-user", "all-paths", "ci"]
    assert all(workload.limit_loops is not None for workload in named(["targets"]))
    completed = _module("benchmarks.targets", "--conditions", "lukewarm", "--out", "/dev/null")
    assert completed.returncode == 2
    assert "but the conditions are: cold, files-cold, loaded" in completed.stderr.strip().splitlines()[-1]


def test_the_warm_workloads_share_the_cold_ones_cache_and_results_file() -> None:
    for name, workload in WORKLOADS.items():
        if workload.cache == "warm":
            cold = WORKLOADS[name.removesuffix("-warm")]
            assert (workload.commands, workload.cache_key, workload.results) == (
                cold.commands,
                cold.cache_key,
                cold.results,
            )


def test_the_driver_times_a_user_adapter_run_cold_then_warm_against_its_limit(tmp_path: Path) -> None:
    out = tmp_path / "user.json"
    keep = tmp_path / "kept"
    arguments = ["user,user-warm", "--profile", "dev", "--keep", str(keep), "--out", str(out)]
    completed = _module("benchmarks", "run", *arguments)
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    cold, warm = report["results"]
    assert (cold["target"], cold["cache"]) == ("user", "cold")
    assert (warm["target"], warm["cache"]) == ("user-warm", "warm")
    for row in (cold, warm):
        assert row["limit_loops"] == 7 and row["returncode"] == 0
        assert row["met"] == (row["in_python_loops"] <= 7)
        assert row["in_python_loops"] > 0
        assert row["wall_s"] > 0 and row["peak_rss_mib"] > 0 and row["user_s"] > 0
        assert "NumpyReference" in row["command"] and "--profile dev" in row["command"]
        assert set(row["breakdown"]["per_adapter"]) == {USER_ADAPTER} and row["breakdown"]["records"] > 0
    # the warm run found the cache the cold one left (the runner's timings of the adapter), and
    # no run filled it first
    assert (keep / "cache-user").is_dir() and any((keep / "cache-user").iterdir())
    assert not list(keep.glob("*filling*"))
    assert report["reference"]["mean"]["python_loop_s"] > 0 and report["reference"]["mean"]["worker_import_s"] > 0
    assert report["reference"]["mean"]["xla_compile_ms"] is None  # a NumPy adapter's runs build no program
    assert {"python", "platform", "cores", "machine", "commit", "timestamp"} <= set(report)


def test_a_result_file_of_the_same_day_and_workloads_is_kept_not_replaced(tmp_path: Path) -> None:
    from benchmarks.driver import default_out

    first = default_out(["default", "user"], tmp_path)
    assert first.name.endswith("-default-user.json") and not first.exists()
    first.write_text("{}")
    second = default_out(["default", "user"], tmp_path)
    assert second.name.endswith("-default-user-2.json")
    second.write_text("{}")
    assert default_out(["default", "user"], tmp_path).name.endswith("-default-user-3.json")


def test_the_driver_rejects_an_unknown_workload_in_one_line() -> None:
    completed = _module("benchmarks", "run", "fast", "--out", "/dev/null")
    assert completed.returncode == 2
    last = completed.stderr.strip().splitlines()[-1]
    assert "workloads=fast, but the workloads are: default, default-warm, user" in last and last.endswith("targets")


def test_the_driver_rejects_an_unknown_condition_in_one_line() -> None:
    completed = _module("benchmarks", "run", "user", "--conditions", "cold,lukewarm", "--out", "/dev/null")
    assert completed.returncode == 2
    assert "but the conditions are: cold, files-cold, loaded" in completed.stderr.strip().splitlines()[-1]


def test_a_runs_breakdown_sums_its_records_per_adapter_and_property() -> None:
    document = json.loads((FIXTURES / "jax_run.json").read_text(encoding="utf-8"))
    found = breakdown(FIXTURES / "jax_run.json")
    assert found["records"] == len(document["results"])
    assert sum(row["records"] for row in found["per_property"].values()) == found["records"]
    total = sum(row["duration_s"] for row in found["per_adapter"].values())
    assert abs(total - found["records_duration_s"]) < 0.01
    assert (found["seed"], found["profile"]) == (document["metadata"]["seed"], document["metadata"]["profile"])
    assert breakdown(FIXTURES / "no-such-file.json")["records"] == 0


def test_the_compile_floor_times_every_first_call_of_each_adapter(tmp_path: Path) -> None:
    out = tmp_path / "floor.json"
    completed = _module("benchmarks.probes.compile_floor", "--frameworks", "numpy", "--cores", "2", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    [numpy] = report["adapters"]
    # 4 dtypes x 2 ops x 5 quantities, each called once cold and once again
    assert numpy["spec"] == "numpy" and numpy["programs"] == 40 and numpy["failures"] == []
    assert numpy["first_calls_s"] >= 0 and numpy["interpreter_wall_s"] >= numpy["load_s"]
    assert report["floor_wall_s"] == round(report["serial_s"] / 2, 3)
    assert "no run can take less than" in completed.stdout


def test_the_compile_floor_rejects_an_unknown_framework_in_one_line() -> None:
    completed = _module("benchmarks.probes.compile_floor", "--frameworks", "toch")
    assert completed.returncode == 2
    assert (
        completed.stderr.strip()
        .splitlines()[-1]
        .endswith("known frameworks are: jax, mlx, numpy, paddle, tensorflow, torch")
    )


def test_the_imports_probe_times_each_frameworks_import(tmp_path: Path) -> None:
    out = tmp_path / "imports.json"
    completed = _module("benchmarks.probes.imports", "--frameworks", "numpy", "--repeats", "1", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    numpy = json.loads(out.read_text())["numpy"]
    assert numpy["import_s"] > 0 and numpy["interpreter_wall_s"] >= numpy["import_s"]


def test_the_draws_probe_times_drawing_the_inputs_alone(tmp_path: Path) -> None:
    out = tmp_path / "draws.json"
    completed = _module("benchmarks.probes.draws", "--examples", "2", "--repeat", "1", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    [only] = report["passes"]
    assert only["examples"] > 0 and only["cpu_s"] > 0
    assert report["median_ms_per_example"] == only["ms_per_example"]
    assert "ms per example" in completed.stdout


def test_the_programs_probe_counts_jax_compilations_by_property(tmp_path: Path) -> None:
    out = tmp_path / "programs.json"
    completed = _module("benchmarks.probes.programs", "--properties", "empty_inputs", "--out", str(out))
    assert completed.returncode == 0, completed.stderr
    report = json.loads(out.read_text())
    assert report["adapter"] == "jax-jit" and (report["seed"], report["block"]) == ("7", "3")
    assert set(report["by_property"]) <= {"empty_inputs", "outside a test"}
    counted = report["by_property"]["empty_inputs"]
    assert counted["programs"] > 0 and counted["compile_s"] > 0
    assert report["programs"] == sum(entry["programs"] for entry in report["by_property"].values())
