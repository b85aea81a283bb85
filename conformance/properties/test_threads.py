"""Concurrent callers: an adapter called from several threads at once gives each caller what the
same call gives alone.

A server calls its model from several threads. A kernel that keeps one scratch buffer per
shape, a cache filled without a lock, or a global random state, is right from one thread and
mixes its callers' inputs from several. So each example draws a few inputs of one shape, calls
the forward pass and the VJP on each alone, then calls them again from that many threads at
once (a barrier lines them up, and the interpreter switches threads every few microseconds),
and every answer must agree with the same call made alone, within twice its bound, in every round.
The inputs are on the pool's long rows, or for an adapter slow on them, on its largest other
site (:func:`conformance.checks.concurrency.overlapping_site`).

An adapter that is not meant to be called concurrently says so with ``thread_safe = False``;
this property then reports "not thread-safe (declared)", which is not a failure.

In ``dev`` an (op, dtype) is called from threads by this property or by ``same_bits_every_call``,
as the run's block of the concurrent callers says (:mod:`conformance.inputs.covering`), and by
the other in the next run; the record of a pair left to the other is skipped as not drawn.
"""

from __future__ import annotations

import functools
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from conformance.adapter import method_name
from conformance.checks.assertions import assert_within_bound
from conformance.checks.concurrency import FLOOR_ROUNDS, SWITCH_INTERVAL_S, Caller, concurrently, overlapping_site
from conformance.checks.failures import WorstElement
from conformance.checks.native import Step, element, steps_script
from conformance.checks.quantities import Outcome, bound_for, draw_problem, make_call, run
from conformance.checks.reproducer import reproducer
from conformance.inputs.arguments import Argument
from conformance.inputs.profiles import budget
from conformance.inputs.shape_pool import Site
from conformance.inputs.strategies import vectors
from conformance.properties.marks import conformance_property
from conformance.truth.oracle import Quantity
from conformance.truth.tolerance import Bound

CALLERS = 4
QUANTITIES: tuple[Quantity, ...] = ("forward", "vjp")
NOT_DRAWN = (
    "not drawn: this dev run's block of the concurrent callers has same_bits_every_call call this (op, dtype) "
    "from threads at once"
)


def _source(subject, op, problems: list[tuple[Argument, Argument]], axis: int, caller: int = 0) -> str:
    """A script that makes the same calls from as many threads, and compares caller
    ``caller``'s answers with the same calls made alone."""
    assignments = []
    for x, cotangent in problems:
        call = make_call(subject, op, "vjp", x, axis, [cotangent])
        assignments += [f"inputs.append(({call.argument_source('x')}, {call.argument_source('cotangent')}))"]
    forward, backward = (f"adapter.{method_name(op, quantity)}" for quantity in QUANTITIES)
    return reproducer(
        subject.location,
        [
            "import sys, threading",
            "inputs = []",
            *assignments,
            f"alone = [({forward}(x, axis={axis}), {backward}(x, g, axis={axis})) for x, g in inputs]",
            "together = [None] * len(inputs)",
            "barrier = threading.Barrier(len(inputs))",
            "def caller(i):",
            "    x, g = inputs[i]",
            f"    for _ in range({FLOOR_ROUNDS}):",
            "        barrier.wait()",
            f"        together[i] = ({forward}(x, axis={axis}), {backward}(x, g, axis={axis}))",
            f"sys.setswitchinterval({SWITCH_INTERVAL_S})",
            "threads = [threading.Thread(target=caller, args=(i,)) for i in range(len(inputs))]",
            "[thread.start() for thread in threads]",
            "[thread.join() for thread in threads]",
        ],
        [
            f"'caller {caller}, forward alone vs together:', alone[{caller}][0], together[{caller}][0]",
            f"'caller {caller}, vjp alone vs together:', alone[{caller}][1], together[{caller}][1]",
        ],
    )


def _native(alone: list[dict[Quantity, Outcome]], caller: int, quantity: Quantity, worst: WorstElement) -> str | None:
    """The callers' calls in the framework's own API: each made alone, then the same programs
    from as many threads at once; then caller ``caller``'s ``worst`` element of ``quantity``,
    alone and together. A race shows in some runs, not in every one."""
    steps: list[Step] = ["import sys, threading", "calls = []"]
    for number, own in enumerate(alone):
        for name, outcome in own.items():
            arguments = ", ".join(outcome.call.arrays)
            steps += [
                (f"caller{number}_{name}", outcome.call),
                f"calls.append(({number}, {name!r}, program, ({arguments},)))",
            ]
    steps += [
        "together = {}",
        f"barrier = threading.Barrier({len(alone)})",
        "def caller(number):",
        f"    for _ in range({FLOOR_ROUNDS}):",
        "        barrier.wait()",
        "        for name, program, arguments in [call[1:] for call in calls if call[0] == number]:",
        "            together[number, name] = program(*arguments)",
        f"sys.setswitchinterval({SWITCH_INTERVAL_S})",
        f"threads = [threading.Thread(target=caller, args=(number,)) for number in range({len(alone)})]",
        "[thread.start() for thread in threads]",
        "[thread.join() for thread in threads]",
    ]
    label = f"caller {caller}, {worst.quantity}{list(worst.index)}"
    return steps_script(
        steps,
        [
            f"'{label} alone:', {element(f'caller{caller}_{quantity}', worst.index)}, "
            f"'from {len(alone)} threads at once:', {element(f'together[{caller}, {quantity!r}]', worst.index)}"
        ],
    )


def _agreement_bound(op, quantity: Quantity, x: Argument, cotangent: Argument, axis: int) -> Bound:
    """How far a caller's answer may be from the same call made alone: twice the oracle's
    bound, once per caller and quantity (every round is held to the same one)."""
    bound = bound_for(op, quantity, x.value, axis, [cotangent.value] if quantity == "vjp" else [])
    return Bound(2 * bound.absolute, bound.scale, bound.dtype)


@conformance_property("concurrent_calls_agree", needs=("forward", "vjp"))
@budget(0.3)
@given(data=st.data())
def test_concurrent_calls_give_what_the_same_calls_give_alone(subject, op, dtype, pool, threads_drawn, data):
    if getattr(subject.adapter, "thread_safe", True) is False:
        pytest.skip("not thread-safe (declared)")
    if not threads_drawn:
        pytest.skip(NOT_DRAWN)
    site: Site = overlapping_site(op, dtype, pool)  # the long rows, unless the adapter is slow on them
    problems = []
    for index in range(CALLERS):
        problem = draw_problem(data, dtype, [site], label="problem" if index == 0 else f"caller {index}")
        problems.append((problem.x, data.draw(vectors(site.shape, dtype), label=f"caller {index}: cotangent")))
    alone = [
        {
            quantity: run(subject, op, quantity, x, site.axis, [cotangent] if quantity == "vjp" else [])
            for quantity in QUANTITIES
        }
        for x, cotangent in problems
    ]
    callers: list[Caller] = [(x, {"forward": [], "vjp": [cotangent]}) for x, cotangent in problems]
    together = concurrently(
        subject, op, callers, site.axis, functools.partial(_source, subject, op, problems, site.axis)
    )
    for index, ((x, cotangent), own, rounds) in enumerate(zip(problems, alone, together)):
        bounds = {quantity: _agreement_bound(op, quantity, x, cotangent, site.axis) for quantity in QUANTITIES}
        for turn, quantity in itertools.product(range(len(rounds)), QUANTITIES):
            answers = rounds[turn]
            if turn and np.array_equal(answers[quantity].actual, rounds[0][quantity].actual, equal_nan=True):
                continue  # the first round's values again: compared once
            assert_within_bound(
                f"caller {index} of {CALLERS} at once: {answers[quantity].call.method}",
                answers[quantity].actual,
                own[quantity].actual,
                bounds[quantity],
                answers[quantity].where,
                functools.partial(_source, subject, op, problems, site.axis, index),
                reference="the same call made alone",
                agreement=True,
                native=functools.partial(_native, alone, index, quantity),
            )
