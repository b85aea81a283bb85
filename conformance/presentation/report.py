"""The report of one or more results documents: one self-contained HTML page, and a short
Markdown summary for CI.

The page answers a reader's three questions in order: does it conform (the verdict, in one
sentence, the same as the gate's and the terminal's), what is wrong (one matrix of adapters x
properties, each cell a glyph of the ops x dtypes, then the failures grouped by cause, each
with its smallest reproducer), and where to look (accuracy, plots, agreement, behaviour,
environment and every record, collapsed below).

Everything is inline (CSS, the SVG pictures, one small script); the page loads nothing, and
its Content-Security-Policy allows only that script, by hash. The page reads the same
without it: the script only adds copy buttons and opens a collapsed section a link points
into. Every string from adapters, exceptions and metadata goes through Jinja2's autoescaping.

Stable ids, for tests and links: ``verdict``, ``summary`` (the matrix), ``failures``
(groups ``g-<n>``), ``divergences`` (known, grouped the same way), ``changes`` (against a
baseline), ``versions`` (when a framework ran in several versions: one table per framework,
``versions-<framework>``, and one of its bit-for-bit facts, ``versions-<framework>-bits``),
``accuracy``, ``bitwise`` (bit for bit: one table per adapter, ``bitwise-<adapter>``),
``plots``, ``agreement``, ``behaviour``, ``environment``, ``records`` (one table per adapter,
rows ``r-<adapter>-<property>``).
"""

from __future__ import annotations

import base64
import hashlib
import html
import importlib.resources
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, fields

import jinja2
from markupsafe import Markup

from conformance.checks.headlines import headline
from conformance.inputs.covering import coverage_line
from conformance.presentation import plots
from conformance.presentation.report_views import (
    Accuracy,
    AccuracyCell,
    AccuracyRow,
    AdapterRow,
    AgreementCell,
    AgreementRow,
    AgreementTable,
    Behaviour,
    BehaviourRow,
    BitwiseCell,
    BitwiseRow,
    BitwiseTable,
    CauseGroup,
    EnvironmentView,
    FactRow,
    Matrix,
    MatrixCell,
    MatrixRow,
    MatrixSquare,
    RecordRow,
    RecordTable,
    ReportContext,
    RunRow,
    SummaryContext,
    VersionBitsCell,
    VersionBitsRow,
    VersionCell,
    VersionChangeLine,
    VersionRow,
    VersionStep,
    VersionView,
)
from conformance.results import bitwise
from conformance.results import gate as gate_module
from conformance.results.baseline import Baseline
from conformance.results.bitwise_versions import BitsHistory, bits_history
from conformance.results.divergences import RANGE_PROBLEM, Divergence
from conformance.results.documents import documents_from, one_line, write_atomic
from conformance.results.environment import describe as describe_fact
from conformance.results.merge import framework_versions, merge
from conformance.results.records import Document, Record, rank_in_order, worst_per_key
from conformance.results.run_metadata import AgreementEntry, BehaviourEntry
from conformance.results.status import Status
from conformance.truth.dtypes import DTYPE_NAMES

OP_ORDER = ("softmax", "log_softmax", "any")
# display status -> the word in the cell; the colour comes from the CSS class st-<status>
LABELS = {
    "passed": "passed",
    "failed": "FAILED",
    "error": "error",
    "xfailed": "xfailed",
    "skipped": "skipped",
    "not-provided": "not provided",
    "not-supported": "not supported",
}
DISPLAY_BADNESS = {
    "not-provided": 0.0,
    "not-supported": 0.25,
    "skipped": 0.5,
    **{status.value: float(status.badness) for status in Status if status is not Status.SKIPPED},
}


def display_status(record: Record) -> str:
    if record.status is Status.SKIPPED and record.not_provided:
        return "not-provided"
    if record.status is Status.SKIPPED and record.not_supported:
        return "not-supported"
    return record.status.value


def fmt_number(value: object, digits: int = 3) -> str:
    """Numbers for people: 3 significant digits, "—" for missing, strings as they are."""
    if value is None:
        return "—"
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and (math.isnan(value) or math.isinf(value)):
        return str(value)
    if value == 0:
        return "0"
    return f"{value:.{digits}g}"


def fmt_duration(seconds: object) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def wbr(text: object) -> Markup:
    """Escaped text with a line-break opportunity after each underscore (long property names)."""
    return Markup.escape(str(text)).replace("_", Markup("_<wbr>"))


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    return sorted(dict.fromkeys(values), key=lambda v: rank_in_order(v, order))


def _ratio(error: object, bound: object) -> float | None:
    if isinstance(error, (int, float)) and isinstance(bound, (int, float)) and bound:
        return float(error) / float(bound)
    return None


# ---------------------------------------------------------------------------------------------
# view models


def _slug(*parts: object) -> str:
    """An id fragment from arbitrary names (adapter names come from users)."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(part)) for part in parts)


def _matrix(records: list[Record], adapters: list[str], verdict: gate_module.GateVerdict) -> Matrix:
    """Adapters x properties; each cell a glyph of ops x dtypes, worst status first in words."""
    ops = _ordered((r.op for r in records if r.op != "any"), OP_ORDER)
    dtypes = _ordered((r.dtype for r in records if r.dtype != "any"), DTYPE_NAMES)
    properties = list(dict.fromkeys(r.property for r in records if r.op != "any"))
    found: dict[tuple[str, str, str, str], str] = {}
    for record in records:
        key = record.key
        status = display_status(record)
        if DISPLAY_BADNESS.get(status, 0) >= DISPLAY_BADNESS.get(found.get(key, ""), -1):
            found[key] = status
    rows = []
    for adapter in adapters:
        cells: list[MatrixCell | None] = []
        for prop in properties:
            squares = [[found.get((adapter, prop, op, dtype), "none") for dtype in dtypes] for op in ops]
            present = [status for line in squares for status in line if status != "none"]
            if not present:
                cells.append(None)
                continue
            counts: dict[str, int] = {}
            for status in present:
                counts[status] = counts.get(status, 0) + 1
            worst = max(counts, key=lambda status: DISPLAY_BADNESS[status])
            words = ", ".join(
                f"{n} {LABELS[status]}" for status, n in sorted(counts.items(), key=lambda kv: -DISPLAY_BADNESS[kv[0]])
            )
            where = "; ".join(
                f"{op} {dtype}: {LABELS[squares[i][j]]}"
                for i, op in enumerate(ops)
                for j, dtype in enumerate(dtypes)
                if squares[i][j] != "none"
            )
            cells.append(
                MatrixCell(
                    worst=worst,
                    words=words,
                    title=f"{adapter} · {prop}: {where}",
                    href=f"#r-{_slug(adapter, prop)}",
                    squares=[
                        [MatrixSquare(status, f"{op} {dtype}") for status, dtype in zip(line, dtypes)]
                        for line, op in zip(squares, ops)
                    ],
                )
            )
        rows.append(MatrixRow(adapter, verdict.conforms(adapter), cells))
    return Matrix(ops, dtypes, properties, rows)


_LOCATION = re.compile(r"\s*\[[^\[\]]*\]\s*(;|$)")  # "[torch softmax axis=1 float32]"
_INDEX = re.compile(r"\[[-\d, ]*\]")  # "vjp[2, 1]"
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?")


def cause(record: Record) -> str:
    """What a failure says, without where it happened (adapter, op, axis, dtype, element)
    or its numbers: records with the same cause are one group."""
    text = _LOCATION.sub(r"\1", headline(record.message))
    return _NUMBER.sub("#", _INDEX.sub("[…]", text)).strip()


def _groups(records: list[Record], statuses: tuple[Status, ...], prefix: str) -> list[CauseGroup]:
    """Records of ``statuses`` grouped by :func:`cause`, the largest group first."""
    grouped: dict[tuple[str, str], list[Record]] = {}
    for record in worst_per_key(records):  # a result that several merged runs have is one member
        if record.status in statuses:
            grouped.setdefault((record.status, cause(record)), []).append(record)
    ordered = sorted(grouped.items(), key=lambda item: (-len(item[1]), item[0]))
    out = []
    for number, (_, members) in enumerate(ordered, start=1):
        with_reproducer = [r for r in members if r.reproducer]
        smallest = min(with_reproducer, key=lambda r: len(str(r.reproducer)), default=members[0])
        # a member may have a native script that the smallest reproducer's record lacks
        native = min(
            (r for r in members if r.native_reproducer), key=lambda r: len(str(r.native_reproducer)), default=None
        )
        out.append(
            CauseGroup(
                id=f"{prefix}-{number}",
                status=display_status(smallest),
                label=LABELS[display_status(smallest)],
                headline=headline(smallest.message),
                whole_message=_whole_message(smallest.message),
                count=len(members),
                members=[_describe(r) for r in members],
                reproducer=smallest.reproducer,
                reproducer_of=_describe(smallest),
                native_reproducer=native.native_reproducer if native else None,
                native_of=_describe(native) if native else None,
                framework=native.framework if native else None,
                blob=smallest.hypothesis_blob,
                reason=smallest.xfail_reason,
            )
        )
    return out


def _whole_message(message: str) -> str | None:
    """``message`` when its headline leaves something out (a framework's full error text, a
    hint), to show beneath the headline; None when the headline says it all."""
    text = message.strip()
    return text if " ".join(text.split()) != headline(text) else None


def _describe(record: Record) -> str:
    return " · ".join(record.key)


def _records_by_adapter(records: list[Record], adapters: list[str]) -> list[RecordTable]:
    """Every record, one table per adapter, sorted by property, op and dtype."""
    out = []
    for adapter in adapters:
        own = [r for r in records if r.adapter == adapter]
        own.sort(key=lambda r: (r.property, rank_in_order(r.op, OP_ORDER), rank_in_order(r.dtype, DTYPE_NAMES)))
        rows: list[RecordRow] = []
        seen: set[str] = set()
        for record in own:
            anchor = f"r-{_slug(adapter, record.property)}"
            rows.append(
                RecordRow(
                    id=anchor if anchor not in seen else None,
                    record=record,
                    status=display_status(record),
                    label=LABELS[display_status(record)],
                    headline=headline(record.message) or headline(record.xfail_reason),
                )
            )
            seen.add(anchor)
        out.append(RecordTable(adapter, f"records-{_slug(adapter)}", rows))
    return out


@dataclass(frozen=True)
class _Worst:
    """The record of a property worst against its bound, at one adapter, op and dtype."""

    error: float
    bound: float | None
    status: str


def _accuracy(records: list[Record], adapters: list[str]) -> Accuracy:
    measured = [r for r in records if r.max_error_ulp is not None]
    properties = list(dict.fromkeys(r.property for r in measured))
    table: dict[tuple[str, str, str], dict[str, _Worst]] = {}
    for record in measured:
        row_key = (record.adapter, record.op, record.dtype)
        cell = table.setdefault(row_key, {}).get(record.property)
        error = float(record.max_error_ulp or 0.0)
        if cell is None or error > cell.error:
            table[row_key][record.property] = _Worst(error, record.bound_ulp, display_status(record))
    rows = []
    dtypes = _ordered((k[2] for k in table), DTYPE_NAMES)
    ops = _ordered((k[1] for k in table), OP_ORDER)
    for adapter in adapters:
        first = True
        for op in ops:
            for dtype in dtypes:
                cells = table.get((adapter, op, dtype))
                if cells is None:
                    continue
                row: list[AccuracyCell | None] = []
                for prop in properties:
                    cell = cells.get(prop)
                    if cell is None:
                        row.append(None)
                        continue
                    ratio = _ratio(cell.error, cell.bound)
                    row.append(
                        AccuracyCell(
                            error=fmt_number(cell.error),
                            bound=fmt_number(cell.bound),
                            over=ratio is not None and ratio > 1,
                            ratio="" if ratio is None else fmt_number(ratio, 2),
                            status=cell.status,
                        )
                    )
                rows.append(AccuracyRow(adapter, op, dtype, row, first))
                first = False
    return Accuracy(properties, rows)


def _bitwise(records: list[Record]) -> list[BitwiseTable]:
    """The bit-for-bit table of each adapter (:mod:`conformance.results.bitwise`): per op and
    dtype, each aspect's verdict, where the bits first changed and by how many ulps at most."""
    out = []
    for table in bitwise.tables(records):
        rows = []
        for row in bitwise.row_order(table.rows):
            cells = [None if cell is None else _bitwise_cell(cell) for cell in row.cells]
            rows.append(BitwiseRow(row.op, row.dtype, cells))
        out.append(
            BitwiseTable(
                adapter=table.adapter,
                id=f"bitwise-{_slug(table.adapter)}",
                promised=", ".join(table.promised) or "nothing",
                rows=rows,
            )
        )
    return out


def _bitwise_cell(cell: bitwise.Cell) -> BitwiseCell:
    """One bit-for-bit fact as a cell shows it: ``yes``, ``no: 8 rows, 4 ulp``, or why it was not measured."""
    return BitwiseCell(
        text=cell.short(),
        kind={bitwise.SAME: "same", bitwise.OTHER: "other"}.get(cell.verdict, "none"),
        failed=cell.status.failing,
        title=cell.finding.describe() if cell.measured and cell.finding is not None else cell.verdict,
    )


def _agreement(entries: Sequence[AgreementEntry]) -> list[AgreementTable]:
    """Pairwise tables, one per (op, dtype, quantity): adapters x adapters -> max |a - b|."""
    groups: dict[tuple[str, str, str], dict[tuple[str, str], float | None]] = {}
    names: dict[tuple[str, str, str], list[str]] = {}
    for entry in entries:
        key = (entry.op, entry.dtype, entry.quantity)
        a, b = entry.a, entry.b
        order = names.setdefault(key, [])
        order.extend(name for name in (a, b) if name not in order)
        value = entry.max_abs_diff
        pairs = groups.setdefault(key, {})
        for pair in ((a, b), (b, a)):
            old = pairs.get(pair)
            if old is None or (value is not None and value > old):
                pairs[pair] = value
    tables = []
    for key in sorted(groups, key=lambda k: (rank_in_order(k[0], OP_ORDER), rank_in_order(k[1], DTYPE_NAMES), k[2])):
        order = names[key]
        rows = []
        for a in order:
            cells = []
            for b in order:
                if a == b:
                    cells.append(AgreementCell("·", "diag"))
                    continue
                value = groups[key].get((a, b))
                cls = "none" if value is None else ("zero" if value == 0 else "nonzero")
                cells.append(AgreementCell("—" if value is None else fmt_number(value), cls))
            rows.append(AgreementRow(a, cells))
        tables.append(AgreementTable(key[0], key[1], key[2], order, rows))
    return tables


def _behaviour(entries: Sequence[BehaviourEntry]) -> Behaviour | None:
    """inputs (x quantity) x adapters -> outcome; rows where adapters disagree are marked."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    adapters: list[str] = []
    for entry in entries:
        if entry.adapter not in adapters:
            adapters.append(entry.adapter)
        cells.setdefault((entry.input, entry.quantity), {})[entry.adapter] = entry.outcome
    if not cells:
        return None
    rows = [
        BehaviourRow(
            input=inp,
            quantity=quantity,
            outcomes=[outcomes.get(adapter) for adapter in adapters],
            disagree=len(set(outcomes.values())) > 1,
        )
        for (inp, quantity), outcomes in cells.items()
    ]
    return Behaviour(adapters, rows)


_CHANGE_CLASS = {"new failure": "ch-new", "fix": "ch-fix", "error moved": "ch-moved"}
_BITS_CHANGE_CLASS = {"lost": "ch-bits-lost", "gained": "ch-bits-gained", "moved": "ch-moved"}


def _version_label(adapters: Sequence[str], adapter: str, *parts: str) -> str:
    """A version view row's label: its parts, after its adapter where the view has several."""
    return " · ".join(parts if len(adapters) == 1 else (adapter, *parts))


def _version_bits(history: BitsHistory | None, adapters: Sequence[str]) -> list[VersionBitsRow]:
    """The bit-for-bit facts of a version table in each version, each with the change from the
    version before (:mod:`conformance.results.bitwise_versions`)."""
    if history is None:
        return []
    rows = []
    for row in history.rows:
        adapter, _, op, dtype = row.key
        cells = [
            None
            if cell is None
            else VersionBitsCell(
                fact=_bitwise_cell(cell),
                change=None if change is None else change.mark,
                change_class="" if change is None else _BITS_CHANGE_CLASS[change.kind],
            )
            for cell, change in zip(row.cells, row.changes)
        ]
        label = _version_label(adapters, adapter, bitwise.HEADINGS[row.aspect], op, dtype)
        rows.append(VersionBitsRow(label, cells, row.changed))
    return rows


def _versions(verdict: gate_module.GateVerdict) -> list[VersionView]:
    """The version view: for each framework that ran in several versions, its results (rows:
    property x op x dtype) across them (columns, oldest first), each cell with its status, the
    worst element's error against its bound, and the change from the version before. The
    computation is :mod:`conformance.results.versions`'; this only formats it."""
    out = []
    for table in verdict.version_tables:
        adapters = list(dict.fromkeys(row.key[0] for row in table.rows))
        rows = []
        for row in table.rows:
            adapter, prop, op, dtype = row.key
            cells: list[VersionCell | None] = []
            for cell, change in zip(row.cells, row.changes):
                if cell is None:
                    cells.append(None)
                    continue
                status = "not-provided" if cell.status is Status.SKIPPED else cell.status.value
                ratio = _ratio(cell.max_error_ulp, cell.bound_ulp)
                cells.append(
                    VersionCell(
                        status=status,
                        label=LABELS[status],
                        error=None if cell.max_error_ulp is None else fmt_number(cell.max_error_ulp),
                        bound=fmt_number(cell.bound_ulp),
                        ratio="" if ratio is None else fmt_number(ratio, 2),
                        change=None if change is None else change.mark,
                        change_class=""
                        if change is None
                        else _CHANGE_CLASS[change.kind] + (" ch-known" if change.explained else ""),
                        title=one_line(headline(cell.message or cell.xfail_reason), 300),
                    )
                )
            rows.append(VersionRow(_version_label(adapters, adapter, prop, op, dtype), cells, row.changed))
        history = bits_history(table)
        per_version = []
        for version in table.versions[1:]:
            counts = table.counts(version)
            words = [f"{n} {kind}{'s' if n != 1 and kind != 'error moved' else ''}" for kind, n in counts.items()]
            bits_changed = history.count(version) if history is not None else 0
            if bits_changed:
                words.append(f"{bits_changed} bit-for-bit change{'s' if bits_changed != 1 else ''}")
            per_version.append(VersionStep(version, ", ".join(words) or "no change"))
        out.append(
            VersionView(
                framework=table.framework,
                id=f"versions-{_slug(table.framework)}",
                adapters=adapters,
                versions=list(table.versions),
                rows=rows,
                changes=[
                    VersionChangeLine(change.kind, change.mark, change.describe(), change.regression)
                    for change in table.changes
                ],
                per_version=per_version,
                newest_regression=table.newest_regression,
                bits=_version_bits(history, adapters),
                bits_changes=[
                    VersionChangeLine(change.kind, change.mark, change.describe(), False)
                    for change in (history.changes if history is not None else [])
                ],
            )
        )
    return out


def _environment(documents: Sequence[Document]) -> EnvironmentView:
    runs = []
    for number, document in enumerate(documents, start=1):
        meta = document.run_metadata
        runs.append(
            RunRow(
                number=number,
                python=_or_dash(meta.python),
                platform=_or_dash(meta.platform),
                profile=_or_dash(meta.profile),
                seed="derandomized" if meta.seed is None else str(meta.seed),
                timestamp=_or_dash(meta.timestamp),
                duration=fmt_duration(meta.duration_s),
                frameworks=", ".join(f"{k} {v}" for k, v in meta.frameworks.items()) or "—",
                results=len(document.results),
                coverage=coverage_line(meta.coverage) if meta.coverage else None,
            )
        )
    adapters: dict[str, AdapterRow] = {}
    for document in documents:
        for entry in document.run_metadata.adapters:
            if entry.adapter in adapters:
                continue
            capabilities = entry.capabilities
            adapters[entry.adapter] = AdapterRow(
                adapter=entry.adapter,
                spec=entry.spec,
                framework=entry.framework or "user adapter",
                device=entry.device or "—",
                missing=[k for k, v in capabilities.items() if not v],
                provided=[k for k, v in capabilities.items() if v],
            )
    versions = {name: " | ".join(found) for name, found in framework_versions(documents).items()}
    used = (name for document in documents for name in document.run_metadata.divergence_files)
    return EnvironmentView(
        runs=runs,
        adapters=list(adapters.values()),
        frameworks=versions,
        facts=_facts(documents),
        divergence_files=list(dict.fromkeys(used)),
    )


def _or_dash(text: str | None) -> str:
    """What the page shows for a metadata field: the field, or "—" where the run recorded none."""
    return "—" if text is None else text


def _facts(documents: Sequence[Document]) -> list[FactRow]:
    """The environment each run recorded, one row per fact of the machine or a framework
    (runs that agree on a fact show it once; runs that differ, each value with its run)."""
    found: dict[tuple[str, str], dict[str, list[int]]] = {}
    for number, document in enumerate(documents, start=1):
        for owner, facts in document.run_metadata.environment.items():
            for name, fact in facts.items():
                found.setdefault((owner, name), {}).setdefault(describe_fact(fact), []).append(number)
    rows = []
    for (owner, name), values in found.items():
        if len(values) == 1:
            [value] = values
        else:
            value = "; ".join(f"{text} (run {', '.join(map(str, runs))})" for text, runs in values.items())
        rows.append(FactRow(owner, name, value))
    return rows


def summary_context(
    documents: Sequence[Document | Mapping[str, object]],
    *,
    baseline: Baseline | Mapping[str, object] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
) -> SummaryContext:
    """What the Markdown summary shows, and the top of the page: the verdict, the matrix and
    the unexplained failures."""
    documents = documents_from(documents)
    verdict = gate_module.evaluate(documents, baseline, list(expect) if expect is not None else None, divergences)
    records = verdict.records
    return SummaryContext(
        verdict=verdict,
        reasons=verdict.reasons,
        matrix=_matrix(records, verdict.adapters, verdict),
        failures=_groups(records, (Status.FAILED, Status.ERROR), "g"),
    )


def build_context(
    documents: Sequence[Document | Mapping[str, object]],
    *,
    baseline: Baseline | Mapping[str, object] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> ReportContext:
    """Everything the page shows (the summary's context and the rest), computed once."""
    documents = documents_from(documents)
    summary = summary_context(documents, baseline=baseline, expect=expect, divergences=divergences)
    verdict = summary.verdict
    records = verdict.records
    adapters = verdict.adapters
    merged = merge(documents).run_metadata
    return ReportContext(
        verdict=summary.verdict,
        reasons=summary.reasons,
        matrix=summary.matrix,
        failures=summary.failures,
        title=title or "softmax conformance report",
        record_count=len(records),
        known=_groups(records, (Status.XFAILED,), "k"),
        records=_records_by_adapter(records, adapters),
        accuracy=_accuracy(records, adapters),
        bitwise=_bitwise(records),
        bitwise_headings=[bitwise.HEADINGS[aspect] for aspect in bitwise.ASPECTS],
        plot_svg=plots.error_ratio_svg(records, adapters),
        agreement=_agreement(merged.agreement),
        behaviour=_behaviour(merged.behaviour),
        environment=_environment(documents),
        versions=_versions(verdict),
        version_problems=[line for line in verdict.divergence_problems if f": {RANGE_PROBLEM} " in line],
        run_count=len(documents),
        timestamp=merged.timestamp or "",
    )


def _environment_jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("conformance.presentation", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["num"] = fmt_number
    env.filters["duration"] = fmt_duration
    env.filters["wbr"] = wbr
    return env


SCRIPT = importlib.resources.files("conformance.presentation").joinpath("templates/report.js").read_text("utf-8")


def _script_hash(script: str) -> str:
    """The CSP source that lets exactly ``script`` run (and nothing else)."""
    return "'sha256-" + base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode() + "'"


def render_html(
    documents: Sequence[Document | Mapping[str, object]],
    *,
    baseline: Baseline | Mapping[str, object] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> str:
    """The report page as a string (see :func:`write_html`)."""
    if not documents:
        raise ValueError("render_html needs at least one results document")
    return html_from(build_context(documents, baseline=baseline, expect=expect, divergences=divergences, title=title))


def html_from(context: ReportContext) -> str:
    """The page for a :func:`build_context` context."""
    page: dict[str, object] = {field.name: getattr(context, field.name) for field in fields(context)}
    plot = context.plot_svg
    # the SVG comes from matplotlib, which escapes text; it and the script are the only unescaped insertions
    page["plot_svg"] = None if plot is None else Markup(plot)
    page["script"] = Markup(SCRIPT)
    page["script_hash"] = Markup(_script_hash(SCRIPT))  # quotes and base64 only
    return _environment_jinja().get_template("report.html").render(**page)


def write_html(
    documents: Sequence[Document | Mapping[str, object]],
    path: str | os.PathLike[str],
    *,
    baseline: Baseline | Mapping[str, object] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> None:
    """Write ONE self-contained HTML report of ``documents`` (merged) to ``path``, atomically.

    ``baseline``/``expect``/``divergences`` are passed to :func:`conformance.results.gate.evaluate`
    for the verdict shown at the top; with ``divergences`` the records are shown with those
    known divergences applied (failed -> xfailed with the reason).
    """
    html = render_html(documents, baseline=baseline, expect=expect, divergences=divergences, title=title)
    write_atomic(path, html)


# ---------------------------------------------------------------------------------------------
# the Markdown summary, for a CI job summary or a pull-request comment

SYMBOLS = {
    "passed": "✅",
    "failed": "❌",
    "error": "💥",
    "xfailed": "⚠️",
    "skipped": "·",
    "not-provided": "·",
    "not-supported": "·",
}


def render_markdown(
    documents: Sequence[Document | Mapping[str, object]],
    *,
    baseline: Baseline | Mapping[str, object] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
) -> str:
    """The verdict, a properties x adapters table of symbols, and each group of unexplained
    failures with its reproducer folded."""
    return markdown_from(summary_context(documents, baseline=baseline, expect=expect, divergences=divergences))


def markdown_from(context: SummaryContext) -> str:
    """The Markdown summary for a :func:`summary_context` (or :func:`build_context`) context."""
    verdict, matrix = context.verdict, context.matrix
    adapters = [row.adapter for row in matrix.rows]
    lines = [
        f"## Softmax conformance: {'PASS' if verdict.passed else 'FAIL'}",
        "",
        _markdown_text(verdict.sentence),
        "",
        "| property | " + " | ".join(_markdown_text(a) for a in adapters) + " |",
        "|---|" + "---|" * len(adapters),
    ]
    for column, prop in enumerate(matrix.properties):
        cells = [row.cells[column] for row in matrix.rows]
        symbols = [SYMBOLS.get(cell.worst, "·") if cell else " " for cell in cells]
        lines.append(f"| {prop} | " + " | ".join(symbols) + " |")
    lines += ["", "✅ passed · ❌ failed · 💥 error · ⚠️ known divergence · `·` skipped or not provided", ""]
    if context.failures:
        lines += ["### Unexplained failures", ""]
        for group in context.failures:
            lines += [
                "<details>",
                f"<summary>{_markdown_text(group.headline)} ({group.count}: "
                f"{_markdown_text(', '.join(group.members[:4]))}{', …' if group.count > 4 else ''})</summary>",
                "",
            ]
            if group.reproducer:
                lines += [
                    f"Reproducer ({_markdown_text(group.reproducer_of)}):",
                    "",
                    "```python",
                    group.reproducer,
                    "```",
                ]
            if group.native_reproducer:
                lines += [
                    f"The smallest in {_markdown_text(group.framework)}'s own API "
                    f"({_markdown_text(group.native_of)}), without this suite:",
                    "",
                    "```python",
                    group.native_reproducer,
                    "```",
                ]
            lines += ["</details>", ""]
    if context.reasons:
        lines += ["### The gate also says", ""] + [f"- {_markdown_text(line)}" for line in context.reasons] + [""]
    return "\n".join(lines)


def _markdown_text(text: object) -> str:
    """``text`` safe inside a Markdown table or a <summary>: HTML escaped, pipes and newlines neutral."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")
