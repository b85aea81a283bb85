"""The terminal summary at the end of a run: counts per adapter, what went wrong, and the
verdict, in the same sentence the report and the CI summary give."""

from __future__ import annotations

from collections import Counter

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from conformance.checks.headlines import headline
from conformance.inputs.covering import coverage_line
from conformance.results import bitwise
from conformance.results.gate import GateVerdict
from conformance.results.records import Record
from conformance.results.status import Status

# A reproducer longer than this (a long row's arrays) stays in the results files
REPRODUCER_PRINTED_UP_TO = 4_000  # characters

_STYLE = {
    Status.PASSED: "green",
    Status.FAILED: "bold red",
    Status.ERROR: "bold magenta",
    Status.XFAILED: "yellow",
    Status.SKIPPED: "dim",
}


def print_summary(
    records: list[Record],
    verdict: GateVerdict,
    console: Console | None = None,
    written: tuple[str, ...] = (),
    coverage: dict[str, dict[str, int | None]] | None = None,
) -> None:
    """Every string from an adapter is printed as text, never read as rich markup. ``written``
    names the results files the run wrote (JSON, HTML), where every reproducer is; ``coverage``
    which blocks of the edge catalogues the run checked (the document's ``coverage``)."""
    console = console or Console()
    counts: dict[str, Counter[Status]] = {}
    adapter_of: dict[str, str] = {}
    for record in records:
        spec = record.spec or record.adapter
        counts.setdefault(spec, Counter())[record.status] += 1
        adapter_of[spec] = record.adapter
    table = Table(title="softmax conformance")
    table.add_column("adapter", overflow="fold")
    for status in Status:
        table.add_column(status, justify="right", style=_STYLE[status])
    table.add_column("verdict")
    for spec, counter in sorted(counts.items()):  # by name: a framework's paths sit together
        verdict_word = "conforms" if verdict.conforms(adapter_of[spec]) else "FAILS"
        table.add_row(escape(spec), *(str(counter[status]) for status in Status), verdict_word)
    console.print(table)
    _print_bitwise(console, records)
    bad_records = [record for record in records if record.failing]
    for record in bad_records[:40]:
        _plain(console, f"{record.status.upper()} {_label(record)}: {headline(record.message)}")
        if record.hint:
            _plain(console, f"  {record.hint}")
    if len(bad_records) > 40:
        console.print(f"... and {len(bad_records) - 40} more; see the JSON or HTML report")
    _print_reproducer(console, bad_records, written)
    if coverage:
        _plain(console, coverage_line(coverage))
    for line in verdict.reasons:
        _plain(console, line)
    word = "PASS" if verdict.passed else "FAIL"
    _plain(console, f"{word}: {verdict.sentence}")


def _print_bitwise(console: Console, records: list[Record]) -> None:
    """The bit-for-bit table of each adapter that ran a bit-for-bit property: per op and dtype,
    "yes", or "no: " where the bits first changed and by how many ulps at most."""
    for found in bitwise.tables(records):
        promised = ", ".join(found.promised) or "nothing"
        table = Table(title=f"bit for bit: {escape(found.adapter)} (promises {promised})")
        for heading in ("op", "dtype", *(bitwise.HEADINGS[aspect] for aspect in bitwise.ASPECTS)):
            table.add_column(heading, overflow="fold")
        for row in bitwise.row_order(found.rows):
            cells = ["—" if cell is None else cell.short() for cell in row.cells]
            table.add_row(row.op, row.dtype, *(escape(cell) for cell in cells))
        console.print(table)


def _label(record: Record) -> str:
    return f"{record.spec or record.adapter} {record.property} {record.op} {record.dtype}"


def _print_reproducer(console: Console, bad_records: list[Record], written: tuple[str, ...]) -> None:
    """The shortest reproducer of the failures, to paste and run, and where the others are."""
    reproducible = [record for record in bad_records if record.reproducer]
    if not reproducible:
        return
    shortest = min(reproducible, key=lambda record: len(record.reproducer or ""))
    if len(shortest.reproducer or "") <= REPRODUCER_PRINTED_UP_TO:
        _plain(console, f"\nReproduce {_label(shortest)} with:")
        _plain(console, shortest.reproducer or "")
    where = f"is in {' and '.join(written)}" if written else "goes to --json FILE and --html FILE; this run had neither"
    _plain(console, f"Every failure's reproducer {where}.\n")


def _plain(console: Console, text: str) -> None:
    """``text`` as written: adapters' strings are never read as markup or highlighted."""
    console.print(text, markup=False, highlight=False, soft_wrap=True)
