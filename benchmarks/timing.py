"""One timed process, and the conditions beside it: the page cache dropped, a busy neighbour."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

DROP_CACHES = Path("/proc/sys/vm/drop_caches")


def timed(command: list[str], cwd: Path, environment: dict[str, str], log: Path) -> dict[str, Any]:
    """Run ``command`` to its end: exit status, wall seconds, the CPU seconds of it and of the
    processes it waited for, and the peak RSS of its largest process (``wait4``'s ``ru_maxrss``)."""
    started = time.perf_counter()
    with open(log, "wb") as output:
        process = subprocess.Popen(command, cwd=cwd, env=environment, stdout=output, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(process.pid, 0)
    wall = time.perf_counter() - started
    return {
        "command": " ".join(command),
        "returncode": os.waitstatus_to_exitcode(status),
        "wall_s": round(wall, 2),
        "user_s": round(usage.ru_utime, 1),
        "system_s": round(usage.ru_stime, 1),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "log": str(log),
    }


def drop_page_cache() -> None:
    """Write the dirty pages out, then drop the kernel's page cache (root only)."""
    os.sync()
    DROP_CACHES.write_text("3\n")


def page_cache_problem() -> str | None:
    """Why the page cache cannot be dropped here, or None."""
    if not os.access(DROP_CACHES, os.W_OK):
        return f"files-cold drops the page cache through {DROP_CACHES}, which only root can write"
    return None


class BusyProcess:
    """One pure-Python loop running beside a timed run, for as long as the ``with`` lasts."""

    def __enter__(self) -> BusyProcess:
        self.process = subprocess.Popen([sys.executable, "-c", "while True: pass"])
        return self

    def __exit__(self, *exception: object) -> None:
        self.process.kill()
        self.process.wait()
