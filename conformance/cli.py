"""``python -m conformance``: run, report, gate, bench.

Every usage error is one line on stderr naming the valid choices, and exit status 2.
"""

from __future__ import annotations

import argparse
import random
import signal
import sys
import threading
from collections.abc import Sequence
from typing import Any, NoReturn

from conformance.inputs.profiles import PROFILE_NAMES
from conformance.properties.marks import UnknownProperty
from conformance.running.config import (
    Profile,
    RunConfig,
    UnknownOp,
    comma_list,
    dtypes_named,
    profile_named,
    properties_named,
)
from conformance.running.loading import (
    ENTRY_POINT_GROUP,
    AdapterSpecError,
    checked_specs,
    framework_adapter_specs,
    not_installed,
)
from conformance.truth.dtypes import DTYPE_NAMES, UnknownDtype

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """A bad command line; its message is the one line the user sees."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _positive_int(value: str) -> int:
    try:
        number = int(value)
    except ValueError:
        number = 0
    if number < 1:
        raise argparse.ArgumentTypeError(f"{value!r} is not a positive whole number")
    return number


def _divergence_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--divergences",
        action="append",
        default=[],
        metavar="FILE",
        help="a known-divergences file of your own, merged with the suite's (repeatable)",
    )
    parser.add_argument(
        "--no-default-divergences", action="store_true", help="leave out the suite's own known divergences"
    )


def _known(args: argparse.Namespace) -> tuple[list[Any], list[str]]:
    """The known-divergence entries the command applies, and the files they came from."""
    from conformance.results import divergences

    return divergences.load_all(args.divergences, defaults=not args.no_default_divergences)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="python -m conformance", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = commands.add_parser("run", help="run the conformance properties on adapters")
    run.add_argument(
        "--frameworks", type=comma_list, default=None, help="e.g. torch,jax,tensorflow: each one's primary path"
    )
    run.add_argument("--all-paths", action="store_true", help="every AD path of the frameworks, not just the primary")
    run.add_argument(
        "--adapter", action="append", default=[], help="built-in or plugin name (see `list`), file.py:NAME, module:NAME"
    )
    run.add_argument("--profile", default=None, choices=PROFILE_NAMES)
    run.add_argument("--dtypes", type=comma_list, default=None, help=f"subset of {','.join(DTYPE_NAMES)}")
    run.add_argument("--properties", type=comma_list, default=None, help="subset of the properties to run")
    run.add_argument("--seed", type=int, default=None, help="hypothesis seed (random under the dev profile)")
    run.add_argument(
        "--block",
        type=int,
        default=None,
        help="dev: the run number whose block of each edge catalogue to check (default: this machine's next)",
    )
    run.add_argument("--call-timeout", type=float, default=60.0, help="seconds one adapter call may take")
    run.add_argument(
        "--jobs", type=_positive_int, default=None, help="adapters run at once, each in a process (default: cores)"
    )
    run.add_argument("--json", dest="json_path", default=None, help="write the results document here")
    run.add_argument("--html", dest="html_path", default=None, help="write the HTML report here")
    run.add_argument("--junit", dest="junit_path", default=None, help="write JUnit XML here")
    _divergence_options(run)
    run.add_argument("--plain", action="store_true", help="plain progress lines even on a terminal")

    report = commands.add_parser("report", help="merge results JSON files into one HTML report")
    report.add_argument("results", nargs="+", help="results JSON files")
    report.add_argument("-o", "--output", required=True, help="the HTML file to write")
    report.add_argument("--markdown", default=None, help="also write a short Markdown summary here (for CI)")
    report.add_argument("--baseline", default=None, help="baseline for the gate verdict shown in the report")
    _divergence_options(report)

    commands.add_parser("list", help="every adapter --adapter knows: built-in AD paths and installed plugins")

    gate = commands.add_parser("gate", help="exit 1 on regressions, unexplained failures or missing results")
    gate.add_argument("results", nargs="+", help="results JSON files")
    gate.add_argument("--baseline", default=None, help="baseline file (see --write-baseline)")
    gate.add_argument("--expect", type=comma_list, default=None, help="frameworks that must have results")
    gate.add_argument("--write-baseline", default=None, help="write a baseline from these results and exit")
    _divergence_options(gate)

    from conformance.scale import options as _bench

    bench = commands.add_parser("bench", help="the large tier on one input of the size you give: records, time, memory")
    bench.add_argument("--frameworks", type=comma_list, default=None, help="each one's primary path: torch,jax")
    bench.add_argument("--adapter", action="append", default=[], help="built-in name, file.py:NAME or module:NAME")
    bench.add_argument("--elements", required=True, type=_bench.element_count, help="input size N: 100000000 or 1e8")
    bench.add_argument("--dtype", default="float32", help=f"one of {','.join(DTYPE_NAMES)}")
    bench.add_argument(
        "--row-length",
        type=_bench.element_count,
        default=_bench.DEFAULT_ROW_LENGTH,
        help="elements per softmax row; must divide --elements",
    )
    bench.add_argument("--axis", type=int, default=-1, help="the axis the rows run along: -1 or 1 (last), 0 or -2")
    bench.add_argument("--seed", type=int, default=0, help="seed of the input and every random vector")
    bench.add_argument("--ops", type=comma_list, default=["softmax"], help="softmax,log_softmax")
    bench.add_argument(
        "--cotangents", type=_bench.element_count, default=_bench.COTANGENTS, help="random cotangents for the VJP"
    )
    bench.add_argument(
        "--call-timeout",
        type=_bench.positive_seconds,
        default=_bench.DEFAULT_CALL_TIMEOUT_S,
        help="seconds one adapter call on 2**24 elements may take (more in proportion)",
    )
    bench.add_argument("--json", dest="json_path", default=None, help="write the results document here")
    _divergence_options(bench)
    return parser


def _skip_not_installed(args: argparse.Namespace) -> bool:
    """Drop from ``args.frameworks`` each framework that is not installed here, with one line
    on stderr for each; False when that leaves nothing to check (no framework, no adapter)."""
    if not args.frameworks:
        return True
    framework_adapter_specs(args.frameworks)  # an unknown name is a usage error first
    skipped = not_installed(args.frameworks)
    for line in skipped.values():
        print(line, file=sys.stderr)
    args.frameworks = [name for name in args.frameworks if name not in skipped]
    return bool(args.frameworks or args.adapter)


def run_config_from(args: argparse.Namespace) -> RunConfig:
    """The run the ``run`` command line asks for, checked; a seed is drawn when none is given
    outside the ``ci`` profile, so that the run can be repeated."""
    from conformance.running.processes import available_cores

    profile = profile_named(args.profile)
    return RunConfig(
        profile=profile,
        adapters=checked_specs(args.frameworks, args.adapter, all_paths=args.all_paths),
        seed=args.seed if args.seed is not None or profile is Profile.CI else random.randrange(2**31),
        dtypes=dtypes_named(args.dtypes or ()),
        properties=properties_named(args.properties or ()),
        call_timeout=args.call_timeout,
        jobs=args.jobs or available_cores(),
        divergence_files=tuple(args.divergences),
        default_divergences=not args.no_default_divergences,
        block=args.block if profile is Profile.DEV else None,
        json_path=args.json_path,
    )


def _load_report_modules() -> None:
    """Import the HTML report and what it draws with (0.6 s, on a thread while the run goes on);
    a module that cannot be imported is left for the report's own imports to report."""
    try:
        from conformance.presentation import plots, report  # noqa: F401

        plots.load_matplotlib()
    except ImportError:
        return


def command_run(args: argparse.Namespace) -> int:
    from conformance.presentation.progress import display
    from conformance.presentation.summary import print_summary
    from conformance.results.gate import evaluate
    from conformance.running.session import run_session

    if not _skip_not_installed(args):
        print("FAIL: nothing to check: no framework asked for is installed here", file=sys.stderr)
        return EXIT_FAILED
    if args.html_path:  # the report's modules load while the workers run, rather than after them
        threading.Thread(target=_load_report_modules, name="report-modules", daemon=True).start()
    document = run_session(run_config_from(args), display(plain=args.plain))
    records = list(document.results)
    if args.junit_path:
        from conformance.results.junit import write_junit

        write_junit(records, args.junit_path)
    if args.html_path:
        from conformance.presentation.report import write_html

        write_html([document], args.html_path)
    verdict = evaluate([document])
    print_summary(
        records,
        verdict,
        written=tuple(path for path in (args.json_path, args.html_path) if path),
        coverage=document.metadata.get("coverage"),
    )
    return EXIT_OK if verdict.passed else EXIT_FAILED


def _load_results(paths: list[str]) -> list[Any]:
    from conformance.results.documents import ResultsFileError, load_documents

    try:
        return load_documents(paths)
    except ResultsFileError as error:
        raise UsageError(str(error)) from None


def command_report(args: argparse.Namespace) -> int:
    from conformance.presentation.report import build_context, html_from, markdown_from
    from conformance.results.baseline import load_baseline
    from conformance.results.documents import write_atomic

    documents = _load_results(args.results)
    baseline = load_baseline(args.baseline) if args.baseline else None
    context = build_context(documents, baseline=baseline, divergences=_known(args)[0])
    write_atomic(args.output, html_from(context))
    print(f"wrote {args.output}")
    if args.markdown:
        write_atomic(args.markdown, markdown_from(context))
        print(f"wrote {args.markdown}")
    return EXIT_OK


def command_gate(args: argparse.Namespace) -> int:
    from conformance.results.baseline import load_baseline, make_baseline, save_baseline
    from conformance.results.gate import evaluate

    documents = _load_results(args.results)
    if args.write_baseline:
        save_baseline(make_baseline(documents), args.write_baseline)
        print(f"wrote baseline {args.write_baseline}")
        return EXIT_OK
    baseline = load_baseline(args.baseline) if args.baseline else None
    verdict = evaluate(documents, baseline, args.expect, _known(args)[0])
    for line in verdict.lines:
        print(line)
    print(verdict.sentence)
    print("gate: passed" if verdict.passed else "gate: FAILED")
    return EXIT_OK if verdict.passed else EXIT_FAILED


def command_bench(args: argparse.Namespace) -> int:
    from conformance.scale import bench
    from conformance.scale.options import BenchArgumentError, bench_config

    if not _skip_not_installed(args):
        print("FAIL: nothing to bench: no framework asked for is installed here", file=sys.stderr)
        return EXIT_FAILED
    try:
        config = bench_config(args)
    except BenchArgumentError as error:
        raise UsageError(f"python -m conformance bench: {error}") from None
    return bench.run(config)


def command_list(args: argparse.Namespace) -> int:
    from conformance.running.loading import FRAMEWORKS, installed_frameworks, plugin_adapters

    installed = set(installed_frameworks())
    print("built-in adapters, by framework (the primary path first; --all-paths runs the others):")
    for framework, (_, paths) in sorted(FRAMEWORKS.items()):
        state = "" if framework in installed else "  (not installed)"
        print(f"  {framework}: {', '.join(paths)}{state}")
    plugins = plugin_adapters()
    print(f"plugin adapters (entry points in {ENTRY_POINT_GROUP!r}):" if plugins else "no plugin adapters installed")
    for name, entry in plugins.items():
        source = f" (from {entry.dist.name} {entry.dist.version})" if entry.dist is not None else ""
        print(f"  {name} = {entry.value}{source}")
    return EXIT_OK


COMMANDS = {
    "run": command_run,
    "report": command_report,
    "gate": command_gate,
    "bench": command_bench,
    "list": command_list,
}


def _terminate(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    from conformance.results.divergences import DivergenceFileError
    from conformance.results.documents import ResultsFileError

    signal.signal(signal.SIGTERM, _terminate)  # a killed run still stops its workers
    try:
        args = build_parser().parse_args(argv)
        return COMMANDS[args.command](args)
    except (
        UsageError,
        AdapterSpecError,
        UnknownDtype,
        UnknownProperty,
        UnknownOp,
        DivergenceFileError,
        ResultsFileError,
    ) as error:
        print(str(error).splitlines()[0], file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
