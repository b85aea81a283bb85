"""``python -m conformance bench``: check one large input per adapter in O(N) memory, and
measure what it costs.

Each adapter runs in a worker process of its own (``python -m conformance.scale.worker``),
so its peak resident set is its own: the worker reads ``VmHWM`` from ``/proc/self/status``
(else ``getrusage``) when it is done, and the parent also gets the child's ``ru_maxrss``
from ``wait4``, which is what a crashed worker's record shows. A worker that dies of a
signal or runs past ``--timeout`` becomes a failed record naming the signal or the timeout
and the check it was in; the other adapters still run.

Per adapter the bench runs:

1. the O(N) checks of :mod:`conformance.scale.checks` on one input of ``--elements``
   logits (rows of ``--row-length``, N(0, 1) * 3, seeded), the *result* of the adapter;
2. the *scaling* comparison, in a second worker: at each of ``--scaling-sizes`` the same
   O(N) checks and the full-Jacobian approach (``adapter.jacobian`` compared with the whole
   oracle Jacobian, what the ``jacobian_accuracy`` property does), each step's peak RSS
   measured alone by resetting the high-water mark (``/proc/self/clear_refs``) before it,
   or in a worker per step where that is not possible. A full-Jacobian step that would
   not fit in the memory available is recorded as skipped, with the estimate.

``--frameworks`` takes each framework's primary path (``torch``, ``jax-jit``,
``tensorflow-function``), as ``run`` does: each costs minutes at 1e8 elements. Without
``--frameworks`` or ``--adapter``, the primary path of every installed framework but the
NumPy reference.

The exit status is 0 when every adapter's O(N) checks pass, 1 otherwise (the scaling
measurements are reported, not judged), 2 for a bad command line.
"""

from __future__ import annotations

import json
import math
import os
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from conformance.running.processes import signal_name
from conformance.scale.memory import (
    MEMORY_HEADROOM,
    full_jacobian_estimate,
    gib,
    memory_available_bytes,
    reset_peak_rss,
)
from conformance.scale.options import BenchOptions
from conformance.scale.printing import print_tables, say

EXIT_OK, EXIT_FAILED = 0, 1
_POLL_S = 0.1


def _step_row_length(elements: int, row_length: int) -> int:
    """The row length for a scaling step: ``row_length`` when it divides ``elements``,
    else the largest divisor of both (a single row of 100 for N = 100, rows of 1000)."""
    return math.gcd(elements, row_length)


@dataclass
class WorkerOutcome:
    events: list[dict[str, Any]]
    returncode: int
    timed_out: bool
    wall_seconds: float
    maxrss_bytes: int | None

    def last(self, name: str) -> dict[str, Any] | None:
        found = [event for event in self.events if event.get("event") == name]
        return found[-1] if found else None

    def all(self, name: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event.get("event") == name]


def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's C++ info lines would drown the progress
    repo = str(Path(__file__).resolve().parents[2])
    env["PYTHONPATH"] = os.pathsep.join(part for part in (repo, env.get("PYTHONPATH", "")) if part)
    return env


def run_worker(spec: str, job: dict[str, Any], timeout: float, folder: Path) -> WorkerOutcome:
    """Run one worker to the end (or kill it at ``timeout``) and read its events."""
    from conformance.results import records

    index = len(list(folder.glob("job-*.json")))
    job_path, events_path = folder / f"job-{index}.json", folder / f"events-{index}.jsonl"
    job_path.write_text(json.dumps({"spec": spec, **job}), encoding="utf-8")
    events_path.touch()
    command = [sys.executable, "-m", "conformance.scale.worker", str(job_path), str(events_path)]
    try:
        stdout: Any = sys.stderr.fileno()  # the table owns stdout; a framework's prints go to stderr
    except (AttributeError, OSError, ValueError):
        stdout = subprocess.DEVNULL
    started = time.monotonic()
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=stdout, env=_child_env())
    timed_out = False
    try:
        while True:
            pid, status, usage = os.wait4(process.pid, os.WNOHANG)
            if pid:
                break
            if time.monotonic() - started > timeout:
                process.kill()
                pid, status, usage = os.wait4(process.pid, 0)
                timed_out = True
                break
            time.sleep(_POLL_S)
    except BaseException:
        process.kill()
        process.wait()
        raise
    process.returncode = os.waitstatus_to_exitcode(status)
    lines = events_path.read_text(encoding="utf-8").splitlines()
    events = [event for event in map(records.parse_event, lines) if event is not None]
    maxrss = int(usage.ru_maxrss) * 1024 if usage.ru_maxrss else None
    return WorkerOutcome(events, process.returncode, timed_out, time.monotonic() - started, maxrss)


def _death(outcome: WorkerOutcome, timeout: float) -> str:
    """Why a worker ended early, and in which check."""
    started = outcome.all("check_started")
    finished = {(event["name"], event["op"], event["elements"], event["approach"]) for event in outcome.all("check")}
    running = [
        event for event in started if (event["name"], event["op"], event["elements"], event["approach"]) not in finished
    ]
    during = f" during {running[-1]['op']} {running[-1]['name']} (N={running[-1]['elements']})" if running else ""
    if outcome.timed_out:
        return f"the worker was killed after {timeout:g} s (--timeout){during}"
    if outcome.returncode < 0:
        return f"the worker died of {signal_name(outcome.returncode)}{during}"
    error = outcome.last("error")
    if error is not None:
        return str(error["message"])
    return f"the worker exited with status {outcome.returncode}{during}"


def _interrupted_check(outcome: WorkerOutcome, message: str, elements: int, approach: str) -> list[dict[str, Any]]:
    """The checks a worker finished at ``elements``, plus the one it died in, as failed."""
    checks = [
        {key: value for key, value in event.items() if key not in ("event", "approach", "elements")}
        for event in outcome.all("check")
        if event["elements"] == elements and event["approach"] == approach
    ]
    started = [e for e in outcome.all("check_started") if e["elements"] == elements and e["approach"] == approach]
    if started and len(started) > len(checks):
        last = started[-1]
        checks.append(
            {
                "name": last["name"],
                "op": last["op"],
                "passed": False,
                "skipped": False,
                "max_error_ulp": None,
                "message": message,
                "seconds": None,
            }
        )
    return checks


def bench_adapter(spec: str, options: BenchOptions, folder: Path) -> dict[str, Any]:
    """The O(N) checks of ``spec`` at ``options.elements``: one result record."""
    from conformance.adapters import framework_of

    job = _job(
        options, [{"approach": "o_n", "elements": options.elements, "row_length": options.row_length, "verbose": True}]
    )
    outcome = run_worker(spec, job, options.timeout, folder)
    loaded = outcome.last("loaded") or {}
    record: dict[str, Any] = {
        "adapter": loaded.get("adapter") or spec,
        "spec": spec,
        "framework": framework_of(spec),
        "device": loaded.get("device"),
        "elements": options.elements,
        "dtype": options.dtype,
        "row_length": options.row_length,
        "axis": options.axis,
        "ops": list(options.ops),
        "seed": options.seed,
    }
    step = outcome.last("step")
    if step is not None and outcome.returncode == 0 and not outcome.timed_out:
        record.update(
            seconds=step["seconds"],
            peak_rss_bytes=step["peak_rss_bytes"],
            passed=bool(step["passed"]),
            message="" if step["passed"] else _failures(step["checks"]),
            checks=step["checks"],
            input_seconds=step["input_seconds"],
            threads=step["threads"],
            chunk_elements=step["chunk_elements"],
        )
    else:
        message = _death(outcome, options.timeout)
        record.update(
            seconds=None,
            peak_rss_bytes=outcome.maxrss_bytes,
            passed=False,
            message=message,
            checks=_interrupted_check(outcome, message, options.elements, "o_n"),
        )
    record.update(
        load_seconds=loaded.get("load_seconds"),
        worker_seconds=round(outcome.wall_seconds, 3),
        worker_maxrss_bytes=outcome.maxrss_bytes,
        returncode=outcome.returncode,
    )
    return record


def _failures(checks: list[dict[str, Any]]) -> str:
    return "; ".join(f"{c['op']} {c['name']}: {c['message']}" for c in checks if not c["passed"])


def _job(options: BenchOptions, steps: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "dtype": options.dtype,
        "seed": options.seed,
        "ops": list(options.ops),
        "cotangents": options.cotangents,
        "axis": options.axis,
        "steps": steps,
    }


def bench_scaling(spec: str, options: BenchOptions, folder: Path, adapter: str) -> list[dict[str, Any]]:
    """Both approaches at each of ``options.scaling_sizes``: one record per (size, approach)."""
    from conformance.truth.dtypes import dtype_named

    itemsize = dtype_named(options.dtype).itemsize
    available = memory_available_bytes()
    records: list[dict[str, Any]] = []
    steps: list[dict[str, Any]] = []
    for elements in options.scaling_sizes:
        row_length = _step_row_length(elements, options.row_length)
        for approach in ("o_n", "full_jacobian"):
            base = {
                "adapter": adapter,
                "spec": spec,
                "elements": elements,
                "approach": approach,
                "row_length": row_length,
                "dtype": options.dtype,
            }
            estimate = full_jacobian_estimate(elements, itemsize) if approach == "full_jacobian" else None
            if estimate is not None and available is not None and estimate > MEMORY_HEADROOM * available:
                records.append(
                    {
                        **base,
                        "seconds": None,
                        "peak_rss_bytes": None,
                        "passed": None,
                        "skipped": True,
                        "estimated_bytes": estimate,
                        "message": f"skipped: needs about {gib(estimate)} ({elements}^2 entries), "
                        f"{gib(available)} available",
                    }
                )
                continue
            steps.append({"approach": approach, "elements": elements, "row_length": row_length})
            records.append({**base, "estimated_bytes": estimate})
    if not steps:
        return records
    # One worker for all steps when the high-water mark can be reset, else one per step; a
    # worker that dies loses the step it was in, and a fresh one carries on with the rest.
    shared = reset_peak_rss()
    pending = list(steps)
    while pending:
        batch = pending if shared else pending[:1]
        outcome = run_worker(spec, _job(options, batch), options.timeout, folder)
        done = {(event["approach"], event["elements"]): event for event in outcome.all("step")}
        for step in list(batch):
            record = next(r for r in records if r["elements"] == step["elements"] and r["approach"] == step["approach"])
            event = done.get((step["approach"], step["elements"]))
            if event is not None:
                record.update(
                    seconds=event["seconds"],
                    peak_rss_bytes=event["peak_rss_bytes"],
                    start_rss_bytes=event["start_rss_bytes"],
                    passed=bool(event["passed"]),
                    skipped=False,
                    message="" if event["passed"] else _failures(event["checks"]),
                )
                pending.remove(step)
            elif not any(
                e["elements"] == step["elements"] and e["approach"] == step["approach"]
                for e in outcome.all("step_started")
            ) and outcome.all("step_started"):
                continue  # never reached: the next worker runs it
            else:
                record.update(
                    seconds=None,
                    peak_rss_bytes=None,
                    passed=False,
                    skipped=False,
                    message=f"not measured: {_death(outcome, options.timeout)}",
                )
                pending.remove(step)
    return records


def run(options: BenchOptions, console: Any = None) -> int:
    """The bench: every adapter in turn, the table, the JSON. Returns the exit status."""
    from conformance.results import records

    started, clock = records.now(), time.monotonic()
    document: dict[str, Any] = {
        "schema_version": 1,
        "kind": "bench",
        "metadata": {
            "python": platform.python_version(),
            "platform": platform.platform(),
            "timestamp": started,
            "frameworks": records.framework_versions(),
            "command": ["python", "-m", "conformance", *sys.argv[1:]],
            "options": {key: value for key, value in asdict(options).items() if key != "json_path"},
            "cpus": os.cpu_count(),
            "memory_available_bytes": memory_available_bytes(),
        },
        "results": [],
        "scaling": [],
    }

    def save() -> None:
        document["metadata"]["duration_s"] = round(time.monotonic() - clock, 3)
        if options.json_path:
            records.write_document(options.json_path, document)

    with tempfile.TemporaryDirectory(prefix="conformance-bench-") as temporary:
        folder = Path(temporary)
        for number, spec in enumerate(options.specs, 1):
            say(
                f"bench {spec} ({number} of {len(options.specs)}): N={options.elements} {options.dtype}, "
                f"rows of {options.row_length}, ops {','.join(options.ops)}"
            )
            record = bench_adapter(spec, options, folder)
            document["results"].append(record)
            verdict = "passed" if record["passed"] else "FAILED"
            seconds = "?" if record["seconds"] is None else f"{record['seconds']:.1f} s"
            say(f"bench {spec}: {verdict} in {seconds}, peak RSS {gib(record['peak_rss_bytes'])}")
            document["scaling"].append(
                {
                    "adapter": record["adapter"],
                    "spec": spec,
                    "elements": options.elements,
                    "approach": "o_n",
                    "row_length": options.row_length,
                    "dtype": options.dtype,
                    "seconds": record["seconds"],
                    "peak_rss_bytes": record["peak_rss_bytes"],
                    "passed": record["passed"],
                    "skipped": False,
                    "message": record["message"],
                    "estimated_bytes": None,
                }
            )
            save()
            if options.scaling_sizes:
                say(f"bench {spec}: scaling, sizes {', '.join(map(str, options.scaling_sizes))}")
                document["scaling"][-1:-1] = bench_scaling(spec, options, folder, record["adapter"])
                save()
    save()
    print_tables(document, console)
    return EXIT_OK if all(record["passed"] for record in document["results"]) else EXIT_FAILED
