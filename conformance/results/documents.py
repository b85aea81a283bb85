"""Results on disk: the JSON document (validated against ``results.schema.json`` when written
and when read), the JSON-lines stream a worker writes as it goes, and writing a file so that
no reader ever sees half of it.
"""

from __future__ import annotations

import functools
import glob
import importlib.resources
import json
import os
import tempfile
import threading
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from conformance.results.records import Document, Record

SCHEMA_NAME = "results.schema.json"


class ResultsFileError(ValueError):
    """A results or baseline file that cannot be used; the message is one line naming the file."""


def schema() -> dict[str, object]:
    """The results document's JSON schema, read from the package."""
    loaded: dict[str, object] = json.loads(_schema_text())
    return loaded


@functools.cache
def _schema_text() -> str:
    return importlib.resources.files("conformance.results").joinpath(SCHEMA_NAME).read_text(encoding="utf-8")


@functools.cache
def _validator() -> Any:
    import jsonschema  # here, not at the top: a worker never checks a document (80 ms a process)

    return jsonschema.Draft202012Validator(schema())


def one_line(text: str, limit: int = 160) -> str:
    """``text`` on one line, shortened to ``limit`` characters."""
    text = " ".join(str(text).split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def schema_problem(value: Any, validator: Any = None) -> str | None:
    """What is wrong with ``value`` as a results document (or against ``validator``), in one
    line; None when nothing is."""
    import jsonschema

    error = jsonschema.exceptions.best_match((validator or _validator()).iter_errors(value))
    if error is None:
        return None
    where = error.json_path if error.json_path != "$" else "top level"
    return f"{one_line(error.message)} (at {where})"


def validate(document: Document | Mapping[str, object]) -> None:
    """Raise ``jsonschema.ValidationError`` when ``document`` breaks the schema."""
    raw = document.as_dict() if isinstance(document, Document) else document
    _validator().validate(raw)


@functools.cache
def _record_validator() -> Any:
    """A validator of one record: the schema's record definition, and the definitions it uses."""
    import jsonschema

    return jsonschema.Draft202012Validator({"$defs": schema()["$defs"], "$ref": "#/$defs/record"})


def check_record(record: Record) -> None:
    """Raise ``jsonschema.ValidationError`` when ``record`` breaks the schema's record
    definition. A run checks each record as it arrives, while its workers run, so that the
    finished document's check is of the rest (1.7 ms a record: a second for a three-framework
    run's, after its last worker, otherwise)."""
    _record_validator().validate(record.as_dict())


def write_document(path: str | os.PathLike[str], document: Document, *, records_checked: bool = False) -> None:
    """Write ``document`` as JSON, atomically, after checking it against the schema; with
    ``records_checked``, each of its records has passed :func:`check_record`, and the rest of
    the document is checked."""
    raw = document.as_dict()
    _validator().validate({**raw, "results": []} if records_checked else raw)
    write_atomic(path, json.dumps(raw, indent=1, allow_nan=False) + "\n")


def write_snapshot(path: str | os.PathLike[str], document: Document) -> None:
    """Write the document of a run under way, atomically: unchecked (its records are checked as
    they arrive, the rest when the finished document is written) and on one line (indenting
    takes json's pure-Python encoder, at twice the time, a dozen times in a run whose cores
    its workers need)."""
    write_atomic(path, json.dumps(document.as_dict(), allow_nan=False) + "\n")


def read_json(path: Path, kind: str = "results file") -> Any:
    text = read_text(path, ResultsFileError, kind)
    if not text.strip():
        raise ResultsFileError(f"{path}: empty file")
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ResultsFileError(f"{path}: not JSON (corrupt or truncated?): {exc.msg} at line {exc.lineno}") from None
    except RecursionError:
        raise ResultsFileError(f"{path}: not usable JSON: nested too deeply") from None


def _expand(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Paths as given; a path that does not exist and contains a glob character is expanded
    (sorted), since tox and other shell-less callers pass ``reports/*.json`` literally."""
    expanded: list[Path] = []
    for raw in paths:
        text = os.fspath(raw)
        if not os.path.exists(text) and glob.has_magic(text):
            found = sorted(glob.glob(text))
            if not found:
                raise ResultsFileError(f"{text}: no file matches this pattern")
            expanded.extend(Path(name) for name in found)
        else:
            expanded.append(Path(text))
    return expanded


def document_from(raw: Any, source: str) -> Document:
    """A :class:`Document` from parsed JSON, checked against the schema; ResultsFileError, one
    line naming ``source``, when it is not one."""
    if not isinstance(raw, dict):
        raise ResultsFileError(
            f"{source}: not a results document: the top level is a JSON {type(raw).__name__}, not an object"
        )
    problem = schema_problem(raw)
    if problem is not None:
        raise ResultsFileError(f"{source}: not a valid results document: {problem}")
    return Document.from_dict(raw)


def documents_from(items: Iterable[Document | Mapping[str, Any]]) -> list[Document]:
    """``items`` as documents: a parsed JSON document (a dict) is checked against the schema and
    read; a :class:`Document` passes as it is. The library's entry points take either."""
    return [
        item if isinstance(item, Document) else document_from(item, f"document {n}") for n, item in enumerate(items, 1)
    ]


def load_documents(paths: Iterable[str | os.PathLike[str]]) -> list[Document]:
    """Read and validate results documents, in order.

    A path that does not exist but contains ``*``/``?``/``[`` is a glob pattern.
    Raises ResultsFileError, one line naming the file and the problem, for a missing,
    unreadable, empty, non-JSON or schema-invalid file, or when no paths are given.
    """
    files = _expand(paths)
    if not files:
        raise ResultsFileError("no results files given")
    return [document_from(read_json(path), str(path)) for path in files]


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


def parse_event(line: str) -> dict[str, object] | None:
    """One event of a stream; None for a torn line (a worker killed mid-write)."""
    try:
        event = json.loads(line)
    except json.JSONDecodeError:
        return None
    return event if isinstance(event, dict) else None
