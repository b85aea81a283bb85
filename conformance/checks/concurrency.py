"""Calling an adapter from several threads at once, the way a server calls its model.

Each caller runs in its own thread; a barrier lines them up at the start of every round, and
the interpreter switches threads every few microseconds while they run. On a loaded machine
the threads of a round may run one after another and test nothing. Calls that merely overlap
in time do not show that they ran together: a thread the system paused between two of its
calls, or before its first step, holds another caller's whole call inside its own span, and a
scratch buffer shared by every call comes out right (measured under load: rounds overlapped
that way mixed no inputs, while every round whose calls crossed did). So a round counts when
two callers' calls *crossed*: each began before the other ended, and neither lies inside the
other. Rounds go on until enough of them crossed; on a busy machine that takes more rounds,
up to a most, or a few seconds once the rounds an idle machine needs have run, or until the
property's time budget is spent (:mod:`conformance.checks.time_budget`). A record whose
examples crossed in fewer rounds says so. ``concurrent_calls_agree`` gives
each caller its own input (a race mixes them up); ``same_bits_every_call`` gives every
caller the same one (the same call must give the same bits).

Both call on the pool's long rows (:func:`overlapping_site`): thousands of elements, whose
calls last long enough to overlap (NumPy lets go of the GIL on them), their programs built by
``long_row_accuracy``. An adapter whose calls on them are slow (a pairwise softmax takes 0.3 s
a call, where NumPy takes 0.3 ms) makes calls that overlap on a smaller site too, and sixteen
calls or more on the long rows would cost it seconds in each record: in ``dev`` it is called on
the pool's largest other site, and the record says so.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any

from conformance.adapter import method_name
from conformance.checks import measure, time_budget
from conformance.checks.calls import Subject, label, time_allowed
from conformance.checks.failures import AdapterCallError
from conformance.checks.quantities import Outcome, answer, make_call
from conformance.inputs.arguments import Argument
from conformance.inputs.shape_pool import ShapePool, Site
from conformance.truth.dtypes import dtype_name
from conformance.truth.oracle import Op, Quantity

ROUNDS = 4  # rounds in which two callers' calls crossed in time (each crossed round measured mixed a shared buffer)
FLOOR_ROUNDS = 32  # rounds that run, unless ROUNDS crossed before, however long they take
MAX_ROUNDS = 256  # rounds that may run, past FLOOR_ROUNDS, within ROUNDS_SECONDS
ROUNDS_SECONDS = 2.0
SWITCH_INTERVAL_S = 1e-6  # how often the interpreter hands the GIL to another thread, while they run
SLOW_CALL_S = 0.01  # forward calls on the long rows this slow (30 times NumPy's) move the callers to a smaller site

# A caller: its input, and the vectors each quantity it computes takes after it.
Caller = tuple[Argument, Mapping[Quantity, Sequence[Argument]]]


def overlapping_site(op: Op, dtype: Any, pool: ShapePool) -> Site:
    """The site the callers call on: the pool's long rows, unless this worker's forward calls on
    them took more than SLOW_CALL_S (:func:`~conformance.checks.time_budget.typical_call`,
    measured in ``dev`` only, by ``long_row_accuracy`` and the other budgeted properties
    before); then the largest of the pool's other sites, noted in the record."""
    long = pool.long[0]
    typical = time_budget.typical_call(method_name(op, "forward"), long.shape, dtype_name(dtype))
    if typical is None or typical[0] <= SLOW_CALL_S:
        return long
    site = max(pool.sites(wide=True), key=lambda site: site.size)
    seconds, calls = typical
    measure.note(
        f"the long rows' calls made on {site.shape} along axis {site.axis} instead of {long.shape}: "
        f"the adapter's forward calls on {long.shape} took {seconds:.2f} s (the mean of {calls})"
    )
    return site


@contextmanager
def frequent_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def crossed(calls: Sequence[tuple[float, float, int]]) -> bool:
    """Whether two of one round's calls, each a (start, end, caller), made by different callers,
    crossed in time: each began before the other ended, and neither lies inside the other. A
    call's span is the adapter's method alone (:attr:`~conformance.checks.reproducer.Call.span`):
    timed around the suite's work too (copying the inputs, checking them after), two spans
    crossed under load while the adapter's calls did not, and a scratch buffer shared by every
    call came out right in 1 ci run of 10 with the machine's cores busy."""
    ordered = sorted(calls)
    for place, (start, end, caller) in enumerate(ordered):
        for later_start, later_end, later_caller in ordered[place + 1 :]:
            if later_start >= end:
                break
            if later_caller != caller and start < later_start and end < later_end:
                return True
    return False


def concurrently(
    subject: Subject,
    op: Op,
    callers: Sequence[Caller],
    axis: int,
    source: Callable[[], str],
    *,
    rounds: int = ROUNDS,
    floor_rounds: int = FLOOR_ROUNDS,
    max_rounds: int = MAX_ROUNDS,
) -> list[list[dict[Quantity, Outcome]]]:
    """Each caller's answers in each round (each quantity its vectors name), every caller in
    its own thread, all started at once, until ``rounds`` rounds had calls that
    :func:`crossed`, ``max_rounds`` ran, ``floor_rounds`` ran and the rounds took
    ROUNDS_SECONDS, or the time budget is spent; if fewer crossed, the measurement says so. A
    caller's exception is raised here; calls that never return are an
    :class:`AdapterCallError` whose reproducer is ``source()``."""
    answers: list[list[dict[Quantity, Outcome]]] = [[] for _ in callers]
    calls_made: list[list[tuple[float, float, int]]] = [[] for _ in callers]  # this round's, by caller
    errors: list[BaseException] = []
    progress = {"rounds": 0, "crossed": 0, "done": False}
    began = time.perf_counter()

    def end_of_round() -> None:  # run by one thread, once every caller has finished the round
        progress["rounds"] += 1
        progress["crossed"] += crossed([call for made in calls_made for call in made])
        out_of_rounds = progress["rounds"] >= max_rounds or (
            progress["rounds"] >= floor_rounds and time.perf_counter() - began >= ROUNDS_SECONDS
        )
        progress["done"] = progress["crossed"] >= rounds or out_of_rounds or time_budget.spent()

    start = threading.Barrier(len(callers))
    finish = threading.Barrier(len(callers), action=end_of_round)

    def caller(index: int) -> None:
        x, vectors = callers[index]
        try:
            while not progress["done"]:
                # the calls are made ready (their inputs copied) before the round starts, so
                # that the callers enter the adapter together
                ready = {
                    quantity: make_call(subject, op, quantity, x, axis, given) for quantity, given in vectors.items()
                }
                start.wait()
                calls_made[index] = []
                answered: dict[Quantity, Outcome] = {}
                for quantity, call in ready.items():
                    answered[quantity] = answer(subject, op, quantity, call)
                    assert call.span is not None  # invoke sets it
                    calls_made[index].append((*call.span, index))
                answers[index].append(answered)
                finish.wait()
        except BaseException as error:
            errors.append(error)
            start.abort()
            finish.abort()

    threads = [threading.Thread(target=caller, args=(index,), daemon=True) for index in range(len(callers))]
    allowed = time_allowed(subject.call_timeout, int(callers[0][0].value.size))
    calls = max(len(vectors) for _, vectors in callers)
    waited = None if allowed is None else allowed * (floor_rounds + 1) * calls * len(callers) + ROUNDS_SECONDS
    with frequent_switches():
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(waited)
    if any(thread.is_alive() for thread in threads):
        subject.hung = f"a call from {len(callers)} threads at once did not return"
        where = label(subject, op, callers[0][0].value.dtype, axis)
        raise AdapterCallError(f"{subject.hung} {where}", source())
    real = [error for error in errors if not isinstance(error, threading.BrokenBarrierError)]
    if real:
        raise real[0]
    if progress["crossed"] < rounds:
        measure.note(
            f"in some examples the callers' calls crossed in time in fewer than {rounds} rounds (on a busy "
            "machine, or cut short by the time budget), so a race there could go unseen"
        )
    return answers
