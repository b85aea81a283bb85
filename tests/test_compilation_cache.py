"""The workers' compilation cache: where it goes, how it is turned off, and that JAX uses it."""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.running.compilation_cache import CACHE_ENVIRONMENT_VARIABLE, cache_root, worker_environment


def test_the_default_folder_follows_xdg_cache_home(tmp_path: Path) -> None:
    assert cache_root({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "softmax-conformance"


def test_a_named_folder_is_used_as_given(tmp_path: Path) -> None:
    assert cache_root({CACHE_ENVIRONMENT_VARIABLE: str(tmp_path / "here")}) == tmp_path / "here"


@pytest.mark.parametrize("word", ["off", "OFF", "0", "none"])
def test_off_turns_the_cache_off_and_sets_nothing(word: str) -> None:
    environment = {CACHE_ENVIRONMENT_VARIABLE: word, "PATH": "/bin"}
    assert cache_root(environment) is None
    assert worker_environment(environment) == environment


def test_the_workers_cache_every_jax_compilation_in_the_folder(tmp_path: Path) -> None:
    environment = worker_environment({CACHE_ENVIRONMENT_VARIABLE: str(tmp_path)})
    assert environment["JAX_COMPILATION_CACHE_DIR"] == str(tmp_path / "jax")
    assert environment["JAX_PERSISTENT_CACHE_MIN_COMPILE_TIME_SECS"] == "0"


def test_a_users_own_jax_setting_is_kept(tmp_path: Path) -> None:
    environment = worker_environment({CACHE_ENVIRONMENT_VARIABLE: str(tmp_path), "JAX_COMPILATION_CACHE_DIR": "/mine"})
    assert environment["JAX_COMPILATION_CACHE_DIR"] == "/mine"


@pytest.mark.skipif(importlib.util.find_spec("jax") is None, reason="jax is not installed")
def test_jax_in_a_worker_fills_the_cache_and_a_second_worker_reads_it(tmp_path: Path) -> None:
    program = (
        "import numpy as np; from conformance.adapters.jax_adapter import JaxEager; "
        "JaxEager().vjp(np.arange(3.0), np.ones(3), -1); "
        "import jax; print(jax.config.jax_compilation_cache_dir)"
    )
    environment = worker_environment({**_inherited(), CACHE_ENVIRONMENT_VARIABLE: str(tmp_path)})
    first = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    assert first.returncode == 0, first.stderr
    assert first.stdout.strip() == str(tmp_path / "jax")
    written = _entries(tmp_path / "jax")
    assert written, "jax wrote nothing to the cache"
    second = subprocess.run([sys.executable, "-c", program], env=environment, capture_output=True, text=True)
    assert second.returncode == 0, second.stderr
    assert _entries(tmp_path / "jax") == written, "the second worker compiled and wrote again"


def _entries(folder: Path) -> dict[str, int]:
    """Each cache file and when it was last written."""
    return {path.name: path.stat().st_mtime_ns for path in folder.iterdir()}


def _inherited() -> dict[str, str]:
    return {key: value for key, value in os.environ.items() if not key.startswith("JAX_")}
