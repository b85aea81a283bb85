"""Time workloads, each against its limit in loops of the reference, and write one result file.

A session measures the reference figures (:mod:`benchmarks.reference`), times each workload
under each condition asked for, measures the reference again, and writes
``benchmarks/results/DATE-NAMES.json`` (or ``--out``): the machine's facts, the reference
(before, after and their mean) and one row per workload and condition, with its wall time in
loops of the mean reference loop and whether it met its limit. ``scripts/write_docs.py``
renders these files into ``docs/performance.md``.

The conditions:

* ``cold`` (the default): as the workload says (a cold workload gets empty cache folders);
* ``files-cold``: the kernel's page cache dropped first (``/proc/sys/vm/drop_caches``, root
  only), so every framework's files are read from the disk again;
* ``loaded``: one busy process (a pure-Python loop) beside the run, as when another job
  shares the machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from benchmarks.breakdown import breakdown
from benchmarks.reference import REPO, machine_header, mean_figures, reference_figures
from benchmarks.timing import BusyProcess, drop_page_cache, timed
from benchmarks.workloads import Workload

RESULTS = REPO / "benchmarks" / "results"
CONDITIONS = ("cold", "files-cold", "loaded")


def default_out(names: list[str], folder: Path = RESULTS) -> Path:
    """``benchmarks/results/DATE-NAMES.json``, for the workloads (or groups) ``names``; when a
    file of that name is there already (the same workloads, earlier the same day), the first
    of ``DATE-NAMES-2.json``, ``-3`` ... that is not: a result file is kept, never replaced."""
    stem = f"{time.strftime('%Y-%m-%d')}-{'-'.join(names)}"
    path, number = folder / f"{stem}.json", 1
    while path.exists():
        number += 1
        path = folder / f"{stem}-{number}.json"
    return path


class Session:
    """The folder of one session's logs, results and caches, and the cache folders filled in it."""

    def __init__(self, folder: Path, profile: str | None) -> None:
        self.folder = folder
        self.profile = profile
        self.filled: set[str] = set()  # cache keys a cold run has filled
        self.clone: Path | None = None

    def commands(self, workload: Workload) -> list[list[str]]:
        profile = ["--profile", self.profile] if self.profile and workload.profiled else []
        values = {"python": sys.executable, "folder": str(self.folder)}
        return [[argument.format(**values) for argument in command] + profile for command in workload.commands]

    def cwd(self, workload: Workload) -> Path:
        if not workload.in_clone:
            return REPO
        if self.clone is None:
            self.clone = self.folder / "clone"
            subprocess.run(["git", "clone", "-q", str(REPO), str(self.clone)], check=True)
        return self.clone

    def environment(self, cache: Path) -> dict[str, str]:
        return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", "CONFORMANCE_COMPILATION_CACHE": str(cache)}

    def log(self, label: str) -> Path:
        return self.folder / (re.sub(r"[^\w.]+", "-", label).strip("-") + ".log")

    def run_all(self, workload: Workload, cache: Path, label: str) -> dict[str, Any]:
        """Every command of ``workload`` once, one after the other: the figures summed, the
        first nonzero exit status kept."""
        rows = [timed(command, self.cwd(workload), self.environment(cache), self.log(label))
                for command in self.commands(workload)]  # fmt: skip
        summed = {key: round(sum(row[key] for row in rows), 2) for key in ("wall_s", "user_s", "system_s")}
        return {
            "command": " && ".join(row["command"] for row in rows),
            "returncode": next((row["returncode"] for row in rows if row["returncode"]), 0),
            **summed,
            "peak_rss_mib": max(row["peak_rss_mib"] for row in rows),
            "log": rows[-1]["log"],
        }

    def cache_for(self, workload: Workload, condition: str, repeat: int) -> Path:
        """A cold workload's folder is new for each repeat and condition; a warm one's is the
        cold run's, filled first (untimed) when no cold run filled it."""
        key = workload.cache_key
        if workload.cache == "cold":
            return self.folder / f"cache-{key}{'' if condition == 'cold' else '-' + condition}{repeat or ''}"
        cache = self.folder / f"cache-{key}"
        if key not in self.filled:
            self.run_all(workload, cache, f"{workload.name} (filling the cache)")
            self.filled.add(key)
        return cache

    def measure(self, workload: Workload, condition: str) -> dict[str, Any]:
        """``workload`` under ``condition``, ``repeats`` times: the median run's figures, and
        each run's wall time when there were several."""
        label = workload.name if condition == "cold" else f"{workload.name} ({condition})"
        runs = []
        for repeat in range(workload.repeats):
            cache = self.cache_for(workload, condition, repeat)
            print(f"{label}: {' && '.join(' '.join(command) for command in self.commands(workload))}", file=sys.stderr)
            if condition == "files-cold":
                drop_page_cache()
            with BusyProcess() if condition == "loaded" else contextlib.nullcontext():
                runs.append(self.run_all(workload, cache, f"{label}-{repeat}" if repeat else label))
            if workload.cache == "cold" and condition == "cold":
                self.filled.add(workload.cache_key)
            print(f"  {runs[-1]['wall_s']:.1f} s, exit {runs[-1]['returncode']}", file=sys.stderr, flush=True)
        median = sorted(runs, key=lambda run: run["wall_s"])[len(runs) // 2]
        row: dict[str, Any] = {
            "target": label,
            "condition": condition,
            "cache": workload.cache,
            "limit_loops": workload.limit_loops,
            "aim_loops": workload.aim_loops,
            **median,
        }
        if len(runs) > 1:
            row["wall_s_each"] = [run["wall_s"] for run in runs]
            row["wall_s_median"] = round(statistics.median(row["wall_s_each"]), 2)
        if workload.results:
            row["breakdown"] = breakdown(self.folder / workload.results)
        if workload.details and (self.folder / workload.details).exists():
            row["details"] = json.loads((self.folder / workload.details).read_text(encoding="utf-8"))
        return row


def in_loops(rows: list[dict[str, Any]], loop_s: float) -> None:
    """Each row's wall time in loops of the reference, and whether it met its limit (None: no limit)."""
    for row in rows:
        row["in_python_loops"] = round(row["wall_s"] / loop_s, 1)
        limit = row["limit_loops"]
        row["met"] = None if limit is None else row["returncode"] == 0 and row["in_python_loops"] <= limit


def compile_bytecode() -> None:
    """Compile the suite's modules, as ``scripts/setup.sh`` does: a timed run then finds them
    compiled, as a user's does, even where PYTHONDONTWRITEBYTECODE keeps Python from writing them."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", "conformance", "adapters"], cwd=REPO, check=True,
                   stdout=subprocess.DEVNULL)  # fmt: skip


def measure(workloads: list[Workload], conditions: list[str], folder: Path, profile: str | None) -> dict[str, Any]:
    """The result file's contents: the machine, the reference around the workloads, one row
    per workload and condition."""
    session = Session(folder, profile)
    compile_bytecode()
    compiles = any(workload.compiles for workload in workloads)
    before = reference_figures(compiles)
    rows = [session.measure(workload, condition) for workload in workloads for condition in conditions]
    after = reference_figures(compiles)
    mean = mean_figures(before, after)
    in_loops(rows, mean["python_loop_s"] or 1.0)
    return {**machine_header(), "reference": {"before": before, "after": after, "mean": mean}, "results": rows}


def print_table(report: dict[str, Any]) -> None:
    reference = report["reference"]["mean"]
    compile_ms = reference["xla_compile_ms"]
    compiled = "" if compile_ms is None else f", XLA compile {compile_ms} ms a program"
    print(
        f"\nreference (mean of before and after): python loop {reference['python_loop_s']} s, "
        f"worker import {reference['worker_import_s']} s{compiled}"
    )
    print(f"\n{'workload':<28} {'wall s':>8} {'CPU s':>7} {'loops':>7} {'limit':>6} {'peak MiB':>9}  exit  met")
    for row in report["results"]:
        cpu = row["user_s"] + row["system_s"]
        limit = "" if row["limit_loops"] is None else row["limit_loops"]
        met = {True: "yes", False: "NO", None: ""}[row["met"]]
        figures = f"{row['wall_s']:>8.1f} {cpu:>7.0f} {row['in_python_loops']:>7} {limit:>6}"
        print(f"{row['target']:<28} {figures} {row['peak_rss_mib']:>9.0f}  {row['returncode']:>4}  {met}")
