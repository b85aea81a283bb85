"""``python -m conformance bench``: the large tier at the size you ask for.

bench is a front end. It sets the size of one input (``--elements`` logits in rows of
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
import sys
import time
from typing import Any

from conformance.checks.memory import memory_available_bytes
from conformance.scale.options import BenchOptions
from conformance.scale.printing import print_table, say

EXIT_OK, EXIT_FAILED = 0, 1
PROPERTY = "large_input"


def run(options: BenchOptions, console: Any = None) -> int:
    """The bench: every adapter in turn, the table, the JSON. Returns the exit status."""
    from conformance.results import divergences, records
    from conformance.results.documents import write_document
    from conformance.results.gate import evaluate
    from conformance.running.runner import Runner, RunOptions

    started, clock = records.now(), time.monotonic()
    entries, sources = divergences.load_all(options.divergences, defaults=options.default_divergences)
    found: list[records.Record] = []

    def on_record(record: records.Record) -> None:
        found.append(record)
        say(f"bench {record.spec}: {record.op} {record.dtype}: {record.status}")

    run_options = RunOptions(
        profile="ci",
        seed=options.seed,
        call_timeout=options.call_timeout,
        jobs=1,
        dtypes=options.dtype,
        properties=PROPERTY,
        divergences=tuple(options.divergences),
        default_divergences=options.default_divergences,
        ops=",".join(options.ops),
        large_input=options.large_input,
        cotangents=options.cotangents,
    )
    say(
        f"bench: {options.elements:,} {options.dtype} logits in {options.rows:,} rows of {options.row_length:,} "
        f"(axis {options.axis}, seed {options.seed}), ops {', '.join(options.ops)}, on {', '.join(options.specs)}"
    )
    runner = Runner(run_options, on_record)
    runner.run(options.specs)
    found.extend(records.nothing_checked(options.specs, found))
    versions = records.framework_versions()
    meta = records.metadata("ci", options.seed, runner.adapters, started, time.monotonic() - clock)
    found = divergences.apply(found, entries, versions, meta["environment"])
    meta.update(
        command=["python", "-m", "conformance", *sys.argv[1:]],
        requested=options.specs,
        workers=[stats.as_record(spec) for spec, stats in runner.worker_stats.items()],
        bench={
            "elements": options.elements,
            "row_length": options.row_length,
            "dtype": options.dtype,
            "axis": options.axis,
            "ops": list(options.ops),
            "cotangents": options.cotangents,
        },
        platform_machine=platform.machine(),
        memory_available_bytes=memory_available_bytes(),
        divergence_files=sources,
        divergence_problems=divergences.audit(found, entries, versions, meta["environment"]),
    )
    document = records.Document(meta, tuple(found))
    if options.json_path:
        write_document(options.json_path, document)
        say(f"bench: wrote {options.json_path}")
    verdict = evaluate([document])
    print_table(document, verdict, console)
    return EXIT_OK if verdict.passed else EXIT_FAILED
