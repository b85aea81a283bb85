"""Where a release changed a bit-for-bit fact: the version view's second table.

The rows of a :class:`~conformance.results.versions.VersionTable` that are bit-for-bit
properties (:mod:`conformance.checks.bitwise`) hold in each cell what that version's draws
found (:class:`conformance.results.bitwise.Cell`: the same bits or other bits, where they first
changed, by how many ulps at most). :func:`bits_history` lays those facts out across the
versions, each with the :class:`BitsChange` from the nearest older version that measured it:

* ``lost``: the same bits there, other bits here (the release broke batch invariance, say);
* ``gained``: other bits there, the same bits here;
* ``moved``: other bits in both, but they first change elsewhere (at 3 rows instead of 8), or
  the largest difference moved by more than :data:`~conformance.results.versions.MOVE_FACTOR`
  either way (differences under :data:`~conformance.results.versions.ULP_FLOOR` ulp count as
  that floor; an infinite one, a NaN or an infinity on one side, moves only to a finite one).

These are facts, as the bit-for-bit table is: a change is not a regression. Only where the
adapter promised the aspect does it fail, and that failure is the version table's own change.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import partial
from typing import Literal

from conformance.results import bitwise
from conformance.results.records import RecordKey
from conformance.results.versions import MOVE_FACTOR, ULP_FLOOR, History, HistoryRow, VersionTable, changes_along

BitsChangeKind = Literal["lost", "gained", "moved"]


@dataclass(frozen=True)
class BitsChange:
    """What changed for one bit-for-bit fact between two neighbouring versions that measured it."""

    framework: str
    key: RecordKey  # adapter, property, op, dtype
    before: str  # the older version
    after: str  # the newer one
    kind: BitsChangeKind
    before_cell: bitwise.Cell
    after_cell: bitwise.Cell

    @property
    def aspect(self) -> str:
        return self.after_cell.aspect

    @property
    def mark(self) -> str:
        """A short label for the cell: ``now other bits``, ``now same bits``, ``first change 8 → 3
        rows``, ``difference 33.5×``."""
        if self.kind == "lost":
            return "now other bits"
        if self.kind == "gained":
            return "now same bits"
        if first_change(self.before_cell) != first_change(self.after_cell):
            return f"first change {self.before_cell.first_change_text()} → {self.after_cell.first_change_text()}"
        factor = difference_factor(self.before_cell, self.after_cell)
        return "difference moved" if factor is None else f"difference {factor:.3g}×"

    def describe(self) -> str:
        """``jax-jit softmax float32: batch-invariant in jax 0.4.38, not in 0.6.2: first changes at
        8 rows, by up to 4 ulp``."""
        adapter, _, op, dtype = self.key
        holds = bitwise.HEADINGS[self.aspect]
        where = f"{adapter} {op} {dtype}"
        old, new = f"{self.framework} {self.before}", self.after
        if self.kind == "lost":
            return f"{where}: {holds} in {old}, not in {new}: {other_bits_text(self.after_cell)}"
        if self.kind == "gained":
            return f"{where}: not {holds} in {old} ({other_bits_text(self.before_cell)}), {holds} in {new}"
        return (
            f"{where}: not {holds} in {old} nor {new}: {other_bits_text(self.before_cell)} in {self.before}, "
            f"{other_bits_text(self.after_cell)} in {new}"
        )


def first_change(cell: bitwise.Cell) -> int | None:
    """The fewest batch rows, the thread count or the call where the bits first changed."""
    return cell.finding.first_change if cell.finding is not None else None


def other_bits_text(cell: bitwise.Cell) -> str:
    """``first changes at 8 rows, by up to 4 ulp``: where other bits first came, and how far apart."""
    ulps = bitwise.ulps_text(cell.finding.max_diff_ulp if cell.finding is not None else None)
    return f"first changes at {cell.first_change_text()}, by up to {ulps}"


def difference_factor(before: bitwise.Cell, after: bitwise.Cell) -> float | None:
    """The newer largest difference over the older, each floored at one ulp; None when either
    has none, or when one is infinite (``inf`` when only the newer is, 0 when only the older is)."""
    old = before.finding.max_diff_ulp if before.finding is not None else None
    new = after.finding.max_diff_ulp if after.finding is not None else None
    if old is None or new is None:
        return None
    if math.isinf(old) or math.isinf(new):
        return None if math.isinf(old) == math.isinf(new) else (math.inf if math.isinf(new) else 0.0)
    return max(new, ULP_FLOOR) / max(old, ULP_FLOOR)


def bits_change_between(
    framework: str, key: RecordKey, before: tuple[str, bitwise.Cell], after: tuple[str, bitwise.Cell]
) -> BitsChange | None:
    """The change from ``before`` to ``after`` (each a version and its measured cell), or None."""
    (old_version, old), (new_version, new) = before, after
    kind: BitsChangeKind | None = None
    if old.verdict == bitwise.SAME and new.verdict == bitwise.OTHER:
        kind = "lost"
    elif old.verdict == bitwise.OTHER and new.verdict == bitwise.SAME:
        kind = "gained"
    elif old.verdict == new.verdict == bitwise.OTHER:
        factor = difference_factor(old, new)
        ulps_moved = factor is not None and not 1 / MOVE_FACTOR <= factor <= MOVE_FACTOR
        if first_change(old) != first_change(new) or ulps_moved:
            kind = "moved"
    if kind is None:
        return None
    return BitsChange(framework, key, old_version, new_version, kind, old, new)


class BitsRow(HistoryRow[bitwise.Cell, BitsChange]):
    """One bit-for-bit fact (adapter, property, op, dtype) across the versions."""

    @property
    def aspect(self) -> str:
        return bitwise.ASPECT_OF[self.key[1]]


class BitsHistory(History[BitsRow, BitsChange]):
    """One framework's bit-for-bit facts across the versions that ran, oldest first."""

    def count(self, after: str) -> int:
        """How many bit-for-bit facts changed arriving at version ``after``."""
        return sum(change.after == after for change in self.changes)


def bits_history(table: VersionTable) -> BitsHistory | None:
    """The bit-for-bit facts of ``table``'s rows across its versions; None where no row holds one."""
    rows = []
    for row in table.rows:
        cells = tuple(cell.bits if cell is not None else None for cell in row.cells)
        if all(cell is None for cell in cells):
            continue
        changes = changes_along(
            table.versions,
            cells,
            lambda cell: cell.measured,
            partial(bits_change_between, table.framework, row.key),
        )
        rows.append(BitsRow(row.key, cells, changes))
    return BitsHistory(table.framework, table.versions, tuple(rows)) if rows else None
