"""What the workers of a run share: the large inputs and their reference values, each made
once, and locks that a worker waits on without going silent.

The oracle values and bounds of a large input do not depend on the adapter: every worker of
a run checks the same seeded inputs. So the first worker to need them computes them, chunk by
chunk, into memory-mapped files in the run's folder (``$CONFORMANCE_SHARED_REFERENCES``, which
the runner sets), and every other worker compares its adapter's answer with those files. The
float64 work of a 2**24-element input is paid once per run instead of once per adapter. The
seeded inputs and cotangents themselves are shared the same way: copying 2**24 elements from
the page cache takes a tenth of the time of drawing them again. Inputs past SHARED_ELEMENTS
(bench's, the thorough profile's 2**31) are made and computed in memory, a chunk at a time,
as before: their files would be gigabytes.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from conformance.checks import heartbeat
from conformance.checks.large.seeded import Layout
from conformance.truth.arrays import aligned_empty
from conformance.truth.tolerance import Bound

SHARED_ENVIRONMENT_VARIABLE = "CONFORMANCE_SHARED_REFERENCES"
SHARED_ELEMENTS = 2**25  # larger inputs are computed in memory in each worker
_POLL_S = 0.2

Reference = Callable[[int], tuple[np.ndarray, Bound]]  # chunk k -> its exact values and bound
Chunks = Callable[[Callable[[int], Any]], Any]  # runs work(k) for every chunk k


@contextlib.contextmanager
def locked(path: str | os.PathLike[str]) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` (made if need be), waiting for another process's
    with the runner's heartbeat going, so a wait is not taken for a hang."""
    with open(path, "a+") as handle:
        while True:
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                heartbeat.beat(None)
                time.sleep(_POLL_S)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _folder(layout: Layout) -> Path | None:
    chosen = os.environ.get(SHARED_ENVIRONMENT_VARIABLE, "")
    if not chosen or layout.size > SHARED_ELEMENTS:
        return None
    return Path(chosen)


def _base(folder: Path, key: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder / hashlib.sha256(key.encode()).hexdigest()[:24]


def shared_array(key: str, layout: Layout, dtype: Any, make: Callable[[], np.ndarray]) -> np.ndarray:
    """``make()`` (a seeded array shaped like ``layout``), made once per run for ``key`` into
    the run's folder; every worker gets a copy of its own, aligned as ``make`` aligns it (an
    adapter may write into what it is given, and the purity check must see only that)."""
    folder = _folder(layout)
    if folder is None:
        return make()
    base = _base(folder, key)
    path = Path(f"{base}.array")
    with locked(f"{base}.lock"):
        if not path.exists():
            array = make()
            partial = Path(f"{base}.partial")
            array.tofile(partial)
            partial.replace(path)
            return array
    out = aligned_empty(layout.shape, dtype)
    out[...] = np.memmap(path, dtype=dtype, mode="r", shape=layout.shape)
    return out


def shared(
    key: str,
    layout: Layout,
    dtype: Any,
    reference: Reference,
    each_chunk: Chunks,
) -> Reference:
    """``reference`` (chunk k -> exact values and bound), computed once per run for ``key`` into
    the run's shared files and read back from them; ``reference`` itself when nothing is shared.
    ``each_chunk(work)`` runs ``work(k)`` for every chunk (on threads)."""
    folder = _folder(layout)
    if folder is None:
        return reference
    base = _base(folder, key)
    with locked(f"{base}.lock"):
        if not Path(f"{base}.done").exists():
            _compute(base, layout, reference, each_chunk)
    exact = np.load(f"{base}.exact.npy", mmap_mode="r")
    absolute = np.load(f"{base}.absolute.npy", mmap_mode="r")
    scale = np.load(f"{base}.scale.npy", mmap_mode="r")
    bound_dtype = np.dtype(dtype)

    def read(k: int) -> tuple[np.ndarray, Bound]:
        rows = layout.rows(k)
        return exact[rows], Bound(absolute[rows], scale[rows], bound_dtype)

    return read


def _compute(
    base: Path, layout: Layout, reference: Reference, each_chunk: Callable[[Callable[[int], None]], None]
) -> None:
    """Every chunk's exact values and bound into ``base``'s files (the scale, which only turns
    the worst element's error into ulps, in float32), then the mark that they are complete."""
    shape = (layout.batch, layout.length)
    first_exact, first_bound = reference(0)
    files = {
        "exact": np.lib.format.open_memmap(f"{base}.exact.npy", "w+", first_exact.dtype, shape),
        "absolute": np.lib.format.open_memmap(f"{base}.absolute.npy", "w+", np.float64, shape),
        "scale": np.lib.format.open_memmap(f"{base}.scale.npy", "w+", np.float32, shape),
    }

    def store(k: int, computed: tuple[np.ndarray, Bound] | None = None) -> None:
        exact, bound = computed or reference(k)
        rows = layout.rows(k)
        files["exact"][rows] = exact
        files["absolute"][rows] = np.broadcast_to(bound.absolute, exact.shape)
        files["scale"][rows] = np.broadcast_to(bound.scale, exact.shape)

    store(0, (first_exact, first_bound))
    each_chunk(lambda k: store(k) if k else None)
    # No flush: the other workers map the same pages of the page cache, so they see every
    # store as soon as it is made. A flush (msync) would only wait for the disk, 0.6 s for
    # each 2**24-element input, and the files are gone when the run ends.
    Path(f"{base}.done").touch()
