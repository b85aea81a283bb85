"""Adapters timed in an earlier run start longest first."""

from __future__ import annotations

import json
from pathlib import Path

from conformance.running import history
from conformance.running.compilation_cache import CACHE_ENVIRONMENT_VARIABLE
from tests.conftest import TESTS

BROKEN = TESTS / "broken_adapters.py"


def test_never_timed_specs_come_first_then_the_longest() -> None:
    seconds = {"fast": 1.0, "slow": 90.0, "middling": 12.0}
    assert history.longest_first(["fast", "new", "slow", "middling"], seconds) == ["new", "slow", "middling", "fast"]


def test_a_first_run_starts_the_built_in_adapters_that_are_typically_longest() -> None:
    assert history.longest_first(["torch", "mine.py:Mine", "jax-jit", "torch-compile"], {}) == [
        "mine.py:Mine",
        "torch-compile",
        "jax-jit",
        "torch",
    ]
    assert history.longest_first(["torch", "torch-compile"], {"torch": 500.0}) == ["torch", "torch-compile"]


def test_saving_merges_with_what_was_kept(tmp_path: Path) -> None:
    history.save(tmp_path, {"a": 1.0})
    history.save(tmp_path, {"b": 2.5})
    assert history.load(tmp_path) == {"a": 1.0, "b": 2.5}


def test_a_run_of_a_share_of_the_work_keeps_what_a_whole_run_would_take(tmp_path: Path) -> None:
    startup = history.startup_seconds("numpy")
    history.save(tmp_path, {"numpy": startup + 2.0}, share=0.25)  # a quarter of the work took 2 s
    assert history.load(tmp_path) == {"numpy": startup + 8.0}, "the work scaled, one startup"


def test_a_share_of_the_work_fills_in_an_adapter_never_timed_and_replaces_no_whole_run(tmp_path: Path) -> None:
    """Two properties may cost twenty times the mean: what they took says less of a whole run
    than a whole run did."""
    history.save(tmp_path, {"numpy": 9.0})
    history.save(tmp_path, {"numpy": 3.0, "torch": 20.0}, share=0.1)
    assert history.load(tmp_path)["numpy"] == 9.0
    assert history.load(tmp_path)["torch"] > 20.0
    history.save(tmp_path, {"numpy": 7.0})
    assert history.load(tmp_path)["numpy"] == 7.0


def test_no_folder_and_unreadable_files_mean_no_history(tmp_path: Path) -> None:
    assert history.load(None) == {}
    history.save(None, {"a": 1.0})  # nothing to write to, and no error
    (tmp_path / history.FILE_NAME).write_text("{not json")
    assert history.load(tmp_path) == {}
    (tmp_path / history.FILE_NAME).write_text(json.dumps({"a": "slow", "b": True, "c": 3}))
    assert history.load(tmp_path) == {"c": 3.0}


def test_a_run_times_its_workers_and_the_next_run_starts_the_longest_first(cli, tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    environment = {CACHE_ENVIRONMENT_VARIABLE: str(cache)}
    first, second = f"{BROKEN}:IgnoresAxis", f"{BROKEN}:FlattenedJacobian"
    quick = ("--profile", "ci", "--dtypes", "float32", "--plain", "--properties", "shapes_and_dtypes", "--jobs", "1")
    result = cli("run", "--adapter", first, "--adapter", second, *quick, env=environment)
    assert next(record["spec"] for record in result.records()) == first
    timed = history.load(cache)
    assert set(timed) == {first, second} and all(seconds > 0 for seconds in timed.values())

    history.save(cache, {first: 1.0, second: 100.0})
    result = cli("run", "--adapter", first, "--adapter", second, *quick, env=environment)
    assert next(record["spec"] for record in result.records()) == second
