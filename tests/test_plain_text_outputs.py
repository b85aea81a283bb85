"""Strings from an adapter (its name, its messages) reach the terminal and JUnit files as
text: rich markup in a name is printed, not interpreted, and characters XML cannot hold are
dropped, so the file still parses."""

from __future__ import annotations

import io
import xml.etree.ElementTree as ET
from pathlib import Path

from rich.console import Console

from conformance.presentation.summary import print_summary
from conformance.results.gate import evaluate
from conformance.results.junit import write_junit
from conformance.results.records import Document, Record, metadata, now

HOSTILE_NAME = "[/]x[bold red]"
HOSTILE_MESSAGE = "forward accuracy: err \x1b[31m3 ulp\x00 at (0,)\x0b\ufffe"


def _records() -> list[Record]:
    return [
        Record(
            adapter=HOSTILE_NAME,
            property="forward_accuracy",
            op="softmax",
            dtype="float32",
            status="failed",
            message=HOSTILE_MESSAGE,
            spec=HOSTILE_NAME,
        ),
        Record(
            adapter=HOSTILE_NAME, property="shape", op="softmax", dtype="float32", status="passed", spec=HOSTILE_NAME
        ),
    ]


def test_a_name_with_rich_markup_prints_as_written_in_the_closing_summary() -> None:
    records = _records()
    verdict = evaluate([Document(metadata=metadata("dev", 0, [], now(), 1.0), results=tuple(records))], divergences=[])
    out = io.StringIO()
    print_summary(records, verdict, Console(file=out, width=200, color_system=None))
    text = out.getvalue()
    assert HOSTILE_NAME in text
    assert "FAIL:" in text


def test_a_junit_file_with_control_characters_in_a_message_parses(tmp_path: Path) -> None:
    path = tmp_path / "junit.xml"
    write_junit(_records(), path)
    root = ET.parse(path).getroot()
    [suite] = root.findall("testsuite")
    assert suite.get("name") == HOSTILE_NAME and suite.get("failures") == "1"
    [failure] = root.iter("failure")
    text = (failure.get("message") or "") + (failure.text or "")
    assert "3 ulp at (0,)" in text.replace("[31m", "")
    assert not any(ch in text for ch in "\x00\x1b\x0b\ufffe")
