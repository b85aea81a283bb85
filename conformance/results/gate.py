"""The gate: decide from results documents (and optionally a baseline) whether a run is acceptable.

The gate fails when

* a record is ``failed`` or ``error`` and no known divergence explains it;
* an expected framework has no results (expected: named in ``expect``, or with results in
  the baseline); a framework whose records are all skipped has no results;
* an adapter a run was asked for (``metadata.requested``) has no results;
* a framework x property has fewer results than in the baseline, i.e. a record that ran
  in the baseline (passed/failed/error/xfailed) is absent or skipped now: missing results
  never pass;
* a known-divergence entry is stale or matches nothing (see :func:`divergences.audit`), or,
  over runs of several versions of a framework, its version range is too wide or too narrow
  (see :func:`divergences.audit_versions`).

Over several versions of a framework (a version matrix), each version is also the baseline of
the next: a result that passes in one version and fails, unexplained, in the next is a
regression, listed as ``REGRESSED`` with the two versions, and the verdict's sentence names
the newest version that regressed (see :mod:`conformance.results.versions`).

The baseline's format is :mod:`conformance.results.baseline`'s. The comparisons here are pure:
each returns typed findings (:class:`Failure`, :class:`MissingResults`, ...); one formatter,
:func:`verdict_from`, words them into the :class:`GateVerdict`'s lines.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from conformance.checks.headlines import headline
from conformance.results import divergences as divergences_module
from conformance.results.baseline import Baseline, entry_key, summary_from
from conformance.results.divergences import Divergence
from conformance.results.documents import documents_from, one_line
from conformance.results.records import Document, Record, RecordKey, nothing_checked, worst_per_key
from conformance.results.status import Status, worst_status
from conformance.results.versions import Change, VersionTable, regression_summary, version_of_record, version_tables

MAX_LINES_PER_KIND = 25
HEADLINE_LIMIT = 140  # characters of a failure's headline in a line of the verdict


@dataclass
class GateVerdict:
    passed: bool
    lines: list[str]  # the short diff, failing kinds first
    unexplained: list[str] = field(default_factory=list)  # failed/error records no divergence explains
    regressed: list[str] = field(default_factory=list)  # passed in the baseline, failed/error now
    newly_passing: list[str] = field(default_factory=list)  # failed/error/xfailed in the baseline, passed now
    missing_frameworks: list[str] = field(default_factory=list)
    missing_results: list[str] = field(default_factory=list)  # records that ran in the baseline, not now
    divergence_problems: list[str] = field(default_factory=list)
    baseline_used: bool = False
    records: list[Record] = field(default_factory=list, repr=False)  # merged, divergences applied
    # frameworks that ran in several versions: each one's results across them, and the
    # unexplained new failures from one version to the next (also in ``regressed``)
    version_tables: list[VersionTable] = field(default_factory=list, repr=False)
    version_regressions: list[Change] = field(default_factory=list, repr=False)

    @property
    def reasons(self) -> list[str]:
        """The lines about more than one result (missing frameworks or results, problems with
        the known-divergences file): what the verdict says besides the failures."""
        return [line for line in self.lines if not line.startswith(("FAILED", "REGRESSED"))]

    @property
    def adapters(self) -> list[str]:
        """Every adapter with a result, by name: a framework's paths sit together, and the
        order does not depend on which worker finished first."""
        return sorted({record.adapter for record in self.records})

    def conforms(self, adapter: str) -> bool:
        """Whether ``adapter`` ran something and nothing of it failed unexplained."""
        own = [record for record in self.records if record.adapter == adapter]
        return any(record.ran for record in own) and not any(record.failing for record in own)

    @property
    def sentence(self) -> str:
        """The verdict in one sentence, the same in the terminal, the report and the CI summary:
        "3 of 10 adapters conform; 2 unexplained failures (jax long_row_accuracy softmax float16,
        ...); 77 known divergences." """
        adapters = self.adapters
        conforming = sum(self.conforms(adapter) for adapter in adapters)
        parts = [f"{conforming} of {_count(len(adapters), 'adapter')} conform" + ("s" if len(adapters) == 1 else "")]
        results = worst_per_key(self.records)
        failing = [record for record in results if record.failing]
        if failing:
            named = ", ".join(" ".join(record.key) for record in failing[:3])
            named += ", …" if len(failing) > 3 else ""
            parts.append(f"{_count(len(failing), 'unexplained failure')} ({named})")
        parts.append(_count(sum(record.status is Status.XFAILED for record in results), "known divergence"))
        parts.extend(regression_summary(self.version_tables))
        if self.missing_frameworks:
            parts.append("; ".join(self.missing_frameworks))
        if self.missing_results:
            parts.append(f"{_count(len(self.missing_results), 'result')} missing against the baseline")
        if self.divergence_problems:
            parts.append(f"{_count(len(self.divergence_problems), 'problem')} with the known-divergences file")
        return "; ".join(parts) + "."


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# ---------------------------------------------------------------------------------------------
# the findings: what the comparisons return


@dataclass(frozen=True)
class VersionRegression:
    """A result that passed in one version of its framework and fails, unexplained, in the next."""

    change: Change
    headline: str  # of the failure in the newer version; "" when it has none


@dataclass(frozen=True)
class Failure:
    """A result that fails, unexplained: the worst of the records that hold it."""

    key: RecordKey
    worst: Record
    baseline: Status | None  # its status in the baseline, when there is one
    version_regressions: tuple[VersionRegression, ...] = ()

    @property
    def regressed(self) -> bool:
        """It passed in the baseline."""
        return self.baseline is Status.PASSED


@dataclass(frozen=True)
class MissingFramework:
    name: str
    why: str  # "expected" or "in the baseline"


@dataclass(frozen=True)
class MissingResults:
    """A framework x property with fewer results than in the baseline."""

    framework: str | None  # None: user adapters
    property: str
    baseline_count: int
    keys: tuple[RecordKey, ...]  # the ones that ran in the baseline and not now


@dataclass(frozen=True)
class BaselineChange:
    """A result whose status moved against the baseline without failing the gate."""

    key: RecordKey
    was: Status
    now: Status


@dataclass(frozen=True)
class Findings:
    failures: tuple[Failure, ...]
    missing_frameworks: tuple[MissingFramework, ...]
    missing_adapters: tuple[str, ...]  # specs asked for with no result
    missing_results: tuple[MissingResults, ...]
    divergence_problems: tuple[str, ...]
    baseline_changes: tuple[BaselineChange, ...]


# ---------------------------------------------------------------------------------------------
# the comparisons


def explain(documents: Sequence[Document], divergences: Sequence[Divergence] | None) -> tuple[list[Record], list[str]]:
    """Merged records (tagged with ``run``) with known divergences applied, and the divergence
    problems. Each document is matched against its own framework versions. Without
    ``divergences`` the records are taken as they are and the problems are those the runs
    recorded in ``metadata.divergence_problems``."""
    records: list[Record] = []
    problems: list[str] = []
    runs: list[tuple[dict[str, str], list[Record]]] = []
    for run, document in enumerate(documents):
        own = [record.replace(run=run) for record in document.results]
        if divergences is not None:
            versions = dict(document.run_metadata.frameworks)
            environment = document.run_metadata.environment
            own = divergences_module.apply(own, divergences, versions, environment)
            found = divergences_module.audit(own, divergences, versions, environment)
            runs.append((versions, own))
        else:
            found = list(document.run_metadata.divergence_problems)
        problems.extend(problem for problem in found if problem not in problems)
        records.extend(own)
    if divergences is not None:
        # Across the versions of a framework: an entry whose range is too wide or too narrow
        # is one problem naming the range that fits, instead of one per run it does not fit.
        ranges = divergences_module.audit_versions(runs, divergences)
        about = [entry.label() + ": " for entry in divergences]
        redone = {label for label in about if any(problem.startswith(label) for problem in ranges)}
        problems = [problem for problem in problems if not problem.startswith(tuple(redone))] if redone else problems
        problems.extend(ranges)
    return records, problems


def _by_key(records: Iterable[Record]) -> dict[RecordKey, list[Record]]:
    grouped: dict[RecordKey, list[Record]] = {}
    for record in records:
        grouped.setdefault(record.key, []).append(record)
    return grouped


def baseline_statuses(baseline: Baseline | None) -> dict[RecordKey, tuple[Status, str | None]]:
    """Each record identity of ``baseline``: its status and its framework."""
    if baseline is None:
        return {}
    return {entry_key(entry): (Status(entry["status"]), entry.get("framework")) for entry in baseline["results"]}


def missing_frameworks(
    records: Sequence[Record], base: Mapping[RecordKey, tuple[Status, str | None]], expect: Iterable[str] | None
) -> list[MissingFramework]:
    """Frameworks named in ``expect``, or with results in the baseline, that have no result now."""
    present = {record.framework for record in records if record.ran}
    expected: dict[str, str] = {}
    for name in expect or []:
        name = name.strip()
        if name:
            expected.setdefault(name, "expected")
    for status, framework in base.values():
        if framework is not None and status.ran:
            expected.setdefault(framework, "in the baseline")
    return [MissingFramework(name, why) for name, why in expected.items() if name not in present]


def failures(
    documents: Sequence[Document],
    by_key: Mapping[RecordKey, list[Record]],
    base: Mapping[RecordKey, tuple[Status, str | None]],
    version_regressions: Sequence[Change],
) -> list[Failure]:
    """Every result that fails unexplained, with its status in the baseline and the versions
    of its framework it regressed between."""
    changes_of: dict[RecordKey, list[Change]] = {}
    for change in version_regressions:
        changes_of.setdefault(change.key, []).append(change)
    found: list[Failure] = []
    for key, held in by_key.items():
        bad = [record for record in held if record.failing]
        if not bad:
            continue
        worst_of_bad = worst_status(record.status for record in bad)
        worst = next(record for record in held if record.status == worst_of_bad)
        regressions = []
        for change in changes_of.get(key, []):
            after = [r for r in held if r.failing and version_of_record(documents, r) == change.after]
            regressions.append(VersionRegression(change, _headline(after[0]) if after else ""))
        was = base.get(key)
        found.append(Failure(key, worst, None if was is None else was[0], tuple(regressions)))
    return found


def baseline_changes(
    current: Mapping[RecordKey, Status], base: Mapping[RecordKey, tuple[Status, str | None]]
) -> list[BaselineChange]:
    """Results that pass now and failed (or were known to) in the baseline, and results that
    passed in the baseline and are known divergences now."""
    found = []
    for key, (was, _) in base.items():
        now = current.get(key)
        if now is not None and ((now is Status.PASSED and was.bad) or (was is Status.PASSED and now is Status.XFAILED)):
            found.append(BaselineChange(key, was, now))
    return found


def missing_results(
    current: Mapping[RecordKey, Status],
    base: Mapping[RecordKey, tuple[Status, str | None]],
    absent_frameworks: Iterable[str],
) -> list[MissingResults]:
    """Per framework x property: the results that ran in the baseline and do not now (left
    out for a framework with no result at all, which is missing as a whole)."""
    absent = set(absent_frameworks)
    missing: dict[tuple[str | None, str], list[RecordKey]] = {}
    counts: dict[tuple[str | None, str], int] = {}
    for key, (was, framework) in base.items():
        if not was.ran:
            continue
        group = (framework, key[1])
        counts[group] = counts.get(group, 0) + 1
        now = current.get(key)
        if (now is None or not now.ran) and framework not in absent:
            missing.setdefault(group, []).append(key)
    return [
        MissingResults(framework, prop, counts[(framework, prop)], tuple(keys))
        for (framework, prop), keys in missing.items()
    ]


def missing_adapters(documents: Iterable[Document]) -> list[str]:
    """The adapters a run was asked for that have no result."""
    return [
        record.spec or record.adapter
        for document in documents
        for record in nothing_checked(document.run_metadata.requested, document.results)
    ]


def _headline(record: Record) -> str:
    return one_line(headline(record.message), HEADLINE_LIMIT)


# ---------------------------------------------------------------------------------------------
# the formatter


def _described(key: RecordKey) -> str:
    return f"{key[0]} {key[1]} ({key[2]}, {key[3]})"


def _capped(kind: str, items: list[str]) -> list[str]:
    lines = [f"{kind} {item}" for item in items[:MAX_LINES_PER_KIND]]
    if len(items) > MAX_LINES_PER_KIND:
        lines.append(f"{kind} ... and {len(items) - MAX_LINES_PER_KIND} more")
    return lines


def verdict_from(
    findings: Findings, records: list[Record], tables: list[VersionTable], baseline_used: bool
) -> GateVerdict:
    """The verdict's words: each finding as a line of its kind, failing kinds first."""
    unexplained: list[str] = []
    regressed: list[str] = []
    listed: set[str] = set()  # failures listed under the versions they regressed between
    for failure in findings.failures:
        worst = failure.worst
        text = f"{worst.describe()}: {worst.status}: {_headline(worst)}"
        if failure.baseline is not None:
            text += f" (baseline: {failure.baseline})"
        unexplained.append(text)
        if failure.regressed:
            regressed.append(text)
        for regression in failure.version_regressions:
            described = regression.change.describe()
            regressed.append(f"{described}: {regression.headline}" if regression.headline else described)
        if failure.version_regressions:
            listed.add(text)
    frameworks = [f"framework {missing.name}: no results ({missing.why})" for missing in findings.missing_frameworks]
    frameworks += [f"adapter {spec}: asked for, but no property ran on it" for spec in findings.missing_adapters]
    missing_lines = []
    for missing in findings.missing_results:
        names = [f"{key[0]} ({key[2]}, {key[3]})" for key in missing.keys]
        shown = ", ".join(names[:6]) + (f", ... {len(names) - 6} more" if len(names) > 6 else "")
        label = missing.framework if missing.framework is not None else "user adapters"
        have = missing.baseline_count - len(missing.keys)
        missing_lines.append(
            f"{label} {missing.property}: {have} of {missing.baseline_count} baseline results; missing {shown}"
        )
    newly_passing = [
        f"{_described(change.key)} (baseline: {change.was})"
        for change in findings.baseline_changes
        if change.now is Status.PASSED
    ]
    now_xfailed = [_described(change.key) for change in findings.baseline_changes if change.now is Status.XFAILED]
    problems = list(findings.divergence_problems)
    regressed_set = set(regressed)
    lines = [
        *_capped("REGRESSED", regressed),
        *_capped("FAILED", [line for line in unexplained if line not in regressed_set and line not in listed]),
        *_capped("MISSING", frameworks),
        *_capped("MISSING", missing_lines),
        *_capped("DIVERGENCE", problems),
        *_capped("NEWLY PASSES", newly_passing),
        *_capped("NOW XFAILED", now_xfailed),
    ]
    absent = [_described(key) for found in findings.missing_results for key in found.keys]
    return GateVerdict(
        passed=not (unexplained or frameworks or absent or problems),
        lines=lines,
        unexplained=unexplained,
        regressed=regressed,
        newly_passing=newly_passing,
        missing_frameworks=frameworks,
        missing_results=absent,
        divergence_problems=problems,
        baseline_used=baseline_used,
        records=records,
        version_tables=tables,
        version_regressions=[change for table in tables for change in table.regressions],
    )


def evaluate(
    documents: Sequence[Document | Mapping[str, object]],
    baseline: Baseline | Mapping[str, object] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
) -> GateVerdict:
    """The gate's verdict on ``documents`` (see the module docstring for what fails).

    ``baseline``: a summary from :func:`~conformance.results.baseline.make_baseline` or
    :func:`~conformance.results.baseline.load_baseline`, or a full results document;
    ``expect``: framework names that must have results; ``divergences``: entries to apply
    and audit (None: use the statuses and divergence problems the runs recorded).
    """
    documents = documents_from(documents)
    records, problems = explain(documents, divergences)
    summary = None if baseline is None else summary_from(baseline, "baseline")
    by_key = _by_key(records)
    current = {key: worst_status(record.status for record in held) for key, held in by_key.items()}
    base = baseline_statuses(summary)
    frameworks = missing_frameworks(records, base, expect)
    # A version matrix: each version is the baseline of the next. An unexplained new failure
    # from one version to the next is a regression, listed under the versions it came between.
    tables = version_tables(documents, records)
    findings = Findings(
        failures=tuple(failures(documents, by_key, base, [c for table in tables for c in table.regressions])),
        missing_frameworks=tuple(frameworks),
        missing_adapters=tuple(missing_adapters(documents)),
        missing_results=tuple(missing_results(current, base, (missing.name for missing in frameworks))),
        divergence_problems=tuple(problems),
        baseline_changes=tuple(baseline_changes(current, base)),
    )
    return verdict_from(findings, records, tables, baseline_used=summary is not None)
