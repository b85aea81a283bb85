"""The ``bench`` command line: its arguments, checked before any worker starts, as the
:class:`~conformance.running.config.RunConfig` of bench's preset run, and the adapters it covers.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence

from conformance.running.config import LargeInput, Profile, RunConfig, dtypes_named, ops_named
from conformance.running.loading import AdapterSpec, checked_specs, installed_frameworks

DEFAULT_ROW_LENGTH = 1000
COTANGENTS = 3  # seeded random cotangents for the VJP check
DEFAULT_CALL_TIMEOUT_S = 60.0  # on 2**24 elements; a call on more may take proportionally longer


class BenchArgumentError(ValueError):
    """A bad bench argument; the message is one line."""


def element_count(text: str) -> int:
    """argparse type for ``--elements``: a positive integer, written ``100000000``,
    ``100_000_000`` or ``1e8``."""
    try:
        value = int(text.replace("_", ""))
    except ValueError:
        try:
            number = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a number of elements") from None
        if not math.isfinite(number) or number != int(number):
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of elements") from None
        value = int(number)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: the number of elements must be positive")
    return value


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not value > 0 or not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"{text!r}: give a positive number of seconds")
    return value


def bench_specs(frameworks: list[str] | None, adapters: Sequence[str]) -> tuple[AdapterSpec, ...]:
    """The adapters to bench: each named framework's primary path, then ``adapters``;
    by default every installed framework's but NumPy's. Unknown names raise
    :class:`~conformance.running.loading.AdapterSpecError` (one line, exit 2)."""
    default = [name for name in installed_frameworks() if name != "numpy"] or ["numpy"]
    return checked_specs(frameworks, adapters, default=default)


PROPERTY = "large_input"  # the one property bench runs


def large_input_from(elements: int, row_length: int, axis: int) -> LargeInput:
    """``elements`` logits in rows of ``row_length`` along ``axis``; a
    :class:`BenchArgumentError` for a size or axis no worker could run."""
    if elements % row_length:
        nearest = max(1, elements // row_length) * row_length
        raise BenchArgumentError(
            f"--elements={elements} does not divide into rows of --row-length={row_length}; "
            f"give a multiple of {row_length} (e.g. {nearest})"
        )
    if axis not in (-2, -1, 0, 1):
        raise BenchArgumentError(f"--axis={axis}, but the input is 2-d: the axes are -2, -1, 0, 1")
    return LargeInput(elements // row_length, row_length, axis)


def bench_config(args: argparse.Namespace) -> RunConfig:
    """The run the ``bench`` command line asks for, checked: the ``large_input`` property in
    the ``ci`` profile, one worker at a time (so that each peak resident set is one adapter's)."""
    large_input = large_input_from(args.elements, args.row_length, args.axis)
    if args.cotangents < 1:
        raise BenchArgumentError(f"--cotangents={args.cotangents}, but at least one cotangent is needed")
    return RunConfig(
        profile=Profile.CI,
        dtypes=dtypes_named([args.dtype]),
        ops=ops_named(args.ops),
        properties=(PROPERTY,),
        adapters=bench_specs(args.frameworks, args.adapter),
        seed=args.seed,
        call_timeout=args.call_timeout,
        jobs=1,
        divergence_files=tuple(args.divergences),
        default_divergences=not args.no_default_divergences,
        large_input=large_input,
        cotangents=args.cotangents,
        json_path=args.json_path,
    )
