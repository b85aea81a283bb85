"""Pictures for the HTML report, drawn with matplotlib (no pyplot, no global backend) as inline SVG.

The SVG is made safe to paste into the page: no XML prolog, DOCTYPE, RDF metadata or
namespace URLs, every id prefixed so two pictures cannot collide with each other or the
page, and text (adapter names come from users) escaped by matplotlib and kept out of
mathtext.
"""

from __future__ import annotations

import io
import math
import re
from collections.abc import Iterable

import numpy as np

from conformance.results.records import Record
from conformance.truth.dtypes import DTYPE_NAMES

FLOOR = 1e-4  # ratios below this (including exact results, ratio 0) are drawn at the floor
CEILING = 1e6
WITHIN = "#2b6cb0"
OVER = "#c0392b"


def _label(name: str, limit: int = 28) -> str:
    name = "".join(ch if ch.isprintable() else "?" for ch in name)
    if len(name) > limit:
        name = name[: limit - 1] + "…"
    return name.replace("$", r"\$")  # no mathtext from user-supplied names


def _dtype_order(dtype: str) -> tuple[int, str]:
    return (DTYPE_NAMES.index(dtype), "") if dtype in DTYPE_NAMES else (len(DTYPE_NAMES), dtype)


def collect_ratios(records: Iterable[Record]) -> dict[str, dict[str, list[float]]]:
    """dtype -> adapter -> every finite, non-negative error/bound ratio the records carry."""
    found: dict[str, dict[str, list[float]]] = {}
    for record in records:
        ratios = record.error_ratios
        if not ratios:
            continue
        values = []
        for value in ratios:
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            value = float(value)
            if math.isnan(value) or value < 0:
                continue
            values.append(min(value, CEILING))
        if values:
            by_adapter = found.setdefault(record.dtype, {})
            by_adapter.setdefault(record.adapter, []).extend(values)
    return found


def _sanitize_svg(svg: str, prefix: str) -> str:
    svg = re.sub(r"<\?xml[^>]*\?>", "", svg)
    svg = re.sub(r"<!DOCTYPE[^>]*>", "", svg)
    svg = re.sub(r"<metadata>.*?</metadata>", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(?::\w+)?="[^"]*"', "", svg)
    svg = re.sub(r'\bid="([^"]+)"', rf'id="{prefix}\1"', svg)
    svg = re.sub(r'((?:xlink:)?href)="#([^"]+)"', rf'\1="#{prefix}\2"', svg)
    svg = re.sub(r"url\(#([^)]+)\)", rf"url(#{prefix}\1)", svg)
    return svg.strip()


def load_matplotlib() -> None:
    """Import what :func:`error_ratio_svg` draws with: matplotlib's figure, its SVG backend and
    its font list, 0.3 s of imports and font loading a run can do while its workers work
    rather than after them."""
    import matplotlib.backends.backend_svg
    import matplotlib.figure
    import matplotlib.font_manager
    import matplotlib.ticker  # noqa: F401


def error_ratio_svg(
    records: Iterable[Record],
    adapters: list[str] | None = None,
    *,
    max_points: int = 200,
    id_prefix: str = "ratios-",
) -> str | None:
    """An inline SVG: per dtype (one panel each) and adapter, the distribution of error/bound
    ratios on a log axis as a box (quartiles, whiskers to min/max) with the samples jittered
    over it, points above the bound in red, and the bound as a dashed line at 1.
    None when no record carries ``error_ratios``. ``adapters`` fixes the x order."""
    data = collect_ratios(records)
    if not data:
        return None
    from matplotlib import rc_context
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    names = list(adapters or [])
    for by_adapter in data.values():
        names.extend(name for name in by_adapter if name not in names)
    names = [name for name in names if any(name in by_adapter for by_adapter in data.values())]
    dtypes = sorted(data, key=_dtype_order)
    rng = np.random.default_rng(0)

    with rc_context({"svg.fonttype": "none", "svg.hashsalt": "softmax-conformance", "font.size": 9}):
        width = max(6.5, 0.85 * len(names) + 2.0)
        height = 2.3 * len(dtypes) + 1.1
        figure = Figure(figsize=(width, height))
        figure.subplots_adjust(
            left=0.9 / width, right=1 - 0.2 / width, top=1 - 0.35 / height, bottom=1.0 / height, hspace=0.35
        )
        axes = figure.subplots(len(dtypes), 1, squeeze=False, sharex=True)[:, 0]
        top = 10.0
        for ax, dtype in zip(axes, dtypes, strict=True):
            positions, boxes = [], []
            for position, name in enumerate(names):
                values = np.asarray(data[dtype].get(name, []), dtype=float)
                if values.size == 0:
                    continue
                if values.size > max_points:  # a deterministic sample, keeping the extremes
                    keep = np.sort(rng.choice(values.size, max_points - 2, replace=False))
                    values = np.concatenate([[values.min(), values.max()], values[keep]])
                shown = np.clip(values, FLOOR, CEILING)
                top = max(top, float(shown.max()) * 3)
                positions.append(position)
                boxes.append(shown)
                jitter = position + rng.uniform(-0.22, 0.22, size=shown.size)
                over = shown > 1.0
                ax.scatter(jitter[~over], shown[~over], s=7, color=WITHIN, alpha=0.45, linewidths=0, zorder=3)
                if over.any():
                    ax.scatter(jitter[over], shown[over], s=12, color=OVER, alpha=0.9, linewidths=0, zorder=4)
            if boxes:
                ax.boxplot(
                    boxes,
                    positions=positions,
                    widths=0.55,
                    whis=(0, 100),
                    showfliers=False,
                    manage_ticks=False,
                    medianprops={"color": "#1d2330", "linewidth": 1.2},
                    boxprops={"color": "#555b66"},
                    whiskerprops={"color": "#555b66"},
                    capprops={"color": "#555b66"},
                    zorder=2,
                )
            ax.axhline(1.0, color=OVER, linestyle="--", linewidth=1.0, zorder=1)
            ax.set_yscale("log")
            ax.yaxis.set_major_locator(LogLocator(base=10.0, numticks=8))
            ax.yaxis.set_minor_locator(NullLocator())
            ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))  # no mathtext
            ax.set_title(f"{dtype}: error / bound per element (bound = 1, dashed)", loc="left", fontsize=9)
            ax.set_ylabel("error / bound")
            ax.grid(axis="y", which="major", color="#e3e6ea", linewidth=0.6)
        for ax in axes:
            ax.set_ylim(FLOOR / 2, top)
            ax.set_xlim(-0.6, len(names) - 0.4)
        axes[-1].set_xticks(range(len(names)), [_label(name) for name in names], rotation=30, ha="right")
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Creator": None, "Date": None, "Format": None, "Type": None})
    return _sanitize_svg(buffer.getvalue(), id_prefix)
