"""Processes that compute on a set number of threads: the other side of ``same_bits_on_any_thread_count``.

Most frameworks size their thread pools once, when a process starts: OpenMP and MKL from their
environment variables, TensorFlow's intra-op pool from ``TF_NUM_INTRAOP_THREADS`` when its
runtime starts, XLA's CPU client from the cores the process may run on. So a thread count is
tested in a process of its own, started with it: :class:`ThreadCountProcess` starts
``python -c`` with the adapter's own settings (its ``thread_environment(count)``, see
:mod:`conformance.adapter`) and the common ones (``OMP_NUM_THREADS``, ``MKL_NUM_THREADS``,
``OPENBLAS_NUM_THREADS``, ``TF_NUM_INTRAOP_THREADS``), pinned to ``count`` cores where the machine has them, loads the
adapter there, calls its ``use_threads(count)`` if it has one, and then answers calls sent to
it over a pipe, one at a time, as pickled NumPy arrays. It stays up for the rest of the worker's
session (one per adapter and thread count), and ends when the worker does: its input closes.

Nothing the adapter prints can garble the answers: the process writes them to a copy of its
standard output, and its standard output itself goes to the standard error.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import pickle
import select
import struct
import subprocess
import sys
import time
from typing import IO, Any

import numpy as np

from conformance.adapter import adapter_name
from conformance.checks import heartbeat

# The thread pools of the math libraries a process may load: torch (OpenMP), BLAS, TensorFlow.
# The runner gives each worker its share of the cores through them too.
THREAD_VARIABLES: tuple[str, ...] = (
    "OMP_NUM_THREADS",
    "MKL_NUM_THREADS",
    "OPENBLAS_NUM_THREADS",
    "TF_NUM_INTRAOP_THREADS",
)
STARTUP_S = 300.0  # importing a framework and loading the adapter
_POLL_S = 0.2
_HEADER = struct.Struct("<Q")

# The program of the process: it keeps a copy of its standard output for the answers, sends its
# standard output to its standard error, pins itself to its cores before any framework starts a
# pool, and serves. (A string: this module never imports the loader, a stage above it.)
PROGRAM = """
import os, sys
answers = os.fdopen(os.dup(1), "wb")
os.dup2(2, 1)
cores = [int(core) for core in sys.argv[3].split(",") if core]
if cores:
    os.sched_setaffinity(0, cores)
from conformance import load_adapter
from conformance.checks.thread_count import serve
serve(load_adapter(sys.argv[1]), int(sys.argv[2]), sys.stdin.buffer, answers)
"""


def available_cores() -> list[int]:
    """The cores this process may run on."""
    return sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []


def all_threads() -> int:
    """ "All of them": this process's cores, and at least 2 (a one-core machine still runs two
    threads, taking turns)."""
    return max(2, len(available_cores()))


def thread_environment(adapter: Any, count: int) -> dict[str, str]:
    """The variables a process computing on ``count`` threads starts with: the common ones, then
    the adapter's own (``thread_environment(count)``)."""
    found = {name: str(count) for name in THREAD_VARIABLES}
    own = getattr(adapter, "thread_environment", None)
    if callable(own):
        found.update({str(name): str(value) for name, value in dict(own(count)).items()})
    return found


def pinned_cores(count: int) -> list[int]:
    """The cores a process on ``count`` threads is pinned to: the first ``count`` of this
    process's, or none (no pinning) where it has fewer."""
    cores = available_cores()
    return cores[:count] if len(cores) >= count else []


def _send(stream: IO[bytes], message: Any) -> None:
    payload = pickle.dumps(message, protocol=pickle.HIGHEST_PROTOCOL)
    stream.write(_HEADER.pack(len(payload)) + payload)
    stream.flush()


def _read_exactly(stream: IO[bytes], size: int) -> bytes | None:
    chunks, left = [], size
    while left:
        chunk = stream.read(left)
        if not chunk:
            return None
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _receive(stream: IO[bytes]) -> Any:
    """The next message, or None when the other side has closed."""
    header = _read_exactly(stream, _HEADER.size)
    if header is None:
        return None
    payload = _read_exactly(stream, _HEADER.unpack(header)[0])
    return None if payload is None else pickle.loads(payload)


def serve(adapter: Any, count: int, requests: IO[bytes], answers: IO[bytes]) -> None:
    """In the process: take ``count`` threads (``use_threads``), say so, then answer each
    ``(method, arrays, axis)`` with ``("ok", result)`` or ``("error", what it raised)``, until
    the requests end."""
    setting = getattr(adapter, "use_threads", None)
    if callable(setting):
        setting(count)
    _send(answers, ("ready", f"{adapter_name(adapter)} on {count} thread{'s' if count != 1 else ''}"))
    while (request := _receive(requests)) is not None:
        method, arrays, axis = request
        try:
            result = np.asarray(getattr(adapter, method)(*arrays, axis))
        except Exception as error:
            _send(answers, ("error", f"{type(error).__name__}: {error}"))
            continue
        _send(answers, ("ok", np.array(result, copy=True)))


class ThreadCountError(RuntimeError):
    """The process would not start, died, raised, or did not answer in time."""


class ThreadCountProcess:
    """The adapter of ``spec`` loaded in a process of its own, computing on ``count`` threads."""

    def __init__(self, spec: str, adapter: Any, count: int) -> None:
        self.spec, self.count = spec, count
        self.environment = thread_environment(adapter, count)
        self.cores = pinned_cores(count)
        self._process = subprocess.Popen(
            [sys.executable, "-c", PROGRAM, spec, str(count), ",".join(map(str, self.cores))],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            env={**os.environ, **self.environment},
        )
        reply = self._reply(STARTUP_S, "loading the adapter")
        self.description = str(reply[1])

    def call(self, method: str, arrays: tuple[np.ndarray, ...], axis: int, timeout: float | None) -> np.ndarray:
        """``adapter.method(*arrays, axis)`` in the process: its answer, or a
        :class:`ThreadCountError` saying what went wrong."""
        assert self._process.stdin is not None
        try:
            _send(self._process.stdin, (method, tuple(np.ascontiguousarray(array) for array in arrays), axis))
        except (BrokenPipeError, OSError) as error:
            raise ThreadCountError(f"the {self.count}-thread process is gone ({error})") from None
        status, value = self._reply(timeout, f"{method} on {self.count} thread{'s' if self.count != 1 else ''}")
        if status != "ok":
            raise ThreadCountError(f"{method} raised in the {self.count}-thread process: {value}")
        result: np.ndarray = value
        return result

    def _reply(self, timeout: float | None, doing: str) -> tuple[str, Any]:
        """The process's next message, with the runner told that the worker is busy while it
        waits; a :class:`ThreadCountError` if it ends or takes longer than ``timeout``."""
        assert self._process.stdout is not None
        deadline = None if timeout is None else time.monotonic() + timeout
        while not select.select([self._process.stdout], [], [], _POLL_S)[0]:
            heartbeat.beat(None)
            if self._process.poll() is not None:
                raise ThreadCountError(f"the {self.count}-thread process ended ({self._process.returncode}) {doing}")
            if deadline is not None and time.monotonic() > deadline:
                self.close()
                raise ThreadCountError(f"no answer within {timeout:g} s {doing} in the {self.count}-thread process")
        message = _receive(self._process.stdout)
        if message is None:
            self.close()
            raise ThreadCountError(f"the {self.count}-thread process ended {doing}")
        found: tuple[str, Any] = message
        return found

    def close(self) -> None:
        with contextlib.suppress(OSError):
            if self._process.stdin is not None:
                self._process.stdin.close()
        try:
            self._process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self._process.kill()
            self._process.wait()

    @property
    def alive(self) -> bool:
        return self._process.poll() is None


_processes: dict[tuple[str, int], ThreadCountProcess] = {}


def process_for(spec: str, adapter: Any, count: int) -> ThreadCountProcess:
    """The process of ``spec`` on ``count`` threads, started on first need and kept for the
    rest of this one's life (a dead one is started again)."""
    key = (spec, count)
    found = _processes.get(key)
    if found is None or not found.alive:
        found = _processes[key] = ThreadCountProcess(spec, adapter, count)
    return found


@atexit.register
def _close_all() -> None:
    for process in _processes.values():
        process.close()
    _processes.clear()


def forget(spec: str, count: int) -> None:
    """Close and drop the process of ``spec`` on ``count`` threads (after it failed): the next
    use starts a fresh one."""
    found = _processes.pop((spec, count), None)
    if found is not None:
        found.close()
