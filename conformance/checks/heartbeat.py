"""The worker's heartbeat: :data:`beat` is called before every adapter call with the seconds it
may take, and with None while the suite's own work goes on (making or comparing a large input,
waiting for a lock or another process). The plugin points it at the runner's stream, so the
runner can tell a worker that is busy from one that hangs; anywhere else it does nothing.

A module of its own, with nothing to import: the runner reads the names of the modules that
beat (their environment variables) before it starts its workers, without pytest.
"""

from __future__ import annotations

from collections.abc import Callable


def _no_heartbeat(timeout: float | None) -> None:
    pass


beat: Callable[[float | None], None] = _no_heartbeat
