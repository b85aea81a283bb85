"""A property's time budget: past it, the property starts no new example.

In the ``dev`` profile an adapter whose calls take seconds would otherwise spend many minutes
on the examples of one property (a pairwise softmax, quadratic per row, took 8 minutes in
``concurrent_calls_agree``). The budget is scaled from the adapter's measured call times.
Every call is timed, and sorted by whether it repeats the layout of one this worker made
before (the same method, shapes, strides, dtype and axis):

* a repeated call shows the adapter's speed: a compiled program is built by then. Past
  :data:`REPEATED_SECONDS`, a property stops once its repeated calls took more than
  :data:`CALLS_PER_OWN` times the suite's own work on the same examples (drawing, the oracle,
  the comparisons);
* a first call may hold a compilation (XLA, tf.function, inductor): past
  :data:`PROPERTY_SECONDS`, a property stops once all its calls took more than
  :data:`CALLS_PER_OWN` times the suite's own work.

So a slow adapter is cut short within about a second, a compiled path compiling its programs
gets three, and a fast adapter is not cut at all, on a machine of any speed and where the
suite's own work is large (the oracle of a 2**24-element input).

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
REPEATED_SECONDS = 0.5  # a property whose repeated calls are slow stops past this
CALLS_PER_OWN = 3.0  # the adapter's calls may take this many times the suite's own work


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
    repeated_s: float = 0.0  # those of them that repeat an earlier call's layout
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
        elapsed, allowed = self.elapsed, CALLS_PER_OWN * self.own_s
        slow = elapsed > min(self.seconds, REPEATED_SECONDS) and self.repeated_s > allowed
        return slow or (elapsed > self.seconds and self.calls_s > allowed)

    def add_call(self, seconds: float, repeated: bool) -> None:
        with self._lock:
            self.calls_s += seconds
            if repeated:
                self.repeated_s += seconds

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


Pace = tuple[str, tuple[int, ...], str]  # a call's method, and its input's shape and dtype
_layouts_called: set[tuple[object, ...]] = set()  # every call's layout in this worker, to tell a repeat
_seconds_by_pace: dict[Pace, list[float]] = {}  # every call's seconds in this worker, by its pace
_layouts_lock = threading.Lock()


def add_call(seconds: float, layout: tuple[object, ...], pace: Pace) -> None:
    """Count an adapter call of ``seconds``, made on ``layout`` (its method, shapes, strides,
    dtype and axis), against the current property (none outside one), and keep its seconds
    under its ``pace`` (method, input shape and dtype)."""
    if _current is None:
        return
    with _layouts_lock:
        repeated = layout in _layouts_called
        _layouts_called.add(layout)
        _seconds_by_pace.setdefault(pace, []).append(seconds)
    _current.add_call(seconds, repeated)


def typical_call(method: str, shape: tuple[int, ...], dtype_name: str) -> tuple[float, int] | None:
    """The mean seconds of the calls of ``method`` on an input of ``shape`` and ``dtype_name``
    (of any strides) that budgeted properties of this worker made after the first (which may
    hold a compilation: JAX and TensorFlow build one program per shape and dtype), and how
    many that is; the first alone if it is the only one; None if none was made. A mean, not
    a median: an adapter may take a fast way for some values (a masked input), and a slow one
    for the rest."""
    with _layouts_lock:
        seconds = list(_seconds_by_pace.get((method, shape, dtype_name), ()))
    counted = seconds[1:] or seconds
    return (sum(counted) / len(counted), len(counted)) if counted else None


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
