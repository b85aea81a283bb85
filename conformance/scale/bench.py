"""``python -m conformance bench``: check one large input per adapter in O(N) memory, and
measure what it costs.

Each adapter runs in a worker process of its own (``python -m conformance.scale.bench --worker``),
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

import argparse
import json
import math
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

DEFAULT_ROW_LENGTH = 1000
DEFAULT_SCALING_SIZES: tuple[int, ...] = (100, 1000, 10_000, 30_000)
DEFAULT_TIMEOUT_S = 3600.0
# Bytes per Jacobian entry that the full-Jacobian approach holds at its peak, beyond the
# adapter's own N x N output: the oracle Jacobian (float64), the bound's absolute and scale
# (float64 each, embedded from the blocks), and the comparison's error and masks. Measured
# at N = 1e4 (float32): a peak RSS of 6.0-6.3 GiB for torch, jax and tensorflow, ~64 bytes
# per entry in all.
FULL_JACOBIAN_BYTES_PER_ENTRY = 60.0
MEMORY_HEADROOM = 0.85  # share of MemAvailable a step may be estimated to take
APPROACHES: tuple[str, ...] = ("full_jacobian", "o_n")
EXIT_OK, EXIT_FAILED = 0, 1
_POLL_S = 0.1


class BenchArgumentError(ValueError):
    """A bad bench argument; the message is one line."""


def element_count(text: str) -> int:
    """argparse type for ``--elements``: a positive integer, written ``100000000``,
    ``100_000_000`` or ``1e8``."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of elements") from None
        if not math.isfinite(number) or number != int(number):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of elements") from None
        value = int(number)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of elements must be positive")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


@dataclass
class BenchOptions:
    specs: list[str]
    elements: int
    dtype: str = "float32"
    row_length: int = DEFAULT_ROW_LENGTH
    seed: int = 0
    ops: list[str] = field(default_factory=lambda: ["softmax"])
    cotangents: int = 3
    scaling_sizes: list[int] = field(default_factory=lambda: list(DEFAULT_SCALING_SIZES))
    timeout: float = DEFAULT_TIMEOUT_S
    json_path: str | None = None
    axis: int = -1


def bench_specs(frameworks: list[str] | None, adapters: Sequence[str]) -> list[str]:
    """The adapters to bench: each named framework's primary path, then ``adapters``;
    by default every installed framework's but NumPy's. Unknown names raise
    :class:`~conformance.running.loading.AdapterSpecError` (one line, exit 2)."""
    from conformance.running.loading import check_spec, framework_adapter_specs, installed_frameworks

    specs = framework_adapter_specs(frameworks or []) + list(adapters)
    if not specs:
        specs = framework_adapter_specs([name for name in installed_frameworks() if name != "numpy"] or ["numpy"])
    for spec in specs:
        check_spec(spec)
    return list(dict.fromkeys(specs))


def validate(options: BenchOptions) -> None:
    """Raise :class:`BenchArgumentError` for arguments no worker could run."""
    from conformance.truth.dtypes import dtype_named
    from conformance.truth.oracle import OPS

    dtype_named(options.dtype)
    if options.row_length <= 0:
        raise BenchArgumentError(f"--row-length={options.row_length}, but a row needs at least one element")
    if options.elements % options.row_length:
        nearest = max(1, options.elements // options.row_length) * options.row_length
        raise BenchArgumentError(
            f"--elements={options.elements} does not divide into rows of --row-length={options.row_length}; "
            f"give a multiple of {options.row_length} (e.g. {nearest})"
        )
    unknown = [op for op in options.ops if op not in OPS]
    if unknown or not options.ops:
        raise BenchArgumentError(f"--ops={','.join(options.ops)}, but the ops are: {', '.join(OPS)}")
    if options.cotangents < 1:
        raise BenchArgumentError(f"--cotangents={options.cotangents}, but at least one cotangent is needed")


def scaling_sizes(values: list[str] | None) -> list[int]:
    """``--scaling-sizes``: element counts, or ``none`` for no scaling comparison."""
    if values is None:
        return list(DEFAULT_SCALING_SIZES)
    if [value.lower() for value in values] in ([], ["none"]):
        return []
    sizes = []
    for value in values:
        try:
            sizes.append(element_count(value))
        except argparse.ArgumentTypeError as error:
            raise BenchArgumentError(f"--scaling-sizes: {error}") from None
    return sorted(set(sizes))


# -- memory ----------------------------------------------------------------------------------


def _status_bytes(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set: ``VmHWM``, else ``ru_maxrss`` (KiB on Linux)."""
    found = _status_bytes("VmHWM")
    if found is not None:
        return found
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def current_rss_bytes() -> int | None:
    return _status_bytes("VmRSS")


def reset_peak_rss() -> bool:
    """Set the high-water mark to the current resident set (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def memory_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def full_jacobian_estimate(elements: int, itemsize: int) -> int:
    """Bytes the full-Jacobian approach needs at ``elements``, beyond the process's baseline."""
    return int(elements * elements * (itemsize + FULL_JACOBIAN_BYTES_PER_ENTRY))


def _gib(value: int | float | None) -> str:
    return "?" if value is None else f"{value / 2**30:.2f} GiB"


# -- the worker ------------------------------------------------------------------------------


def _say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _step_row_length(elements: int, row_length: int) -> int:
    """The row length for a scaling step: ``row_length`` when it divides ``elements``,
    else the largest divisor of both (a single row of 100 for N = 100, rows of 1000)."""
    return math.gcd(elements, row_length)


def worker_main(job_path: str, events_path: str) -> int:
    """Run a job's steps on one adapter, streaming events (JSON lines) to ``events_path``."""
    from conformance.results import records
    from conformance.scale.checks import tune_allocator

    started = time.perf_counter()
    tune_allocator()
    job = json.loads(Path(job_path).read_text(encoding="utf-8"))
    stream = records.Stream(events_path)
    spec, tag = job["spec"], f"bench {job['spec']}"
    try:
        from conformance.adapter import adapter_name
        from conformance.running.loading import load_adapter

        adapter = load_adapter(spec)
    except BaseException as error:  # an adapter that fails to load is a result, not a crash
        first = (str(error).splitlines() or [""])[0]
        stream.emit("error", message=f"the adapter did not load: {type(error).__name__}: {first}")
        _say(f"{tag}: the adapter did not load: {type(error).__name__}: {first}")
        return 3
    load_seconds = time.perf_counter() - started
    stream.emit(
        "loaded",
        adapter=adapter_name(adapter),
        device=str(getattr(adapter, "device", "") or "") or None,
        load_seconds=round(load_seconds, 3),
        rss_bytes=current_rss_bytes(),
    )
    for step in job["steps"]:
        try:
            _run_step(adapter, job, step, stream, tag)
        except Exception as error:  # the suite's own failure (e.g. MemoryError making x): say so, stop
            first = (str(error).splitlines() or [""])[0]
            message = f"the bench failed at N={step['elements']}: {type(error).__name__}: {first}"
            stream.emit("error", message=message)
            _say(f"{tag}: {message}")
            return 4
    stream.emit("done", seconds=round(time.perf_counter() - started, 3), peak_rss_bytes=peak_rss_bytes())
    stream.close()
    return 0


def _run_step(adapter: Any, job: dict[str, Any], step: dict[str, Any], stream: Any, tag: str) -> None:
    import numpy as np

    from conformance.scale import checks as large_checks
    from conformance.truth.dtypes import dtype_named

    elements, row_length, approach = int(step["elements"]), int(step["row_length"]), step["approach"]
    verbose = bool(step.get("verbose"))
    dtype = dtype_named(job["dtype"])
    large_checks.release_memory(full=True)
    reset = reset_peak_rss()
    start_rss = current_rss_bytes()
    stream.emit("step_started", approach=approach, elements=elements, peak_reset=reset)
    started = time.perf_counter()
    if verbose:
        _say(f"{tag}: {elements} {job['dtype']} logits in rows of {row_length} (seed {job['seed']})")
    x = large_checks.random_input(elements // row_length, row_length, dtype, job["seed"], job["axis"])
    input_seconds = time.perf_counter() - started
    checks: list[large_checks.CheckResult] = []

    def progress(name: str, op: Any, result: large_checks.CheckResult | None) -> None:
        if result is None:
            stream.emit("check_started", name=name, op=op, approach=approach, elements=elements)
            return
        stream.emit("check", approach=approach, elements=elements, **result.as_record())
        if verbose:
            _say(f"{tag}: {_check_line(result.as_record())}")

    ops = list(job["ops"])
    if approach == "o_n":
        checks = large_checks.run_checks(
            adapter, x, job["axis"], job["seed"], ops=ops, cotangents=job["cotangents"], progress=progress
        )
    else:
        for op in ops:
            progress("full_jacobian", op, None)
            result = large_checks.check_full_jacobian(adapter, x, job["axis"], op=op)
            progress("full_jacobian", op, result)
            checks.append(result)
    del x
    seconds = time.perf_counter() - started
    peak = peak_rss_bytes()
    large_checks.release_memory(full=True)
    stream.emit(
        "step",
        approach=approach,
        elements=elements,
        row_length=row_length,
        seconds=round(seconds, 3),
        input_seconds=round(input_seconds, 3),
        peak_rss_bytes=peak,
        start_rss_bytes=start_rss,
        peak_reset=reset,
        passed=all(check.passed for check in checks),
        checks=[check.as_record() for check in checks],
        threads=large_checks.THREADS,
        chunk_elements=large_checks.CHUNK_ELEMENTS,
        dtype=np.dtype(dtype).name,
    )
    if not verbose:
        verdict = "passed" if all(check.passed for check in checks) else "FAILED"
        _say(f"{tag}: scaling {approach} N={elements}: {verdict}, {seconds:.2f} s, peak RSS {_gib(peak)}")


def _check_line(check: dict[str, Any]) -> str:
    if check["skipped"]:
        return f"{check['op']} {check['name']}: {check['message']}"
    ulps = check["max_error_ulp"]
    worst = f"max {ulps:.3g} ulp" if ulps is not None else "max ? ulp"
    verdict = "passed" if check["passed"] else "FAILED"
    line = f"{check['op']} {check['name']}: {verdict}, {worst} ({check['seconds']:.1f} s)"
    return line if check["passed"] else f"{line}: {check['message']}"


# -- the parent ------------------------------------------------------------------------------


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


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


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
    command = [sys.executable, "-m", "conformance.scale.bench", "--worker", str(job_path), str(events_path)]
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
        return f"the worker died of {_signal_name(outcome.returncode)}{during}"
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
    from adapters import framework_of

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
                        "message": f"skipped: needs about {_gib(estimate)} ({elements}^2 entries), "
                        f"{_gib(available)} available",
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
            _say(
                f"bench {spec} ({number} of {len(options.specs)}): N={options.elements} {options.dtype}, "
                f"rows of {options.row_length}, ops {','.join(options.ops)}"
            )
            record = bench_adapter(spec, options, folder)
            document["results"].append(record)
            verdict = "passed" if record["passed"] else "FAILED"
            seconds = "?" if record["seconds"] is None else f"{record['seconds']:.1f} s"
            _say(f"bench {spec}: {verdict} in {seconds}, peak RSS {_gib(record['peak_rss_bytes'])}")
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
                _say(f"bench {spec}: scaling, sizes {', '.join(map(str, options.scaling_sizes))}")
                document["scaling"][-1:-1] = bench_scaling(spec, options, folder, record["adapter"])
                save()
    save()
    print_tables(document, console)
    return EXIT_OK if all(record["passed"] for record in document["results"]) else EXIT_FAILED


def print_tables(document: dict[str, Any], console: Any = None) -> None:
    from rich.console import Console
    from rich.table import Table

    console = console or Console()
    table = Table(title="softmax bench: O(N) checks of one large input")
    for column, justify in (
        ("adapter", "left"),
        ("elements", "right"),
        ("dtype", "left"),
        ("seconds", "right"),
        ("peak RSS", "right"),
        ("verdict", "left"),
    ):
        table.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for record in document["results"]:
        failing = [f"{c['op']} {c['name']}" for c in record["checks"] if not c["passed"]]
        verdict = "conforms" if record["passed"] else "FAILS " + (", ".join(failing) or record["message"][:80])
        table.add_row(
            record["spec"],
            f"{record['elements']:,}",
            record["dtype"],
            _seconds(record["seconds"]),
            _gib(record["peak_rss_bytes"]),
            verdict,
            style=None if record["passed"] else "bold red",
        )
    console.print(table)
    for record in document["results"]:
        if not record["passed"]:
            console.print(
                f"FAILED {record['spec']}: {record['message']}", markup=False, highlight=False, soft_wrap=True
            )
    if not document["scaling"]:
        return
    scaling = Table(title="scaling: the full Jacobian against the O(N) checks")
    for column, justify in (
        ("adapter", "left"),
        ("elements", "right"),
        ("approach", "left"),
        ("seconds", "right"),
        ("peak RSS", "right"),
        ("note", "left"),
    ):
        scaling.add_column(column, justify=justify, overflow="fold")  # type: ignore[arg-type]
    for entry in document["scaling"]:
        if entry.get("skipped"):
            note = f"skipped: would need ~{_gib(entry.get('estimated_bytes'))}"
        elif entry["passed"]:
            note = "passed"
        else:
            note = "FAILED: " + (entry["message"] or "")[:200]
        scaling.add_row(
            entry["spec"],
            f"{entry['elements']:,}",
            entry["approach"],
            _seconds(entry["seconds"]),
            _gib(entry["peak_rss_bytes"]),
            note,
        )
    console.print(scaling)


def _seconds(value: float | None) -> str:
    return "?" if value is None else f"{value:.2f}"


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """:class:`BenchOptions` from the ``bench`` command line, validated."""
    options = BenchOptions(
        specs=[],
        elements=args.elements,
        dtype=args.dtype,
        row_length=args.row_length,
        seed=args.seed,
        ops=list(args.ops),
        cotangents=args.cotangents,
        scaling_sizes=scaling_sizes(args.scaling_sizes),
        timeout=args.timeout,
        json_path=args.json_path,
    )
    validate(options)
    options.specs = bench_specs(args.frameworks, args.adapter)
    return options


def _worker_cli(argv: Sequence[str]) -> int:
    if len(argv) != 3 or argv[0] != "--worker":
        print(
            "usage: python -m conformance.scale.bench --worker JOB.json EVENTS.jsonl (run by `conformance bench`)",
            file=sys.stderr,
        )
        return 2
    return worker_main(argv[1], argv[2])


if __name__ == "__main__":
    sys.exit(_worker_cli(sys.argv[1:]))
