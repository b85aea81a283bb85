"""What a run produces, typed: one :class:`Record` per adapter x property x op x dtype, inside
a :class:`Document` with the run's metadata.

Every stage that makes or reads results uses these types; only the JSON file (see
``results.schema.json`` and :mod:`conformance.results.documents`) spells them as dicts, with
the same field names.
"""

from __future__ import annotations

import builtins
import contextlib
import dataclasses
import datetime as _dt
import functools
import importlib.metadata
import platform
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from conformance.checks.bitwise import BitwiseFinding
from conformance.checks.failures import WorstElement
from conformance.results.environment import run_environment
from conformance.results.run_metadata import RunMetadata
from conformance.results.status import Status
from conformance.truth.frameworks import framework_of

RecordKey = tuple[str, str, str, str]  # adapter, property, op, dtype

# name in the metadata -> the distributions that provide it (the first one installed wins)
_VERSIONED: dict[str, tuple[str, ...]] = {
    "torch": ("torch",),
    "jax": ("jax",),
    "jaxlib": ("jaxlib",),
    "tensorflow": ("tensorflow", "tensorflow-cpu"),
    "mlx": ("mlx",),
    "paddle": ("paddlepaddle", "paddlepaddle-gpu"),
    "numpy": ("numpy",),
    "hypothesis": ("hypothesis",),
    "ml_dtypes": ("ml_dtypes",),
}


@dataclass(frozen=True)
class Record:
    """One result: an adapter's property, for one op and dtype."""

    adapter: str
    property: str
    op: str
    dtype: str
    status: Status  # a string naming a status is taken as that status
    message: str = ""
    spec: str | None = None  # what load_adapter was given (a user adapter's file, a built-in name)
    framework: str | None = None  # None for a user adapter (unless it declares an ad_path)
    ad_path: str | None = None  # the built-in AD path that differentiated a user's function
    nodeid: str | None = None
    duration_s: float | None = None
    examples: int | None = None  # Hypothesis examples, shrinking included
    max_error_ulp: float | None = None  # the element worst against its bound: its error ...
    bound_ulp: float | None = None  # ... and its bound, in ulps of its scale
    error_ratios: tuple[float, ...] = ()
    not_provided: bool = False  # skipped: the adapter lacks the capability or dtype
    not_supported: bool = False  # skipped: its function cannot compute a quantity on its AD path
    reproducer: str | None = None
    native_reproducer: str | None = None  # a built-in adapter's failure in the framework's own API
    call_dtype: str | None = None  # the dtype of the failing call, where it is not ``dtype`` (dtypes in turn)
    worst: WorstElement | None = None
    hint: str | None = None  # the failure's likely cause, when a second look found one (its message's last line)
    hypothesis_blob: str | None = None
    xfail_reason: str | None = None  # a known divergence explains the failure
    checked_combinations: int | None = None  # an edge catalogue's record: the combinations it checked ...
    product_combinations: int | None = None  # ... of its full product's (fewer in a dev run's block)
    bitwise: BitwiseFinding | None = None  # a bit-for-bit property's draws: same bits or not, by how many ulps
    run: int | None = None  # which document of a merge it came from

    def __post_init__(self) -> None:
        if isinstance(self.status, Status):
            return
        try:
            object.__setattr__(self, "status", Status(self.status))
        except ValueError:
            raise ValueError(f"status={self.status!r}, but the statuses are: {', '.join(Status)}") from None

    @builtins.property  # the field ``property`` hides the builtin in this class
    def key(self) -> RecordKey:
        """Its identity: several runs of one matrix may each hold it."""
        return (self.adapter, self.property, self.op, self.dtype)

    @builtins.property
    def failing_dtype(self) -> str:
        """The dtype of the call that failed: ``call_dtype`` where a property called several
        (every_dtype_in_turn), else the record's."""
        return self.call_dtype or self.dtype

    @builtins.property
    def failing(self) -> bool:
        return self.status.failing

    @builtins.property
    def ran(self) -> bool:
        return self.status.ran

    @builtins.property
    def partial(self) -> bool:
        """An edge catalogue's record that checked only a block of its full product."""
        if self.checked_combinations is None or self.product_combinations is None:
            return False
        return self.checked_combinations < self.product_combinations

    def describe(self) -> str:
        """``adapter property (op, dtype)``."""
        return f"{self.adapter} {self.property} ({self.op}, {self.dtype})"

    def replace(self, **changes: Any) -> Record:
        return dataclasses.replace(self, **changes)

    def as_dict(self) -> dict[str, object]:
        """The record as the JSON document spells it (empty optional fields left out)."""
        found: dict[str, object] = {
            "adapter": self.adapter,
            "spec": self.spec if self.spec is not None else self.adapter,
            "framework": self.framework,
            "property": self.property,
            "op": self.op,
            "dtype": self.dtype,
            "status": self.status.value,
            "message": self.message,
        }
        optional = {
            "ad_path": self.ad_path,
            "nodeid": self.nodeid,
            "duration_s": self.duration_s,
            "examples": self.examples,
            "max_error_ulp": self.max_error_ulp,
            "bound_ulp": self.bound_ulp,
            "error_ratios": list(self.error_ratios) if self.error_ratios else None,
            "not_provided": True if self.not_provided else None,
            "not_supported": True if self.not_supported else None,
            "reproducer": self.reproducer,
            "native_reproducer": self.native_reproducer,
            "call_dtype": self.call_dtype,
            "worst": self.worst.as_dict() if self.worst is not None else None,
            "hint": self.hint,
            "hypothesis_blob": self.hypothesis_blob,
            "xfail_reason": self.xfail_reason,
            "checked_combinations": self.checked_combinations,
            "product_combinations": self.product_combinations,
            "bitwise": self.bitwise.as_dict() if self.bitwise is not None else None,
            "run": self.run,
        }
        found.update({key: value for key, value in optional.items() if value is not None})
        return found

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Record:
        """A record from its JSON form. A record without ``framework`` (written before the field
        existed) takes the built-in framework its adapter name belongs to."""
        worst = raw.get("worst")
        bitwise = raw.get("bitwise")
        return cls(
            adapter=str(raw["adapter"]),
            property=str(raw["property"]),
            op=str(raw["op"]),
            dtype=str(raw["dtype"]),
            status=Status(str(raw["status"])),
            message=str(raw.get("message") or ""),
            spec=raw.get("spec"),
            framework=raw["framework"] if "framework" in raw else framework_of(str(raw["adapter"])),
            ad_path=raw.get("ad_path"),
            nodeid=raw.get("nodeid"),
            duration_s=raw.get("duration_s"),
            examples=raw.get("examples"),
            max_error_ulp=raw.get("max_error_ulp"),
            bound_ulp=raw.get("bound_ulp"),
            error_ratios=tuple(raw.get("error_ratios") or ()),
            not_provided=bool(raw.get("not_provided", False)),
            not_supported=bool(raw.get("not_supported", False)),
            reproducer=raw.get("reproducer"),
            native_reproducer=raw.get("native_reproducer"),
            call_dtype=raw.get("call_dtype"),
            worst=WorstElement.from_dict(worst) if isinstance(worst, Mapping) else None,
            hint=raw.get("hint"),
            hypothesis_blob=raw.get("hypothesis_blob"),
            xfail_reason=raw.get("xfail_reason"),
            checked_combinations=raw.get("checked_combinations"),
            product_combinations=raw.get("product_combinations"),
            bitwise=BitwiseFinding.from_dict(bitwise) if isinstance(bitwise, Mapping) else None,
            run=raw.get("run"),
        )


@dataclass(frozen=True)
class Document:
    """One run's results, or several runs' merged: its metadata (see the schema) and its records."""

    metadata: Mapping[str, Any]
    results: tuple[Record, ...] = field(default=())
    schema_version: int = 1

    @functools.cached_property
    def run_metadata(self) -> RunMetadata:
        """The metadata typed, for reading (``metadata`` is what is written)."""
        return RunMetadata.from_json(self.metadata)

    def as_dict(self) -> dict[str, object]:
        return {
            "schema_version": self.schema_version,
            "metadata": dict(self.metadata),
            "results": [record.as_dict() for record in self.results],
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Document:
        return cls(
            metadata=dict(raw.get("metadata") or {}),
            results=tuple(Record.from_dict(record) for record in raw.get("results") or ()),
            schema_version=int(raw.get("schema_version", 1)),
        )


def rank_in_order(value: str, order: Sequence[str]) -> tuple[int, str]:
    """A sort key that puts ``value`` where ``order`` has it (an op, a dtype in their usual
    order), and a value ``order`` lacks after all of them, alphabetically."""
    return (order.index(value), "") if value in order else (len(order), value)


def worst_per_key(records: Iterable[Record]) -> list[Record]:
    """One record per identity, the worst of those that share it, in the order the identities
    first occur: a result that several merged runs have counts once."""
    worst: dict[RecordKey, Record] = {}
    for record in records:
        kept = worst.get(record.key)
        if kept is None or record.status.badness > kept.status.badness:
            worst[record.key] = record
    return list(worst.values())


def framework_versions() -> dict[str, str]:
    """Installed versions, read from package metadata (no framework is imported)."""
    found: dict[str, str] = {}
    for label, distributions in _VERSIONED.items():
        for distribution in distributions:
            with contextlib.suppress(importlib.metadata.PackageNotFoundError):
                found[label] = importlib.metadata.version(distribution)
                break
    return found


def now() -> str:
    return _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds")


def metadata(
    profile: str, seed: int | None, adapters: Sequence[Mapping[str, object]], started: str, duration: float
) -> dict[str, object]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "profile": profile,
        "seed": seed,
        "timestamp": started,
        "duration_s": round(duration, 3),
        "frameworks": framework_versions(),
        "environment": run_environment(adapters),
        "adapters": adapters,
    }


def adapter_error(spec: str, framework: str | None, prop: str, message: str) -> Record:
    """An ``error`` about the adapter as a whole (it would not load, its worker kept dying)."""
    return Record(
        adapter=spec,
        spec=spec,
        framework=framework,
        property=prop,
        op="any",
        dtype="any",
        status=Status.ERROR,
        message=message,
    )


def nothing_checked(specs: Iterable[str], records: Iterable[Record]) -> list[Record]:
    """An ``error`` for each adapter asked for that has no result: a run that checks nothing
    must not say "conforms". An adapter whose framework said why it cannot compute what was
    asked ("not supported": a torch.autograd.Function with a jvp under torch.compile) has
    answered: it does not conform, and it has not failed."""
    ran = {record.spec for record in records if record.ran or record.not_supported}
    return [
        adapter_error(
            spec,
            None,
            "run",
            "nothing was checked: no property ran on this adapter (every one was skipped, or none was collected)",
        )
        for spec in specs
        if spec not in ran
    ]
