"""What the bench prints: a line on stderr as it goes, and the table on stdout at the end."""

from __future__ import annotations

import sys
from typing import Any

from conformance.checks.large.memory import gib
from conformance.results.gate import GateVerdict
from conformance.results.records import Document


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def print_table(document: Document, verdict: GateVerdict, console: Any = None) -> None:
    """One row per adapter: the input, the worker's seconds and peak resident set, and its
    verdict; then each unexplained failure's message, and the verdict sentence."""
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    console = console or Console()
    bench = document.metadata["bench"]
    workers = {worker["spec"]: worker for worker in document.metadata.get("workers") or []}
    table = Table(title="softmax bench: the large tier on one input")
    for column in ("adapter", "elements", "dtype", "seconds", "peak RSS", "verdict"):
        table.add_column(column, justify="right" if column in ("elements", "seconds", "peak RSS") else "left")
    for spec in document.metadata["requested"]:
        own = [record for record in verdict.records if record.spec == spec]
        failing = [record for record in own if record.failing]
        worker = workers.get(spec, {})
        seconds = worker.get("seconds")
        table.add_row(
            escape(spec),
            f"{bench['elements']:,}",
            bench["dtype"],
            "?" if seconds is None else f"{seconds:.1f}",
            gib(worker.get("peak_rss_bytes")),
            "FAILS" if failing else ("conforms" if own else "no result"),
            style="bold red" if failing else None,
        )
    console.print(table)
    for line in verdict.lines:
        console.print(line, markup=False, highlight=False, soft_wrap=True)
    console.print(verdict.sentence, markup=False, highlight=False)
