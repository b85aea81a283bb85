"""How long each adapter's worker took before, so that a run splits the long ones and starts
the longest first; and how many dev runs this machine made, so that each checks the next block
of the edge catalogues' covering designs (:mod:`conformance.inputs.covering`).

With two workers at a time and adapters that take from seconds (numpy, torch) to many
minutes (jax eager), the order decides the wall time: the longest started last finishes
alone. Starting the longest first keeps both cores busy to the end. The seconds are kept
next to the compilation cache (:mod:`conformance.running.compilation_cache`). With the cache off,
or on a first run, the built-in adapters are ordered by :data:`TYPICAL_SECONDS`, what their
workers took in a cold run on a 2-core machine, and the others come first, as given.

Every figure kept is a whole run's (every property, every (op, dtype) pair), and a run that
asks for a share of that (``--properties``, ``--dtypes``) plans with the work in it times the
share, so that a run of one property is not split over two workers. Such a run's own time says
little about a whole run (its properties may cost twenty times the mean), so it is kept only
for an adapter with no figure yet, as its work divided by the share plus one startup: two
properties of the NumPy adapter, 3 s, were once kept as 41 s (the startup divided by the
share too), against the 9 s a whole run takes.
"""

from __future__ import annotations

import contextlib
import json
import random
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from conformance.results.documents import write_atomic
from conformance.truth.frameworks import framework_of

FILE_NAME = "worker-seconds.json"
RUNS_FILE_NAME = "dev-runs.json"

# Seconds a cold worker took per built-in adapter (dev profile, 2 cores, nothing cached),
# for the order of a first run. The primary paths' and numpy's were timed again on 2026-12-07
# (one worker alone, the large tier included); the others are older.
TYPICAL_SECONDS: dict[str, float] = {
    "torch-compile": 263.0,
    "jax": 101.0,
    "mlx-compile": 80.0,  # 380 s with MLX's kernel cache (/tmp/mlx) cold and the machine loaded
    "jax-jacfwd": 75.0,
    "paddle-static": 55.0,
    "mlx": 50.0,
    "tensorflow-xla": 44.0,
    "tensorflow": 44.0,
    "tensorflow-function": 33.0,
    "jax-jit": 32.0,
    "paddle": 30.0,
    "torch": 18.0,
    "torch-func": 6.4,
    "torch-jacfwd": 6.4,
    "numpy": 9.0,
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


def save(folder: Path | None, seconds: Mapping[str, float], share: float = 1.0) -> None:
    """Merge ``seconds``, taken by a run that asked ``share`` of a whole run's work, into what is
    kept (as a whole run's seconds): a whole run's replace what was kept, a share's only fill
    in an adapter never timed. A folder that cannot be written is skipped."""
    if folder is None or not seconds:
        return
    kept = load(folder)
    for spec, value in seconds.items():
        if share >= 1.0 or spec not in kept:
            startup = min(value, startup_seconds(spec))
            kept[spec] = round(startup + (value - startup) / share, 3)
    with contextlib.suppress(OSError):
        write_atomic(folder / FILE_NAME, json.dumps(kept, indent=1, sort_keys=True) + "\n")


def next_run(folder: Path | None) -> int:
    """This dev run's number on this machine, counted in ``folder``: consecutive runs take
    consecutive blocks, so a few of them check every edge combination. Without a folder that
    can be read and written, a random number (some block, never always the first)."""
    if folder is None:
        return random.randrange(2**31)
    path = folder / RUNS_FILE_NAME
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
        runs = int(raw["runs"]) if isinstance(raw, dict) and isinstance(raw.get("runs"), int) else 0
    except (OSError, ValueError):
        runs = 0
    try:
        folder.mkdir(parents=True, exist_ok=True)
        write_atomic(path, json.dumps({"runs": runs + 1}) + "\n")
    except OSError:
        return random.randrange(2**31)
    return runs


STARTUP_S = 3.0  # what one more worker costs: starting Python, importing a framework, collecting
# What one more worker of a framework costs, where measured: the seconds a worker spends outside
# its tests (Python, the framework's import, collecting, the behaviour probes), one worker
# alone on 2 cores (2026-12-07). TensorFlow's import alone takes 4.7 s: two TensorFlow workers
# where one would do cost a run more than the split wins back.
STARTUP_SECONDS: dict[str, float] = {"tensorflow": 6.7, "torch": 4.7, "jax": 2.1, "numpy": 0.9}
UNKNOWN_S = 10.0  # the time assumed for an adapter never timed (a user's)
# A run is split into more workers only when that shortens it by this much: each worker costs
# a core its startup, which a short run (one property, say) does not win back.
SPLIT_GAIN_S = 1.0


@dataclass(frozen=True)
class Piece:
    """One worker of a plan: ``shard`` (from 0) of ``shards`` of ``spec``'s (op, dtype) pairs."""

    spec: str
    shard: int
    shards: int
    seconds: float  # expected, startup included


def _makespan(pieces: list[float], jobs: int) -> float:
    """The wall time of running ``pieces`` longest first on ``jobs`` workers at once."""
    loads = [0.0] * max(1, jobs)
    for piece in sorted(pieces, reverse=True):
        loads[loads.index(min(loads))] += piece
    return max(loads)


def startup_seconds(spec: str) -> float:
    """What one more worker of ``spec`` costs (:data:`STARTUP_SECONDS`, else STARTUP_S)."""
    return STARTUP_SECONDS.get(framework_of(spec) or "", STARTUP_S)


def plan(specs: list[str], seconds: Mapping[str, float], jobs: int, pairs: int, share: float = 1.0) -> list[Piece]:
    """The workers of a run, longest first: each adapter split into as many shards (at most one
    per (op, dtype) pair) as shortens the run. An adapter that takes most of the time runs as
    several workers beside the others (each worker costs its framework's startup more:
    :func:`startup_seconds`), so that no core waits for one long worker at the end.
    ``seconds`` (a whole run's, in one worker) falls back on :data:`TYPICAL_SECONDS`, then
    :data:`UNKNOWN_S`; the run asks ``share`` of a whole run's work (a few properties or
    dtypes: a small share, which one worker does sooner than two)."""
    known = {**TYPICAL_SECONDS, **seconds}
    startup = {spec: startup_seconds(spec) for spec in specs}
    work = {spec: max(0.0, known.get(spec, UNKNOWN_S) - startup[spec]) * share for spec in specs}
    shards = dict.fromkeys(specs, 1)

    def piece(spec: str, counts: Mapping[str, int]) -> float:
        return work[spec] / counts[spec] + startup[spec]

    def pieces(counts: Mapping[str, int]) -> list[float]:
        return [piece(spec, counts) for spec in specs for _ in range(counts[spec])]

    best = _makespan(pieces(shards), jobs)
    improved = True
    while improved:
        improved = False
        for spec in sorted(specs, key=lambda name: -work[name] / shards[name]):
            for count in range(1, max(1, pairs) + 1):
                trial = {**shards, spec: count}
                span = _makespan(pieces(trial), jobs)
                if span < best - (SPLIT_GAIN_S if count > shards[spec] else 1e-9):
                    best, shards, improved = span, trial, True
    planned = [Piece(spec, shard, shards[spec], piece(spec, shards)) for spec in specs for shard in range(shards[spec])]
    order = longest_first(specs, seconds)
    return sorted(planned, key=lambda piece: (-piece.seconds, order.index(piece.spec), piece.shard))


def longest_first(specs: list[str], seconds: Mapping[str, float]) -> list[str]:
    """``specs`` with those never timed first (as given), then the timed ones, longest first;
    ``seconds`` falls back on :data:`TYPICAL_SECONDS`."""
    seconds = {**TYPICAL_SECONDS, **seconds}
    unknown = [spec for spec in specs if spec not in seconds]
    timed = sorted((spec for spec in specs if spec in seconds), key=lambda spec: -seconds[spec])
    return unknown + timed
