"""What the bench prints: a line on stderr as it goes, and the tables on stdout at the end."""

from __future__ import annotations

import sys
from typing import Any

from conformance.scale.memory import gib


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def print_tables(document: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="softmax bench: O(N) checks of one large input")
    for column, justify in (
        ("adapter", "left"),
        ("elements", "right"),
        ("dtype", "left"),
        ("seconds", "right"),
        ("peak RSS", "right"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for record in document["results"]:
        failing = [f"{c['op']} {c['name']}" for c in record["checks"] if not c["passed"]]
        verdict = "conforms" if record["passed"] else "FAILS " + (", ".join(failing) or record["message"][:80])
        table.add_row(
            record["spec"],
            f"{record['elements']:,}",
            record["dtype"],
            _seconds(record["seconds"]),
            gib(record["peak_rss_bytes"]),
            verdict,
            style=None if record["passed"] else "bold red",
        )
    console.print(table)
    for record in document["results"]:
        if not record["passed"]:
            console.print(
                f"FAILED {record['spec']}: {record['message']}", markup=False, highlight=False, soft_wrap=True
            )
    if not document["scaling"]:
        return
    scaling = Table(title="scaling: the full Jacobian against the O(N) checks")
    for column, justify in (
        ("adapter", "left"),
        ("elements", "right"),
        ("approach", "left"),
        ("seconds", "right"),
        ("peak RSS", "right"),
        ("note", "left"),
    ):
        scaling.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for entry in document["scaling"]:
        if entry.get("skipped"):
            note = f"skipped: would need ~{gib(entry.get('estimated_bytes'))}"
        elif entry["passed"]:
            note = "passed"
        else:
            note = "FAILED: " + (entry["message"] or "")[:200]
        scaling.add_row(
            entry["spec"],
            f"{entry['elements']:,}",
            entry["approach"],
            _seconds(entry["seconds"]),
            gib(entry["peak_rss_bytes"]),
            note,
        )
    console.print(scaling)


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"
