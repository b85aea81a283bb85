"""The least time any run can take that calls every quantity of every op and dtype once per adapter.

    python -m benchmarks.probes.compile_floor --out floor.json
    python -m benchmarks.probes.compile_floor --frameworks jax --cache /tmp/warm --out warm.json

(``python -m benchmarks run compile-floor`` runs it for the three frameworks.)

For each adapter of the given frameworks, a fresh interpreter (the way the runner starts a
worker) loads it and calls each method it provides (softmax, vjp, jacobian, jvp and
vjp_derivative, for both ops) on a single (3, 4) input, axis -1, in each dtype it declares:
first on one input, then again on another of the same shape. The first call pays whatever
the framework does once per program (tracing, compiling, dispatch caches); the repeat shows
what a call costs after that.

Every conformance run makes at least these first calls, in every worker, and on many more
shapes, axes and layouts than one; so the sum of the workers' start-up and first calls,
divided by the cores, is a lower bound on the wall time of any run of these adapters.

The compilation cache is off by default (``--cache off``), which measures a first run on
a fresh machine; ``--cache DIR`` measures with the runner's on-disk cache in DIR (run it
twice to see a warm cache).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
SHAPE = (3, 4)


def measure_adapter(spec: str) -> dict[str, Any]:
    """In this (fresh) interpreter: load ``spec``, then time every first and repeated call."""
    started = time.perf_counter()
    import numpy as np

    from conformance.adapter import provided_method, supported_dtypes
    from conformance.checks.quantities import VECTORS
    from conformance.running.loading import load_adapter
    from conformance.truth.dtypes import DTYPES
    from conformance.truth.oracle import OPS

    adapter = load_adapter(spec)
    load_s = time.perf_counter() - started
    rng = np.random.default_rng(0)
    first_s = repeat_s = 0.0
    calls = 0
    failures: list[str] = []
    for dtype_name in supported_dtypes(adapter):
        dtype = DTYPES[dtype_name]
        for op in OPS:
            for quantity, vector_names in VECTORS.items():
                method = provided_method(adapter, op, quantity)
                if method is None:
                    continue
                for attempt in ("first", "repeat"):
                    arrays = [rng.standard_normal(SHAPE).astype(dtype) for _ in range(1 + len(vector_names))]
                    began = time.perf_counter()
                    try:
                        method(*arrays, -1)
                    except Exception as error:  # reported, not fatal: the floor is still a bound
                        failures.append(f"{op} {quantity} {dtype_name}: {type(error).__name__}")
                    elapsed = time.perf_counter() - began
                    if attempt == "first":
                        first_s += elapsed
                        calls += 1
                    else:
                        repeat_s += elapsed
    return {
        "spec": spec,
        "load_s": round(load_s, 3),
        "programs": calls,
        "first_calls_s": round(first_s, 3),
        "repeat_calls_s": round(repeat_s, 3),
        "once_per_program_s": round(first_s - repeat_s, 3),
        "failures": failures,
    }


def measure_in_fresh_interpreter(spec: str, cache: str) -> dict[str, Any]:
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CONFORMANCE_COMPILATION_CACHE": cache}
    from conformance.running.compilation_cache import worker_environment

    started = time.perf_counter()
    completed = subprocess.run(
        [sys.executable, "-m", "benchmarks.probes.compile_floor", "--child", spec],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=worker_environment(environment),
        check=False,
    )
    wall = time.perf_counter() - started
    if completed.returncode != 0:
        return {"spec": spec, "error": (completed.stderr.strip().splitlines() or ["?"])[-1]}
    return {**json.loads(completed.stdout.strip().splitlines()[-1]), "interpreter_wall_s": round(wall, 3)}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="torch,jax,tensorflow", help="comma-separated (default: the three)")
    parser.add_argument("--cache", default="off", help="compilation cache folder, or off (default: off, i.e. cold)")
    parser.add_argument("--cores", type=int, default=os.cpu_count() or 1, help="cores the run could use")
    parser.add_argument("--out", default=None, help="write the measurements (JSON) here")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(measure_adapter(args.child)))
        return 0

    from conformance.running.loading import AdapterSpecError, framework_adapter_specs

    try:
        frameworks = [name.strip() for name in args.frameworks.split(",") if name.strip()]
        specs = framework_adapter_specs(frameworks, all_paths=True)
    except AdapterSpecError as error:
        parser.error(str(error))
    measured = []
    for spec in specs:
        result = measure_in_fresh_interpreter(spec, args.cache)
        measured.append(result)
        if "error" in result:
            print(f"  {spec:<20} error: {result['error']}", flush=True)
            continue
        print(
            f"  {spec:<20} interpreter {result['interpreter_wall_s']:6.1f} s: load {result['load_s']:5.1f} s, "
            f"{result['programs']} first calls {result['first_calls_s']:6.1f} s "
            f"(repeats {result['repeat_calls_s']:.2f} s)",
            flush=True,
        )
    serial = sum(result.get("interpreter_wall_s", 0.0) for result in measured)
    floor = serial / max(1, args.cores)
    print(f"\nsum over adapters: {serial:.1f} s; on {args.cores} cores no run can take less than {floor:.1f} s")
    report = {
        "frameworks": args.frameworks,
        "cache": args.cache,
        "cores": args.cores,
        "shape": list(SHAPE),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "adapters": measured,
        "serial_s": round(serial, 3),
        "floor_wall_s": round(floor, 3),
    }
    if args.out:
        Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
