"""Each framework's import time in a fresh interpreter (``import torch`` etc.).

    python -m benchmarks.probes.imports --frameworks torch,jax --out imports.json

Each import is timed inside the interpreter and as the whole ``python -c`` wall clock,
``--repeats`` times; the medians are reported.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

# framework -> the module its import time is measured on
MODULES = {
    "torch": "torch",
    "jax": "jax",
    "tensorflow": "tensorflow",
    "numpy": "numpy",
    "mlx": "mlx.core",
    "paddle": "paddle",
}


def import_time(module: str, repeats: int) -> dict[str, Any]:
    """Seconds to import ``module`` in a fresh interpreter (median of ``repeats``)."""
    program = f"import time; t = time.perf_counter(); import {module}; print(time.perf_counter() - t)"
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": os.environ.get("TF_CPP_MIN_LOG_LEVEL", "2")}
    inside, wall = [], []
    for _ in range(repeats):
        started = time.perf_counter()
        completed = subprocess.run([sys.executable, "-c", program], capture_output=True, text=True, env=environment)
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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--frameworks", default="torch,jax,tensorflow,numpy", help="comma-separated")
    parser.add_argument("--repeats", type=int, default=3, help="fresh interpreters per framework (median)")
    parser.add_argument("--out", required=True, help="write the figures (JSON) here")
    args = parser.parse_args(argv)
    frameworks = [name.strip() for name in args.frameworks.split(",") if name.strip()]
    unknown = [name for name in frameworks if name not in MODULES]
    if unknown:
        parser.error(f"--frameworks: unknown {', '.join(unknown)}; known: {', '.join(MODULES)}")
    figures = {name: import_time(MODULES[name], max(1, args.repeats)) for name in frameworks}
    for name, timing in figures.items():
        if "error" in timing:
            print(f"  {name:<12} not importable: {timing['error']}")
        else:
            inside, wall = timing["import_s"], timing["interpreter_wall_s"]
            print(f"  {name:<12} import {inside:7.2f} s   python -c wall {wall:7.2f} s")
    Path(args.out).write_text(json.dumps(figures, indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
