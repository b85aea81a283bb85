"""How much memory the machine has left, and how the bench prints an amount of it."""

from __future__ import annotations


def memory_available_bytes() -> int | None:
    """``MemAvailable`` from ``/proc/meminfo``; None where there is none."""
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def gib(value: int | float | None) -> str:
    return "?" if value is None else f"{value / 2**30:.2f} GiB"
