"""One self-contained HTML report from one or more results documents.

Everything is inline (CSS, the SVG pictures); the page loads nothing and runs no script,
and a Content-Security-Policy forbids both, so even a string that escaped escaping could
not act. Every string from adapters, exceptions and metadata goes through Jinja2's
autoescaping.

Sections (stable ids for tests and links): ``gate-verdict``, ``divergence-problems``,
``totals``, ``summary-matrix`` (tables ``summary-<dtype>[-<op>]``), ``failures``
(``<details class="failure">`` each, id ``f-<n>``), ``accuracy``, ``plots``,
``agreement``, ``behaviour``, ``environment``.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from conformance.presentation import plots
from conformance.results import gate as gate_module
from conformance.results.divergences import Divergence
from conformance.results.merge import BADNESS, framework_versions, merge, record_framework
from conformance.results.records import write_atomic

TEMPLATES = Path(__file__).with_name("templates")
DTYPE_ORDER = ("float16", "bfloat16", "float32", "float64")
OP_ORDER = ("softmax", "log_softmax", "any")
# display status -> the word in the cell; the colour comes from the CSS class st-<status>
LABELS = {
    "passed": "passed",
    "failed": "FAILED",
    "error": "error",
    "xfailed": "xfailed",
    "skipped": "skipped",
    "not-provided": "not provided",
}
DISPLAY_BADNESS = {"not-provided": 0, "skipped": 0.5, **{k: v for k, v in BADNESS.items() if k != "skipped"}}


def display_status(record: Mapping[str, Any]) -> str:
    status = str(record.get("status", ""))
    if status == "skipped" and record.get("not_provided"):
        return "not-provided"
    return status if status in LABELS else "error"


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


def _first_line(text: Any) -> str:
    lines = str(text or "").strip().splitlines()
    return lines[0] if lines else ""


def _ratio(error: Any, bound: Any) -> float | None:
    if isinstance(error, (int, float)) and isinstance(bound, (int, float)) and bound:
        return float(error) / float(bound)
    return None


# ---------------------------------------------------------------------------------------------
# view models


def _failures(records: list[dict[str, Any]], adapter_order: list[str]) -> list[dict[str, Any]]:
    chosen = [r for r in records if r.get("status") in ("failed", "error", "xfailed")]
    rank = {"error": 0, "failed": 0, "xfailed": 1}
    chosen.sort(key=lambda r: (rank[str(r["status"])], adapter_order.index(str(r.get("adapter", "")))))
    out = []
    for number, record in enumerate(chosen, start=1):
        worst = record.get("worst") if isinstance(record.get("worst"), dict) else None
        worst_rows: list[tuple[str, str]] = []
        if worst:
            if "quantity" in worst:
                worst_rows.append(("quantity", str(worst["quantity"])))
            if "index" in worst:
                worst_rows.append(("index", "(" + ", ".join(str(i) for i in worst["index"] or []) + ")"))
            worst_rows.append(("value", fmt_number(worst.get("value"), 8)))
            worst_rows.append(("oracle", fmt_number(worst.get("expected"), 8)))
            worst_rows.append(("error", f"{fmt_number(worst.get('error_ulp'))} ulp"))
            worst_rows.append(("bound", f"{fmt_number(worst.get('bound_ulp'))} ulp"))
            ratio = _ratio(worst.get("error_ulp"), worst.get("bound_ulp"))
            if ratio is not None:
                worst_rows.append(("error / bound", fmt_number(ratio)))
        record["_anchor"] = f"f-{number}"
        out.append(
            {
                "id": f"f-{number}",
                "status": display_status(record),
                "label": LABELS[display_status(record)],
                "record": record,
                "headline": _first_line(record.get("message")),
                "worst_rows": worst_rows,
            }
        )
    return out


def _summary_groups(records: list[dict[str, Any]], adapters: list[str]) -> list[dict[str, Any]]:
    dtypes = _ordered((str(r.get("dtype")) for r in records), DTYPE_ORDER)
    groups = []
    for dtype in dtypes:
        in_dtype = [r for r in records if str(r.get("dtype")) == dtype]
        ops = _ordered((str(r.get("op")) for r in in_dtype), OP_ORDER)
        for op in ops:
            in_group = [r for r in in_dtype if str(r.get("op")) == op]
            properties = list(dict.fromkeys(str(r.get("property")) for r in in_group))
            cells: dict[tuple[str, str], list[dict[str, Any]]] = {}
            for record in in_group:
                cells.setdefault((str(record.get("adapter")), str(record.get("property"))), []).append(record)
            rows = []
            for adapter in adapters:
                row_cells = []
                for prop in properties:
                    found = cells.get((adapter, prop), [])
                    row_cells.append(_cell(found) if found else None)
                if any(cell is not None for cell in row_cells):  # adapters with no result here are left out
                    rows.append({"adapter": adapter, "cells": row_cells})
            label = dtype if len(ops) == 1 else f"{dtype} · {op}"
            slug = dtype if len(ops) == 1 else f"{dtype}-{op}"
            groups.append({"label": label, "id": f"summary-{slug}", "op": op, "properties": properties, "rows": rows})
    return groups


def _cell(found: list[dict[str, Any]]) -> dict[str, Any]:
    counts: dict[str, int] = {}
    for record in found:
        counts[display_status(record)] = counts.get(display_status(record), 0) + 1
    worst = max(counts, key=lambda s: DISPLAY_BADNESS.get(s, 0))
    text = LABELS[worst] if len(found) == 1 else f"{LABELS[worst]} ×{counts[worst]}"
    detail = ", ".join(f"{n} {LABELS[s]}" for s, n in sorted(counts.items(), key=lambda kv: -DISPLAY_BADNESS[kv[0]]))
    anchor = next((r["_anchor"] for r in found if "_anchor" in r and display_status(r) == worst), None)
    tip_parts = [detail]
    reason = next((r.get("xfail_reason") for r in found if r.get("xfail_reason")), None)
    message = next(
        (_first_line(r.get("message")) for r in found if display_status(r) == worst and r.get("message")), ""
    )
    if message:
        tip_parts.append(message)
    if reason:
        tip_parts.append(f"xfail: {reason}")
    return {
        "status": worst,
        "text": text,
        "detail": detail if len(counts) > 1 else "",
        "title": " — ".join(tip_parts),
        "href": f"#{anchor}" if anchor else None,
    }


def _accuracy(records: list[dict[str, Any]], adapters: list[str]) -> dict[str, Any]:
    measured = [r for r in records if isinstance(r.get("max_error_ulp"), (int, float))]
    properties = list(dict.fromkeys(str(r.get("property")) for r in measured))
    table: dict[tuple[str, str, str], dict[str, dict[str, Any]]] = {}
    for record in measured:
        row_key = (str(record.get("adapter")), str(record.get("op")), str(record.get("dtype")))
        cell = table.setdefault(row_key, {}).get(str(record.get("property")))
        error = float(record["max_error_ulp"])
        if cell is None or error > cell["error"]:
            table[row_key][str(record.get("property"))] = {
                "error": error,
                "bound": record.get("bound_ulp"),
                "ratio": _ratio(error, record.get("bound_ulp")),
                "status": display_status(record),
            }
    rows = []
    dtypes = _ordered((k[2] for k in table), DTYPE_ORDER)
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
    for key in sorted(groups, key=lambda k: (_rank(k[0], OP_ORDER), _rank(k[1], DTYPE_ORDER), k[2])):
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


def _environment(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    runs = []
    for number, document in enumerate(documents, start=1):
        meta = document.get("metadata") or {}
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
                "results": len(document.get("results") or []),
            }
        )
    adapters: dict[str, dict[str, Any]] = {}
    for document in documents:
        for entry in (document.get("metadata") or {}).get("adapters") or []:
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
    return {"runs": runs, "adapters": list(adapters.values()), "frameworks": versions}


def build_context(
    documents: Sequence[Mapping[str, Any]],
    *,
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> dict[str, Any]:
    """Everything the template shows, computed once."""
    verdict = gate_module.evaluate(documents, baseline, list(expect) if expect is not None else None, divergences)
    records = verdict.records
    merged = merge(documents)
    adapters = list(dict.fromkeys(str(r.get("adapter")) for r in records))
    adapter_frameworks = {str(r.get("adapter")): record_framework(r) for r in records}
    failures = _failures(records, adapters)
    totals: dict[str, int] = {}
    for record in records:
        totals[display_status(record)] = totals.get(display_status(record), 0) + 1
    metadata = merged["metadata"]
    agreement = metadata.get("agreement") or []
    behaviour = metadata.get("behaviour") or []
    return {
        "title": title or "softmax conformance report",
        "verdict": verdict,
        "problems": verdict.divergence_problems,
        "totals": [(status, LABELS[status], totals[status]) for status in LABELS if status in totals],
        "record_count": len(records),
        "adapters": adapters,
        "adapter_frameworks": adapter_frameworks,
        "groups": _summary_groups(records, adapters),
        "failures": failures,
        "failure_count": sum(1 for f in failures if f["status"] in ("failed", "error")),
        "xfail_count": sum(1 for f in failures if f["status"] == "xfailed"),
        "accuracy": _accuracy(records, adapters),
        "plot_svg": plots.error_ratio_svg(records, adapters),
        "agreement": _agreement(agreement if isinstance(agreement, list) else []),
        "behaviour": _behaviour(behaviour if isinstance(behaviour, list) else []),
        "environment": _environment(documents),
        "run_count": len(documents),
        "timestamp": metadata.get("timestamp", ""),
    }


def _environment_jinja() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
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


def render_html(
    documents: Sequence[Mapping[str, Any]],
    *,
    baseline: Mapping[str, Any] | None = None,
    expect: Iterable[str] | None = None,
    divergences: Sequence[Divergence] | None = None,
    title: str | None = None,
) -> str:
    """The report page as a string (see :func:`write_html`)."""
    if not documents:
        raise ValueError("render_html needs at least one results document")
    context = build_context(documents, baseline=baseline, expect=expect, divergences=divergences, title=title)
    plot = context.pop("plot_svg")
    # the SVG comes from matplotlib, which escapes text; it is the only unescaped insertion
    context["plot_svg"] = None if plot is None else Markup(plot)
    return _environment_jinja().get_template("report.html").render(**context)


def write_html(
    documents: Sequence[Mapping[str, Any]],
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
