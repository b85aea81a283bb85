"""A worker of the runner leaves as soon as its session is over (``os._exit``, without the
interpreter's teardown), and loses nothing by it: its exit status, its stream, its log, and
the exit handlers of its adapter. A pytest session of the user's own ends as pytest ends it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.running.config import Profile, RunConfig
from conformance.running.loading import parse_spec
from conformance.running.runner import worker_command

REPO = Path(__file__).resolve().parents[1]

ADAPTER = """
import atexit
from pathlib import Path

from conformance.adapters.numpy_adapter import NumpyReference

MARKER = Path({marker!r})
atexit.register(lambda: MARKER.write_text("the exit handlers ran"))


class Conforming(NumpyReference):
    name = "conforming"


class SoftmaxOffByOnePercent(NumpyReference):
    name = "off-by-one-percent"

    def softmax(self, x, axis):
        return (super().softmax(x, axis) * 1.01).astype(x.dtype)
"""


CLEANUP_PLUGIN = """
def pytest_configure(config):
    config.add_cleanup(lambda: open({mark!r}, "w").write("pytest cleaned up"))
"""


def _files(tmp_path: Path) -> tuple[Path, Path, Path, dict[str, str]]:
    """The adapter file, its exit handler's marker, the marker of pytest's own last clean-up,
    and the environment that loads the plugin setting that clean-up."""
    marker, cleaned = tmp_path / "marker.txt", tmp_path / "cleaned.txt"
    adapter = tmp_path / "ending_adapter.py"
    adapter.write_text(ADAPTER.format(marker=str(marker)))
    (tmp_path / "cleanup_marker.py").write_text(CLEANUP_PLUGIN.format(mark=str(cleaned)))
    environment = {**os.environ, "PYTEST_PLUGINS": "cleanup_marker", "PYTHONPATH": str(tmp_path)}
    return adapter, marker, cleaned, environment


def _run_worker(
    tmp_path: Path, spec: str, environment: dict[str, str]
) -> tuple[subprocess.CompletedProcess[str], list[dict[str, Any]]]:
    config = RunConfig(
        Profile.CI, adapters=(parse_spec(spec),), seed=3, dtypes=("float32",), ops=("softmax",),
        properties=("forward_accuracy",),
    )  # fmt: skip
    worker = config.for_worker(config.adapters[0], tmp_path / "events.jsonl", tmp_path, None, None)
    worker.write(tmp_path / "run-config.json")
    done = subprocess.run(
        worker_command(tmp_path / "run-config.json", 3),
        capture_output=True, text=True, cwd=REPO, env=environment, timeout=300,
    )  # fmt: skip
    events = [json.loads(line) for line in (tmp_path / "events.jsonl").read_text().splitlines()]
    return done, events


@pytest.mark.parametrize(("name", "status"), [("Conforming", 0), ("SoftmaxOffByOnePercent", 1)])
def test_a_worker_leaves_at_once_with_its_status_stream_log_and_exit_handlers(
    tmp_path: Path, name: str, status: int
) -> None:
    adapter, marker, cleaned, environment = _files(tmp_path)
    done, events = _run_worker(tmp_path, f"{adapter}:{name}", environment)
    assert done.returncode == status, done.stdout[-3000:] + done.stderr[-3000:]
    assert events[-1]["event"] == "finished", events[-1]
    records = [event["record"] for event in events if event["event"] == "record"]
    assert [record["status"] for record in records] == ["passed" if status == 0 else "failed"]
    assert ("1 passed" if status == 0 else "1 failed") in done.stdout  # pytest's summary reached the log
    if status:  # the log shows Python's own traceback, and the record Hypothesis' blob from the exception's notes
        assert "Traceback (most recent call last)" in done.stdout, done.stdout[-3000:]
        assert records[0]["hypothesis_blob"].startswith("@reproduce_failure("), records[0]
    assert marker.read_text() == "the exit handlers ran"
    assert not cleaned.exists()  # it left before pytest's last clean-up: at once


def test_a_users_own_pytest_session_ends_as_pytest_ends_it(tmp_path: Path) -> None:
    """No runner, no early exit: pytest's last clean-up runs, and the exit handlers."""
    adapter, marker, cleaned, environment = _files(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--pyargs", "conformance.properties", "-q", "-p", "no:randomly",
         "-p", "no:cacheprovider", "--adapter", f"{adapter}:Conforming", "--conformance-profile", "ci",
         "--dtypes", "float32", "--conformance-ops", "softmax", "--properties", "forward_accuracy"],
        capture_output=True, text=True, cwd=REPO, env=environment, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert cleaned.read_text() == "pytest cleaned up"
    assert marker.read_text() == "the exit handlers ran"
