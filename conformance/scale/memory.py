"""Memory for the large checks and the bench: aligned buffers, the C allocator, and how
much the process holds (its resident set and peak) and the machine has left.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import resource
import sys
from typing import Any

import numpy as np

ALIGNMENT = 64  # bytes; frameworks can wrap an aligned buffer instead of copying it
# Bytes per Jacobian entry that the full-Jacobian approach holds at its peak, beyond the
# adapter's own N x N output: the oracle Jacobian (float64), the bound's absolute and scale
# (float64 each, embedded from the blocks), and the comparison's error and masks. Measured
# at N = 1e4 (float32): a peak RSS of 6.0-6.3 GiB for torch, jax and tensorflow, ~64 bytes
# per entry in all.
FULL_JACOBIAN_BYTES_PER_ENTRY = 60.0
MEMORY_HEADROOM = 0.85  # share of MemAvailable a step may be estimated to take


def aligned_empty(shape: tuple[int, ...], dtype: Any, alignment: int = ALIGNMENT) -> np.ndarray:
    """An uninitialised C-contiguous array whose data starts on an ``alignment`` boundary.

    NumPy's large buffers start 16 bytes into a page; JAX's CPU ``device_put`` wraps a
    64-byte aligned buffer without copying it, and copies anything else (measured: 0 vs
    400 MB for 1e8 float32).
    """
    dtype = np.dtype(dtype)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    raw = np.empty(nbytes + alignment, dtype=np.uint8)
    offset = (-raw.ctypes.data) % alignment
    return raw[offset : offset + nbytes].view(dtype).reshape(shape)


def release_memory(full: bool = False) -> None:
    """Collect garbage and hand freed heap pages back to the system (glibc ``malloc_trim``),
    so that what the chunked oracle freed does not linger in the resident set.

    Arrays are freed by reference counting as soon as they are dropped; the collector is
    for cycles a framework may build around an output (autograd graphs, tracebacks), which
    are young: collecting generations 0-1 takes milliseconds, a full collection with a
    framework imported a few tenths of a second (``full=True``)."""
    gc.collect() if full else gc.collect(1)
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6").malloc_trim(0)


def tune_allocator() -> bool:
    """Have glibc serve the oracle's chunk temporaries (about 1 MiB each, a few dozen per
    chunk) from the heap, reused, instead of mapping fresh zeroed pages for each and
    trimming them again: measured, page faults were a third of the checking time.
    Framework buffers of 1e8 elements (far above 32 MiB) are still mapped and unmapped.
    Process-wide; the bench worker calls it. False where the C library is not glibc."""
    m_trim_threshold, m_mmap_threshold = -1, -3
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(libc.mallopt(m_mmap_threshold, 32 << 20)) and bool(libc.mallopt(m_trim_threshold, 256 << 20))
    except (OSError, AttributeError):
        return False


def _status_bytes(field_name: str) -> int | None:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def peak_rss_bytes() -> int:
    """This process's peak resident set: ``VmHWM``, else ``ru_maxrss`` (KiB on Linux)."""
    found = _status_bytes("VmHWM")
    if found is not None:
        return found
    scale = 1 if sys.platform == "darwin" else 1024  # macOS reports bytes
    return int(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss) * scale


def current_rss_bytes() -> int | None:
    return _status_bytes("VmRSS")


def reset_peak_rss() -> bool:
    """Set the high-water mark to the current resident set (Linux >= 4.0); False if not possible."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as clear:
            clear.write("5")
        return True
    except OSError:
        return False


def memory_available_bytes() -> int | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as meminfo:
            for line in meminfo:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return None


def full_jacobian_estimate(elements: int, itemsize: int) -> int:
    """Bytes the full-Jacobian approach needs at ``elements``, beyond the process's baseline."""
    return int(elements * elements * (itemsize + FULL_JACOBIAN_BYTES_PER_ENTRY))


def gib(value: int | float | None) -> str:
    return "?" if value is None else f"{value / 2**30:.2f} GiB"
