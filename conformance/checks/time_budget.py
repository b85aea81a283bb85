"""A property's time budget: past it, the property starts no new example.

In the ``dev`` profile a property may take :data:`PROPERTY_SECONDS`; an adapter whose calls
take seconds would otherwise spend many minutes on the examples of one property (a pairwise
softmax, quadratic per row, took 8 minutes in ``concurrent_calls_agree``). The plugin opens a
budget around each test and checks it at the start of every example; the first example always
runs, so a property stopped early has checked something. Once an example has failed, the
budget stops nothing: Hypothesis shrinks the failure and reports it, as in ``ci`` (stopped
while shrinking, a failure found would be reported as a pass). ``ci`` and ``thorough`` run
every example, so that their results stay reproducible.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field

PROPERTY_SECONDS = 3.0  # 7 times the NumPy reference's slowest dev property of examples (0.41 s, 2 cores)


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

    @property
    def elapsed(self) -> float:
        return time.monotonic() - self.started

    @property
    def spent(self) -> bool:
        return self.elapsed > self.seconds

    def summary(self) -> str:
        """``stopped early: 4 examples in 30 s``: what a property stopped early checked."""
        plural = "" if self.examples == 1 else "s"
        return f"stopped early: {self.examples} example{plural} in {self.elapsed:.0f} s"


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
