"""Time the runs the project promises to keep fast, each cold, and print them beside their targets.

    python benchmarks/targets.py --out targets.json                 # default + user adapter
    python benchmarks/targets.py --only paths,all-paths --out t.json
    python benchmarks/targets.py --only ci --out ci.json            # a fresh clone's .ci/run

Targets, in loops of the reference (``s = 0; for i in range(10_000_000): s += i``, the median
of 3 fresh interpreters, measured before and after the targets; 70 loops is 60 s on a machine
whose loop takes 0.86 s), so that a figure from a slow machine reads the same as one from a
fast one:

* ``default``: ``run --frameworks torch,jax,tensorflow --json --html``, cold: <= 70 loops
  (aim: 50);
* ``user``: ``run --adapter adapters/numpy_adapter.py:NumpyReference``: <= 7 loops;
* ``paths``: each AD path alone, ``run --adapter NAME``, cold: <= 210 loops each;
* ``all-paths``: ``run --frameworks torch,jax,tensorflow --all-paths``, cold <= 700 loops, then
  again with the caches the first run left (warm) <= 350 loops;
* ``ci``: ``git clone`` of this repository's HEAD, then ``bash .ci/run`` in it: <= 700 loops.

The figures go to ``--out``, by default ``benchmarks/results/DATE-targets-TARGETS.json``, with
each target's figure in loops and whether it met its limit.

"Cold" means a fresh, empty compilation-cache folder (``$CONFORMANCE_COMPILATION_CACHE``),
so neither JAX's persistent cache nor the adapter timings of an earlier run help. Each run
uses the default profile (``dev``, random; ``ci`` under ``CI=true``) unless ``--profile``
says otherwise.

``--conditions`` times the ``default`` and ``user`` targets under other conditions too, to
tell apart what makes one machine's figure differ from another's:

* ``cold`` (the default): as above;
* ``files-cold``: cold, and the kernel's page cache dropped first (``/proc/sys/vm/drop_caches``,
  root only), so every framework's files are read from the disk again;
* ``warm``: again with the folder the cold run of the same target left (JAX's compiled
  programs and the runner's timings of the adapters); a cold run is made first if
  ``cold`` was not asked for;
* ``loaded``: cold, with one busy process (a pure-Python loop) beside the run, as when
  another job shares the machine.

Wall seconds are read around the whole process; the peak memory is the largest single
process the run waited for (``wait4``'s ``ru_maxrss``). Nothing is asserted: the script
reports.

Machines of the same kind differ in speed by a factor of two or more, and one machine by 20 %
from minute to minute. So the script also measures, in the same run, three reference figures
and prints each target as a multiple of the first: a fixed pure-Python loop (the interpreter's
speed, what Hypothesis and the suite's own code run at), the import of the suite's worker (the
file cache and unmarshalling), and XLA's compilation of one small softmax VJP (what a compiled
path's time is made of), when jax is installed.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from conformance.adapters import FRAMEWORKS
from conformance.results.environment import machine_facts
from conformance.running.processes import available_cores

REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results"

THREE = "torch,jax,tensorflow"
TARGETS = ("default", "user", "paths", "all-paths", "ci")
CONDITIONS = ("cold", "files-cold", "warm", "loaded")
DROP_CACHES = Path("/proc/sys/vm/drop_caches")
LIMITS_LOOPS = {"default": 70, "user": 7, "path": 210, "all-paths": 700, "all-paths (warm)": 350, "ci": 700}
AIMS_LOOPS = {"default": 50}


def timed(command: list[str], cwd: Path, environment: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``command`` to its end: exit status, wall seconds, the CPU seconds of it and of the
    processes it waited for, and the peak RSS of its largest process."""
    started = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    return {
        "command": " ".join(command),
        "returncode": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 2),
        "user_s": round(usage.ru_utime, 1),
        "system_s": round(usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "log": str(log),
    }


def drop_page_cache() -> None:
    """Write the dirty pages out, then drop the kernel's page cache (root only)."""
    os.sync()
    DROP_CACHES.write_text("3\n")


def page_cache_problem() -> str | None:
    """Why ``files-cold`` cannot be measured here, or None."""
    if not os.access(DROP_CACHES, os.W_OK):
        return f"files-cold drops the page cache through {DROP_CACHES}, which only root can write"
    return None


class BusyProcess:
    """One pure-Python loop running beside a timed run, for as long as the ``with`` lasts."""

    def __enter__(self) -> BusyProcess:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exception: object) -> None:
        self.process.kill()
        self.process.wait()


def _run(*arguments: str) -> list[str]:
    return [sys.executable, "-m", "conformance", "run", *arguments]


REFERENCE_LOOP = "s = 0\nfor i in range(10_000_000):\n    s += i"
REFERENCE_COMPILE = """
import time, jax, numpy as np
jax.config.update("jax_enable_x64", True)
f = jax.jit(lambda x, g: jax.vjp(lambda y: jax.nn.softmax(y, -1), x)[1](g)[0])
f(np.ones((3, 1), np.float32), np.ones((3, 1), np.float32)).block_until_ready()
started = time.perf_counter()
for n in range(2, 22):
    f(np.ones((3, n), np.float32), np.ones((3, n), np.float32)).block_until_ready()
print((time.perf_counter() - started) / 20 * 1000)
"""


def _median_seconds(code: str, repeats: int = 3) -> float:
    """The median wall seconds of ``python -c code`` in a fresh interpreter."""
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO, capture_output=True)
        times.append(time.perf_counter() - started)
    return sorted(times)[len(times) // 2]


def reference_figures() -> dict[str, float | None]:
    """Figures of this machine, now, to read the targets' times against."""
    figures: dict[str, float | None] = {
        "python_loop_s": round(_median_seconds(REFERENCE_LOOP), 3),
        "worker_import_s": round(_median_seconds("import conformance.running.plugin, hypothesis"), 3),
        "xla_compile_ms": None,
    }
    try:
        compiled = subprocess.run(
            [sys.executable, "-c", REFERENCE_COMPILE], check=True, cwd=REPO, capture_output=True, text=True
        )
        figures["xla_compile_ms"] = round(float(compiled.stdout.strip().splitlines()[-1]), 1)
    except (subprocess.CalledProcessError, ValueError, IndexError):
        pass  # no jax here
    return figures


def measure(
    targets: list[str], folder: Path, profile: str | None, conditions: tuple[str, ...] = ("cold",)
) -> list[dict[str, Any]]:
    base = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    profile_args = ["--profile", profile] if profile else []
    measured: list[dict[str, Any]] = []

    def environment(cache: Path) -> dict[str, str]:
        return {**base, "CONFORMANCE_COMPILATION_CACHE": str(cache)}

    def log(label: str) -> Path:
        return folder / (re.sub(r"[^\w.]+", "-", label).strip("-") + ".log")

    def once(name: str, command: list[str], cache: Path, cwd: Path = REPO, condition: str = "cold") -> None:
        label = name if condition == "cold" else f"{name} ({condition})"
        print(f"{label}: {' '.join(command)}", file=sys.stderr, flush=True)
        if condition == "files-cold":
            drop_page_cache()
        with BusyProcess() if condition == "loaded" else contextlib.nullcontext():
            result = timed(command, cwd, environment(cache), log(label))
        limit = LIMITS_LOOPS.get(label) or LIMITS_LOOPS["path" if name.startswith("path ") else name]
        row = {"target": label, "condition": condition, "limit_loops": limit, "aim_loops": AIMS_LOOPS.get(label)}
        measured.append({**row, **result})
        print(f"  {result['wall_s']:.1f} s (target {limit} loops), exit {result['returncode']}", file=sys.stderr)

    def under_each_condition(name: str, command: list[str]) -> None:
        """``command`` cold, then under each other condition asked for; the warm run reuses
        the cold run's cache folder, and every other condition starts from an empty one."""
        cold_cache = folder / f"cache-{name}"
        if "cold" in conditions:
            once(name, command, cold_cache)
        elif "warm" in conditions:  # untimed: it only fills the cache for the warm run
            timed(command, REPO, environment(cold_cache), log(f"{name} (filling the cache)"))
        for condition in ("files-cold", "warm", "loaded"):
            if condition in conditions:
                cache = cold_cache if condition == "warm" else folder / f"cache-{name}-{condition}"
                once(name, command, cache, condition=condition)

    if "default" in targets:
        under_each_condition(
            "default",
            _run("--frameworks", THREE, "--json", str(folder / "default.json"), "--html", str(folder / "default.html"))
            + profile_args,
        )
    if "user" in targets:
        user = _run("--adapter", "adapters/numpy_adapter.py:NumpyReference", "--json", str(folder / "user.json"))
        under_each_condition("user", user + profile_args)
    if "paths" in targets:
        for framework in THREE.split(","):
            for path in FRAMEWORKS[framework][1]:
                command = _run("--adapter", path, "--json", str(folder / f"path-{path}.json")) + profile_args
                once(f"path {path}", command, folder / f"cache-path-{path}")
    if "all-paths" in targets:
        command = _run("--frameworks", THREE, "--all-paths", "--json", str(folder / "all.json")) + profile_args
        once("all-paths", command, folder / "cache-all")
        once("all-paths", command, folder / "cache-all", condition="warm")
    if "ci" in targets:
        clone = folder / "clone"
        subprocess.run(["git", "clone", "-q", str(REPO), str(clone)], check=True)
        once("ci", ["bash", ".ci/run"], folder / "cache-ci", cwd=clone)
    return measured


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="default,user", help=f"comma-separated subset of {','.join(TARGETS)}")
    parser.add_argument("--profile", default=None, help="conformance profile (default: the run's own default)")
    parser.add_argument(
        "--out", default=None, help="write the figures (JSON) here (default: benchmarks/results/DATE-targets-ONLY.json)"
    )
    parser.add_argument("--keep", default=None, help="keep logs, results and caches in this folder")
    parser.add_argument(
        "--conditions", default="cold", help=f"for default and user: comma-separated subset of {','.join(CONDITIONS)}"
    )
    args = parser.parse_args(argv)
    targets = _subset(parser, "--only", args.only, "targets", TARGETS)
    conditions = tuple(_subset(parser, "--conditions", args.conditions, "conditions", CONDITIONS))
    if conditions != ("cold",) and not {"default", "user"} & set(targets):
        parser.error(f"--conditions={args.conditions} applies to the default and user targets, but --only={args.only}")
    problem = page_cache_problem() if "files-cold" in conditions else None
    if problem:
        parser.error(f"--conditions={args.conditions}: {problem}")
    with tempfile.TemporaryDirectory(prefix="targets-") as temporary:
        folder = Path(args.keep or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        before = reference_figures()
        measured = measure(targets, folder, args.profile, conditions)
        after = reference_figures()
    reference = {name: _mean(before[name], after[name]) for name in before}
    loop = reference["python_loop_s"] or 1.0
    for row in measured:
        row["in_python_loops"] = round(row["wall_s"] / loop, 1)
        row["met"] = row["returncode"] == 0 and row["in_python_loops"] <= row["limit_loops"]
    report = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": available_cores(),
        "machine": machine_facts(),
        "commit": _commit(),
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "reference": {"before": before, "after": after, "mean": reference},
        "results": measured,
    }
    print(
        f"\nreference (mean of before and after the targets): python loop {reference['python_loop_s']} s, "
        f"worker import {reference['worker_import_s']} s, XLA compile {reference['xla_compile_ms']} ms a program"
    )
    print(f"\n{'target':<28} {'wall s':>8} {'CPU s':>7} {'loops':>7} {'limit':>6} {'peak MiB':>9}  exit  met")
    for row in measured:
        cpu = row["user_s"] + row["system_s"]
        figures = f"{row['wall_s']:>8.1f} {cpu:>7.0f} {row['in_python_loops']:>7} {row['limit_loops']:>6}"
        figures += f" {row['peak_rss_mib']:>9.0f}  {row['returncode']:>4}  {'yes' if row['met'] else 'NO'}"
        print(f"{row['target']:<28} {figures}")
    out = Path(args.out) if args.out else RESULTS / f"{time.strftime('%Y-%m-%d')}-targets-{'-'.join(targets)}.json"
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


def _subset(parser: argparse.ArgumentParser, option: str, value: str, noun: str, valid: tuple[str, ...]) -> list[str]:
    """The comma-separated names of ``value``, each one of ``valid``, or one line naming them."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or any(name not in valid for name in names):
        parser.error(f"{option}={value}, but the {noun} are: {', '.join(valid)}")
    return names


def _commit() -> str | None:
    found = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return found.stdout.strip() or None


def _mean(first: float | None, second: float | None) -> float | None:
    found = [value for value in (first, second) if value is not None]
    return round(sum(found) / len(found), 3) if found else None


if __name__ == "__main__":
    sys.exit(main())
