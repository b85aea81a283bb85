"""Combine results documents (one per run) into one.

A record's identity is ``(adapter, property, op, dtype)``; the same identity can occur in
several runs (the CI matrix runs every framework under two Pythons). Merging keeps every
record and tags it with ``run``, the index of the document it came from.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from conformance.results import bitwise
from conformance.results.records import Document, Record


def _distinct(values: Iterable[Any]) -> list[Any]:
    seen: list[Any] = []
    for value in values:
        if value not in seen:
            seen.append(value)
    return seen


def framework_versions(documents: Sequence[Document]) -> dict[str, list[str]]:
    """framework -> the distinct versions the runs had installed, in run order."""
    versions: dict[str, list[str]] = {}
    for document in documents:
        for name, version in document.run_metadata.frameworks.items():
            listed = versions.setdefault(name, [])
            if version not in listed:
                listed.append(version)
    return versions


def tagged(documents: Sequence[Document]) -> list[Record]:
    """Every record of ``documents``, each tagged with the index of its document."""
    return [record.replace(run=run) for run, document in enumerate(documents) for record in document.results]


def merge(documents: Sequence[Document]) -> Document:
    """One results document holding every record of ``documents``, tagged with ``run``.

    The metadata keeps each run's metadata under ``"runs"`` and combines the rest so that the
    merged document is still valid against results.schema.json: distinct pythons/platforms are
    joined with ", ", framework versions that differ between runs are joined with " | ",
    the bit-for-bit tables are made again from the merged records,
    the timestamp is the earliest, the duration the sum, the seed the common one (else
    null), adapters are deduplicated by name, and ``divergence_problems``, ``agreement``,
    ``behaviour`` and ``workers`` lists are concatenated.
    """
    metadatas = [dict(document.metadata) for document in documents]
    seeds = _distinct(meta.get("seed") for meta in metadatas)
    timestamps = sorted(str(meta["timestamp"]) for meta in metadatas if meta.get("timestamp"))
    profiles = _distinct(meta.get("profile") for meta in metadatas if meta.get("profile"))
    adapters: dict[str, object] = {}
    for meta in metadatas:
        for entry in meta.get("adapters") or []:
            adapters.setdefault(str(entry.get("adapter")), entry)
    combined: dict[str, object] = {
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
    for key in ("divergence_problems", "agreement", "behaviour", "workers", "divergence_files"):
        joined: list[Any] = []
        once = key in ("divergence_problems", "divergence_files")  # the same problem or file from every run
        for meta in metadatas:
            value = meta.get(key)
            if isinstance(value, list):
                joined.extend(item for item in value if not once or item not in joined)
        if joined:
            combined[key] = joined
    records = tuple(tagged(documents))
    tables = bitwise.metadata(records)
    if tables:
        combined["bitwise"] = tables
    return Document(combined, records)
