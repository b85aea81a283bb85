"""Run each adapter in its own worker process, and survive whatever the adapter does.

A worker is ``python -m pytest --pyargs conformance.properties --run-config PATH`` with the
plugin streaming JSON-lines events to a file. The runner reads the stream as it grows:

* a worker killed by a signal (a segfault, an abort) becomes an ``error`` record for the
  test it was running, naming the signal, and a fresh worker carries on with the rest;
* a worker that stops answering (no adapter call starts for ``call_timeout`` seconds plus a
  grace period, i.e. a hang inside C code that the in-process alarm cannot interrupt) is
  killed, and reported the same way, naming the timeout;
* every record is handed to ``on_record`` as it arrives, so a run killed halfway keeps
  what it finished.

With more cores than adapters, each adapter is split into shards, each a worker with its
share of the (op, dtype) pairs: one adapter on two cores runs as two halves. Each worker is
given its whole configuration as one file (:meth:`RunConfig.write`, ``--run-config PATH``),
and its math libraries its share of the cores (:func:`share_cores`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from conformance.checks.large.shared import SHARED_ENVIRONMENT_VARIABLE
from conformance.checks.thread_count import THREAD_VARIABLES
from conformance.results.documents import parse_event
from conformance.results.records import Record, adapter_error
from conformance.running import history
from conformance.running.compilation_cache import cache_root, worker_environment
from conformance.running.config import Profile, RunConfig
from conformance.running.loading import AdapterSpec
from conformance.running.processes import available_cores, signal_name
from conformance.truth.frameworks import framework_of

MAX_RESTARTS = 3  # deaths that no known divergence explains, before a worker's remaining properties are given up
GRACE_S = 10.0
STARTUP_S = 300.0  # importing a framework and collecting, before the first test starts
_POLL_S = 0.05
RUNNING_EVERY_S = 1.0  # how often the runner says what each worker runs


@dataclass
class WorkerStats:
    """What an adapter's workers cost: wall and CPU seconds (summed over its shards and
    restarts) and the largest peak resident set of any of them."""

    seconds: float = 0.0
    cpu_seconds: float = 0.0  # user and system time, its threads' included
    peak_rss_bytes: int = 0

    def as_record(self, spec: str) -> dict[str, Any]:
        return {
            "spec": spec,
            "seconds": round(self.seconds, 3),
            "cpu_seconds": round(self.cpu_seconds, 3),
            "peak_rss_bytes": self.peak_rss_bytes,
        }


@dataclass
class _Worker:
    parsed: AdapterSpec
    folder: Path
    shard: tuple[int, int] | None = None  # (K, N): the K-th of N shares of the (op, dtype) pairs
    restarts: int = 0
    unexplained_deaths: int = 0  # the restarts that count against MAX_RESTARTS
    process: subprocess.Popen[bytes] | None = None
    offset: int = 0
    collected: list[str] = field(default_factory=list)
    done: set[str] = field(default_factory=set)
    current: dict[str, Any] | None = None
    running: Record | None = None  # the property under way, and since when, with its examples so far
    running_since: float = 0.0
    examples: int = 0
    told: float = 0.0  # when the runner last said what it runs
    call_limit: float | None = None  # seconds the call under way may take, as its last beat said
    last_activity: float = 0.0
    started: float | None = None
    launched: float = 0.0  # when the current process started
    finished_metadata: dict[str, Any] | None = None

    @property
    def spec(self) -> str:
        return self.parsed.text

    @property
    def stream(self) -> Path:
        return self.folder / "events.jsonl"

    @property
    def log(self) -> Path:
        return self.folder / f"worker-{self.restarts}.log"


def _of_shard(worker: _Worker) -> str:
    if worker.shard is None:
        return ""
    index, count = worker.shard
    return f" of shard {index + 1} of {count}"


def share_cores(environment: dict[str, str], jobs: int, cores: int) -> dict[str, str]:
    """``environment`` with each of ``jobs`` concurrent workers given its share of ``cores``
    for its math libraries' thread pools (a variable the user set is kept).

    Two workers on two cores, each with a pool of two OpenMP threads, spend their time
    waiting for each other: torch's worker took 33 s next to jax's instead of 7 s alone.
    """
    share = str(max(1, cores // max(1, jobs)))
    return {**{name: share for name in THREAD_VARIABLES}, **environment}


def worker_command(config_path: Path, seed: int | None) -> list[str]:
    """The worker's command line: the properties, with the run configuration at ``config_path``
    (and the seed for Hypothesis' own option).

    The worker is the suite's process, not the user's test session, so nothing of the user's
    pytest setup reaches it: no configuration file (``-c`` the null device), no ``conftest.py``
    (run from a project's folder, its ``tests/conftest.py`` was loaded, and a hook there that
    dropped tests made a run of 1 record of 4 pass), no plugin an installed package offers
    but the suite's and Hypothesis' (no coverage, shuffling or ``-x`` from the user's), and,
    as :class:`Runner` starts it, none of the options a shell or a CI configuration puts in
    ``PYTEST_ADDOPTS``. The plugins ``PYTEST_PLUGINS`` names by hand are loaded: that is how a
    worker is instrumented (``benchmarks.probes.programs``).

    Without pytest's plugin for unraisable exceptions, which collects the garbage twice at the
    end for warnings that nobody reads here (Python's own hook prints them to the worker's log
    instead): a quarter of a second in a jax worker. With Python's own tracebacks: pytest's
    style reads and parses the source file of every frame of a failure's traceback (Hypothesis'
    and the frameworks' included) to show it, about 0.15 s a failed or xfailed test that no
    record uses; torch's 31 xfailed tests of five properties took 10.4 s of CPU that way and
    5.9 s with Python's own."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "--pyargs",
        "conformance.properties",
        "-q",
        "--assert=plain",
        "--tb=native",
        "-c",
        os.devnull,
        "--noconftest",
        "--disable-plugin-autoload",
        "-p",
        "_hypothesis_pytestplugin",
        "-p",
        "conformance.running.plugin",
        "-p",
        "no:cacheprovider",
        "-p",
        "no:warnings",
        "-p",
        "no:unraisableexception",
        "--run-config",
        str(config_path),
    ]
    return command if seed is None else [*command, "--hypothesis-seed", str(seed)]


class Runner:
    """Runs a configuration's adapters in workers, at most ``jobs`` at once, reporting records
    as they arrive."""

    def __init__(
        self,
        config: RunConfig,
        on_record: Callable[[Record], None],
        on_collected: Callable[[str, int], None] = lambda spec, count: None,
        on_running: Callable[[Record, float, int], None] = lambda record, seconds, examples: None,
    ) -> None:
        self.on_record = on_record
        self.on_collected = on_collected
        self.on_running = on_running
        self.adapters: list[dict[str, Any]] = []
        self.behaviour: list[dict[str, Any]] = []
        self.outputs: dict[str, dict[str, np.ndarray]] = {}
        self._scratch = Path(tempfile.mkdtemp(prefix="conformance-run-"))
        self._environment = share_cores(worker_environment(), config.jobs, available_cores())
        # The workers run the suite's properties alone: the Hypothesis plugins of other installed
        # packages (trio's, which selenium brings) cost each worker 0.15 s to load, and add nothing;
        # the options a shell or a CI configuration gives every pytest session (-n auto, --cov)
        # are for the user's tests.
        self._environment.setdefault("HYPOTHESIS_NO_PLUGINS", "1")
        self._environment.pop("PYTEST_ADDOPTS", None)
        self._cache_folder = cache_root(self._environment)
        self.worker_seconds: dict[str, float] = {}  # a worker's time when it ran without a restart (history)
        self.worker_stats: dict[str, WorkerStats] = {}
        self._collected: dict[str, int] = {}
        self._adapter_errors: set[tuple[Any, Any]] = set()
        self._divergences: tuple[list[Any], dict[str, str]] | None = None
        self.coverage: dict[str, Any] = {}  # the edge catalogues' blocks, as the workers report them
        if config.profile is Profile.DEV and config.block is None:  # every worker of the run takes the same
            config = dataclasses.replace(config, block=history.next_run(self._cache_folder))
        self.config = config
        self._call_timeout = config.call_timeout if config.call_timeout is not None else float("inf")

    def run(self) -> None:
        """Run every adapter, each split into shards where that shortens the run, the longest
        worker (as timed in earlier runs) first (:func:`history.plan`)."""
        specs = self.config.specs
        pairs = len(self.config.ops) * len(self.config.dtypes)
        share = self.config.share_of_a_whole_run
        pieces = history.plan(specs, history.load(self._cache_folder), self.config.jobs, pairs, share)
        if len(specs) > 1:  # adapters check the same large inputs: their reference values are computed once
            self._environment[SHARED_ENVIRONMENT_VARIABLE] = str(self._scratch / "references")
        waiting = [
            _Worker(
                self.config.adapters[specs.index(piece.spec)],
                self._scratch / f"{specs.index(piece.spec):02d}-{piece.shard}",
                None if piece.shards == 1 else (piece.shard, piece.shards),
            )
            for piece in pieces
        ]
        active: list[_Worker] = []
        try:
            while waiting or active:
                while waiting and len(active) < max(1, self.config.jobs):
                    worker = waiting.pop(0)
                    worker.folder.mkdir(parents=True, exist_ok=True)
                    self._start(worker)
                    active.append(worker)
                time.sleep(_POLL_S)
                for worker in list(active):
                    if self._step(worker):
                        active.remove(worker)
                    else:
                        self._tell_running(worker)
        finally:
            for worker in active:  # interrupted: leave no worker behind
                self._kill(worker)
            shutil.rmtree(self._scratch, ignore_errors=True)
        history.save(self._cache_folder, self.worker_seconds, share)

    def _start(self, worker: _Worker) -> None:
        skip = None
        if worker.done:
            skip = worker.folder / "skip.txt"
            skip.write_text("\n".join(sorted(worker.done)))
        config_path = worker.folder / "run-config.json"
        self.config.for_worker(worker.parsed, worker.stream, worker.folder, skip, worker.shard).write(config_path)
        command = worker_command(config_path, self.config.seed)
        with open(worker.log, "wb") as log:
            worker.process = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                env=self._environment,
            )
        worker.current = None
        worker.last_activity = worker.launched = time.monotonic()
        if worker.started is None:
            worker.started = worker.last_activity

    def _step(self, worker: _Worker) -> bool:
        """Read new events and watch the process; True once the worker is done for good."""
        self._read_events(worker)
        assert worker.process is not None
        returncode = self._reap(worker, block=False)
        if returncode is None:
            limit = (worker.call_limit or self._call_timeout) + GRACE_S if worker.current else STARTUP_S
            if time.monotonic() - worker.last_activity > limit:
                self._kill(worker)
                self._read_events(worker)
                return self._after_death(
                    worker,
                    f"no answer within {limit:g} s (the call timeout is "
                    f"{self._call_timeout:g} s); the worker was killed",
                )
            return False
        self._read_events(worker)
        if worker.finished_metadata is not None:
            self._collect_probes(worker)
            if worker.restarts == 0 and worker.started is not None:
                # kept as one worker's run would take: the shards' seconds, one startup counted
                startup = history.startup_seconds(worker.spec)
                seconds = time.monotonic() - worker.started - startup
                self.worker_seconds[worker.spec] = self.worker_seconds.get(worker.spec, startup) + seconds
            return True
        if returncode < 0:
            return self._after_death(worker, f"the worker died of {signal_name(returncode)}")
        return self._after_death(worker, f"the worker exited with status {returncode} before finishing")

    def _collect_probes(self, worker: _Worker) -> None:
        meta = worker.finished_metadata or {}
        known = {entry.get("spec") for entry in self.adapters}
        self.adapters.extend(entry for entry in meta.get("adapters", []) if entry.get("spec") not in known)
        self.behaviour.extend(meta.get("behaviour", []))
        self.coverage = self.coverage or meta.get("coverage", {})
        for path in sorted(worker.folder.glob("outputs-*.npz")):
            with np.load(path) as saved:
                answers = self.outputs.setdefault(str(saved["spec"]), {})
                answers.update({key: saved[key] for key in saved.files if key != "spec"})

    def agreement(self) -> list[dict[str, Any]]:
        if len(self.outputs) < 2:  # no pair to compare, and no import for it
            return []
        from conformance.running import probes  # here: it brings the calls' modules and pytest (0.1 s) to a parent

        return probes.pairwise_agreement(self.outputs)

    def _kill(self, worker: _Worker) -> None:
        assert worker.process is not None
        with contextlib.suppress(ProcessLookupError):
            os.killpg(worker.process.pid, signal.SIGKILL)
        self._reap(worker, block=True)

    def _reap(self, worker: _Worker, *, block: bool) -> int | None:
        """The worker's exit status once it has ended (None while it runs), taking its wall time
        and peak resident set (``wait4``'s ``ru_maxrss``) into :attr:`worker_stats`."""
        process = worker.process
        assert process is not None
        if process.returncode is not None:
            return process.returncode
        try:
            pid, status, usage = os.wait4(process.pid, 0 if block else os.WNOHANG)
        except ChildProcessError:  # reaped already
            return process.returncode if process.returncode is not None else -signal.SIGKILL
        if not pid:
            return None
        process.returncode = os.waitstatus_to_exitcode(status)
        stats = self.worker_stats.setdefault(worker.spec, WorkerStats())
        stats.seconds += time.monotonic() - worker.launched
        stats.cpu_seconds += usage.ru_utime + usage.ru_stime
        stats.peak_rss_bytes = max(stats.peak_rss_bytes, int(usage.ru_maxrss) * 1024)
        return process.returncode

    def _read_events(self, worker: _Worker) -> None:
        try:
            with open(worker.stream, "rb") as stream:
                stream.seek(worker.offset)
                chunk = stream.read()
        except FileNotFoundError:
            return
        complete = chunk[: chunk.rfind(b"\n") + 1]
        worker.offset += len(complete)
        for line in complete.decode("utf-8", "replace").splitlines():
            event = parse_event(line)
            if event is not None:
                self._handle(worker, event)

    def _handle(self, worker: _Worker, event: dict[str, Any]) -> None:
        worker.last_activity = time.monotonic()
        kind = event.get("event")
        if kind == "collected" and not worker.collected:
            worker.collected = list(event["nodeids"])
            self._collected[worker.spec] = self._collected.get(worker.spec, 0) + len(worker.collected)
            self.on_collected(worker.spec, self._collected[worker.spec])
        elif kind == "start":
            worker.current = event
            worker.running = Record.from_dict(event["record"])
            worker.running_since, worker.examples = worker.last_activity, 0
            worker.call_limit = None
        elif kind == "beat":
            worker.call_limit = event.get("timeout")
            worker.examples = event.get("examples", worker.examples)
        elif kind == "record":
            record = Record.from_dict(event["record"])
            if record.nodeid is not None:
                worker.done.add(record.nodeid)
            worker.current = None
            self._report(record)
        elif kind == "finished":
            worker.finished_metadata = event.get("metadata", {})

    def _tell_running(self, worker: _Worker) -> None:
        """Hand on the property ``worker`` runs, for how long and with how many examples so
        far, at most once every RUNNING_EVERY_S."""
        moment = time.monotonic()
        if worker.current is None or worker.running is None or moment - worker.told < RUNNING_EVERY_S:
            return
        worker.told = moment
        self.on_running(worker.running, moment - worker.running_since, worker.examples)

    def _report(self, record: Record) -> None:
        """Hand ``record`` on; an adapter that would not load says so from each of its shards,
        and is reported once (a shard that gave up reports its own share of what did not run)."""
        if record.property == "load_adapter":
            key = (record.spec, record.property)
            if key in self._adapter_errors:
                return
            self._adapter_errors.add(key)
        self.on_record(record)

    def _tail(self, worker: _Worker, lines: int = 12) -> str:
        try:
            text = worker.log.read_text(encoding="utf-8", errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.strip().splitlines()[-lines:])

    def _explained(self, record: Record) -> bool:
        """Whether a known divergence of the run explains ``record`` (a worker's death)."""
        from conformance.results import divergences
        from conformance.results.records import framework_versions

        if self._divergences is None:
            entries, _ = divergences.load_all(self.config.divergence_files, defaults=self.config.default_divergences)
            self._divergences = (entries, framework_versions())
        entries, versions = self._divergences
        return any(entry.matches(record, versions) for entry in entries)

    def _after_death(self, worker: _Worker, cause: str) -> bool:
        """Report what the dead worker was doing; restart it on the rest, or give up after
        MAX_RESTARTS deaths that no known divergence explains (a framework that is known to
        crash on some property, once per dtype, would otherwise cost the rest of the run)."""
        tail = self._tail(worker)
        detail = f"{cause}\n\nlast lines of the worker's output:\n{tail}" if tail else cause
        explained = False
        if worker.current is not None:
            identity = Record.from_dict(worker.current["record"])
            worker.done.add(worker.current["nodeid"])
            record = identity.replace(status="error", message=f"{cause} while running this property\n\n{detail}")
            explained = self._explained(record)
            self._report(record)
        elif not worker.collected:
            self._report(
                adapter_error(
                    worker.spec,
                    framework_of(worker.spec),
                    "load_adapter",
                    f"{cause} while loading the adapter\n\n{detail}",
                )
            )
            return True
        remaining = [nodeid for nodeid in worker.collected if nodeid not in worker.done]
        if not remaining:
            return True
        if not explained:
            worker.unexplained_deaths += 1
        if worker.unexplained_deaths > MAX_RESTARTS:
            self._report(
                adapter_error(
                    worker.spec,
                    framework_of(worker.spec),
                    "worker",
                    f"{len(remaining)} properties{_of_shard(worker)} not run: the worker died "
                    f"{worker.restarts + 1} times; last: {detail}",
                )
            )
            return True
        worker.restarts += 1
        self._start(worker)
        return False
