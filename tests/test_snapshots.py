"""A run under way rewrites its JSON as records arrive, so that a run killed halfway keeps what
it finished. Those snapshots skip the schema check (it took most of the command's own CPU on a
long run), so this checks that each one still meets the schema, as the finished file does."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import jsonschema
import pytest

from conformance.presentation.progress import PlainLines
from conformance.results import documents
from conformance.results.records import Document, Record
from conformance.running import session
from conformance.running.config import Profile, RunConfig
from conformance.running.loading import parse_spec
from tests.conftest import TESTS


def test_every_snapshot_of_a_run_under_way_meets_the_schema(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    snapshots: list[Any] = []
    finished_writes: list[bool] = []
    write_snapshot, write_document = documents.write_snapshot, documents.write_document

    def keeping_snapshot(path: Any, document: Any) -> None:
        write_snapshot(path, document)
        assert not finished_writes, "a snapshot after the finished document"
        snapshots.append(json.loads(Path(path).read_text(encoding="utf-8")))

    def keeping_document(path: Any, document: Any, *, records_checked: bool = False) -> None:
        write_document(path, document, records_checked=records_checked)
        finished_writes.append(records_checked)

    monkeypatch.setattr(session, "write_snapshot", keeping_snapshot)
    monkeypatch.setattr(session, "write_document", keeping_document)
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
    # the finished document alone is checked as it is written, its records as they arrived
    assert finished_writes == [True]
    assert documents.schema_problem(json.loads((tmp_path / "results.json").read_text(encoding="utf-8"))) is None
    assert len(finished.results) == 4 and len(snapshots[-1]["results"]) <= 4


def test_a_record_is_checked_as_it_arrives_and_the_finished_document_without_its_records() -> None:
    record = Record("numpy", "shapes_and_dtypes", "softmax", "float32", "passed", spec="numpy")
    documents.check_record(record)
    with pytest.raises(jsonschema.ValidationError, match="examples"):
        documents.check_record(record.replace(examples=-1))
    with pytest.raises(jsonschema.ValidationError, match="softmax"):
        documents.check_record(record.replace(op="tanh"))
    broken_metadata = Document({"profile": "dev"}, (record,))
    with pytest.raises(jsonschema.ValidationError, match="python"):
        documents.write_document(os.devnull, broken_metadata, records_checked=True)
