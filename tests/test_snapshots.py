"""A run under way rewrites its JSON as records arrive, so that a run killed halfway keeps what
it finished. Those snapshots skip the schema check (it took most of the command's own CPU on a
long run), so this checks that each one still meets the schema, as the finished file does."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from conformance.presentation.progress import PlainLines
from conformance.results import documents
from conformance.running import session
from conformance.running.config import Profile, RunConfig
from conformance.running.loading import parse_spec
from tests.conftest import TESTS


def test_every_snapshot_of_a_run_under_way_meets_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots: list[Any] = []
    checks: list[bool] = []
    write = documents.write_document

    def keeping(path: Any, document: Any, checked: bool = True) -> None:
        write(path, document, checked)
        checks.append(checked)
        if not checked:
            snapshots.append(json.loads(Path(path).read_text(encoding="utf-8")))

    monkeypatch.setattr(session, "write_document", keeping)
    monkeypatch.setattr(session, "WRITE_EVERY_S", 0.0)  # a snapshot after every record
    monkeypatch.setattr(session, "WRITING_SHARE", 1.0)
    config = RunConfig(
        Profile.CI,
        adapters=(parse_spec(f"{TESTS / 'broken_adapters.py'}:FlattenedJacobian"),),
        dtypes=("float64",),
        properties=("jacobian_is_block_diagonal", "shapes_and_dtypes"),
        json_path=str(tmp_path / "results.json"),
    )
    finished = session.run_session(config, PlainLines())
    assert len(snapshots) >= 2, "no snapshot was written while the run was under way"
    for snapshot in snapshots:
        assert documents.schema_problem(snapshot) is None
    assert [len(snapshot["results"]) for snapshot in snapshots] == sorted(len(s["results"]) for s in snapshots)
    assert checks[-1] and not any(checks[:-1])  # the finished document alone is checked as it is written
    assert len(finished.results) == 4 and len(snapshots[-1]["results"]) <= 4
