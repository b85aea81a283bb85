"""Where a conformance run's time went: its records' ``duration_s``, per adapter and per property.

The time inside tests; the rest of a run's wall clock is worker start-up, framework imports and
collection.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any


def totals(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Sum of ``duration_s`` and the record count per value of ``key``, largest first."""
    seconds: dict[str, float] = defaultdict(float)
    counts: Counter[str] = Counter()
    for record in records:
        name = str(record.get(key) or record.get("adapter") or "?")
        seconds[name] += float(record.get("duration_s") or 0.0)
        counts[name] += 1
    ordered = sorted(seconds, key=lambda name: -seconds[name])
    return {name: {"duration_s": round(seconds[name], 3), "records": counts[name]} for name in ordered}


def breakdown(path: Path) -> dict[str, Any]:
    """The records of the results file at ``path``: their count, statuses and time inside
    tests, in all, per adapter and per property (an empty breakdown when there is no file)."""
    document = json.loads(path.read_text(encoding="utf-8")) if path.exists() else {"results": [], "metadata": {}}
    records = document["results"]
    metadata = document["metadata"]
    return {
        # a dev run draws its seed, and the seed its large inputs' sizes: the figures move with it
        "seed": metadata.get("seed"),
        "profile": metadata.get("profile"),
        "blocks": {name: entry.get("block") for name, entry in (metadata.get("coverage") or {}).items()},
        "records": len(records),
        "records_duration_s": round(sum(float(record.get("duration_s") or 0.0) for record in records), 3),
        "reported_duration_s": metadata.get("duration_s"),
        "statuses": dict(sorted(Counter(str(record.get("status")) for record in records).items())),
        "per_adapter": totals(records, "spec"),
        "per_property": totals(records, "property"),
    }
