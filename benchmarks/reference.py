"""What a result file is read against: the machine's facts and the reference figures.

Machines of the same kind differ in speed by a factor of two or more, and one machine by 20 %
from minute to minute. So every result file holds, measured in the same session (before and
after the workloads), three reference figures: a fixed pure-Python loop (the interpreter's
speed, what Hypothesis and the suite's own code run at; a workload's limit is in multiples of
it, "loops"), the import of the suite's worker (the file cache and unmarshalling), and XLA's
compilation of one small softmax VJP (what a compiled path's time is made of), when jax is
installed and a workload builds programs.
"""

from __future__ import annotations

import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from conformance.results.environment import machine_facts
from conformance.running.processes import available_cores

REPO = Path(__file__).resolve().parent.parent

REFERENCE_LOOP = "s = 0\nfor i in range(10_000_000):\n    s += i"
REFERENCE_IMPORT = "import conformance.running.plugin, hypothesis"
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


def reference_figures(compiles: bool = True) -> dict[str, float | None]:
    """Figures of this machine, now: the reference loop, the worker's import, and one XLA
    compilation when ``compiles`` (the workloads build programs, and are read against it) and
    jax is installed."""
    figures: dict[str, float | None] = {
        "python_loop_s": round(_median_seconds(REFERENCE_LOOP), 3),
        "worker_import_s": round(_median_seconds(REFERENCE_IMPORT), 3),
        "xla_compile_ms": None,
    }
    if not compiles:
        return figures
    try:
        compiled = subprocess.run(
            [sys.executable, "-c", REFERENCE_COMPILE], check=True, cwd=REPO, capture_output=True, text=True
        )
        figures["xla_compile_ms"] = round(float(compiled.stdout.strip().splitlines()[-1]), 1)
    except (subprocess.CalledProcessError, ValueError, IndexError):
        pass  # no jax here
    return figures


def mean_figures(before: dict[str, float | None], after: dict[str, float | None]) -> dict[str, float | None]:
    """Each figure's mean over the two measurements (one alone when the other is missing)."""
    means: dict[str, float | None] = {}
    for name in before:
        found = [value for value in (before[name], after.get(name)) if value is not None]
        means[name] = round(sum(found) / len(found), 3) if found else None
    return means


def machine_header() -> dict[str, Any]:
    """The facts a result file starts with: Python, platform, cores, CPU, commit, time."""
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cores": available_cores(),
        "machine": machine_facts(),
        "commit": commit.stdout.strip() or None,
        "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
