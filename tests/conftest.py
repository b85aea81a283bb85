"""Shared helpers: run the CLI the way a user does, in a fresh process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from conformance.running.compilation_cache import CACHE_ENVIRONMENT_VARIABLE

REPO = Path(__file__).resolve().parent.parent
TESTS = Path(__file__).resolve().parent


@dataclass
class CliResult:
    returncode: int
    stdout: str
    stderr: str
    document: dict[str, Any] | None

    def records(self, status: str | None = None) -> list[dict[str, Any]]:
        assert self.document is not None, f"no JSON written; stderr:\n{self.stderr[-3000:]}"
        found = self.document["results"]
        return [record for record in found if status is None or record["status"] == status]

    def properties_with(self, *statuses: str) -> set[str]:
        return {record["property"] for record in self.records() if record["status"] in statuses}


def run_cli(
    *args: str,
    json_path: Path | None = None,
    timeout: float = 600,
    env: dict[str, str] | None = None,
    cwd: Path = REPO,
) -> CliResult:
    command = [sys.executable, "-m", "conformance", *args]
    if json_path is not None:
        command += ["--json", str(json_path)]
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        env={**os.environ, **(env or {})},
        stdin=subprocess.DEVNULL,
    )
    document = json.loads(json_path.read_text()) if json_path is not None and json_path.exists() else None
    return CliResult(completed.returncode, completed.stdout, completed.stderr, document)


@pytest.fixture(scope="session", autouse=True)
def _own_compilation_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """The CLI runs of this test session share one compilation cache of their own, so they
    neither read nor change the user's."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENVIRONMENT_VARIABLE, str(tmp_path_factory.mktemp("compilation-cache")))
        yield


@pytest.fixture(scope="session", autouse=True)
def _the_same_runs_on_ci_and_off() -> Iterator[None]:
    """A CLI run that names no profile takes the default one, which is ``ci`` under CI=true
    and ``dev`` elsewhere: without CI here, such a test runs the same on a CI machine as on a
    developer's (a new user's first run, the isolation and large-sample checks), and no slower.
    Every test of ``ci`` itself names it."""
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv("CI", raising=False)
        yield


@pytest.fixture
def cli(tmp_path: Path):
    """``cli("run", "--adapter", ...)``: the CLI's result, with the JSON it wrote."""

    def invoke(*args: str, timeout: float = 600, env: dict[str, str] | None = None) -> CliResult:
        wants_json = args and args[0] == "run"
        return run_cli(*args, json_path=tmp_path / "results.json" if wants_json else None, timeout=timeout, env=env)

    return invoke


def _starts_whole_runs(items: list[pytest.Item]) -> bool:
    """Whether a module is slow as a whole (``pytestmark = pytest.mark.slow``): its module
    fixtures start whole framework runs, a minute or more of one test worker."""
    return all(item.get_closest_marker("slow") is not None for item in items)


def pytest_configure(config: pytest.Config) -> None:
    # pytest-xdist's --dist loadscope hands out modules with the most tests first, and the
    # modules that start a whole run have few: they started last, and one test worker ran on
    # alone for half a minute. The order below is kept instead.
    if hasattr(config.option, "loadscopereorder"):
        config.option.loadscopereorder = False


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Modules that start whole runs first, then the others by their number of tests, most
    first (each module keeps its own order): the longest work starts first, so the test
    workers finish together."""
    modules: dict[str, list[pytest.Item]] = {}
    for item in items:
        modules.setdefault(item.nodeid.split("::")[0], []).append(item)
    ordered = sorted(modules.values(), key=lambda module: (not _starts_whole_runs(module), -len(module)))
    items[:] = [item for module in ordered for item in module]
