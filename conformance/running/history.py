"""How long each adapter's worker took before, so that a run starts the longest first.

With two workers at a time and adapters that take from seconds (numpy, torch) to many
minutes (jax eager), the order decides the wall time: the longest started last finishes
alone. Starting the longest first keeps both cores busy to the end. The seconds are kept
next to the compilation cache (:mod:`conformance.running.compilation_cache`). With the cache off,
or on a first run, the built-in adapters are ordered by :data:`TYPICAL_SECONDS`, what their
workers took in a cold run on a 2-core machine, and the others come first, as given.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path

from conformance.results.records import write_atomic

FILE_NAME = "worker-seconds.json"

# Seconds a cold worker took per built-in adapter (dev profile, 2 cores, nothing cached),
# for the order of a first run.
TYPICAL_SECONDS: dict[str, float] = {
    "torch-compile": 263.0,
    "jax": 101.0,
    "mlx-compile": 80.0,  # 380 s with MLX's kernel cache (/tmp/mlx) cold and the machine loaded
    "jax-jacfwd": 75.0,
    "paddle-static": 55.0,
    "mlx": 50.0,
    "tensorflow-xla": 44.0,
    "tensorflow": 44.0,
    "jax-jit": 38.0,
    "paddle": 30.0,
    "tensorflow-function": 20.0,
    "torch": 6.3,
    "torch-func": 6.4,
    "torch-jacfwd": 6.4,
    "numpy": 4.0,
}


def load(folder: Path | None) -> dict[str, float]:
    """The seconds each spec's worker took when last run; empty if unknown or unreadable."""
    if folder is None:
        return {}
    try:
        raw = json.loads((folder / FILE_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    if not isinstance(raw, dict):
        return {}
    return {
        str(spec): float(seconds)
        for spec, seconds in raw.items()
        if isinstance(seconds, (int, float)) and not isinstance(seconds, bool)
    }


def save(folder: Path | None, seconds: Mapping[str, float]) -> None:
    """Merge ``seconds`` into what is kept; a folder that cannot be written is skipped."""
    if folder is None or not seconds:
        return
    kept = {**load(folder), **{spec: round(value, 3) for spec, value in seconds.items()}}
    with contextlib.suppress(OSError):
        write_atomic(folder / FILE_NAME, json.dumps(kept, indent=1, sort_keys=True) + "\n")


def longest_first(specs: list[str], seconds: Mapping[str, float]) -> list[str]:
    """``specs`` with those never timed first (as given), then the timed ones, longest first;
    ``seconds`` falls back on :data:`TYPICAL_SECONDS`."""
    seconds = {**TYPICAL_SECONDS, **seconds}
    unknown = [spec for spec in specs if spec not in seconds]
    timed = sorted((spec for spec in specs if spec in seconds), key=lambda spec: -seconds[spec])
    return unknown + timed
