"""How many XLA programs a run of a jax path compiles, and the seconds they take, per property.

    python -m benchmarks.probes.programs --out programs.json
    python -m benchmarks.probes.programs --adapter jax --seed 7 --block 3 --out programs.json

(``python -m benchmarks run programs`` runs it for ``jax-jit`` in ``dev``.)

A compiled path builds one program per (op, quantity, dtype, shape, axis), and building them is
most of what its run costs: this says where they come from. The probe makes one conformance
run of ``--adapter`` with a fixed seed and block, so that two revisions can be compared on the
same draws, with the compilation cache off, and loads :mod:`benchmarks.probes.program_counter` into each worker
(``PYTEST_PLUGINS``), which counts jax's backend compilations by the test that asked for them.
The counts of every worker (shard) are summed per property.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from benchmarks.probes.program_counter import COUNTS_FOLDER_VARIABLE, PLUGIN
from conformance.running.compilation_cache import CACHE_ENVIRONMENT_VARIABLE

REPO = Path(__file__).resolve().parents[2]  # on the workers' path, for the plugin


def counted(folder: Path) -> dict[str, dict[str, float]]:
    """Per property, the programs compiled and their seconds, summed over the workers' files."""
    programs: Counter[str] = Counter()
    seconds: Counter[str] = Counter()
    for path in sorted(folder.glob("*.json")):
        found = json.loads(path.read_text(encoding="utf-8"))
        for test, count in found["programs"].items():
            programs[test] += count
            seconds[test] += found["seconds"][test]
    return {
        test: {"programs": programs[test], "compile_s": round(seconds[test], 3)} for test, _ in programs.most_common()
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--adapter", default="jax-jit", help="a jax path (default: jax-jit)")
    parser.add_argument("--profile", default="dev", help="the run's profile (default: dev)")
    parser.add_argument("--seed", default="7", help="the run's seed (default: 7)")
    parser.add_argument("--block", default="3", help="the dev run's block of the edge catalogues (default: 3)")
    parser.add_argument("--properties", default=None, help="a subset of the properties (default: all)")
    parser.add_argument("--out", required=True, help="write the counts (JSON) here")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        plugins = ",".join(filter(None, [os.environ.get("PYTEST_PLUGINS"), PLUGIN]))
        environment = {
            **os.environ,
            "PYTEST_PLUGINS": plugins,
            "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")])),
            COUNTS_FOLDER_VARIABLE: str(folder),
            CACHE_ENVIRONMENT_VARIABLE: "off",  # a cached program is not compiled, and would not count
        }
        command = [sys.executable, "-m", "conformance", "run", "--adapter", args.adapter, "--plain"]
        command += ["--profile", args.profile, "--seed", args.seed]
        if args.profile == "dev":
            command += ["--block", args.block]
        if args.properties:
            command += ["--properties", args.properties]
        started = time.perf_counter()
        completed = subprocess.run(command, capture_output=True, text=True, env=environment)
        wall = time.perf_counter() - started
        if completed.returncode not in (0, 1):
            print((completed.stderr.strip().splitlines() or ["?"])[-1], file=sys.stderr)
            return 1
        by_property = counted(folder)
    report: dict[str, Any] = {
        "adapter": args.adapter,
        "profile": args.profile,
        "seed": args.seed,
        "block": args.block if args.profile == "dev" else None,
        "run_wall_s": round(wall, 3),
        "programs": sum(int(entry["programs"]) for entry in by_property.values()),
        "compile_s": round(sum(entry["compile_s"] for entry in by_property.values()), 3),
        "by_property": by_property,
    }
    Path(args.out).write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"{report['programs']} programs, {report['compile_s']} s compiling, in a run of {report['run_wall_s']} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
