"""What the runner and the bench need to know about processes: the cores this one may run
on, and the name of the signal that ended a child."""

from __future__ import annotations

import math
import os
import signal
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def cpu_quota(root: Path = CGROUP) -> float | None:
    """The cores a CPU quota grants this process's control group (cgroup v2 ``cpu.max``, else
    v1 ``cpu.cfs_quota_us`` / ``cpu.cfs_period_us``): a container limited to 1.5 cores gets
    1.5; None when there is no quota."""
    try:
        quota, period = (root / "cpu.max").read_text().split()[:2]
        return None if quota == "max" else int(quota) / int(period)
    except (OSError, ValueError):
        pass
    try:
        quota_us = int((root / "cpu" / "cpu.cfs_quota_us").read_text())
        period_us = int((root / "cpu" / "cpu.cfs_period_us").read_text())
    except (OSError, ValueError):
        return None
    return None if quota_us <= 0 or period_us <= 0 else quota_us / period_us


def available_cores(root: Path = CGROUP) -> int:
    """The cores this process may run on: its affinity, and no more than its CPU quota
    (rounded up: 1.5 cores keep two workers busy)."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cores = os.cpu_count() or 1
    quota = cpu_quota(root)
    return max(1, min(cores, math.ceil(quota))) if quota else cores


def signal_name(returncode: int) -> str:
    """``SIGSEGV`` for a child's return code of -11; ``signal N`` for one Python cannot name."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
