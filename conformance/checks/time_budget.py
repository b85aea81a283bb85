"""A property's time budget: past it, the property starts no new example.

In the ``dev`` profile a property may take :data:`PROPERTY_SECONDS`; an adapter whose calls
take seconds would otherwise spend many minutes on the examples of one property (a pairwise
softmax, quadratic per row, took 8 minutes in ``concurrent_calls_agree``). The budget is
scaled from the adapter's measured call times: every call is timed, and past
:data:`PROPERTY_SECONDS` a property stops only while the adapter's calls took more than
:data:`CALLS_PER_OWN` times the suite's own work on the same examples (drawing, the oracle,
the comparisons). So a slow adapter is stopped, and a fast one is not, on a machine of any
speed and for a property whose own work is large (the oracle of a 2**24-element input):
there the budget grows with the suite's work, and a slow adapter's property takes at most
about ``1 + CALLS_PER_OWN`` times what that work takes.

The plugin opens a budget around each test and checks it at the start of every example; the
first example always runs, so a property stopped early has checked something. Once an
example has failed, the budget stops nothing: Hypothesis shrinks the failure and reports it,
as in ``ci`` (stopped while shrinking, a failure found would be reported as a pass). ``ci``
and ``thorough`` run every example, so that their results stay reproducible.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field

PROPERTY_SECONDS = 3.0  # 7 times the NumPy reference's slowest dev property of examples (0.41 s, 2 cores)
CALLS_PER_OWN = 3.0  # past PROPERTY_SECONDS, the adapter's calls may take this many times the suite's own work


class OutOfTime(KeyboardInterrupt):
    """Raised at the start of an example once the budget is spent. A KeyboardInterrupt, because
    Hypothesis re-raises one at once, without shrinking it or saving the unstarted example to
    its database as a failure; the plugin turns it into a pass."""


@dataclass
class TimeBudget:
    seconds: float
    started: float = field(default_factory=time.monotonic)
    examples: int = 0  # examples started
    failed: bool = False  # an example failed: Hypothesis is shrinking it
    calls_s: float = 0.0  # the adapter's calls, each timed (those of threads at once add up)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def own_s(self) -> float:
        """The suite's own work so far: what the adapter's calls did not take."""
        return max(0.0, self.elapsed - self.calls_s)

    @property
    def spent(self) -> bool:
        return self.elapsed > self.seconds and self.calls_s > CALLS_PER_OWN * self.own_s

    def add_call(self, seconds: float) -> None:
        with self._lock:
            self.calls_s += seconds

    def summary(self) -> str:
        """``stopped early: 4 examples in 30 s, 27 s in the adapter's calls``: what a property
        stopped early checked, and why."""
        plural = "" if self.examples == 1 else "s"
        return (
            f"stopped early: {self.examples} example{plural} in {self.elapsed:.0f} s, "
            f"{min(self.calls_s, self.elapsed):.0f} s in the adapter's calls"
        )


_current: TimeBudget | None = None


def start(seconds: float) -> TimeBudget:
    global _current
    _current = TimeBudget(seconds)
    return _current


def stop() -> TimeBudget | None:
    global _current
    done, _current = _current, None
    return done


def spent() -> bool:
    """Whether the current property has spent its budget (never, outside one)."""
    return _current is not None and _current.spent


def add_call(seconds: float) -> None:
    """Count an adapter call of ``seconds`` against the current property (none outside one)."""
    if _current is not None:
        _current.add_call(seconds)


def begin_example() -> None:
    """Count an example about to start, or raise :class:`OutOfTime` if the budget is spent, one
    has run already and none has failed."""
    if _current is None:
        return
    if _current.examples and _current.spent and not _current.failed:
        raise OutOfTime
    _current.examples += 1


def example_failed() -> None:
    """Say that the example under way failed: from now on the budget stops nothing."""
    if _current is not None:
        _current.failed = True
