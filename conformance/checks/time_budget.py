"""A property's time budget: past it, the property starts no new example.

In the ``dev`` profile an adapter whose calls take seconds would otherwise spend many minutes
on the examples of one property (a pairwise softmax, quadratic per row, took 8 minutes in
``concurrent_calls_agree``). The budget is scaled from the adapter's measured call times.
Every call is timed, and sorted by whether it shows the adapter's pace:

* a call that repeats the layout of one this worker made before (the same method, shapes,
  strides, dtype and axis) shows it: a compiled program is built by then. Past
  :data:`REPEATED_SECONDS`, a property stops once such calls took more than
  :data:`CALLS_PER_OWN` times the suite's own work on the same examples (drawing, the oracle,
  the comparisons);
* a first call may hold a compilation (XLA, tf.function, inductor): past
  :data:`PROPERTY_SECONDS`, a property stops once all its calls took more than
  :data:`CALLS_PER_OWN` times the suite's own work;
* unless the worker has seen that nothing is built: then a method's first calls show its
  pace too, here and in :func:`typical_call` (a NumPy adapter quadratic per row ran a second
  example of every long row, 2 s each, to show what its first had shown). A program counts
  as built at its first call when that call took :data:`COMPILE_SECONDS` more than
  :data:`COMPILE_RATIO` times the median of its later calls (the median: some values may
  take a fast way, a masked row). Nothing is built when fewer than :data:`BUILT_SHARE` of the
  programs called again were, among :data:`EVIDENCE_PROGRAMS` of the worker's and
  :data:`METHOD_EVIDENCE_PROGRAMS` of the method's own, grouped both ways a compiled path
  keys its programs: by layout (inductor builds one for each strides) and by shape whatever
  the strides (XLA, tf.function). Grouped one way only, inductor looked like NumPy, or
  jax-jit and tf.function did. The method's own, because a path may build for one method and
  not for the others (eager TensorFlow traces its Jacobian's loop), and because a method's
  first call may warm its framework up (torch.func's first VJP took a second): it is never
  counted. Measured on every path's calls of a dev run (seed 1), a compiled path built 45 %
  of its programs or more, by one grouping or the other, from its eighth on; NumPy, torch's
  eager paths and the pairwise softmax 5 % or less.

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

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

PROPERTY_SECONDS = 3.0  # 7 times the NumPy reference's slowest dev property of examples (0.41 s, 2 cores)
REPEATED_SECONDS = 0.5  # a property whose repeated calls are slow stops past this
CALLS_PER_OWN = 3.0  # the adapter's calls may take this many times the suite's own work
COMPILE_SECONDS = 0.005  # a program's first call this much slower than COMPILE_RATIO times the others built it
COMPILE_RATIO = 3.0  # (a tf.function trace: 18 ms against 0.6 ms; a slow adapter's calls vary by half under load)
EVIDENCE_PROGRAMS = 8  # the worker's programs called again before first calls may tell that nothing is built
METHOD_EVIDENCE_PROGRAMS = 3  # and the method's own
BUILT_SHARE = 0.25  # a compiled path built 45 % of its programs or more at their first call; NumPy 5 % or less
PROGRAM_CALLS_KEPT = 9  # a program's first call and the next ones, which tell whether it was built then


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
    paced_s: float = 0.0  # those of them that show the adapter's pace (no compilation in them)
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
        slow = elapsed > min(self.seconds, REPEATED_SECONDS) and self.paced_s > allowed
        return slow or (elapsed > self.seconds and self.calls_s > allowed)

    def add_call(self, seconds: float, paced: bool) -> None:
        with self._lock:
            self.calls_s += seconds
            if paced:
                self.paced_s += seconds

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
Layout = tuple[object, ...]  # a call's method, axis, and each array's name, shape, strides and dtype


@dataclass
class Programs:
    """Calls grouped into programs by ``key`` of their layout, and which programs were slower
    at their first call than at the others by a compilation."""

    key: Callable[[Layout], Layout]
    calls: dict[Layout, list[float]] = field(default_factory=dict)  # each program's first PROGRAM_CALLS_KEPT
    called_again: set[Layout] = field(default_factory=set)
    built: set[Layout] = field(default_factory=set)

    def note(self, layout: Layout, seconds: float) -> None:
        """Keep a call, and whether its program's first call was slower than the median of the
        others by a compilation (the median: some values may take a fast way, a masked row)."""
        program = self.key(layout)
        calls = self.calls.setdefault(program, [])
        if len(calls) >= PROGRAM_CALLS_KEPT:
            return
        calls.append(seconds)
        if len(calls) == 1:
            return
        self.called_again.add(program)
        if calls[0] > COMPILE_SECONDS + COMPILE_RATIO * statistics.median(calls[1:]):
            self.built.add(program)
        else:
            self.built.discard(program)

    def called(self, layout: Layout) -> bool:
        """Whether ``layout``'s program was called before."""
        return self.key(layout) in self.calls

    def build_nothing(self, enough: int) -> bool:
        """``enough`` programs called again, and fewer than BUILT_SHARE of them built then."""
        return len(self.called_again) >= enough and len(self.built) < BUILT_SHARE * len(self.called_again)


def _as_called(layout: Layout) -> Layout:
    return layout  # inductor builds a program for each strides


def _whatever_the_strides(layout: Layout) -> Layout:
    method, axis, arrays = layout  # XLA and tf.function build one for each shape
    assert isinstance(arrays, tuple)
    return (method, axis, tuple((name, shape, dtype) for name, shape, _, dtype in arrays))


def grouped_both_ways() -> tuple[Programs, Programs]:
    return (Programs(_as_called), Programs(_whatever_the_strides))


_worker_programs = grouped_both_ways()  # every call of this worker (by layout first: it tells a repeat)
_method_programs: dict[object, tuple[Programs, Programs]] = {}  # and by method
_seconds_by_pace: dict[Pace, list[float]] = {}  # every call's seconds in this worker, by its pace
_layouts_lock = threading.Lock()


def first_calls_compile(method: object) -> bool:
    """Whether a first call of ``method`` may hold a compilation in this worker: unless the
    worker's calls, and the method's own, grouped either way, show that nothing is built."""
    own = _method_programs.get(method)
    return own is None or not (
        all(programs.build_nothing(EVIDENCE_PROGRAMS) for programs in _worker_programs)
        and all(programs.build_nothing(METHOD_EVIDENCE_PROGRAMS) for programs in own)
    )


def add_call(seconds: float, layout: Layout, pace: Pace) -> None:
    """Count an adapter call of ``seconds``, made on ``layout`` (its method, shapes, strides,
    dtype and axis), against the current property (none outside one): as the adapter's pace
    if it repeats an earlier call's layout, or its method builds nothing; and keep its
    seconds under its ``pace`` (method, input shape and dtype)."""
    if _current is None:
        return
    method = layout[0]
    with _layouts_lock:
        paced = _worker_programs[0].called(layout) or not first_calls_compile(method)
        for programs in (*_worker_programs, *_method_programs.setdefault(method, grouped_both_ways())):
            programs.note(layout, seconds)
        _seconds_by_pace.setdefault(pace, []).append(seconds)
    _current.add_call(seconds, paced)


def typical_call(method: str, shape: tuple[int, ...], dtype_name: str) -> tuple[float, int] | None:
    """The mean seconds of the calls of ``method`` on an input of ``shape`` and ``dtype_name``
    (of any strides) that budgeted properties of this worker made, after the first where first
    calls may hold a compilation (JAX and TensorFlow build one program per shape and dtype:
    :func:`first_calls_compile`), and how many that is; the first alone if it is the only one;
    None if none was made. A mean, not a median: an adapter may take a fast way for some values
    (a masked input), and a slow one for the rest."""
    with _layouts_lock:
        seconds = list(_seconds_by_pace.get((method, shape, dtype_name), ()))
        compiles = first_calls_compile(method)
    counted = (seconds[1:] if compiles else []) or seconds
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
