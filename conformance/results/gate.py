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

Baseline format: a *summary* made by :func:`make_baseline` (a full results document is
accepted as well and summarised on the fly)::

    {
      "baseline_version": 1,
      "frameworks": {"torch": "2.13.0", "jax": "0.4.35"},
      "results": [
        {"framework": "torch", "adapter": "torch", "property": "forward_accuracy",
         "op": "softmax", "dtype": "float32", "status": "passed"},
        ...
      ]
    }

One entry per record identity (adapter, property, op, dtype); when the documents hold the
same identity several times (one run per Python version), the worst status is kept
(error > failed > xfailed > passed > skipped).
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema

from conformance.checks.headlines import headline
from conformance.results import divergences as divergences_module
from conformance.results.divergences import Divergence
from conformance.results.documents import (
    ResultsFileError,
    document_from,
    documents_from,
    one_line,
    read_json,
    schema_problem,
    write_atomic,
)
from conformance.results.merge import merge
from conformance.results.records import RAN, Document, Record, RecordKey, nothing_checked, worst_per_key, worst_status
from conformance.results.versions import Change, VersionTable, regression_summary, version_of_record, version_tables

MAX_LINES_PER_KIND = 25
HEADLINE_LIMIT = 140  # characters of a failure's headline in a line of the verdict

BASELINE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["baseline_version", "results"],
    "properties": {
        "baseline_version": {"const": 1},
        "frameworks": {"type": "object", "additionalProperties": {"type": "string"}},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["adapter", "property", "op", "dtype", "status"],
                "properties": {
                    "framework": {"type": ["string", "null"]},
                    "adapter": {"type": "string"},
                    "property": {"type": "string"},
                    "op": {"type": "string"},
                    "dtype": {"type": "string"},
                    "status": {"enum": ["passed", "failed", "error", "skipped", "xfailed"]},
                },
            },
        },
    },
}


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
        parts.append(_count(sum(record.status == "xfailed" for record in results), "known divergence"))
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
# the baseline


def _summary_from(value: Mapping[str, Any], source: str) -> dict[str, Any]:
    if "schema_version" in value:
        return make_baseline([document_from(value, source)])
    problem = schema_problem(value, jsonschema.Draft202012Validator(BASELINE_SCHEMA))
    if problem is not None:
        raise ResultsFileError(f"{source}: not a valid baseline: {problem}")
    return dict(value)


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A baseline summary read from ``path`` (a summary or a full results document).
    Raises ResultsFileError, one line, when it is unusable."""
    value = read_json(Path(path), "baseline")
    if not isinstance(value, dict):
        raise ResultsFileError(f"{path}: not a baseline: the top level is a JSON {type(value).__name__}")
    return _summary_from(value, str(path))


def make_baseline(documents: Sequence[Document | Mapping[str, Any]]) -> dict[str, Any]:
    """The baseline summary of ``documents`` (format in the module docstring), sorted."""
    merged = merge(documents_from(documents))
    statuses: dict[RecordKey, list[str]] = {}
    frameworks: dict[RecordKey, str | None] = {}
    for record in merged.results:
        statuses.setdefault(record.key, []).append(record.status)
        frameworks.setdefault(record.key, record.framework)
    results = [
        {
            "framework": frameworks[key],
            "adapter": key[0],
            "property": key[1],
            "op": key[2],
            "dtype": key[3],
            "status": worst_status(found),
        }
        for key, found in sorted(statuses.items())
    ]
    return {"baseline_version": 1, "frameworks": merged.metadata["frameworks"], "results": results}


def save_baseline(baseline: Mapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a baseline summary as JSON, atomically."""
    write_atomic(path, json.dumps(baseline, indent=1, sort_keys=True) + "\n")


# ---------------------------------------------------------------------------------------------
# the verdict


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
            versions = {str(k): str(v) for k, v in (document.metadata.get("frameworks") or {}).items()}
            environment = document.metadata.get("environment") or {}
            own = divergences_module.apply(own, divergences, versions, environment)
            found = divergences_module.audit(own, divergences, versions, environment)
            runs.append((versions, own))
        else:
            found = [str(problem) for problem in document.metadata.get("divergence_problems") or []]
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


def _capped(kind: str, items: list[str]) -> list[str]:
    lines = [f"{kind} {item}" for item in items[:MAX_LINES_PER_KIND]]
    if len(items) > MAX_LINES_PER_KIND:
        lines.append(f"{kind} ... and {len(items) - MAX_LINES_PER_KIND} more")
    return lines


def evaluate(
    documents: Sequence[Document | Mapping[str, Any]],
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
) -> GateVerdict:
    """The gate's verdict on ``documents`` (see the module docstring for what fails).

    ``baseline``: a summary from :func:`make_baseline`/:func:`load_baseline` or a full
    results document; ``expect``: framework names that must have results; ``divergences``:
    entries to apply and audit (None: use the statuses and divergence problems the runs recorded).
    """
    documents = documents_from(documents)
    records, problems = explain(documents, divergences)
    summary = None if baseline is None else _summary_from(baseline, "baseline")

    by_key: dict[RecordKey, list[Record]] = {}
    for record in records:
        by_key.setdefault(record.key, []).append(record)
    current = {key: worst_status(r.status for r in found) for key, found in by_key.items()}

    base: dict[RecordKey, tuple[str, str | None]] = {}
    if summary is not None:
        for entry in summary["results"]:
            key = (str(entry["adapter"]), str(entry["property"]), str(entry["op"]), str(entry["dtype"]))
            base[key] = (str(entry["status"]), entry.get("framework"))

    # frameworks with results now (at least one record that ran)
    present = {r.framework for r in records if r.ran}
    expected: dict[str, str] = {}
    for name in expect or []:
        name = name.strip()
        if name:
            expected.setdefault(name, "expected")
    for status, framework in base.values():
        if framework is not None and status in RAN:
            expected.setdefault(framework, "in the baseline")
    missing_frameworks = [
        f"framework {name}: no results ({why})" for name, why in expected.items() if name not in present
    ]
    absent = {name for name in expected if name not in present}

    # A version matrix: each version is the baseline of the next. An unexplained new failure
    # from one version to the next is a regression, listed under the versions it came between.
    tables = version_tables(documents, records)
    version_regressions = [change for table in tables for change in table.regressions]
    by_version_key: dict[RecordKey, list[Change]] = {}
    for change in version_regressions:
        by_version_key.setdefault(change.key, []).append(change)

    unexplained: list[str] = []
    failing_keys: list[RecordKey] = []  # the key of each line of ``unexplained``
    regressed: list[str] = []
    for key, found in by_key.items():
        bad = [r for r in found if r.failing]
        if not bad:
            continue
        failing_keys.append(key)
        worst = next(r for r in found if r.status == worst_status(r.status for r in bad))
        was = base.get(key, (None, None))[0]
        text = f"{worst.describe()}: {worst.status}: {one_line(headline(worst.message), HEADLINE_LIMIT)}"
        if was is not None:
            text += f" (baseline: {was})"
        unexplained.append(text)
        if was == "passed":
            regressed.append(text)
        for change in by_version_key.get(key, []):
            after = [r for r in found if r.failing and version_of_record(documents, r) == change.after]
            message = one_line(headline(after[0].message), HEADLINE_LIMIT) if after else ""
            regressed.append(f"{change.describe()}: {message}" if message else change.describe())

    newly_passing: list[str] = []
    now_xfailed: list[str] = []
    missing_groups: dict[tuple[str | None, str], list[RecordKey]] = {}
    baseline_counts: dict[tuple[str | None, str], int] = {}
    for key, (was, framework) in base.items():
        now = current.get(key)
        if was in ("failed", "error", "xfailed") and now == "passed":
            newly_passing.append(f"{key[0]} {key[1]} ({key[2]}, {key[3]}) (baseline: {was})")
        if was == "passed" and now == "xfailed":
            now_xfailed.append(f"{key[0]} {key[1]} ({key[2]}, {key[3]})")
        if was in RAN:
            group = (framework, key[1])
            baseline_counts[group] = baseline_counts.get(group, 0) + 1
            if now not in RAN and framework not in absent:
                missing_groups.setdefault(group, []).append(key)
    missing_results: list[str] = []
    missing_lines: list[str] = []
    for (framework, prop), keys in missing_groups.items():
        total = baseline_counts[(framework, prop)]
        names = [f"{k[0]} ({k[2]}, {k[3]})" for k in keys]
        missing_results.extend(f"{k[0]} {k[1]} ({k[2]}, {k[3]})" for k in keys)
        shown = ", ".join(names[:6]) + (f", ... {len(names) - 6} more" if len(names) > 6 else "")
        label = framework if framework is not None else "user adapters"
        missing_lines.append(f"{label} {prop}: {total - len(keys)} of {total} baseline results; missing {shown}")

    missing_adapters = [
        f"adapter {record.spec}: asked for, but no property ran on it"
        for document in documents
        for record in nothing_checked(document.metadata.get("requested") or [], document.results)
    ]
    missing_frameworks += missing_adapters
    passed = not (unexplained or missing_frameworks or missing_results or problems)
    regressed_set = set(regressed)
    # a result that regressed between versions is listed there, not again as a failure
    listed = {text for key, text in zip(failing_keys, unexplained) if key in by_version_key}
    lines = [
        *_capped("REGRESSED", regressed),
        *_capped("FAILED", [line for line in unexplained if line not in regressed_set and line not in listed]),
        *_capped("MISSING", missing_frameworks),
        *_capped("MISSING", missing_lines),
        *_capped("DIVERGENCE", problems),
        *_capped("NEWLY PASSES", newly_passing),
        *_capped("NOW XFAILED", now_xfailed),
    ]
    return GateVerdict(
        passed=passed,
        lines=lines,
        unexplained=unexplained,
        regressed=regressed,
        newly_passing=newly_passing,
        missing_frameworks=missing_frameworks,
        missing_results=missing_results,
        divergence_problems=problems,
        baseline_used=summary is not None,
        records=records,
        version_tables=tables,
        version_regressions=version_regressions,
    )
