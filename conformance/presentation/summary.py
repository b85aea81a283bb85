"""The terminal summary at the end of a run: counts per adapter, what went wrong, and the
verdict, in the same sentence the report and the CI summary give."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conformance.results.documents import first_line
from conformance.results.gate import GateVerdict
from conformance.results.records import STATUSES, Record

_STYLE = {"passed": "green", "failed": "bold red", "error": "bold magenta", "xfailed": "yellow", "skipped": "dim"}


def print_summary(records: list[Record], verdict: GateVerdict, console: Console | None = None) -> None:
    """Every string from an adapter is printed as text, never read as rich markup."""
    console = console or Console()
    counts: dict[str, Counter[str]] = {}
    adapter_of: dict[str, str] = {}
    for record in records:
        spec = record.spec or record.adapter
        counts.setdefault(spec, Counter())[record.status] += 1
        adapter_of[spec] = record.adapter
    table = Table(title="softmax conformance")
    table.add_column("adapter", overflow="fold")
    for status in STATUSES:
        table.add_column(status, justify="right", style=_STYLE[status])
    table.add_column("verdict")
    for spec, counter in sorted(counts.items()):  # by name: a framework's paths sit together
        verdict_word = "conforms" if verdict.conforms(adapter_of[spec]) else "FAILS"
        table.add_row(escape(spec), *(str(counter[status]) for status in STATUSES), verdict_word)
    console.print(table)
    bad_records = [record for record in records if record.failing]
    for record in bad_records[:40]:
        console.print(
            f"{record.status.upper()} {record.spec or record.adapter} {record.property} "
            f"{record.op} {record.dtype}: {first_line(record.message, limit=10_000)}",
            markup=False,
            highlight=False,
            soft_wrap=True,
        )
        if record.hint:
            console.print(f"  {record.hint}", markup=False, highlight=False, soft_wrap=True)
    if len(bad_records) > 40:
        console.print(f"... and {len(bad_records) - 40} more; see the JSON or HTML report")
    for line in verdict.reasons:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    word = "PASS" if verdict.passed else "FAIL"
    console.print(f"{word}: {verdict.sentence}", markup=False, highlight=False, soft_wrap=True)
