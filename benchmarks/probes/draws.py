"""Time drawing the inputs alone, per Hypothesis example: no adapter, no oracle, no bound.

    python -m benchmarks.probes.draws                      # 30 examples per (op, dtype, sites) group
    python -m benchmarks.probes.draws --examples 10 --repeat 5 --out draws.json

For each op and dtype, the shape pool of ``--seed`` is drawn from as the properties draw it:
a problem from the small and wide sites with one cotangent, from the small sites alone, from
the sites of rank 2 and up with two vectors, and from the long site with one cotangent. Each
group is one ``@given`` test of ``--examples`` examples (``derandomize``, generation only, as
the ``ci`` profile), so the figure includes Hypothesis's own cost per example as a property
pays it. The CPU seconds of the process are read around the draws (not its start-up), and the
median of ``--repeat`` passes is reported, each pass's figures beside it. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from conformance.inputs.shape_pool import shape_pool
from conformance.inputs.strategies import problems, vectors
from conformance.truth.dtypes import DTYPES
from conformance.truth.oracle import OPS


def one_pass(examples: int, seed: int) -> dict[str, float]:
    """Draw every group once: the examples run and the CPU seconds they took."""
    count = 0

    def group(dtype: Any, sites: Any, vector_count: int) -> None:
        @settings(
            max_examples=examples,
            derandomize=True,
            database=None,
            deadline=None,
            phases=[Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        @given(st.data())
        def draw(data: Any) -> None:
            nonlocal count
            count += 1
            problem = data.draw(problems(dtype, sites), label="problem")
            for _ in range(vector_count):
                data.draw(vectors(problem.shape, dtype), label="vector")

        draw()

    started = time.process_time()
    for op in OPS:
        for name, dtype in DTYPES.items():
            pool = shape_pool(seed, op, name)
            for sites, vector_count in (
                (pool.sites(wide=True), 1),
                (pool.sites(), 0),
                (pool.sites(min_rank=2), 2),
                (pool.long, 1),
            ):
                group(dtype, sites, vector_count)
    cpu = time.process_time() - started
    return {"examples": count, "cpu_s": round(cpu, 3), "ms_per_example": round(1000 * cpu / count, 3)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--examples", type=int, default=30, help="examples per group (default 30)")
    parser.add_argument("--repeat", type=int, default=3, help="passes; the median is reported (default 3)")
    parser.add_argument("--seed", type=int, default=0, help="the run seed the shape pools come from")
    parser.add_argument("--out", type=Path, help="write the figures as JSON here")
    args = parser.parse_args()
    passes = [one_pass(args.examples, args.seed) for _ in range(args.repeat)]
    median = statistics.median(run["ms_per_example"] for run in passes)
    for run in passes:
        print(f"{run['examples']} examples, {run['cpu_s']:.2f} CPU s, {run['ms_per_example']:.2f} ms per example")
    print(f"median: {median:.2f} ms per example")
    if args.out:
        args.out.write_text(json.dumps({"passes": passes, "median_ms_per_example": median}, indent=2) + "\n")


if __name__ == "__main__":
    main()
