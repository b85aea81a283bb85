"""The report's view-models: what each part of the page (and the Markdown summary) shows,
computed by :mod:`conformance.presentation.report` and rendered by ``templates/report.html``.
Every field is display-ready text or a flag; the template only lays them out."""

from __future__ import annotations

from dataclasses import dataclass

from conformance.results.gate import GateVerdict
from conformance.results.records import Record


@dataclass(frozen=True)
class MatrixSquare:
    status: str  # a display status: the CSS class st-<status>
    label: str  # "softmax float32"


@dataclass(frozen=True)
class MatrixCell:
    """One adapter x property: a glyph of its ops x dtypes, the worst status first in words."""

    worst: str
    words: str
    title: str
    href: str
    squares: list[list[MatrixSquare]]


@dataclass(frozen=True)
class MatrixRow:
    adapter: str
    conforms: bool
    cells: list[MatrixCell | None]  # None: the adapter has no result of that property


@dataclass(frozen=True)
class Matrix:
    ops: list[str]
    dtypes: list[str]
    properties: list[str]
    rows: list[MatrixRow]


@dataclass(frozen=True)
class CauseGroup:
    """Results with the same cause, with the smallest reproducer among them."""

    id: str
    status: str
    label: str
    headline: str
    whole_message: str | None
    count: int
    members: list[str]
    reproducer: str | None
    reproducer_of: str
    native_reproducer: str | None
    native_of: str | None
    framework: str | None
    blob: str | None
    reason: str | None


@dataclass(frozen=True)
class RecordRow:
    id: str | None  # the anchor of the first row of each property
    record: Record
    status: str
    label: str
    headline: str


@dataclass(frozen=True)
class RecordTable:
    adapter: str
    id: str
    rows: list[RecordRow]


@dataclass(frozen=True)
class AccuracyCell:
    error: str
    bound: str
    over: bool
    ratio: str
    status: str


@dataclass(frozen=True)
class AccuracyRow:
    adapter: str
    op: str
    dtype: str
    cells: list[AccuracyCell | None]
    first: bool  # the adapter's first row


@dataclass(frozen=True)
class Accuracy:
    properties: list[str]
    rows: list[AccuracyRow]


@dataclass(frozen=True)
class BitwiseCell:
    text: str
    kind: str  # "same", "other" or "none"
    failed: bool
    title: str


@dataclass(frozen=True)
class BitwiseRow:
    op: str
    dtype: str
    cells: list[BitwiseCell | None]


@dataclass(frozen=True)
class BitwiseTable:
    adapter: str
    id: str
    promised: str
    rows: list[BitwiseRow]


@dataclass(frozen=True)
class AgreementCell:
    text: str
    cls: str  # "diag", "none", "zero" or "nonzero"


@dataclass(frozen=True)
class AgreementRow:
    adapter: str
    cells: list[AgreementCell]


@dataclass(frozen=True)
class AgreementTable:
    op: str
    dtype: str
    quantity: str
    adapters: list[str]
    rows: list[AgreementRow]


@dataclass(frozen=True)
class BehaviourRow:
    input: str
    quantity: str
    outcomes: list[str | None]  # per adapter; None: it has no outcome there
    disagree: bool


@dataclass(frozen=True)
class Behaviour:
    adapters: list[str]
    rows: list[BehaviourRow]


@dataclass(frozen=True)
class VersionCell:
    status: str
    label: str
    error: str | None
    bound: str
    ratio: str
    change: str | None
    change_class: str
    title: str


@dataclass(frozen=True)
class VersionRow:
    label: str
    cells: list[VersionCell | None]
    changed: bool


@dataclass(frozen=True)
class VersionBitsCell:
    """One bit-for-bit fact in one version, as the bit-for-bit table shows it, with the change
    from the version before (:mod:`conformance.results.bitwise_versions`)."""

    fact: BitwiseCell
    change: str | None
    change_class: str


@dataclass(frozen=True)
class VersionBitsRow:
    label: str  # "batch-invariant · softmax · float32", the adapter first when there are several
    cells: list[VersionBitsCell | None]
    changed: bool


@dataclass(frozen=True)
class VersionStep:
    version: str
    words: str


@dataclass(frozen=True)
class VersionChangeLine:
    kind: str
    mark: str
    text: str
    regression: bool


@dataclass(frozen=True)
class VersionView:
    framework: str
    id: str
    adapters: list[str]
    versions: list[str]
    rows: list[VersionRow]
    changes: list[VersionChangeLine]
    per_version: list[VersionStep]
    newest_regression: str | None
    bits: list[VersionBitsRow]  # the bit-for-bit facts in each version; empty where none ran
    bits_changes: list[VersionChangeLine]


@dataclass(frozen=True)
class RunRow:
    number: int
    python: str
    platform: str
    profile: str
    seed: str
    timestamp: str
    duration: str
    frameworks: str
    results: int
    coverage: str | None


@dataclass(frozen=True)
class AdapterRow:
    adapter: str
    spec: str
    framework: str
    device: str
    missing: list[str]
    provided: list[str]


@dataclass(frozen=True)
class FactRow:
    owner: str
    fact: str
    value: str


@dataclass(frozen=True)
class EnvironmentView:
    runs: list[RunRow]
    adapters: list[AdapterRow]
    frameworks: dict[str, str]
    facts: list[FactRow]
    divergence_files: list[str]


@dataclass(frozen=True)
class SummaryContext:
    """What the Markdown summary shows, and the top of the page."""

    verdict: GateVerdict
    reasons: list[str]
    matrix: Matrix
    failures: list[CauseGroup]


@dataclass(frozen=True)
class ReportContext(SummaryContext):
    """Everything the page shows."""

    title: str
    record_count: int
    known: list[CauseGroup]
    records: list[RecordTable]
    accuracy: Accuracy
    bitwise: list[BitwiseTable]
    bitwise_headings: list[str]
    plot_svg: str | None
    agreement: list[AgreementTable]
    behaviour: Behaviour | None
    environment: EnvironmentView
    versions: list[VersionView]
    version_problems: list[str]
    run_count: int
    timestamp: str
