"""One run, from its :class:`RunConfig` to its results document: the one sequence behind
``run``, ``bench`` and the benchmarks.

The runner runs the adapters in workers; each record is matched against the known divergences
(a worker matches its own; what the runner reports for a worker that died is matched here, so
that the run's verdict is the gate's), handed to the display and, every few seconds, written
to the document at ``config.json_path``; an adapter that checked nothing says so; the
document's metadata tells the run's settings, its workers' cost, the adapters' agreement and
the known divergences' problems, and the finished document is written.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol

from conformance.results import bitwise, divergences
from conformance.results import records as results
from conformance.results.documents import check_record, write_document, write_snapshot
from conformance.results.environment import run_environment
from conformance.results.records import Document, Record
from conformance.running.config import RunConfig
from conformance.running.runner import Runner

WRITE_EVERY_S = 2.0  # how often the document of a run under way is rewritten, at most
WRITING_SHARE = 0.05  # and at most this share of the run's time goes into rewriting it


class Display(Protocol):
    """What shows a run as it goes (:mod:`conformance.presentation.progress` has the two kinds):
    each adapter's number of results, each record, a property still running, and the end."""

    def collected(self, spec: str, count: int) -> None: ...

    def record(self, record: Record) -> None: ...

    def running(self, record: Record, seconds: float, examples: int) -> None: ...

    def close(self) -> None: ...


def run_session(config: RunConfig, display: Display, extra_metadata: Mapping[str, Any] | None = None) -> Document:
    """Run ``config`` and return its results document (written to ``config.json_path`` too,
    as it grows and once finished), ``extra_metadata`` added to its metadata."""
    entries, sources = divergences.load_all(config.divergence_files, defaults=config.default_divergences)
    started, clock = results.now(), time.monotonic()
    versions = results.framework_versions()
    found: list[Record] = []
    last_write = [0.0, 0.0]  # when the document was last written, and how long that took

    def document(runner: Runner, **finished: Any) -> Document:
        meta = results.metadata(config.profile, config.seed, runner.adapters, started, time.monotonic() - clock)
        meta.update(
            command=["python", "-m", "conformance", *sys.argv[1:]],
            requested=config.specs,
            behaviour=runner.behaviour,
            workers=[stats.as_record(spec) for spec, stats in runner.worker_stats.items()],
            divergence_files=sources,
            **(extra_metadata or {}),
            **finished,
        )
        if runner.coverage:
            meta["coverage"] = runner.coverage
        tables = bitwise.metadata(found)
        if tables:
            meta["bitwise"] = tables
        return Document(meta, tuple(found))

    def on_record(record: Record) -> None:
        [record] = divergences.apply([record], entries, versions, run_environment(runner.adapters))
        if config.json_path:
            check_record(record)  # while the workers run, not after the last one
        found.append(record)
        display.record(record)
        since, took = time.monotonic() - last_write[0], last_write[1]
        if config.json_path and since > max(WRITE_EVERY_S, took / WRITING_SHARE):
            writing = time.monotonic()
            write_snapshot(config.json_path, document(runner))
            written = time.monotonic()
            last_write[:] = [written, written - writing]

    runner = Runner(config, on_record, display.collected, display.running)
    try:
        runner.run()
    finally:
        display.close()
    for record in results.nothing_checked(config.specs, found):
        on_record(record)
    environment = run_environment(runner.adapters)
    finished = document(
        runner,
        agreement=runner.agreement(),
        divergence_problems=divergences.audit(found, entries, versions, environment),
    )
    if config.json_path:
        write_document(config.json_path, finished, records_checked=True)
    return finished
