"""Bit for bit: a row gives the same bits alone and in any batch, the same call gives the same bits
every time, and on one thread as on all of them (:mod:`conformance.checks.bitwise`).

These are measured, not demanded: each property records, per draw, whether the bits matched,
by how many ulps they differ where not, and where they first changed (the fewest rows of a
batch, the call, the thread count). It fails only for an adapter that promised the aspect
(``bitwise = ("batch", "determinism", "threads")``, or ``bitwise=`` of ``from_torch``,
``from_jax`` and ``from_tensorflow``).

The inputs are those of the run's other properties, so that a compiled path (``jax.jit``,
``tf.function``) builds almost nothing for these, each called with the quantities the run
computes there already (forward, VJP, and JVP where the adapter offers one; forward and VJP
on long rows and large inputs):

* ``same_bits_in_any_batch``: every batch of the run's shape pool whose rows are as long as
  one of its rank 1 sites (which computes the row alone), on any axis; the pool's more than
  65535 rows (whose rows ``many_rows`` computes alone; in the half types, rows of 257 past 2**24
  elements, in ``ci`` and ``thorough`` only); and its rows of a vocabulary's length (100277 to
  262144, which ``vocabulary_rows`` computes alone). Each with every row, in a batch of up to 8,
  else its first row, its last and one drawn. The pool's seeded inputs are the same in every
  example, so each is computed once per record (its first row, its last, the first past 65535
  rows and 8 from its seed) and what it gave counted in every example.
  And batches of rows of 1000, where a row's reduction is long enough to be split and
  vectorised: 8 rows, float32's forward pass, in ``dev``; in ``ci`` and ``thorough`` 2, 3, 8,
  64 and 4097 rows, and 8 along the first axis, in every dtype, with every quantity.
* ``same_bits_every_call``: an input on the pool's sites and one on its long rows (4095 to 8193),
  each called three times and then from four threads at once (in ``dev`` the long rows alone:
  a small input's calls seldom overlap; for an adapter slow on them, the pool's largest other
  site, see :func:`conformance.checks.concurrency.overlapping_site`; and only for the (op, dtype)
  pairs the run's block of the concurrent callers gives this property rather than
  ``concurrent_calls_agree``, see :mod:`conformance.inputs.covering`); in some examples its rows
  of a vocabulary's length, called three times.
* ``same_bits_on_any_thread_count`` (``ci`` and ``thorough``): 8 rows of 1000, an input on the
  pool's sites and one of its large inputs, each computed in a process on one thread and in
  one on all of the machine's (:mod:`conformance.checks.thread_count`); an adapter with no
  thread setting (NumPy) has nothing to compare: "not provided".
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import declared_promises, has_thread_setting, method_name
from conformance.checks import measure, thread_count
from conformance.checks.bitwise import Change, Draw, bits_lines, bits_reproducer
from conformance.checks.calls import Subject, skipping_unsupported, time_allowed
from conformance.checks.concurrency import SWITCH_INTERVAL_S, concurrently, overlapping_site
from conformance.checks.failures import AdapterCallError
from conformance.checks.large.at_scale import GRID_ROWS, ZERO_ROW_FRACTION, large_input, memory_short, seeded_vector
from conformance.checks.large.seeded import Seeded
from conformance.checks.measure import count_example
from conformance.checks.quantities import VECTORS, Outcome, draw_problem, make_call, run
from conformance.checks.reproducer import Call
from conformance.checks.rows import in_batch, row_of
from conformance.inputs.arguments import Argument
from conformance.inputs.profiles import budget
from conformance.inputs.shape_pool import ShapePool, Site
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property
from conformance.truth.dtypes import dtype_name
from conformance.truth.oracle import Op, Quantity

FIXED_LENGTH = 1000
FIXED_ROWS = 8
EVERY_FIXED_ROWS = (2, 3, 8, 64, 4097)  # ci and thorough; and 8 along the first axis
# What each kind of site is called with: what the run's other properties compute there (their
# programs are built), and on the batches of 1000 in dev, the forward pass of float32 only.
ALL_QUANTITIES: tuple[Quantity, ...] = ("forward", "vjp", "jvp")  # the pool's small and wide sites
LONG_QUANTITIES: tuple[Quantity, ...] = ("forward", "vjp")  # its long rows and large inputs
DEV_FIXED: tuple[str, tuple[Quantity, ...]] = ("float32", ("forward",))
REPEATS = 3  # calls of the same call, the first included
CALLERS = 4  # threads making the same call at once
# What concurrent_calls_agree calls from several threads: torch's forward-mode AD has one
# level of dual numbers per process, and a JVP from two threads at once raises "Nested forward
# mode AD is not supported".
CONCURRENT_QUANTITIES: tuple[Quantity, ...] = ("forward", "vjp")
CROSSED_ROUNDS = 2  # rounds whose calls crossed in time (conformance.checks.concurrency)
FLOOR_ROUNDS = 8
MAX_ROUNDS = 32  # fewer than concurrent_calls_agree, the property that looks for races, may run
EVERY_ROW_UP_TO = 8  # a batch of up to this many rows has each checked; a larger one its first, last and one drawn
SEEDED_ROWS_PICKED = 8  # rows of a seeded large input checked besides its first, its last and row GRID_ROWS
EVERY_EXAMPLE_ELEMENTS = 2**21  # a large input up to this size is checked in every example, a larger one in some


@dataclass(frozen=True)
class Rung:
    """A batch checked against its rows alone: its site, the site a row alone takes (1-d, on
    the axis whose programs the run builds for that length), the quantities it is called
    with, and whether its input is one of the pool's seeded large ones."""

    site: Site
    alone: Site
    quantities: tuple[Quantity, ...]
    seeded: bool = False

    @property
    def rows(self) -> int:
        return self.site.size // max(self.site.row_length, 1)


def _fixed_rungs(profile: str, dtype: str) -> list[Rung]:
    """Batches of rows of FIXED_LENGTH: 8 of them in dev (float32's forward pass only); in ci
    and thorough EVERY_FIXED_ROWS of them, and 8 along the first axis, with every quantity."""
    alone = Site((FIXED_LENGTH,), -1)
    if profile == "dev":
        dev_dtype, quantities = DEV_FIXED
        return [Rung(Site((FIXED_ROWS, FIXED_LENGTH), -1), alone, quantities)] if dtype == dev_dtype else []
    rungs = [Rung(Site((count, FIXED_LENGTH), -1), alone, ALL_QUANTITIES) for count in EVERY_FIXED_ROWS]
    return [*rungs, Rung(Site((FIXED_LENGTH, FIXED_ROWS), 0), alone, ALL_QUANTITIES)]


def _long_rung(pool: ShapePool, site: Site, seeded: bool = False) -> Rung:
    """A batch of long rows (the pool's long rows or one of its seeded large inputs), its rows
    alone on the pool's row axis, with the quantities the large checks compute."""
    return Rung(site, Site((site.row_length,), pool.row_axis), LONG_QUANTITIES, seeded)


def batch_rungs(pool: ShapePool, profile: str, dtype: str) -> tuple[list[Rung], list[Rung]]:
    """The batches of one (op, dtype) in a run: those every example checks, fewest rows first,
    and the long ones, of which each example checks one (rows of a vocabulary's length; in ci
    and thorough also the pool's long rows, and its more than 65535 rows where they are past
    EVERY_EXAMPLE_ELEMENTS, in the half types: a second or more a call on some paths)."""
    drawn = (*pool.small, *pool.wide)
    alone = {site.row_length: site for site in drawn if site.rank == 1}
    every = [
        Rung(site, alone[site.row_length], ALL_QUANTITIES)
        for site in drawn
        if site.rank >= 2 and site.row_length in alone
    ]
    every += _fixed_rungs(profile, dtype)
    long = [_long_rung(pool, site, seeded=True) for site in pool.large(vocabulary=True)]
    for site in pool.large(many_rows=True):
        many = _long_rung(pool, site, seeded=True)
        if site.size <= EVERY_EXAMPLE_ELEMENTS:
            every.append(many)
        elif profile != "dev":
            long.append(many)
    if profile != "dev":
        long += [_long_rung(pool, site) for site in pool.long if site.rank >= 2]
    return sorted(every, key=lambda rung: (rung.rows, rung.site.size)), long


def _promised(subject: Subject, aspect: str) -> bool:
    return aspect in declared_promises(subject.adapter)


@dataclass(frozen=True)
class Input:
    """An input checked bit for bit, along ``axis``, with the vectors each quantity takes."""

    x: Argument
    axis: int
    vectors: dict[Quantity, list[Argument]]
    seeded: bool = False

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.value.shape)


def _drawn_input(
    data, subject: Subject, op: Op, dtype, sites: Sequence[Site], quantities: Sequence[Quantity], name: str
) -> Input:
    """An input drawn on one of ``sites``, as the other properties draw theirs, and the vectors
    of those of ``quantities`` that the adapter computes; contiguous (what a layout does to a
    kernel is the other properties' concern, and a layout some paths refuse would hide the bits)."""
    problem = draw_problem(data, dtype, sites, label=name, views=False)
    found: dict[Quantity, list[Argument]] = {}
    for quantity in quantities:
        if subject.computes(op, quantity):
            found[quantity] = [
                data.draw(vectors(problem.shape, dtype, views=False), label=f"{name}: {vector}")
                for vector in VECTORS[quantity]
            ]
    return Input(problem.x, problem.axis, found)


def _seeded_input(subject: Subject, op: Op, dtype, pool: ShapePool, site: Site) -> Input:
    """The pool's seeded large input on ``site`` (the large tier's own, made once per run), with
    the large tier's cotangent."""
    x = large_input(site, dtype, pool.seed, op)
    found: dict[Quantity, list[Argument]] = {}
    for quantity in LONG_QUANTITIES:
        if subject.computes(op, quantity):
            found[quantity] = [seeded_vector(x, op, "cotangent-0", ZERO_ROW_FRACTION)] if quantity == "vjp" else []
    return Input(x, site.axis, found, seeded=True)


def _row(argument: Argument, axis: int, index: tuple[int, ...]) -> Argument:
    """Row ``index`` of ``argument`` alone, contiguous; a seeded one with the recipe of that row."""
    if isinstance(argument.recipe, Seeded):
        return argument.recipe.alone(argument.value, index[0])
    return Argument(row_of(argument.value, axis, index))


def _batch_reproducer(batch: Outcome, alone: Outcome, picking: str) -> str:
    setup = [
        *batch.call.assignments("batch_"),
        *alone.call.assignments("row_"),
        f"batch = {batch.call.expression('batch_')}",
        f"row = {alone.call.expression('row_')}",
    ]
    return bits_reproducer(batch.call.spec, setup, ("the row alone", "row"), ("the same row in the batch", picking))


def _row_numbers(rung: Rung, checked: Input, data) -> list[int]:
    """The rows of ``checked`` compared alone and in the batch: every row of a batch of up to
    EVERY_ROW_UP_TO; else the first, the last and one drawn; of a seeded input, the first, the
    last, the first past GRID_ROWS and SEEDED_ROWS_PICKED taken from its seed (no draw: the input
    and the rows are the same in every example, so what they give is remembered; see
    :func:`_check_seeded`)."""
    if rung.rows <= EVERY_ROW_UP_TO:
        return list(range(rung.rows))
    if isinstance(checked.x.recipe, Seeded):
        rng = np.random.default_rng([checked.x.recipe.seed, rung.rows, 29])
        picked = [int(row) for row in rng.integers(rung.rows, size=SEEDED_ROWS_PICKED)]
        past_grid = [GRID_ROWS] if rung.rows > GRID_ROWS else []
        return sorted({0, rung.rows - 1, *picked, *past_grid})
    return sorted({0, rung.rows - 1, data.draw(st.integers(0, rung.rows - 1), label="row")})


def _check_rung(subject: Subject, op: Op, dtype, rung: Rung, checked: Input, data, draw: Draw) -> None:
    """Rows of ``checked`` alone against the same rows in the batch (:func:`_row_numbers`)."""
    shape, axis = checked.shape, checked.axis % len(checked.shape)
    sides = shape[:axis] + shape[axis + 1 :]
    rows = [tuple(int(i) for i in np.unravel_index(number, sides)) for number in _row_numbers(rung, checked, data)]
    for quantity, own_vectors in checked.vectors.items():
        with skipping_unsupported():
            batch = run(subject, op, quantity, checked.x, checked.axis, own_vectors)
            for index in rows:
                row_vectors = [_row(vector, axis, index) for vector in own_vectors]
                alone = run(subject, op, quantity, _row(checked.x, axis, index), rung.alone.axis, row_vectors)
                picked, picking = in_batch(quantity, batch.actual, axis, index)
                draw.compare(
                    method_name(op, quantity),
                    rung.rows,
                    (f"row {index} alone", alone.actual),
                    (f"the same row of a batch of {rung.rows} rows ({shape} along axis {checked.axis})", picked),
                    alone.where,
                    functools.partial(_batch_reproducer, batch, alone, picking),
                )


# What a seeded large input's rows gave, alone and in its batch, in this worker: (adapter, op,
# dtype, the pool's seed, the rung) -> the changes found. A seeded input and its rows are
# the same in every example of a record, so they are computed in the first example and the same
# changes counted in each later one (Hypothesis' replay of a failing example sees them again).
_SEEDED_CHANGES: dict[tuple[str, Op, str, int, Rung], tuple[Change, ...]] = {}


def _check_seeded(subject: Subject, op: Op, dtype, rung: Rung, pool: ShapePool, data, draw: Draw) -> None:
    """:func:`_check_rung` on the pool's seeded input of ``rung``, computed (and the input made)
    once per worker: the adapter, op, dtype, seed and rung define the input and its rows."""
    key = (subject.location, op, dtype_name(dtype), pool.seed, rung)
    if key not in _SEEDED_CHANGES:
        own = Draw(draw.aspect, draw.promised)
        _check_rung(subject, op, dtype, rung, _seeded_input(subject, op, dtype, pool, rung.site), data, own)
        _SEEDED_CHANGES[key] = tuple(own.changes)
    draw.changes.extend(_SEEDED_CHANGES[key])


@conformance_property("same_bits_in_any_batch", needs=("forward",))
@budget(0.2)
@given(data=st.data())
def test_a_row_gives_the_same_bits_alone_and_in_any_batch(subject, op, dtype, pool, run_profile, data):
    """Rows of batches of every size the run has (see the module docstring), the first, the last
    and one drawn, against the same rows computed alone."""
    draw = Draw("batch", _promised(subject, "batch"))
    every, long = batch_rungs(pool, run_profile, dtype_name(dtype))
    count_example()
    for rung in [*every, *([data.draw(st.sampled_from(long), label="long rows")] if long else [])]:
        if rung.seeded:
            if memory_short(rung.site, dtype, subject.framework) is not None:
                continue
            _check_seeded(subject, op, dtype, rung, pool, data, draw)
        else:
            name = f"batch of {rung.rows} rows"
            checked = _drawn_input(data, subject, op, dtype, [rung.site], rung.quantities, name)
            _check_rung(subject, op, dtype, rung, checked, data, draw)
    draw.conclude()


def _repeat_reproducer(call: Call) -> str:
    setup = [*call.assignments(), f"first = {call.expression()}", f"again = {call.expression()}"]
    return bits_reproducer(call.spec, setup, ("the first call", "first"), ("the same call again", "again"))


def _together_reproducer(call: Call, callers: int) -> str:
    """The call alone, then from ``callers`` threads at once; the bits of the first and of the
    first caller's last answer."""
    setup = [
        "import sys, threading",
        *call.assignments(),
        f"first = {call.expression()}",
        f"together = [None] * {callers}",
        f"barrier = threading.Barrier({callers})",
        "def caller(i):",
        f"    for _ in range({FLOOR_ROUNDS}):",
        "        barrier.wait()",
        f"        together[i] = {call.expression()}",
        f"sys.setswitchinterval({SWITCH_INTERVAL_S})",
        f"threads = [threading.Thread(target=caller, args=(i,)) for i in range({callers})]",
        "[thread.start() for thread in threads]",
        "[thread.join() for thread in threads]",
    ]
    first = ("the call alone", "first")
    return bits_reproducer(call.spec, setup, first, (f"the same call from {callers} threads at once", "together[0]"))


def _check_calls(subject: Subject, op: Op, checked: Input, draw: Draw, together: bool = True) -> None:
    """``checked``'s calls made REPEATS times, then (with ``together``, unless it is a large
    input or the adapter is not thread-safe) from CALLERS threads at once: every answer the
    first one's bits."""
    firsts: dict[Quantity, Outcome] = {}
    for quantity, own_vectors in checked.vectors.items():
        with skipping_unsupported():
            first = firsts[quantity] = run(subject, op, quantity, checked.x, checked.axis, own_vectors)
            for number in range(2, REPEATS + 1):
                again = run(subject, op, quantity, checked.x, checked.axis, own_vectors)
                draw.compare(
                    method_name(op, quantity),
                    number,
                    ("the first call", first.actual),
                    (f"call {number} of the same", again.actual),
                    first.where,
                    functools.partial(_repeat_reproducer, first.call),
                )
    if not together or checked.seeded or getattr(subject.adapter, "thread_safe", True) is False:
        return
    computed = {quantity: checked.vectors[quantity] for quantity in firsts if quantity in CONCURRENT_QUANTITIES}
    call = make_call(subject, op, "forward", checked.x, checked.axis, [])
    callers = concurrently(
        subject,
        op,
        [(checked.x, computed)] * CALLERS,
        checked.axis,
        functools.partial(_together_reproducer, call, CALLERS),
        rounds=CROSSED_ROUNDS,
        floor_rounds=FLOOR_ROUNDS,
        max_rounds=MAX_ROUNDS,
    )
    for caller, rounds in enumerate(callers):
        for turn, answers in enumerate(rounds):
            for quantity, answer in answers.items():
                draw.compare(
                    method_name(op, quantity),
                    REPEATS + 1 + turn * CALLERS + caller,
                    ("the call made alone", firsts[quantity].actual),
                    (f"caller {caller} of {CALLERS} threads at once, round {turn + 1}", answer.actual),
                    answer.where,
                    functools.partial(_together_reproducer, answer.call, CALLERS),
                )


THREADS_NOT_DRAWN = (
    "the calls from threads at once not drawn: this dev run's block of the concurrent callers has "
    "concurrent_calls_agree make them for this (op, dtype)"
)


@conformance_property("same_bits_every_call", needs=("forward",))
@budget(0.2)
@given(data=st.data())
def test_the_same_call_gives_the_same_bits_every_time(subject, op, dtype, pool, run_profile, threads_drawn, data):
    """An input drawn on the pool's sites and one on its long rows, each called
    again and from several threads at once (in ``dev``, only the long rows from threads: their
    calls last long enough to overlap, and only where the run's block of the concurrent callers
    gives this (op, dtype) to this property rather than to ``concurrent_calls_agree``); in some
    examples the pool's rows of a vocabulary's length, called again."""
    draw = Draw("determinism", _promised(subject, "determinism"))
    small = _drawn_input(data, subject, op, dtype, pool.sites(wide=True), ALL_QUANTITIES, "problem")
    long = _drawn_input(data, subject, op, dtype, [overlapping_site(op, dtype, pool)], LONG_QUANTITIES, "long rows")
    if not threads_drawn:
        measure.note(THREADS_NOT_DRAWN)
    inputs = [(small, run_profile != "dev"), (long, threads_drawn)]  # (input, also called from threads at once?)
    if data.draw(st.booleans(), label="vocabulary rows"):
        inputs += [
            (_seeded_input(subject, op, dtype, pool, site), False)
            for site in pool.large(vocabulary=True)
            if memory_short(site, dtype) is None
        ]
    for checked, together in inputs:
        _check_calls(subject, op, checked, draw, together)
    draw.conclude()


def _threads_reproducer(call: Call, runs: list[tuple[int, dict[str, str], str]]) -> str:
    """Each ``(thread count, environment, cores)`` of ``runs`` in a process of its own, started
    with that environment and pinned to those cores, making ``call``; then both answers' bits."""
    child = "\n".join(
        [
            "import os, sys",
            "cores = [int(core) for core in sys.argv[2].split(',') if core]",
            "if cores:",
            "    os.sched_setaffinity(0, cores)",
            "import base64",
            "import numpy as np",
            "from conformance import DTYPES, load_adapter",
            "from conformance.checks.large import seeded",
            "inf, nan = float('inf'), float('nan')",
            f"adapter = load_adapter({call.spec!r})",
            "if callable(getattr(adapter, 'use_threads', None)):",
            "    adapter.use_threads(int(sys.argv[1]))",
            *call.assignments(),
            f"result = np.ascontiguousarray({call.expression()})",
            "np.save(sys.argv[3], result.view(f'u{result.dtype.itemsize}'))",
        ]
    )
    more, shown = bits_lines((f"on {runs[0][0]} thread", "answers[0]"), (f"on {runs[1][0]} threads", "answers[1]"))
    lines = [
        "import os, subprocess, sys, tempfile",
        "import numpy as np",
        f"child = {child!r}",
        "answers = []",
        f"for count, environment, cores in {runs!r}:",
        "    path = os.path.join(tempfile.mkdtemp(), 'bits.npy')",
        "    command = [sys.executable, '-c', child, str(count), cores, path]",
        "    subprocess.run(command, env={**os.environ, **environment}, check=True)",
        "    answers.append(np.load(path))",
        *more,
    ]
    return "\n".join([*lines, *(f"print({expression})" for expression in shown)])


Runs = list[tuple[int, dict[str, str], str]]  # (thread count, environment, cores) of each process


def _in_process(subject: Subject, count: int, alone: Outcome, runs: Runs) -> np.ndarray:
    """``alone``'s call made again in the process of ``count`` threads; an
    :class:`AdapterCallError`, with the reproducer, when that process cannot answer it."""
    call = alone.call
    arrays = tuple(call.arrays.values())
    try:
        process = thread_count.process_for(subject.location, subject.adapter, count)
        answer = process.call(call.method, arrays, call.axis, time_allowed(subject.call_timeout, int(arrays[0].size)))
        if answer.shape != alone.actual.shape or answer.dtype != alone.actual.dtype:
            raise thread_count.ThreadCountError(
                f"{call.method} gave {answer.shape} {answer.dtype} in the {count}-thread process, "
                f"and {alone.actual.shape} {alone.actual.dtype} in this one"
            )
    except thread_count.ThreadCountError as error:
        thread_count.forget(subject.location, count)
        raise AdapterCallError(f"{error} {alone.where}", _threads_reproducer(call, runs)) from None
    return answer


@conformance_property("same_bits_on_any_thread_count", needs=("forward",), profiles=("ci", "thorough"))
@budget(0.2)
@given(data=st.data())
def test_one_thread_and_all_of_them_give_the_same_bits(subject, op, dtype, pool, data):
    """8 rows of 1000, an input drawn on the pool's sites, and one of the pool's large inputs,
    each computed in a process on one thread (pinned to one core) and in one on all of them."""
    if not has_thread_setting(subject.adapter):
        pytest.skip(f"not provided: {subject.name} has no thread setting (use_threads or thread_environment)")
    many = thread_count.all_threads()
    runs: Runs = [
        (count, thread_count.thread_environment(subject.adapter, count), ",".join(map(str, cores)))
        for count, cores in ((1, thread_count.pinned_cores(1)), (many, thread_count.pinned_cores(many)))
    ]
    draw = Draw("threads", _promised(subject, "threads"))
    large = data.draw(st.sampled_from(pool.large(many_rows=True, vocabulary=True)), label="large input")
    fixed = Site((FIXED_ROWS, FIXED_LENGTH), -1)
    inputs = [
        _drawn_input(data, subject, op, dtype, [fixed], ALL_QUANTITIES, "problem"),
        _drawn_input(data, subject, op, dtype, pool.sites(wide=True), ALL_QUANTITIES, "drawn"),
    ]
    if memory_short(large, dtype, subject.framework) is None:
        inputs.append(_seeded_input(subject, op, dtype, pool, large))
    for checked in inputs:
        for quantity, own_vectors in checked.vectors.items():
            with skipping_unsupported():  # this process's call says first whether it can be computed at all
                alone = run(subject, op, quantity, checked.x, checked.axis, own_vectors)
                draw.compare(
                    method_name(op, quantity),
                    many,
                    ("one thread", _in_process(subject, 1, alone, runs)),
                    (f"{many} threads", _in_process(subject, many, alone, runs)),
                    alone.where,
                    functools.partial(_threads_reproducer, alone.call, runs),
                )
    draw.conclude()
