"""A results document's metadata, typed for its readers.

The JSON document spells the metadata as an object (see ``results.schema.json``); the run
writes it as a dict, and :class:`~conformance.results.records.Document` keeps that dict so it
is written back unchanged. What reads it (the gate, the baseline, the version view, the report)
reads a :class:`RunMetadata` instead, made once per document by :meth:`RunMetadata.from_json`:
attributes with their types, and for what a run did not record, ``None`` or an empty value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from conformance.results.environment import Environment

CoverageEntry = Mapping[str, int | None]  # "block" (None: the full product), "blocks", "checked", "of"


@dataclass(frozen=True)
class AdapterEntry:
    """One adapter the run loaded (``metadata.adapters``)."""

    adapter: str
    spec: str
    framework: str | None
    device: str | None
    capabilities: Mapping[str, bool]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AdapterEntry:
        return cls(
            adapter=str(raw.get("adapter")),
            spec=str(raw.get("spec", "")),
            framework=_text(raw.get("framework")),
            device=_text(raw.get("device")),
            capabilities={str(name): bool(given) for name, given in (raw.get("capabilities") or {}).items()},
        )


@dataclass(frozen=True)
class AgreementEntry:
    """The largest difference between two adapters' outputs on the same inputs (``metadata.agreement``)."""

    a: str
    b: str
    op: str
    dtype: str
    quantity: str
    max_abs_diff: float | None

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> AgreementEntry:
        return cls(
            a=str(raw["a"]),
            b=str(raw["b"]),
            op=str(raw.get("op", "")),
            dtype=str(raw.get("dtype", "")),
            quantity=str(raw.get("quantity", "")),
            max_abs_diff=_number(raw.get("max_abs_diff")),
        )


@dataclass(frozen=True)
class BehaviourEntry:
    """What an adapter did on an input with no single right answer (``metadata.behaviour``)."""

    adapter: str
    input: str
    quantity: str
    outcome: str

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> BehaviourEntry:
        return cls(
            adapter=str(raw["adapter"]),
            input=str(raw.get("input", "")),
            quantity=str(raw.get("quantity", "")),
            outcome=str(raw.get("outcome", "")),
        )


@dataclass(frozen=True)
class RunMetadata:
    """What the readers of a results document take from its metadata (a merged document's
    metadata combines its runs', see :func:`conformance.results.merge.merge`)."""

    python: str | None
    platform: str | None
    profile: str | None
    seed: int | None  # None: derandomized
    timestamp: str | None
    duration_s: float | None
    frameworks: Mapping[str, str]  # framework -> the version installed
    environment: Environment  # "machine" or a framework -> its facts
    coverage: Mapping[str, CoverageEntry]  # an edge catalogue property -> the block it checked
    adapters: tuple[AdapterEntry, ...]
    requested: tuple[str, ...]  # the adapter specs the run was asked for
    divergence_problems: tuple[str, ...]
    divergence_files: tuple[str, ...]
    agreement: tuple[AgreementEntry, ...]
    behaviour: tuple[BehaviourEntry, ...]

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> RunMetadata:
        """The metadata as the JSON document spells it, typed; entries that are not objects
        (or lack what names them) are left out."""
        return cls(
            python=_text(raw.get("python")),
            platform=_text(raw.get("platform")),
            profile=_text(raw.get("profile")),
            seed=_integer(raw.get("seed")),
            timestamp=_text(raw.get("timestamp")),
            duration_s=_number(raw.get("duration_s")),
            frameworks={str(name): str(version) for name, version in (raw.get("frameworks") or {}).items()},
            environment=_tables(raw.get("environment")),
            coverage=_tables(raw.get("coverage")),
            adapters=tuple(AdapterEntry.from_json(entry) for entry in _objects(raw.get("adapters"))),
            requested=_texts(raw.get("requested")),
            divergence_problems=_texts(raw.get("divergence_problems")),
            divergence_files=_texts(raw.get("divergence_files")),
            agreement=tuple(
                AgreementEntry.from_json(entry)
                for entry in _objects(raw.get("agreement"))
                if "a" in entry and "b" in entry
            ),
            behaviour=tuple(
                BehaviourEntry.from_json(entry) for entry in _objects(raw.get("behaviour")) if "adapter" in entry
            ),
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)


def _texts(value: object) -> tuple[str, ...]:
    return tuple(str(item) for item in value) if isinstance(value, (list, tuple)) else ()


def _integer(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number(value: object) -> float | None:
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _objects(value: object) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, (list, tuple)) else []


def _tables(value: object) -> dict[str, Mapping[str, Any]]:
    """An object of objects (``environment``, ``coverage``), its inner objects that are objects."""
    if not isinstance(value, Mapping):
        return {}
    return {str(name): dict(table) for name, table in value.items() if isinstance(table, Mapping)}
