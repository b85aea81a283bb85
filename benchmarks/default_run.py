"""Time the default conformance run and say where the time goes.

    python benchmarks/default_run.py --out timings.json
    python benchmarks/default_run.py --frameworks numpy --out /tmp/numpy-timings.json

It runs ``python -m conformance run --frameworks ... --profile ci --json ...`` once, timing
the wall clock, then prints and writes:

* the total ``duration_s`` of the run's records per adapter and per property (the time
  spent inside tests; the rest of the wall clock is worker start-up, framework imports and
  collection);
* the import time of each framework in a fresh interpreter (``import torch`` etc., timed
  inside the interpreter, and the whole ``python -c`` wall clock), ``--imports`` times each,
  the median reported.

This is a script, not a test: the run takes minutes with the three frameworks.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
# framework -> the module its import time is measured on
IMPORTS = {"torch": "torch", "jax": "jax", "tensorflow": "tensorflow", "numpy": "numpy"}


def import_time(module: str, repeats: int) -> dict[str, Any]:
    """Seconds to import ``module`` in a fresh interpreter (median of ``repeats``)."""
    program = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    inside, wall = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        completed = subprocess.run(
            [sys.executable, "-c", program],
            capture_output=True,
            text=True,
            cwd=REPO,
            env=_quiet_env(),
            check=False,
        )
        wall.append(time.perf_counter() - started)
        if completed.returncode != 0:
            return {"module": module, "error": (completed.stderr.strip().splitlines() or ["?"])[-1]}
        inside.append(float(completed.stdout.strip().splitlines()[-1]))
    return {
        "module": module,
        "import_s": round(statistics.median(inside), 3),
        "interpreter_wall_s": round(statistics.median(wall), 3),
        "repeats": repeats,
    }


def _quiet_env() -> dict[str, str]:
    import os

    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}


def run_suite(frameworks: list[str], profile: str, results_path: Path, extra: list[str]) -> dict[str, Any]:
    command = [
        sys.executable,
        "-m",
        "conformance",
        "run",
        "--frameworks",
        ",".join(frameworks),
        "--profile",
        profile,
        "--json",
        str(results_path),
        "--plain",
        *extra,
    ]
    print("running:", " ".join(command[1:]), file=sys.stderr, flush=True)
    started = time.perf_counter()
    completed = subprocess.run(command, cwd=REPO, env=_quiet_env(), check=False, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    return {"command": ["python", *command[1:]], "returncode": completed.returncode, "wall_s": round(wall, 3)}


def totals(records: list[dict[str, Any]], key: str) -> dict[str, dict[str, float]]:
    """Sum of ``duration_s`` and the record count per value of ``key``, largest first."""
    seconds: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for record in records:
        name = str(record.get(key) or record.get("adapter") or "?")
        seconds[name] += float(record.get("duration_s") or 0.0)
        counts[name] += 1
    ordered = sorted(seconds, key=lambda name: -seconds[name])
    return {name: {"duration_s": round(seconds[name], 3), "records": counts[name]} for name in ordered}


def _print_table(title: str, rows: dict[str, dict[str, float]], total_s: float) -> None:
    print(f"\n{title}")
    width = max([len(name) for name in rows] + [10])
    for name, row in rows.items():
        share = 100.0 * row["duration_s"] / total_s if total_s else 0.0
        print(f"  {name:<{width}}  {row['duration_s']:9.2f} s  {share:5.1f}%  ({row['records']} records)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--frameworks", default="torch,jax,tensorflow", help="comma-separated (default: the three)")
    parser.add_argument("--profile", default="ci", help="conformance profile (default ci)")
    parser.add_argument("--out", required=True, help="write the timings (JSON) here")
    parser.add_argument("--results", default=None, help="keep the run's results JSON here (default: a temporary file)")
    parser.add_argument("--imports", type=int, default=3, help="fresh-interpreter imports per framework (median)")
    parser.add_argument("--no-run", action="store_true", help="only the import times")
    parser.add_argument("run_args", nargs="*", help="after --: more arguments for `conformance run`")
    args = parser.parse_args(argv)
    frameworks = [name.strip() for name in args.frameworks.split(",") if name.strip()]
    unknown = [name for name in frameworks if name not in IMPORTS]
    if unknown:
        parser.error(f"--frameworks: unknown {', '.join(unknown)}; known: {', '.join(IMPORTS)}")

    report: dict[str, Any] = {
        "frameworks": frameworks,
        "profile": args.profile,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "imports": {name: import_time(IMPORTS[name], max(1, args.imports)) for name in frameworks},
    }
    print("framework import times (fresh interpreter, median):")
    for name, timing in report["imports"].items():
        if "error" in timing:
            print(f"  {name:<12} not importable: {timing['error']}")
        else:
            inside, wall = timing["import_s"], timing["interpreter_wall_s"]
            print(f"  {name:<12} import {inside:7.2f} s   python -c wall {wall:7.2f} s")

    if not args.no_run:
        with tempfile.TemporaryDirectory(prefix="default-run-") as temporary:
            results_path = Path(args.results) if args.results else Path(temporary) / "results.json"
            report["run"] = run_suite(frameworks, args.profile, results_path, args.run_args)
            empty: dict[str, Any] = {"results": [], "metadata": {}}
            document = json.loads(results_path.read_text()) if results_path.exists() else empty
        records = document["results"]
        in_tests = sum(float(record.get("duration_s") or 0.0) for record in records)
        report["run"].update(
            records=len(records),
            records_duration_s=round(in_tests, 3),
            reported_duration_s=document["metadata"].get("duration_s"),
            statuses=dict(sorted(_count(records, "status").items())),
        )
        report["per_adapter"] = totals(records, "spec")
        report["per_property"] = totals(records, "property")
        run = report["run"]
        print(
            f"\nrun: {run['wall_s']:.1f} s wall clock (exit {run['returncode']}), {run['records']} records, "
            f"{run['records_duration_s']:.1f} s inside tests"
        )
        _print_table("per adapter (sum of duration_s)", report["per_adapter"], in_tests)
        _print_table("per property (sum of duration_s)", report["per_property"], in_tests)

    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


def _count(records: list[dict[str, Any]], key: str) -> dict[str, int]:
    found: dict[str, int] = defaultdict(int)
    for record in records:
        found[str(record.get(key))] += 1
    return found


if __name__ == "__main__":
    sys.exit(main())
