"""Live progress per adapter: rich bars on a terminal, plain lines under CI or in a pipe."""

from __future__ import annotations

import os
import sys
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from conformance.results.records import Record
from conformance.running.session import Display

__all__ = ["Display", "LiveBars", "PlainLines", "display"]

STILL_RUNNING_S = 15.0  # how often a plain line says that a property is still running


def _line(record: Record) -> str:
    return f"{record.property} {record.op} {record.dtype}: {record.status}"


def _running_line(record: Record, seconds: float, examples: int) -> str:
    """``concurrent_calls_agree softmax float32: 45 s, 3 examples``: what runs, for how long."""
    plural = "" if examples == 1 else "s"
    return f"{record.property} {record.op} {record.dtype}: {seconds:.0f} s, {examples} example{plural}"


class PlainLines:
    """One line per finished property: readable in a CI log."""

    def __init__(self, stream: Any = None) -> None:
        self.stream = stream or sys.stderr
        self.totals: dict[str, int] = {}
        self.seen: dict[str, int] = {}
        self.told: dict[tuple[str, str | None], int] = {}  # STILL_RUNNING_S periods announced per property

    def collected(self, spec: str, count: int) -> None:
        self.totals[spec] = count
        print(f"[{spec}] {count} properties to run", file=self.stream, flush=True)

    def record(self, record: Record) -> None:
        spec = record.spec or record.adapter
        self.seen[spec] = self.seen.get(spec, 0) + 1
        total = self.totals.get(spec, "?")
        print(f"[{spec}] {self.seen[spec]}/{total} {_line(record)}", file=self.stream, flush=True)

    def running(self, record: Record, seconds: float, examples: int) -> None:
        """A line every STILL_RUNNING_S that a property runs, so a slow one is not mistaken for a hang."""
        spec = record.spec or record.adapter
        periods = int(seconds // STILL_RUNNING_S)
        if periods > self.told.get((spec, record.nodeid), 0):
            self.told[spec, record.nodeid] = periods
            line = _running_line(record, seconds, examples)
            print(f"[{spec}] still running {line}", file=self.stream, flush=True)

    def close(self) -> None:
        pass


class LiveBars:
    """A bar per adapter, with the property that finished last (adapters' strings escaped:
    rich would read ``[/]`` in a name as markup)."""

    def __init__(self) -> None:
        self.progress = Progress(
            TextColumn("{task.fields[spec]:<22}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("{task.fields[last]}"),
            console=Console(stderr=True),
        )
        self.tasks: dict[str, TaskID] = {}
        self.progress.start()

    def _task(self, spec: str) -> TaskID:
        if spec not in self.tasks:
            self.tasks[spec] = self.progress.add_task("", total=None, spec=escape(spec), last="")
        return self.tasks[spec]

    def collected(self, spec: str, count: int) -> None:
        self.progress.update(self._task(spec), total=count)

    def record(self, record: Record) -> None:
        self.progress.update(self._task(record.spec or record.adapter), advance=1, last=escape(_line(record)))

    def running(self, record: Record, seconds: float, examples: int) -> None:
        line = f"running {_running_line(record, seconds, examples)}"
        self.progress.update(self._task(record.spec or record.adapter), last=escape(line))

    def close(self) -> None:
        self.progress.stop()


def display(plain: bool = False) -> Display:
    """Bars on an interactive terminal; plain lines under ``CI=true``, in a pipe, or when asked."""
    ci = os.environ.get("CI", "").lower() in ("1", "true", "yes")
    if plain or ci or not sys.stderr.isatty():
        return PlainLines()
    return LiveBars()
