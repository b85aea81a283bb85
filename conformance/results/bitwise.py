"""The "bit for bit" table of each adapter: for each op and dtype, whether a row gives the same
bits in any batch, the same call every time, and on any thread count, with the fewest batch
rows (or the thread count, or the call) that changed them and the largest difference in ulps.

It is read off the records of the three bit-for-bit properties (:mod:`conformance.checks.bitwise`),
so the JSON metadata, the HTML report and the terminal summary show the same table.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

from conformance.checks.bitwise import ASPECT_OF, FIRST_CHANGE_UNIT, PROPERTY_OF, BitwiseFinding
from conformance.results.records import Record, worst_per_key
from conformance.results.status import Status
from conformance.truth.dtypes import DTYPE_NAMES

ASPECTS: tuple[str, ...] = tuple(PROPERTY_OF)
# aspect -> what the column says where the bits held
HEADINGS: dict[str, str] = {"batch": "batch-invariant", "determinism": "deterministic", "threads": "thread-invariant"}
SAME, OTHER = "same bits", "other bits"
_OPS = ("softmax", "log_softmax")


@dataclass(frozen=True)
class Cell:
    """One aspect of one op and dtype: ``verdict`` (:data:`SAME`, :data:`OTHER`, or why it was
    not measured: "not provided", "skipped", "error", ...), the record's status, and the
    finding where the property measured one."""

    aspect: str
    verdict: str
    status: Status
    finding: BitwiseFinding | None = None

    @property
    def promised(self) -> bool:
        return self.finding is not None and self.finding.promised

    @property
    def measured(self) -> bool:
        """A draw gave its verdict (:data:`SAME` or :data:`OTHER`), rather than why none did."""
        return self.finding is not None and self.verdict in (SAME, OTHER)

    def short(self) -> str:
        """``yes``, ``no: 8 rows, 4 ulp``, or why it was not measured; ``(promised)`` where it was."""
        if self.finding is None or not self.measured:
            text = self.verdict
        elif self.verdict == SAME:
            text = "yes"
        else:
            text = f"no: {self.first_change_text()}, {ulps_text(self.finding.max_diff_ulp)}"
        return f"{text} (promised)" if self.promised else text

    def first_change_text(self) -> str:
        """``8 rows``, ``2 threads``, ``call 2``: where the bits first changed."""
        if self.finding is None or self.finding.first_change is None:
            return "—"
        unit = FIRST_CHANGE_UNIT[self.aspect]
        if unit == "calls":
            return f"call {self.finding.first_change}"
        return f"{self.finding.first_change} {unit}"

    def as_dict(self) -> dict[str, object]:
        found: dict[str, object] = {"verdict": self.verdict, "status": self.status.value}
        if self.finding is not None:
            found.update({key: value for key, value in self.finding.as_dict().items() if key != "aspect"})
        return found


def ulps_text(value: float | None) -> str:
    if value is None:
        return "0 ulp"
    return "inf ulp" if math.isinf(value) else f"{value:g} ulp"


@dataclass(frozen=True)
class Row:
    op: str
    dtype: str
    cells: tuple[Cell | None, ...]  # in the order of ASPECTS; None: not run


@dataclass(frozen=True)
class Table:
    """One adapter's table: its rows (op x dtype) and what it promised."""

    adapter: str
    spec: str
    promised: tuple[str, ...]
    rows: tuple[Row, ...]

    def as_dict(self) -> dict[str, object]:
        return {
            "adapter": self.adapter,
            "spec": self.spec,
            "promised": list(self.promised),
            "rows": [
                {
                    "op": row.op,
                    "dtype": row.dtype,
                    **{aspect: cell.as_dict() for aspect, cell in zip(ASPECTS, row.cells) if cell is not None},
                }
                for row in row_order(self.rows)
            ],
        }


def row_order(rows: Iterable[Row]) -> list[Row]:
    def rank(row: Row) -> tuple[int, int]:
        op = _OPS.index(row.op) if row.op in _OPS else len(_OPS)
        dtype = DTYPE_NAMES.index(row.dtype) if row.dtype in DTYPE_NAMES else len(DTYPE_NAMES)
        return op, dtype

    return sorted(rows, key=rank)


def cell_of(record: Record) -> Cell | None:
    """The bit-for-bit fact ``record`` holds; None where it is not of a bit-for-bit property
    (or of its op ``any``)."""
    aspect = ASPECT_OF.get(record.property)
    if aspect is None or record.op == "any":
        return None
    finding = record.bitwise
    if finding is not None and finding.draws:
        return Cell(aspect, SAME if finding.identical else OTHER, record.status, finding)
    if record.status == Status.SKIPPED:
        verdict = "not provided" if record.not_provided else "not supported" if record.not_supported else "skipped"
    else:
        verdict = record.status
    return Cell(aspect, verdict, record.status, finding)


def tables(records: Iterable[Record]) -> list[Table]:
    """One table per adapter that has a record of a bit-for-bit property, in the order they come."""
    by_adapter: dict[tuple[str, str], dict[tuple[str, str], dict[str, Cell]]] = {}
    for record in worst_per_key(records):
        cell = cell_of(record)
        if cell is None:
            continue
        owner = (record.adapter, record.spec or record.adapter)
        by_adapter.setdefault(owner, {}).setdefault((record.op, record.dtype), {})[cell.aspect] = cell
    found = []
    for (adapter, spec), rows in by_adapter.items():
        promised = {cell.aspect for row in rows.values() for cell in row.values() if cell.promised}
        lines = tuple(Row(op, dtype, tuple(row.get(aspect) for aspect in ASPECTS)) for (op, dtype), row in rows.items())
        found.append(Table(adapter, spec, tuple(aspect for aspect in ASPECTS if aspect in promised), lines))
    return found


def metadata(records: Iterable[Record]) -> list[dict[str, object]]:
    """The tables as the results document's metadata spells them (``bitwise``)."""
    return [table.as_dict() for table in tables(records)]
