"""The bench worker: one adapter's steps in a process of its own, so that its peak resident
set is its own. The parent (:mod:`conformance.scale.bench`) runs it as
``python -m conformance.scale.worker JOB.json EVENTS.jsonl`` and reads the events it
streams (JSON lines).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from conformance.results import records
from conformance.scale.checks import CheckResult, run_checks
from conformance.scale.chunks import CHUNK_ELEMENTS, THREADS
from conformance.scale.full_jacobian import check_full_jacobian
from conformance.scale.large_inputs import random_input
from conformance.scale.memory import (
    current_rss_bytes,
    gib,
    peak_rss_bytes,
    release_memory,
    reset_peak_rss,
    tune_allocator,
)
from conformance.scale.printing import say
from conformance.truth.dtypes import dtype_named


def worker_main(job_path: str, events_path: str) -> int:
    """Run a job's steps on one adapter, streaming events (JSON lines) to ``events_path``."""
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
        say(f"{tag}: the adapter did not load: {type(error).__name__}: {first}")
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
            say(f"{tag}: {message}")
            return 4
    stream.emit("done", seconds=round(time.perf_counter() - started, 3), peak_rss_bytes=peak_rss_bytes())
    stream.close()
    return 0


def _run_step(adapter: Any, job: dict[str, Any], step: dict[str, Any], stream: Any, tag: str) -> None:
    elements, row_length, approach = int(step["elements"]), int(step["row_length"]), step["approach"]
    verbose = bool(step.get("verbose"))
    dtype = dtype_named(job["dtype"])
    release_memory(full=True)
    reset = reset_peak_rss()
    start_rss = current_rss_bytes()
    stream.emit("step_started", approach=approach, elements=elements, peak_reset=reset)
    started = time.perf_counter()
    if verbose:
        say(f"{tag}: {elements} {job['dtype']} logits in rows of {row_length} (seed {job['seed']})")
    x = random_input(elements // row_length, row_length, dtype, job["seed"], job["axis"])
    input_seconds = time.perf_counter() - started
    checks: list[CheckResult] = []

    def progress(name: str, op: Any, result: CheckResult | None) -> None:
        if result is None:
            stream.emit("check_started", name=name, op=op, approach=approach, elements=elements)
            return
        stream.emit("check", approach=approach, elements=elements, **result.as_record())
        if verbose:
            say(f"{tag}: {_check_line(result.as_record())}")

    ops = list(job["ops"])
    if approach == "o_n":
        checks = run_checks(
            adapter, x, job["axis"], job["seed"], ops=ops, cotangents=job["cotangents"], progress=progress
        )
    else:
        for op in ops:
            progress("full_jacobian", op, None)
            result = check_full_jacobian(adapter, x, job["axis"], op=op)
            progress("full_jacobian", op, result)
            checks.append(result)
    del x
    seconds = time.perf_counter() - started
    peak = peak_rss_bytes()
    release_memory(full=True)
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
        threads=THREADS,
        chunk_elements=CHUNK_ELEMENTS,
        dtype=np.dtype(dtype).name,
    )
    if not verbose:
        verdict = "passed" if all(check.passed for check in checks) else "FAILED"
        say(f"{tag}: scaling {approach} N={elements}: {verdict}, {seconds:.2f} s, peak RSS {gib(peak)}")


def _check_line(check: dict[str, Any]) -> str:
    if check["skipped"]:
        return f"{check['op']} {check['name']}: {check['message']}"
    ulps = check["max_error_ulp"]
    worst = f"max {ulps:.3g} ulp" if ulps is not None else "max ? ulp"
    verdict = "passed" if check["passed"] else "FAILED"
    line = f"{check['op']} {check['name']}: {verdict}, {worst} ({check['seconds']:.1f} s)"
    return line if check["passed"] else f"{line}: {check['message']}"


def main(argv: Sequence[str]) -> int:
    if len(argv) != 2:
        print(
            "usage: python -m conformance.scale.worker JOB.json EVENTS.jsonl (run by `conformance bench`)",
            file=sys.stderr,
        )
        return 2
    return worker_main(argv[0], argv[1])


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
