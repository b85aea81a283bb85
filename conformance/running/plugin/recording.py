"""Every conformance test becomes a :class:`~conformance.results.records.Record`: its status,
the failure the checks raised (message, reproducer and worst element, typed), what it
measured, and whether a known divergence explains it; streamed to the runner as it ends, and
written as a document at the end of the session."""

from __future__ import annotations

import contextlib
import re
import time
from typing import Any

import numpy as np
import pytest

from conformance.checks import measure
from conformance.checks.calls import QuantityNotSupported, Subject
from conformance.checks.failures import Failure
from conformance.inputs.covering import coverage
from conformance.results import bitwise
from conformance.results.documents import write_document
from conformance.results.records import Document, Record, metadata
from conformance.results.status import Status
from conformance.running.plugin import budgeting, known
from conformance.running.plugin.collection import EDGES
from conformance.running.plugin.session import session_of
from conformance.truth.dtypes import dtype_name

_RECORD = pytest.StashKey[Record]()
_MEASUREMENT = pytest.StashKey[measure.Measurement]()
_BLOB = re.compile(r"@reproduce_failure\([^\n]*\)")


def is_property(item: pytest.Item) -> bool:
    """A conformance property, parametrized: it has an adapter, op and dtype to record."""
    return item.get_closest_marker("conformance") is not None and hasattr(item, "callspec")


def identity(item: pytest.Item, status: str = "skipped", message: str = "") -> Record:
    """The record of ``item`` with only its identity (and ``status``, ``message``) filled in."""
    params = item.callspec.params  # type: ignore[attr-defined]
    subject: Subject = params["subject"]
    marker = item.get_closest_marker("conformance")
    assert marker is not None
    return Record(
        adapter=subject.name,
        spec=subject.spec,
        framework=subject.framework,
        ad_path=subject.ad_path,
        property=marker.kwargs["name"],
        op=params["op"],
        dtype=dtype_name(params["dtype"]),
        status=Status(status),
        message=message,
        nodeid=item.nodeid,
    )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    stream = session_of(item.config).stream
    if stream is not None and is_property(item):
        stream.emit("start", nodeid=item.nodeid, record=identity(item).as_dict())


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run a property, measuring it; where a known divergence is about it, first without
    shrinking (:mod:`known`)."""
    item.stash[_MEASUREMENT] = measure.start()
    maybe_known = is_property(item) and known.may_be_known(item, identity(item))
    try:
        with known.without_shrinking(getattr(item, "obj", None)) if maybe_known else contextlib.nullcontext():
            return (yield)
    except Exception as failure:
        if not maybe_known or _explained(item, failure):
            raise
        item.stash[_MEASUREMENT] = measure.start()  # the figures of the shrunk run
        item.runtest()  # the same seed finds the failure again, and shrinks it
        raise  # it did not fail again: report what failed the first time
    finally:
        measure.stop()


def _explained(item: pytest.Item, failure: BaseException) -> bool:
    status, message, *_ = _classify(failure)
    record = identity(item, status, message).replace(call_dtype=_call_dtype(item, failure))
    return known.explain(item.config, record).status == "xfailed"


def _call_dtype(item: pytest.Item, raised: BaseException) -> str | None:
    """The dtype of the call that failed, when it is not the record's own."""
    error = _first_exception(raised)
    dtype = error.dtype if isinstance(error, Failure) else None
    return dtype if dtype is not None and dtype != identity(item).dtype else None


def _first_exception(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _classify(raised: BaseException) -> tuple[str, str, str | None, Any, str | None, str | None]:
    """status, message, reproducer, worst element, likely cause and native reproducer of what
    a test raised."""
    error = _first_exception(raised)
    if isinstance(error, Failure):
        return error.status, error.message, error.reproducer, error.worst, error.hint, error.native_reproducer
    if isinstance(error, AssertionError):
        return "failed", str(error) or "assertion failed", None, None, None, None
    return "error", f"{type(error).__name__}: {error}", None, None, None, None


def _finite(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if np.isfinite(number) else None


def _record_for(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> Record:
    record = identity(item).replace(duration_s=round(report.duration, 4))
    measurement = item.stash.get(_MEASUREMENT, None)
    if measurement is not None:
        record = record.replace(
            examples=measurement.examples or None,
            max_error_ulp=_finite(measurement.max_error_ulp),
            bound_ulp=_finite(measurement.bound_ulp),
            error_ratios=tuple(value for value in measurement.ratios if np.isfinite(value)),
            bitwise=measurement.bitwise,
        )
    planned = item.stash.get(EDGES, None)
    if planned is not None:
        record = record.replace(checked_combinations=len(planned.combinations), product_combinations=planned.of)
    if report.skipped:
        raised = call.excinfo.value if call.excinfo is not None else None
        if isinstance(raised, pytest.skip.Exception):
            reason = str(raised.msg)
        else:
            reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
            reason = reason.removeprefix("Skipped: ")
        return record.replace(
            status="skipped",
            message=reason,
            not_provided=reason.startswith("not provided"),
            not_supported=isinstance(raised, QuantityNotSupported),
        )
    if report.passed:
        # a passed record claims only what its block checked, and what its time budget let it check
        notes = (
            planned.describe() if planned is not None and planned.combinations else "",
            budgeting.stopped_early(item) or "",
            *(measurement.notes if measurement is not None else ()),
            record.bitwise.describe() if record.bitwise is not None and record.bitwise.differing_draws else "",
        )
        return record.replace(status="passed", message="; ".join(note for note in notes if note))
    blob = _BLOB.search(report.longreprtext)
    record = record.replace(hypothesis_blob=blob.group(0) if blob else None)
    if call.excinfo is None:
        return record.replace(status="error", message=report.longreprtext[-2000:])
    status, message, reproducer, worst, hint, native_reproducer = _classify(call.excinfo.value)
    record = record.replace(
        status=status,
        message=message,
        reproducer=reproducer,
        worst=worst,
        hint=hint,
        native_reproducer=native_reproducer,
        call_dtype=_call_dtype(item, call.excinfo.value),
    )
    if worst is not None and worst.error_ulp is not None:
        # the figures of the example the message reports (Hypothesis' smallest), not of the
        # larger ones it tried while shrinking
        record = record.replace(max_error_ulp=_finite(worst.error_ulp), bound_ulp=_finite(worst.bound_ulp))
    return record


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    if not is_property(item):
        return report
    final = report.when == "call" or (report.when == "setup" and not report.passed)
    if final and _RECORD not in item.stash:
        record = known.explain(item.config, _record_for(item, report, call))
        if record.status == "xfailed" and report.failed:
            report.outcome = "skipped"
            report.wasxfail = record.xfail_reason or "known divergence"
        item.stash[_RECORD] = record
        session_of(item.config).emit(record)
    return report


def run_metadata(config: pytest.Config) -> dict[str, Any]:
    session = session_of(config)
    tables = bitwise.metadata(session.records)
    return {
        **metadata(
            profile=session.run_config.profile,
            seed=session.run_config.seed,
            adapters=[subject.metadata() for subject in session.subjects or []],
            started=session.started,
            duration=time.monotonic() - session.clock,
        ),
        "coverage": coverage(session.run_config.ops, session.run_config.dtypes, session.run_config.block),
        "divergence_files": session.divergence_sources,
        **({"bitwise": tables} if tables else {}),
    }


@pytest.hookimpl(trylast=True)
def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    from conformance.running.plugin import probing

    state = session_of(session.config)
    if state.stream is not None or state.run_config.json_path:
        meta = run_metadata(session.config)
        if state.records:
            probing.probe(session.config, meta)
        if state.stream is not None:
            state.stream.emit("finished", metadata=meta)
            state.stream.close()
        if state.run_config.json_path:
            write_document(state.run_config.json_path, Document(meta, tuple(state.records)))
    if any(record.failing for record in state.records) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED
