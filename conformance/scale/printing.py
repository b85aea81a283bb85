"""What the bench prints: a line on stderr as it goes, and the tables on stdout at the end."""

from __future__ import annotations

import sys
from typing import Any

from conformance.scale.memory import gib


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _table(title: str, columns: tuple[str, ...], *, right: tuple[str, ...]) -> Any:
    """A rich table with these columns, the ``right`` ones right-aligned, long cells folded."""
    from rich.table import Table

    table = Table(title=title)
    for column in columns:
        table.add_column(column, justify="right" if column in right else "left", overflow="fold")
    return table


def print_tables(document: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console

    console = console or Console()
    table = _table(
        "softmax bench: O(N) checks of one large input",
        ("adapter", "elements", "dtype", "seconds", "peak RSS", "verdict"),
        right=("elements", "seconds", "peak RSS"),
    )
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
    scaling = _table(
        "scaling: the full Jacobian against the O(N) checks",
        ("adapter", "elements", "approach", "seconds", "peak RSS", "note"),
        right=("elements", "seconds", "peak RSS"),
    )
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
