"""Result records, run metadata, and the JSON document (see ``results.schema.json``)."""

from __future__ import annotations

import contextlib
import datetime as _dt
import importlib.metadata
import json
import os
import platform
import tempfile
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import Any

SCHEMA_PATH = Path(__file__).with_name("results.schema.json")
STATUSES: tuple[str, ...] = ("passed", "failed", "error", "skipped", "xfailed")
BAD_STATUSES: tuple[str, ...] = ("failed", "error")

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
    profile: str, seed: int | None, adapters: list[dict[str, Any]], started: str, duration: float
) -> dict[str, Any]:
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "profile": profile,
        "seed": seed,
        "timestamp": started,
        "duration_s": round(duration, 3),
        "frameworks": framework_versions(),
        "adapters": adapters,
    }


def record(
    *,
    adapter: str,
    spec: str,
    framework: str | None,
    prop: str,
    op: str,
    dtype: str,
    status: str,
    message: str = "",
    **extra: Any,
) -> dict[str, Any]:
    """One result; ``extra`` holds the optional fields of the schema."""
    if status not in STATUSES:
        raise ValueError(f"status={status!r}, but the statuses are: {', '.join(STATUSES)}")
    entry: dict[str, Any] = {
        "adapter": adapter,
        "spec": spec,
        "framework": framework,
        "property": prop,
        "op": op,
        "dtype": dtype,
        "status": status,
        "message": message,
    }
    entry.update({key: value for key, value in extra.items() if value is not None})
    return entry


def adapter_error(spec: str, framework: str | None, prop: str, message: str) -> dict[str, Any]:
    """An ``error`` about the adapter as a whole (it would not load, its worker kept dying)."""
    return record(
        adapter=spec, spec=spec, framework=framework, prop=prop, op="any", dtype="any", status="error", message=message
    )


RAN_STATUSES: tuple[str, ...] = ("passed", "failed", "error", "xfailed")  # a result; "skipped" is not


def nothing_checked(specs: Iterable[str], records: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """An ``error`` for each adapter asked for that has no result: a run that checks nothing
    must not say "conforms"."""
    ran = {record.get("spec") for record in records if record.get("status") in RAN_STATUSES}
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


def document(records: Iterable[dict[str, Any]], meta: dict[str, Any]) -> dict[str, Any]:
    return {"schema_version": 1, "metadata": meta, "results": list(records)}


def write_atomic(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` so that a reader, or a killed run, never sees half a file: a temporary
    file in the same folder, flushed to disk, then renamed over ``path``."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.write(text)
            stream.flush()
            os.fsync(stream.fileno())
        os.chmod(temporary, 0o644)
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_text(path: Path, error: type[Exception], kind: str) -> str:
    """The UTF-8 text at ``path``; anything unreadable raises ``error`` with one line naming it."""
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise error(f"{path}: no such file") from None
    except IsADirectoryError:
        raise error(f"{path}: is a directory, not a {kind}") from None
    except UnicodeDecodeError:
        raise error(f"{path}: not UTF-8 text (corrupt?)") from None
    except OSError as exc:
        raise error(f"{path}: cannot read: {exc.strerror or exc}") from None


def write_document(path: str | os.PathLike[str], doc: dict[str, Any]) -> None:
    write_atomic(path, json.dumps(doc, indent=1, allow_nan=False) + "\n")


def schema() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return loaded


def validate(doc: dict[str, Any]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``doc`` breaks the schema."""
    import jsonschema

    jsonschema.validate(doc, schema())


class Stream:
    """Append-only JSON lines, flushed per event, so a killed run keeps what it finished; one
    line at a time, whichever thread emits."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._file = open(path, "a", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._lock = threading.Lock()

    def emit(self, event: str, **fields: Any) -> None:
        line = json.dumps({"event": event, **fields}, allow_nan=False) + "\n"
        with self._lock:
            self._file.write(line)
            self._file.flush()

    def close(self) -> None:
        self._file.close()


def parse_event(line: str) -> dict[str, Any] | None:
    """One event of a stream; None for a torn line (a worker killed mid-write)."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None
