"""``python -m conformance bench``: the large tier at the size you ask for.

bench is a preset of a run (:func:`~conformance.running.session.run_session`). It sets the
size of one input (``--elements`` logits in rows of
``--row-length`` along ``--axis``, in ``--dtype``, N(0, 1) * 3 from ``--seed``) and runs the
``large_input`` property on each adapter through the runner: the same workers, checks
(forward and VJP against the chunked oracle, the VJP's block structure, rows alone), records,
messages, reproducers and gate as ``run``. Its JSON is a results document, so ``report`` and
``gate`` read it like any other.

Adapters run one at a time, each in a worker of its own, so the peak resident set the table
shows (``wait4``'s ``ru_maxrss``) is that adapter's: the framework, the input, one vector, one
output and the chunked oracle. ``--frameworks`` takes each framework's primary path, as
``run`` does; without ``--frameworks`` or ``--adapter``, every installed framework's but NumPy's.

The exit status is the gate's: 0 when every adapter conforms, 1 otherwise, 2 for a bad command line.
"""

from __future__ import annotations

import platform
from typing import Any

from conformance.checks.large.memory import memory_available_bytes
from conformance.results.records import Record
from conformance.running.config import RunConfig
from conformance.scale.printing import print_table, say

EXIT_OK, EXIT_FAILED = 0, 1


class BenchLines:
    """What bench says as it goes: a line on stderr for each record."""

    def collected(self, spec: str, count: int) -> None:
        pass

    def record(self, record: Record) -> None:
        say(f"bench {record.spec}: {record.op} {record.dtype}: {record.status}")

    def running(self, record: Record, seconds: float, examples: int) -> None:
        pass

    def close(self) -> None:
        pass


def bench_metadata(config: RunConfig) -> dict[str, Any]:
    """What the document says of bench's input and of the machine it ran on."""
    assert config.large_input is not None
    large = config.large_input
    return {
        "bench": {
            "elements": large.rows * large.row_length,
            "row_length": large.row_length,
            "dtype": config.dtypes[0],
            "axis": large.axis,
            "ops": list(config.ops),
            "cotangents": config.cotangents,
        },
        "platform_machine": platform.machine(),
        "memory_available_bytes": memory_available_bytes(),
    }


def run(config: RunConfig, console: Any = None) -> int:
    """The bench: bench's preset of a run, the table, the JSON. Returns the exit status."""
    from conformance.results.gate import evaluate
    from conformance.running.session import run_session

    extra = bench_metadata(config)
    size = extra["bench"]
    say(
        f"bench: {size['elements']:,} {size['dtype']} logits in {size['elements'] // size['row_length']:,} rows of "
        f"{size['row_length']:,} (axis {size['axis']}, seed {config.seed}), ops {', '.join(config.ops)}, "
        f"on {', '.join(config.specs)}"
    )
    document = run_session(config, BenchLines(), extra)
    if config.json_path:
        say(f"bench: wrote {config.json_path}")
    verdict = evaluate([document])
    print_table(document, verdict, console)
    return EXIT_OK if verdict.passed else EXIT_FAILED
