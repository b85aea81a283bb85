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
``versions-<framework>``), ``accuracy``, ``bitwise`` (bit for bit: one table per adapter,
``bitwise-<adapter>``), ``plots``, ``agreement``, ``behaviour``, ``environment``, ``records`` (one
table per adapter, rows ``r-<adapter>-<property>``).
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
from typing import Any

import jinja2
from markupsafe import Markup

from conformance.checks.headlines import headline
from conformance.inputs.covering import coverage_line
from conformance.presentation import plots
from conformance.results import bitwise
from conformance.results import gate as gate_module
from conformance.results.divergences import RANGE_PROBLEM, Divergence
from conformance.results.documents import documents_from, one_line, write_atomic
from conformance.results.environment import describe as describe_fact
from conformance.results.merge import framework_versions, merge
from conformance.results.records import BADNESS, Document, Record, worst_per_key
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
    "not-provided": 0,
    "not-supported": 0.25,
    "skipped": 0.5,
    **{k: v for k, v in BADNESS.items() if k != "skipped"},
}


def display_status(record: Record) -> str:
    if record.status == "skipped" and record.not_provided:
        return "not-provided"
    if record.status == "skipped" and record.not_supported:
        return "not-supported"
    return record.status


def fmt_number(value: Any, digits: int = 3) -> str:
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


def fmt_duration(seconds: Any) -> str:
    if not isinstance(seconds, (int, float)) or isinstance(seconds, bool):
        return "—"
    if seconds < 60:
        return f"{seconds:.1f} s"
    minutes, rest = divmod(round(seconds), 60)
    return f"{minutes} min {rest:02d} s"


def wbr(text: Any) -> Markup:
    """Escaped text with a line-break opportunity after each underscore (long property names)."""
    return Markup.escape(str(text)).replace("_", Markup("_<wbr>"))


def _rank(value: str, order: Sequence[str]) -> tuple[int, str]:
    return (order.index(value), "") if value in order else (len(order), value)


def _ordered(values: Iterable[str], order: Sequence[str]) -> list[str]:
    return sorted(dict.fromkeys(values), key=lambda v: _rank(v, order))


def _ratio(error: Any, bound: Any) -> float | None:
    if isinstance(error, (int, float)) and isinstance(bound, (int, float)) and bound:
        return float(error) / float(bound)
    return None


# ---------------------------------------------------------------------------------------------
# view models


def _slug(*parts: Any) -> str:
    """An id fragment from arbitrary names (adapter names come from users)."""
    return "-".join(re.sub(r"[^A-Za-z0-9_.-]+", "_", str(part)) for part in parts)


def _matrix(records: list[Record], adapters: list[str], verdict: gate_module.GateVerdict) -> dict[str, Any]:
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
        cells: list[dict[str, Any] | None] = []
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
                {
                    "worst": worst,
                    "words": words,
                    "title": f"{adapter} · {prop}: {where}",
                    "href": f"#r-{_slug(adapter, prop)}",
                    "squares": [
                        [{"status": status, "label": f"{op} {dtype}"} for status, dtype in zip(line, dtypes)]
                        for line, op in zip(squares, ops)
                    ],
                }
            )
        rows.append({"adapter": adapter, "conforms": verdict.conforms(adapter), "cells": cells})
    return {"ops": ops, "dtypes": dtypes, "properties": properties, "rows": rows}


_LOCATION = re.compile(r"\s*\[[^\[\]]*\]\s*(;|$)")  # "[torch softmax axis=1 float32]"
_INDEX = re.compile(r"\[[-\d, ]*\]")  # "vjp[2, 1]"
_NUMBER = re.compile(r"(?<![A-Za-z_])[-+]?(\d+\.?\d*|\.\d+)(e[-+]?\d+)?")


def cause(record: Record) -> str:
    """What a failure says, without where it happened (adapter, op, axis, dtype, element)
    or its numbers: records with the same cause are one group."""
    text = _LOCATION.sub(r"\1", headline(record.message))
    return _NUMBER.sub("#", _INDEX.sub("[…]", text)).strip()


def _groups(records: list[Record], statuses: tuple[str, ...], prefix: str) -> list[dict[str, Any]]:
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
            {
                "id": f"{prefix}-{number}",
                "status": display_status(smallest),
                "label": LABELS[display_status(smallest)],
                "headline": headline(smallest.message),
                "whole_message": _whole_message(smallest.message),
                "count": len(members),
                "members": [_describe(r) for r in members],
                "reproducer": smallest.reproducer,
                "reproducer_of": _describe(smallest),
                "native_reproducer": native.native_reproducer if native else None,
                "native_of": _describe(native) if native else None,
                "framework": native.framework if native else None,
                "blob": smallest.hypothesis_blob,
                "reason": smallest.xfail_reason,
            }
        )
    return out


def _whole_message(message: str) -> str | None:
    """``message`` when its headline leaves something out (a framework's full error text, a
    hint), to show beneath the headline; None when the headline says it all."""
    text = message.strip()
    return text if " ".join(text.split()) != headline(text) else None


def _describe(record: Record) -> str:
    return " · ".join(record.key)


def _records_by_adapter(records: list[Record], adapters: list[str]) -> list[dict[str, Any]]:
    """Every record, one table per adapter, sorted by property, op and dtype."""
    out = []
    for adapter in adapters:
        own = [r for r in records if r.adapter == adapter]
        own.sort(key=lambda r: (r.property, _rank(r.op, OP_ORDER), _rank(r.dtype, DTYPE_NAMES)))
        rows, seen = [], set()
        for record in own:
            anchor = f"r-{_slug(adapter, record.property)}"
            rows.append(
                {
                    "id": anchor if anchor not in seen else None,
                    "record": record,
                    "status": display_status(record),
                    "label": LABELS[display_status(record)],
                    "headline": headline(record.message) or headline(record.xfail_reason),
                }
            )
            seen.add(anchor)
        out.append({"adapter": adapter, "id": f"records-{_slug(adapter)}", "rows": rows})
    return out


def _accuracy(records: list[Record], adapters: list[str]) -> dict[str, Any]:
    measured = [r for r in records if r.max_error_ulp is not None]
    properties = list(dict.fromkeys(r.property for r in measured))
    table: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for record in measured:
        row_key = (record.adapter, record.op, record.dtype)
        cell = table.setdefault(row_key, {}).get(record.property)
        error = float(record.max_error_ulp or 0.0)
        if cell is None or error > cell["error"]:
            table[row_key][record.property] = {
                "error": error,
                "bound": record.bound_ulp,
                "ratio": _ratio(error, record.bound_ulp),
                "status": display_status(record),
            }
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
                row: list[dict[str, Any] | None] = []
                for prop in properties:
                    cell = cells.get(prop)
                    if cell is None:
                        row.append(None)
                        continue
                    ratio = cell["ratio"]
                    row.append(
                        {
                            "error": fmt_number(cell["error"]),
                            "bound": fmt_number(cell["bound"]),
                            "over": ratio is not None and ratio > 1,
                            "ratio": "" if ratio is None else fmt_number(ratio, 2),
                            "status": cell["status"],
                        }
                    )
                rows.append({"adapter": adapter, "op": op, "dtype": dtype, "cells": row, "first": first})
                first = False
    return {"properties": properties, "rows": rows}


def _bitwise(records: list[Record]) -> list[dict[str, Any]]:
    """The bit-for-bit table of each adapter (:mod:`conformance.results.bitwise`): per op and
    dtype, each aspect's verdict, where the bits first changed and by how many ulps at most."""
    out = []
    for table in bitwise.tables(records):
        rows = []
        for row in bitwise.row_order(table.rows):
            cells: list[dict[str, Any] | None] = []
            for cell in row.cells:
                if cell is None:
                    cells.append(None)
                    continue
                finding = cell.finding
                measured = cell.verdict in (bitwise.SAME, bitwise.OTHER) and finding is not None
                cells.append(
                    {
                        "text": cell.short(),
                        "kind": {bitwise.SAME: "same", bitwise.OTHER: "other"}.get(cell.verdict, "none"),
                        "failed": cell.status in ("failed", "error"),
                        "title": finding.describe() if measured and finding is not None else cell.verdict,
                    }
                )
            rows.append({"op": row.op, "dtype": row.dtype, "cells": cells})
        out.append(
            {
                "adapter": table.adapter,
                "id": f"bitwise-{_slug(table.adapter)}",
                "promised": ", ".join(table.promised) or "nothing",
                "rows": rows,
            }
        )
    return out


def _agreement(entries: list[Any]) -> list[dict[str, Any]]:
    """Pairwise tables, one per (op, dtype, quantity): adapters x adapters -> max |a - b|."""
    groups: dict[tuple[str, str, str], dict[tuple[str, str], Any]] = {}
    names: dict[tuple[str, str, str], list[str]] = {}
    for entry in entries:
        if not isinstance(entry, dict) or "a" not in entry or "b" not in entry:
            continue
        key = (str(entry.get("op", "")), str(entry.get("dtype", "")), str(entry.get("quantity", "")))
        a, b = str(entry["a"]), str(entry["b"])
        order = names.setdefault(key, [])
        order.extend(name for name in (a, b) if name not in order)
        value = entry.get("max_abs_diff")
        pairs = groups.setdefault(key, {})
        for pair in ((a, b), (b, a)):
            old = pairs.get(pair)
            if old is None or (isinstance(value, (int, float)) and isinstance(old, (int, float)) and value > old):
                pairs[pair] = value
    tables = []
    for key in sorted(groups, key=lambda k: (_rank(k[0], OP_ORDER), _rank(k[1], DTYPE_NAMES), k[2])):
        order = names[key]
        rows = []
        for a in order:
            cells = []
            for b in order:
                if a == b:
                    cells.append({"text": "·", "cls": "diag"})
                    continue
                value = groups[key].get((a, b))
                cls = "none" if value is None else ("zero" if value == 0 else "nonzero")
                cells.append({"text": "—" if value is None else fmt_number(value), "cls": cls})
            rows.append({"adapter": a, "cells": cells})
        tables.append({"op": key[0], "dtype": key[1], "quantity": key[2], "adapters": order, "rows": rows})
    return tables


def _behaviour(entries: list[Any]) -> dict[str, Any] | None:
    """inputs (x quantity) x adapters -> outcome; rows where adapters disagree are marked."""
    cells: dict[tuple[str, str], dict[str, str]] = {}
    adapters: list[str] = []
    for entry in entries:
        if not isinstance(entry, dict) or "adapter" not in entry:
            continue
        adapter = str(entry["adapter"])
        if adapter not in adapters:
            adapters.append(adapter)
        row = (str(entry.get("input", "")), str(entry.get("quantity", "")))
        cells.setdefault(row, {})[adapter] = str(entry.get("outcome", ""))
    if not cells:
        return None
    rows = []
    for (inp, quantity), outcomes in cells.items():
        rows.append(
            {
                "input": inp,
                "quantity": quantity,
                "outcomes": [outcomes.get(adapter) for adapter in adapters],
                "disagree": len(set(outcomes.values())) > 1,
            }
        )
    return {"adapters": adapters, "rows": rows}


_CHANGE_CLASS = {"new failure": "ch-new", "fix": "ch-fix", "error moved": "ch-moved"}


def _versions(verdict: gate_module.GateVerdict) -> list[dict[str, Any]]:
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
            cells: list[dict[str, Any] | None] = []
            for cell, change in zip(row.cells, row.changes):
                if cell is None:
                    cells.append(None)
                    continue
                status = "not-provided" if cell.status == "skipped" else cell.status
                ratio = _ratio(cell.max_error_ulp, cell.bound_ulp)
                cells.append(
                    {
                        "status": status,
                        "label": LABELS[status],
                        "error": None if cell.max_error_ulp is None else fmt_number(cell.max_error_ulp),
                        "bound": fmt_number(cell.bound_ulp),
                        "ratio": "" if ratio is None else fmt_number(ratio, 2),
                        "change": None if change is None else change.mark,
                        "change_class": ""
                        if change is None
                        else _CHANGE_CLASS[change.kind] + (" ch-known" if change.explained else ""),
                        "title": one_line(headline(cell.message or cell.xfail_reason), 300),
                    }
                )
            label = f"{prop} · {op} · {dtype}" if len(adapters) == 1 else f"{adapter} · {prop} · {op} · {dtype}"
            rows.append({"label": label, "cells": cells, "changed": row.changed})
        per_version = []
        for version in table.versions[1:]:
            counts = table.counts(version)
            words = ", ".join(
                f"{n} {kind}{'s' if n != 1 and kind != 'error moved' else ''}" for kind, n in counts.items()
            )
            per_version.append({"version": version, "words": words or "no change"})
        out.append(
            {
                "framework": table.framework,
                "id": f"versions-{_slug(table.framework)}",
                "adapters": adapters,
                "versions": list(table.versions),
                "rows": rows,
                "changes": [
                    {
                        "kind": change.kind,
                        "mark": change.mark,
                        "text": change.describe(),
                        "regression": change.regression,
                    }
                    for change in table.changes
                ],
                "per_version": per_version,
                "newest_regression": table.newest_regression,
            }
        )
    return out


def _environment(documents: Sequence[Document]) -> dict[str, Any]:
    runs = []
    for number, document in enumerate(documents, start=1):
        meta = document.metadata
        runs.append(
            {
                "number": number,
                "python": meta.get("python", "—"),
                "platform": meta.get("platform", "—"),
                "profile": meta.get("profile", "—"),
                "seed": "derandomized" if meta.get("seed") is None else meta.get("seed"),
                "timestamp": meta.get("timestamp", "—"),
                "duration": fmt_duration(meta.get("duration_s")),
                "frameworks": ", ".join(f"{k} {v}" for k, v in (meta.get("frameworks") or {}).items()) or "—",
                "results": len(document.results),
                "coverage": coverage_line(meta["coverage"]) if meta.get("coverage") else None,
            }
        )
    adapters: dict[str, dict[str, Any]] = {}
    for document in documents:
        for entry in document.metadata.get("adapters") or []:
            if not isinstance(entry, dict):
                continue
            name = str(entry.get("adapter"))
            if name in adapters:
                continue
            capabilities = entry.get("capabilities") or {}
            adapters[name] = {
                "adapter": name,
                "spec": entry.get("spec", ""),
                "framework": entry.get("framework") or "user adapter",
                "device": entry.get("device") or "—",
                "missing": [k for k, v in capabilities.items() if not v],
                "provided": [k for k, v in capabilities.items() if v],
            }
    versions = {name: " | ".join(found) for name, found in framework_versions(documents).items()}
    used = (name for document in documents for name in document.metadata.get("divergence_files") or [])
    files = list(dict.fromkeys(used))
    return {
        "runs": runs,
        "adapters": list(adapters.values()),
        "frameworks": versions,
        "facts": _facts(documents),
        "divergence_files": files,
    }


def _facts(documents: Sequence[Document]) -> list[dict[str, Any]]:
    """The environment each run recorded, one row per fact of the machine or a framework
    (runs that agree on a fact show it once; runs that differ, each value with its run)."""
    found: dict[tuple[str, str], dict[str, list[int]]] = {}
    for number, document in enumerate(documents, start=1):
        for owner, facts in (document.metadata.get("environment") or {}).items():
            for name, fact in facts.items():
                found.setdefault((owner, name), {}).setdefault(describe_fact(fact), []).append(number)
    rows = []
    for (owner, name), values in found.items():
        if len(values) == 1:
            [value] = values
        else:
            value = "; ".join(f"{text} (run {', '.join(map(str, runs))})" for text, runs in values.items())
        rows.append({"owner": owner, "fact": name, "value": value})
    return rows


def summary_context(
    documents: Sequence[Document | Mapping[str, Any]],
    *,
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
) -> dict[str, Any]:
    """What the Markdown summary shows, and the top of the page: the verdict, the matrix and
    the unexplained failures."""
    documents = documents_from(documents)
    verdict = gate_module.evaluate(documents, baseline, list(expect) if expect is not None else None, divergences)
    records = verdict.records
    return {
        "verdict": verdict,
        "reasons": verdict.reasons,
        "matrix": _matrix(records, verdict.adapters, verdict),
        "failures": _groups(records, ("failed", "error"), "g"),
    }


def build_context(
    documents: Sequence[Document | Mapping[str, Any]],
    *,
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Everything the page shows (the summary's context and the rest), computed once."""
    documents = documents_from(documents)
    context = summary_context(documents, baseline=baseline, expect=expect, divergences=divergences)
    verdict = context["verdict"]
    records = verdict.records
    adapters = verdict.adapters
    metadata = merge(documents).metadata
    agreement = metadata.get("agreement") or []
    behaviour = metadata.get("behaviour") or []
    return {
        **context,
        "title": title or "softmax conformance report",
        "record_count": len(records),
        "known": _groups(records, ("xfailed",), "k"),
        "records": _records_by_adapter(records, adapters),
        "accuracy": _accuracy(records, adapters),
        "bitwise": _bitwise(records),
        "bitwise_headings": [bitwise.HEADINGS[aspect] for aspect in bitwise.ASPECTS],
        "plot_svg": plots.error_ratio_svg(records, adapters),
        "agreement": _agreement(agreement if isinstance(agreement, list) else []),
        "behaviour": _behaviour(behaviour if isinstance(behaviour, list) else []),
        "environment": _environment(documents),
        "versions": _versions(verdict),
        "version_problems": [line for line in verdict.divergence_problems if f": {RANGE_PROBLEM} " in line],
        "run_count": len(documents),
        "timestamp": metadata.get("timestamp", ""),
    }


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
    documents: Sequence[Document | Mapping[str, Any]],
    *,
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> str:
    """The report page as a string (see :func:`write_html`)."""
    if not documents:
        raise ValueError("render_html needs at least one results document")
    return html_from(build_context(documents, baseline=baseline, expect=expect, divergences=divergences, title=title))


def html_from(context: Mapping[str, Any]) -> str:
    """The page for a :func:`build_context` context."""
    page = dict(context)
    plot = page.pop("plot_svg")
    # the SVG comes from matplotlib, which escapes text; it and the script are the only unescaped insertions
    page["plot_svg"] = None if plot is None else Markup(plot)
    page["script"] = Markup(SCRIPT)
    page["script_hash"] = Markup(_script_hash(SCRIPT))  # quotes and base64 only
    return _environment_jinja().get_template("report.html").render(**page)


def write_html(
    documents: Sequence[Document | Mapping[str, Any]],
    path: str | os.PathLike[str],
    *,
    baseline: Mapping[str, Any] | None = None,
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
    documents: Sequence[Document | Mapping[str, Any]],
    *,
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
) -> str:
    """The verdict, a properties x adapters table of symbols, and each group of unexplained
    failures with its reproducer folded."""
    return markdown_from(summary_context(documents, baseline=baseline, expect=expect, divergences=divergences))


def markdown_from(context: Mapping[str, Any]) -> str:
    """The Markdown summary for a :func:`summary_context` (or :func:`build_context`) context."""
    verdict, matrix = context["verdict"], context["matrix"]
    adapters = [row["adapter"] for row in matrix["rows"]]
    lines = [
        f"## Softmax conformance: {'PASS' if verdict.passed else 'FAIL'}",
        "",
        _markdown_text(verdict.sentence),
        "",
        "| property | " + " | ".join(_markdown_text(a) for a in adapters) + " |",
        "|---|" + "---|" * len(adapters),
    ]
    for column, prop in enumerate(matrix["properties"]):
        cells = [row["cells"][column] for row in matrix["rows"]]
        symbols = [SYMBOLS.get(cell["worst"], "·") if cell else " " for cell in cells]
        lines.append(f"| {prop} | " + " | ".join(symbols) + " |")
    lines += ["", "✅ passed · ❌ failed · 💥 error · ⚠️ known divergence · `·` skipped or not provided", ""]
    if context["failures"]:
        lines += ["### Unexplained failures", ""]
        for group in context["failures"]:
            lines += [
                "<details>",
                f"<summary>{_markdown_text(group['headline'])} ({group['count']}: "
                f"{_markdown_text(', '.join(group['members'][:4]))}{', …' if group['count'] > 4 else ''})</summary>",
                "",
            ]
            if group["reproducer"]:
                lines += [
                    f"Reproducer ({_markdown_text(group['reproducer_of'])}):",
                    "",
                    "```python",
                    group["reproducer"],
                    "```",
                ]
            if group["native_reproducer"]:
                lines += [
                    f"The smallest in {_markdown_text(group['framework'])}'s own API "
                    f"({_markdown_text(group['native_of'])}), without this suite:",
                    "",
                    "```python",
                    group["native_reproducer"],
                    "```",
                ]
            lines += ["</details>", ""]
    if context["reasons"]:
        lines += ["### The gate also says", ""] + [f"- {_markdown_text(line)}" for line in context["reasons"]] + [""]
    return "\n".join(lines)


def _markdown_text(text: Any) -> str:
    """``text`` safe inside a Markdown table or a <summary>: HTML escaped, pipes and newlines neutral."""
    return html.escape(str(text)).replace("|", "\\|").replace("\n", " ")
