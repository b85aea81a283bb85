"""The terminal summary at the end of a run: counts per adapter, what went wrong, and the
verdict, in the same sentence the report and the CI summary give."""

from __future__ import annotations

from collections import Counter
from typing import Any

from rich.console import Console
from rich.table import Table

from conformance.results.gate import GateVerdict
from conformance.results.records import RAN_STATUSES, STATUSES

_STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "xfailed": "yellow", "skipped": "dim"}


def print_summary(records: list[dict[str, Any]], verdict: GateVerdict, console: Console | None = None) -> None:
    console = console or Console()
    counts: dict[str, Counter[str]] = {}
    for record in records:
        counts.setdefault(record.get("spec") or record["adapter"], Counter())[record["status"]] += 1
    table = Table(title="softmax conformance")
    table.add_column("adapter", overflow="fold")
    for status in STATUSES:
        table.add_column(status, justify="right", style=_STYLE[status])
    table.add_column("verdict")
    for spec, counter in sorted(counts.items()):  # by name: a framework's paths sit together
        conforms = any(counter[status] for status in RAN_STATUSES) and not counter["failed"] + counter["error"]
        table.add_row(spec, *(str(counter[status]) for status in STATUSES), "conforms" if conforms else "FAILS")
    console.print(table)
    bad_records = [record for record in records if record["status"] in ("failed", "error")]
    for record in bad_records[:40]:
        first = (record.get("message") or "").split("\n", 1)[0]
        console.print(
            f"{record['status'].upper()} {record.get('spec') or record['adapter']} {record['property']} "
            f"{record['op']} {record['dtype']}: {first}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
    if len(bad_records) > 40:
        console.print(f"... and {len(bad_records) - 40} more; see the JSON or HTML report")
    for line in verdict.lines:
        if not line.startswith(("FAILED", "REGRESSED")):
            console.print(line, markup=False, highlight=False, soft_wrap=True)
    word = "PASS" if verdict.passed else "FAIL"
    console.print(f"{word}: {verdict.sentence}", markup=False, highlight=False, soft_wrap=True)
