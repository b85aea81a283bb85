"""What the runner and the bench need to know about processes: the cores this one may run
on, and the name of the signal that ended a child."""

from __future__ import annotations

import os
import signal


def available_cores() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def signal_name(returncode: int) -> str:
    """``SIGSEGV`` for a child's return code of -11; ``signal N`` for one Python cannot name."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"
