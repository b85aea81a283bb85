"""The ``bench`` command line: its arguments, checked before any worker starts, and the
adapters it covers.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

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


@dataclass
class BenchOptions:
    specs: list[str]
    elements: int
    dtype: str = "float32"
    row_length: int = DEFAULT_ROW_LENGTH
    axis: int = -1
    seed: int = 0
    ops: list[str] = field(default_factory=lambda: ["softmax"])
    cotangents: int = COTANGENTS
    call_timeout: float = DEFAULT_CALL_TIMEOUT_S
    json_path: str | None = None
    divergences: list[str] = field(default_factory=list)  # the user's known-divergence files
    default_divergences: bool = True

    @property
    def rows(self) -> int:
        return self.elements // self.row_length

    @property
    def large_input(self) -> str:
        """The input as the workers take it: ``ROWSxLENGTH@AXIS``."""
        return f"{self.rows}x{self.row_length}@{self.axis}"


def bench_specs(frameworks: list[str] | None, adapters: Sequence[str]) -> list[str]:
    """The adapters to bench: each named framework's primary path, then ``adapters``;
    by default every installed framework's but NumPy's. Unknown names raise
    :class:`~conformance.running.loading.AdapterSpecError` (one line, exit 2)."""
    from conformance.running.loading import check_spec, installed_frameworks, selected_specs

    default = [name for name in installed_frameworks() if name != "numpy"] or ["numpy"]
    specs = selected_specs(frameworks, adapters, default=default)
    for spec in specs:
        check_spec(spec)
    return specs


def validate(options: BenchOptions) -> None:
    """Raise :class:`BenchArgumentError` for arguments no worker could run."""
    from conformance.truth.dtypes import dtype_named
    from conformance.truth.oracle import OPS

    dtype_named(options.dtype)
    if options.row_length <= 0:
        raise BenchArgumentError(f"--row-length={options.row_length}, but a row needs at least one element")
    if options.elements % options.row_length:
        nearest = max(1, options.elements // options.row_length) * options.row_length
        raise BenchArgumentError(
            f"--elements={options.elements} does not divide into rows of --row-length={options.row_length}; "
            f"give a multiple of {options.row_length} (e.g. {nearest})"
        )
    if options.axis not in (-2, -1, 0, 1):
        raise BenchArgumentError(f"--axis={options.axis}, but the input is 2-d: the axes are -2, -1, 0, 1")
    unknown = [op for op in options.ops if op not in OPS]
    if unknown or not options.ops:
        raise BenchArgumentError(f"--ops={','.join(options.ops)}, but the ops are: {', '.join(OPS)}")
    if options.cotangents < 1:
        raise BenchArgumentError(f"--cotangents={options.cotangents}, but at least one cotangent is needed")


def options_from_args(args: argparse.Namespace) -> BenchOptions:
    """:class:`BenchOptions` from the ``bench`` command line, validated."""
    options = BenchOptions(
        specs=[],
        elements=args.elements,
        dtype=args.dtype,
        row_length=args.row_length,
        axis=args.axis,
        seed=args.seed,
        ops=list(args.ops),
        cotangents=args.cotangents,
        call_timeout=args.call_timeout,
        json_path=args.json_path,
        divergences=list(args.divergences),
        default_divergences=not args.no_default_divergences,
    )
    validate(options)
    options.specs = bench_specs(args.frameworks, args.adapter)
    return options
