"""Combine results documents (one per run) into one, and small helpers shared by gate and report.

A record's identity is ``(adapter, property, op, dtype)``; the same identity can occur in
several runs (the CI matrix runs every framework under two Pythons). Merging keeps every
record and tags it with ``"run"``, the index of the document it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from conformance.adapters import framework_of

RecordKey = tuple[str, str, str, str]  # adapter, property, op, dtype

# how bad a status is, for combining the same record seen in several runs
BADNESS = {"skipped": 0, "passed": 1, "xfailed": 2, "failed": 3, "error": 4}


def record_key(record: Mapping[str, Any]) -> RecordKey:
    return (
        str(record.get("adapter", "")),
        str(record.get("property", "")),
        str(record.get("op", "")),
        str(record.get("dtype", "")),
    )


def record_framework(record: Mapping[str, Any]) -> str | None:
    """The framework a record belongs to: its ``framework`` field (null for user adapters),
    or, when the field is absent, the built-in framework its adapter name belongs to."""
    if "framework" in record:
        value = record["framework"]
        return None if value is None else str(value)
    return framework_of(str(record.get("adapter", "")))


def describe(record: Mapping[str, Any]) -> str:
    """One short line naming a record: ``adapter property (op, dtype)``."""
    adapter, prop, op, dtype = record_key(record)
    return f"{adapter} {prop} ({op}, {dtype})"


def worst_status(statuses: Iterable[str]) -> str:
    return max(statuses, key=lambda status: BADNESS.get(status, 0), default="skipped")


def worst_per_key(records: Iterable[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
    """One record per identity, the worst of those that share it, in the order the identities
    first occur: a result that several merged runs have counts once."""
    worst: dict[RecordKey, Mapping[str, Any]] = {}
    for record in records:
        key = record_key(record)
        kept = worst.get(key)
        if kept is None or BADNESS.get(str(record.get("status")), 0) > BADNESS.get(str(kept.get("status")), 0):
            worst[key] = record
    return list(worst.values())


def _distinct(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def framework_versions(documents: Sequence[Mapping[str, Any]]) -> dict[str, list[str]]:
    """framework -> the distinct versions the runs had installed, in run order."""
    versions: dict[str, list[str]] = {}
    for document in documents:
        for name, version in (document.get("metadata", {}).get("frameworks") or {}).items():
            listed = versions.setdefault(str(name), [])
            if str(version) not in listed:
                listed.append(str(version))
    return versions


def merge(documents: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """One results document holding every record of ``documents``.

    Records are copied and tagged with ``"run"`` (index into ``documents``). The metadata
    keeps each run's metadata under ``"runs"`` and combines the rest so that the merged
    document is still valid against results.schema.json: distinct pythons/platforms are
    joined with ", ", framework versions that differ between runs are joined with " | ",
    the timestamp is the earliest, the duration the sum, the seed the common one (else
    null), adapters are deduplicated by name, and ``divergence_problems``, ``agreement``
    and ``behaviour`` lists are concatenated.
    """
    metadatas = [dict(document.get("metadata") or {}) for document in documents]
    results: list[dict[str, Any]] = []
    for run, document in enumerate(documents):
        for record in document.get("results") or []:
            copied = dict(record)
            copied["run"] = run
            results.append(copied)

    seeds = _distinct(meta.get("seed") for meta in metadatas)
    timestamps = sorted(str(meta["timestamp"]) for meta in metadatas if meta.get("timestamp"))
    profiles = _distinct(meta.get("profile") for meta in metadatas if meta.get("profile"))
    adapters: dict[str, Any] = {}
    for meta in metadatas:
        for entry in meta.get("adapters") or []:
            adapters.setdefault(str(entry.get("adapter")), entry)
    combined: dict[str, Any] = {
        "python": ", ".join(str(v) for v in _distinct(meta.get("python") for meta in metadatas) if v is not None),
        "platform": ", ".join(str(v) for v in _distinct(meta.get("platform") for meta in metadatas) if v is not None),
        "profile": profiles[0] if profiles else "ci",
        "seed": seeds[0] if len(seeds) == 1 else None,
        "timestamp": timestamps[0] if timestamps else "",
        "duration_s": float(sum(float(meta.get("duration_s") or 0.0) for meta in metadatas)),
        "frameworks": {name: " | ".join(found) for name, found in framework_versions(documents).items()},
        "adapters": list(adapters.values()),
        "runs": metadatas,
    }
    for key in ("divergence_problems", "agreement", "behaviour"):
        joined: list[Any] = []
        for meta in metadatas:
            value = meta.get(key)
            if isinstance(value, list):
                joined.extend(item for item in value if key != "divergence_problems" or item not in joined)
        if joined:
            combined[key] = joined
    return {"schema_version": 1, "metadata": combined, "results": results}
