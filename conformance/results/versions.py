"""The version matrix: each framework's results across the releases that ran, and what changed
from one release to the next.

Documents from several versions of one framework (one tox env per release line, see
``tox.ini``) hold the same results, each under the version its run recorded in
``metadata.frameworks``. :func:`version_tables` lays them out as one :class:`VersionTable` per
framework that ran in two or more versions: a :class:`Row` per (adapter, property, op, dtype),
a :class:`Cell` per version (oldest first, in :mod:`packaging.version` order), and for each
cell the :class:`Change` from the nearest older version that ran it:

* ``new failure``: passed there, fails here (``explained`` when a known divergence makes it
  ``xfailed``; an unexplained one is a *regression*, and the gate fails on it);
* ``fix``: failed there (explained or not), passes here;
* ``error moved``: passed in both, and the worst element's error against its bound
  (error / bound, both in ulps) moved by more than :data:`MOVE_FACTOR` either way. Errors
  under :data:`ULP_FLOOR` ulp count as that floor, and two errors both within it are no
  change: an error moving within the last ulp is rounding.

The worst element is the one worst against *its own* bound, so a release that rounds a few
bits differently may make another element the worst: the same inputs then give, say, 84 ulp
against a bound of 1070 in one version and 4.3 against 54 in the next. The error in ulps
moved 20×, the error against the bound (0.079, 0.080) did not; the latter is compared.
Error figures compare only between passing results: a failure's figure is that of its
smallest failing example, not of the inputs the passing versions saw.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any, Generic, Literal, TypeVar

from packaging.version import InvalidVersion, Version

from conformance.results import bitwise
from conformance.results.merge import tagged
from conformance.results.records import Document, Record, RecordKey, rank_in_order, worst_per_key
from conformance.results.run_metadata import RunMetadata
from conformance.results.status import Status
from conformance.truth.dtypes import DTYPE_NAMES

MOVE_FACTOR = 2.0  # an error figure that moved by more than this, up or down, is a change
ULP_FLOOR = 1.0  # errors below one ulp are rounding: they count as one ulp when compared

OPS = ("softmax", "log_softmax")
ChangeKind = Literal["new failure", "fix", "error moved"]
CellT = TypeVar("CellT")
ChangeT = TypeVar("ChangeT")
RowT = TypeVar("RowT", bound="HistoryRow[Any, Any]")


def version_key(version: str) -> tuple[int, Any]:
    """Sort key for version strings: PEP 440 order (``0.10`` after ``0.9``); a string that is
    not a version sorts after every version, alphabetically."""
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def version_of(metadata: RunMetadata, framework: str | None) -> str | None:
    """The version of ``framework`` a run recorded; None when it recorded none, or several (a
    merged document's ``"0.4.38 | 0.6.2"``)."""
    if framework is None:
        return None
    version = metadata.frameworks.get(framework)
    if version is None or "|" in version:
        return None
    return version


def version_of_record(documents: Sequence[Document], record: Record) -> str | None:
    """The version of its framework that the run ``record`` came from (``record.run``, an
    index into ``documents``) recorded."""
    if record.run is None or not 0 <= record.run < len(documents):
        return None
    return version_of(documents[record.run].run_metadata, record.framework)


@dataclass(frozen=True)
class Cell:
    """One result in one version: the worst of the runs of that version that hold it."""

    status: Status
    max_error_ulp: float | None = None
    bound_ulp: float | None = None
    message: str = ""
    xfail_reason: str | None = None
    bits: bitwise.Cell | None = None  # a bit-for-bit property's fact (:mod:`conformance.results.bitwise`)

    @classmethod
    def of(cls, record: Record) -> Cell:
        return cls(
            record.status,
            record.max_error_ulp,
            record.bound_ulp,
            record.message,
            record.xfail_reason,
            bitwise.cell_of(record),
        )

    @property
    def ran(self) -> bool:
        return self.status.ran

    @property
    def bad(self) -> bool:
        """Fails, explained or not."""
        return self.status.bad


@dataclass(frozen=True)
class Change:
    """What changed for one result between two neighbouring versions that ran it."""

    framework: str
    key: RecordKey
    before: str  # the older version
    after: str  # the newer one
    kind: ChangeKind
    before_status: Status
    after_status: Status
    explained: bool = False  # a new failure a known divergence explains (xfailed)
    factor: float | None = None  # error moved: the newer error/bound over the older (floored)
    before_error: float | None = None  # error moved: each version's worst error and its bound, ulps
    after_error: float | None = None
    before_bound: float | None = None
    after_bound: float | None = None

    @property
    def regression(self) -> bool:
        """A new failure no known divergence explains."""
        return self.kind == "new failure" and not self.explained

    @property
    def mark(self) -> str:
        """A short label for the cell: ``new failure``, ``known``, ``fix``, ``error 4.1×``."""
        if self.kind == "error moved":
            return f"error {self.factor:.2g}×" if self.factor is not None else "error moved"
        if self.kind == "new failure" and self.explained:
            return "new failure (known)"
        return self.kind

    def describe(self) -> str:
        """``jax-jit forward_accuracy (softmax, float16): passed in jax 0.6.2, failed in 0.8.2``."""
        adapter, prop, op, dtype = self.key
        where = f"{adapter} {prop} ({op}, {dtype})"
        if self.kind == "error moved":
            return (
                f"{where}: worst error {_figure(self.before_error, self.before_bound)} in {self.framework} "
                f"{self.before}, {_figure(self.after_error, self.after_bound)} in {self.after} "
                f"({self.factor:.2g}× against the bound)"
            )
        return f"{where}: {self.before_status} in {self.framework} {self.before}, {self.after_status} in {self.after}"


def _figure(error: float | None, bound: float | None) -> str:
    return f"{error:.3g} ulp" if bound is None else f"{error:.3g} / {bound:.3g} ulp"


def against_bound(cell: Cell) -> float | None:
    """The worst element's error (floored at :data:`ULP_FLOOR`) over its bound; the floored
    error alone when there is no bound; None when there is no error figure."""
    if cell.max_error_ulp is None:
        return None
    error = max(float(cell.max_error_ulp), ULP_FLOOR)
    return error / float(cell.bound_ulp) if cell.bound_ulp else error


def change_between(framework: str, key: RecordKey, before: tuple[str, Cell], after: tuple[str, Cell]) -> Change | None:
    """The change from ``before`` to ``after`` (each a version and its cell), or None."""
    (old_version, old), (new_version, new) = before, after
    change = Change(framework, key, old_version, new_version, "fix", old.status, new.status)
    if not old.bad and new.bad:
        return replace(change, kind="new failure", explained=new.status == Status.XFAILED)
    if old.bad and new.status == Status.PASSED:
        return change
    old_figure, new_figure = against_bound(old), against_bound(new)
    within_an_ulp = max(float(old.max_error_ulp or 0.0), float(new.max_error_ulp or 0.0)) <= ULP_FLOOR
    both_passed = old.status == new.status == Status.PASSED
    if both_passed and old_figure is not None and new_figure is not None and not within_an_ulp:
        factor = new_figure / old_figure
        if factor > MOVE_FACTOR or factor < 1 / MOVE_FACTOR:
            return replace(
                change,
                kind="error moved",
                factor=factor,
                before_error=old.max_error_ulp,
                after_error=new.max_error_ulp,
                before_bound=old.bound_ulp,
                after_bound=new.bound_ulp,
            )
    return None


@dataclass(frozen=True)
class HistoryRow(Generic[CellT, ChangeT]):
    """One fact (a result, or a bit-for-bit fact) across the versions: ``cells[i]`` in
    ``versions[i]`` (None: not in that version's runs), and ``changes[i]`` the change arriving
    there (None for none, and for the oldest version)."""

    key: RecordKey
    cells: tuple[CellT | None, ...]
    changes: tuple[ChangeT | None, ...]

    @property
    def changed(self) -> bool:
        return any(change is not None for change in self.changes)


@dataclass(frozen=True)
class History(Generic[RowT, ChangeT]):
    """One framework's facts across the versions that ran, oldest first: a row a fact."""

    framework: str
    versions: tuple[str, ...]
    rows: tuple[RowT, ...]

    @property
    def changes(self) -> list[ChangeT]:
        return [change for row in self.rows for change in row.changes if change is not None]


class Row(HistoryRow[Cell, Change]):
    """One result across the versions."""


class VersionTable(History[Row, Change]):
    """One framework's results across the versions that ran, oldest first."""

    @property
    def regressions(self) -> list[Change]:
        return [change for change in self.changes if change.regression]

    @property
    def newest_regression(self) -> str | None:
        """The newest version with a regression (an unexplained new failure), if any."""
        found = [change.after for change in self.regressions]
        return max(found, key=version_key) if found else None

    def counts(self, after: str) -> dict[ChangeKind, int]:
        """How many changes of each kind arrive at version ``after``."""
        counts: dict[ChangeKind, int] = {}
        for change in self.changes:
            if change.after == after:
                counts[change.kind] = counts.get(change.kind, 0) + 1
        return counts


def _row_order(key: RecordKey) -> tuple[Any, ...]:
    """Rows by adapter and property, then op and dtype in their usual order."""
    adapter, prop, op, dtype = key
    return (adapter, prop, rank_in_order(op, OPS), rank_in_order(dtype, DTYPE_NAMES))


def changes_along(
    versions: Sequence[str],
    cells: Sequence[CellT | None],
    ran: Callable[[CellT], bool],
    between: Callable[[tuple[str, CellT], tuple[str, CellT]], ChangeT | None],
) -> tuple[ChangeT | None, ...]:
    """For each version (oldest first) the change arriving there: ``between`` the nearest
    older version whose cell ``ran`` and this one, each as ``(version, cell)``. None for a
    cell that is missing or did not run, and for the first that ran."""
    changes: list[ChangeT | None] = []
    last: tuple[str, CellT] | None = None
    for version, cell in zip(versions, cells):
        change = None
        if cell is not None and ran(cell):
            if last is not None:
                change = between(last, (version, cell))
            last = (version, cell)
        changes.append(change)
    return tuple(changes)


def _row(framework: str, key: RecordKey, versions: Sequence[str], cells: Sequence[Cell | None]) -> Row:
    changes = changes_along(
        versions, cells, lambda cell: cell.ran, lambda before, after: change_between(framework, key, before, after)
    )
    return Row(key, tuple(cells), changes)


def version_tables(documents: Sequence[Document], records: Sequence[Record] | None = None) -> list[VersionTable]:
    """One table per framework that ran in two or more versions across ``documents``.

    ``records``: the documents' records, each tagged with ``run``, the index of its document
    (as :func:`conformance.results.gate.explain` gives them, known divergences applied);
    by default the documents' records as they are. A record whose run recorded no single
    version of its framework (a user adapter, a merged document) is left out.
    """
    if records is None:
        records = tagged(documents)
    by_version: dict[str, dict[str, list[Record]]] = {}
    for record in records:
        version = version_of_record(documents, record)
        if version is None or record.framework is None:
            continue
        by_version.setdefault(record.framework, {}).setdefault(version, []).append(record)
    tables = []
    for framework, found in by_version.items():
        if len(found) < 2:
            continue
        versions = sorted(found, key=version_key)
        worst = {version: {r.key: r for r in worst_per_key(found[version])} for version in versions}
        keys = sorted({key for version in versions for key in worst[version]}, key=_row_order)
        rows = []
        for key in keys:
            cells = [Cell.of(worst[version][key]) if key in worst[version] else None for version in versions]
            rows.append(_row(framework, key, versions, cells))
        tables.append(VersionTable(framework, tuple(versions), tuple(rows)))
    return tables


def regression_summary(tables: Sequence[VersionTable]) -> list[str]:
    """For each framework with a regression, its newest regressed version in words:
    ``jax 0.8.2 regressed (2 new failures against 0.6.2)``."""
    parts = []
    for table in tables:
        newest = table.newest_regression
        if newest is None:
            continue
        arriving = [change for change in table.regressions if change.after == newest]
        befores = sorted({change.before for change in arriving}, key=version_key)
        count = len(arriving)
        noun = "new failure" if count == 1 else "new failures"
        parts.append(f"{table.framework} {newest} regressed ({count} {noun} against {', '.join(befores)})")
    return parts
