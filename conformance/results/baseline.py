"""The gate's baseline: a summary of earlier results, one status per record identity.

Format (made by :func:`make_baseline`; a full results document is accepted as well and
summarised on the fly)::

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
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Literal, NotRequired, TypedDict, cast

from conformance.results.documents import (
    ResultsFileError,
    document_from,
    documents_from,
    read_json,
    schema_problem,
    write_atomic,
)
from conformance.results.merge import merge
from conformance.results.records import Document, RecordKey
from conformance.results.status import Status, worst_status

BASELINE_SCHEMA: Mapping[str, object] = {
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
                    "status": {"enum": [status.value for status in Status]},
                },
            },
        },
    },
}


class BaselineEntry(TypedDict):
    """One record identity's worst status in the baseline."""

    framework: NotRequired[str | None]
    adapter: str
    property: str
    op: str
    dtype: str
    status: str


class Baseline(TypedDict):
    """A baseline summary as its JSON file spells it."""

    baseline_version: Literal[1]
    frameworks: NotRequired[dict[str, str]]
    results: list[BaselineEntry]


def entry_key(entry: BaselineEntry) -> RecordKey:
    return (entry["adapter"], entry["property"], entry["op"], entry["dtype"])


def summary_from(value: Baseline | Mapping[str, object], source: str) -> Baseline:
    """``value`` as a baseline summary: a full results document is summarised, a summary is
    checked. Raises ResultsFileError, one line naming ``source``, when it is neither."""
    if "schema_version" in value:
        return make_baseline([document_from(value, source)])
    import jsonschema  # here, not at the top: a run reads no baseline until its workers are done

    problem = schema_problem(value, jsonschema.Draft202012Validator(BASELINE_SCHEMA))
    if problem is not None:
        raise ResultsFileError(f"{source}: not a valid baseline: {problem}")
    return cast(Baseline, dict(value))


def load_baseline(path: str | os.PathLike[str]) -> Baseline:
    """A baseline summary read from ``path`` (a summary or a full results document).
    Raises ResultsFileError, one line, when it is unusable."""
    value = read_json(Path(path), "baseline")
    if not isinstance(value, dict):
        raise ResultsFileError(f"{path}: not a baseline: the top level is a JSON {type(value).__name__}")
    return summary_from(value, str(path))


def make_baseline(documents: Sequence[Document | Mapping[str, object]]) -> Baseline:
    """The baseline summary of ``documents`` (format in the module docstring), sorted."""
    merged = merge(documents_from(documents))
    statuses: dict[RecordKey, list[Status]] = {}
    frameworks: dict[RecordKey, str | None] = {}
    for record in merged.results:
        statuses.setdefault(record.key, []).append(record.status)
        frameworks.setdefault(record.key, record.framework)
    results: list[BaselineEntry] = [
        {
            "framework": frameworks[key],
            "adapter": key[0],
            "property": key[1],
            "op": key[2],
            "dtype": key[3],
            "status": worst_status(found).value,
        }
        for key, found in sorted(statuses.items())
    ]
    return {"baseline_version": 1, "frameworks": dict(merged.run_metadata.frameworks), "results": results}


def save_baseline(baseline: Baseline, path: str | os.PathLike[str]) -> None:
    """Write a baseline summary as JSON, atomically."""
    write_atomic(path, json.dumps(baseline, indent=1, sort_keys=True) + "\n")
