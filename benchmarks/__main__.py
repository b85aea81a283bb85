"""The benchmark driver.

    python -m benchmarks list                               # the workloads, with their limits
    python -m benchmarks run default,user                   # -> benchmarks/results/DATE-default-user.json
    python -m benchmarks run paths --profile ci --out /tmp/paths.json
    python -m benchmarks run user --conditions cold,loaded --keep /tmp/kept
    python -m benchmarks run targets                        # every target in loops (python -m benchmarks.targets)

Nothing is asserted: the driver reports (see :mod:`benchmarks.driver`).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

from benchmarks.driver import CONDITIONS, default_out, measure, print_table
from benchmarks.timing import page_cache_problem
from benchmarks.workloads import GROUP_MEANINGS, GROUPS, WORKLOADS, named


def _names(parser: argparse.ArgumentParser, option: str, value: str, noun: str, valid: list[str]) -> list[str]:
    """The comma-separated names of ``value``, each one of ``valid``, or one line naming them."""
    names = [name.strip() for name in value.split(",") if name.strip()]
    if not names or any(name not in valid for name in names):
        parser.error(f"{option}={value}, but the {noun} are: {', '.join(valid)}")
    return names


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description="Time the project's workloads.")
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("list", help="the workloads, each with what it times and its limit in loops")
    run = commands.add_parser("run", help="time workloads and write a result file")
    run.add_argument("workloads", help="comma-separated workload names (or 'paths': every AD path alone)")
    run.add_argument("--conditions", default="cold", help=f"comma-separated subset of {','.join(CONDITIONS)}")
    run.add_argument("--profile", default=None, help="conformance profile of the runs (default: the run's own)")
    run.add_argument("--out", default=None, help="the result file (default: benchmarks/results/DATE-NAMES.json)")
    run.add_argument("--keep", default=None, help="keep logs, results and caches in this folder")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "list":
        for workload in WORKLOADS.values():
            limit = f"<= {workload.limit_loops:g} loops" if workload.limit_loops is not None else "no limit"
            print(f"{workload.name:<26} {workload.cache:<5} {limit:<16} {workload.what}")
        for group, meaning in GROUP_MEANINGS.items():
            print(f"{group:<26} {meaning}")
        return 0
    names = _names(parser, "workloads", args.workloads, "workloads", [*WORKLOADS, *GROUPS])
    workloads = named(names)
    conditions = _names(parser, "--conditions", args.conditions, "conditions", list(CONDITIONS))
    problem = page_cache_problem() if "files-cold" in conditions else None
    if problem:
        parser.error(f"--conditions={args.conditions}: {problem}")
    with tempfile.TemporaryDirectory(prefix="benchmarks-") as temporary:
        folder = Path(args.keep or temporary)
        folder.mkdir(parents=True, exist_ok=True)
        report = measure(workloads, conditions, folder, args.profile)
    print_table(report)
    out = Path(args.out) if args.out else default_out(names)
    out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
    print(f"\nwrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
