"""Concurrent callers count a round only when their calls crossed in time, and a busy machine
gets more rounds, or a record that says the race could go unseen."""

from __future__ import annotations

import time

import numpy as np
import pytest

from conformance.adapters.numpy_adapter import NumpyReference
from conformance.checks import concurrency, measure
from conformance.checks.calls import Subject
from conformance.checks.concurrency import Caller, concurrently, crossed
from conformance.inputs.arguments import Argument


@pytest.mark.parametrize(
    ("calls", "expected"),
    [
        ([(0.0, 2.0, 0), (1.0, 3.0, 1)], True),  # each began before the other ended
        ([(1.0, 3.0, 1), (0.0, 2.0, 0)], True),  # in any order
        ([(0.0, 3.0, 0), (1.0, 2.0, 1)], False),  # one inside the other: paused before or between calls
        ([(0.0, 1.0, 0), (1.0, 2.0, 1)], False),  # one after the other
        ([(0.0, 2.0, 0), (1.0, 3.0, 0)], False),  # crossing, but the same caller's
        ([(0.0, 9.0, 0), (1.0, 2.0, 1), (3.0, 4.0, 2), (3.5, 5.0, 1)], True),  # two inside a long one cross
        ([(0.0, 9.0, 0), (1.0, 2.0, 1), (3.0, 4.0, 2), (5.0, 6.0, 1)], False),
        ([], False),
    ],
)
def test_calls_cross_when_each_began_before_the_other_ended_and_neither_holds_the_other(
    calls: list[tuple[float, float, int]], expected: bool
) -> None:
    assert crossed(calls) is expected


def _callers(count: int = 2) -> list[Caller]:
    rng = np.random.default_rng(0)
    return [(Argument(rng.standard_normal(64).astype(np.float32)), {"forward": []}) for _ in range(count)]


def _rounds(monkeypatch: pytest.MonkeyPatch, calls_cross: bool, **limits: int) -> tuple[int, list[str]]:
    """How many rounds a NumPy adapter's callers ran, and the notes their measurement took,
    when :func:`crossed` says every round's calls crossed, or that none did."""
    monkeypatch.setattr(concurrency, "crossed", lambda calls: calls_cross)
    subject = Subject(NumpyReference(), "numpy", "numpy")
    measurement = measure.start()
    try:
        answers = concurrently(subject, "softmax", _callers(), 0, lambda: "", **limits)
    finally:
        measure.stop()
    assert len({len(rounds) for rounds in answers}) == 1, "every caller answers in every round"
    return len(answers[0]), measurement.notes


def test_rounds_stop_once_enough_of_them_crossed(monkeypatch: pytest.MonkeyPatch) -> None:
    ran, notes = _rounds(monkeypatch, calls_cross=True, rounds=3, floor_rounds=10, max_rounds=20)
    assert (ran, notes) == (3, [])


def test_on_a_busy_machine_rounds_go_on_past_the_floor_until_the_most(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round that did not cross tested nothing: more of them run, however quick the calls."""
    monkeypatch.setattr(concurrency, "ROUNDS_SECONDS", 60.0)
    ran, notes = _rounds(monkeypatch, calls_cross=False, rounds=3, floor_rounds=5, max_rounds=40)
    assert ran == 40
    [note] = notes
    assert "crossed in time in fewer than 3 rounds" in note and "a race there could go unseen" in note


def test_past_the_floor_the_rounds_stop_after_their_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    """A slow adapter's calls on a busy machine: the floor's rounds, then no more once the rounds
    have taken ROUNDS_SECONDS, and the record says the race could go unseen."""
    monkeypatch.setattr(concurrency, "ROUNDS_SECONDS", 0.0)
    ran, notes = _rounds(monkeypatch, calls_cross=False, rounds=3, floor_rounds=5, max_rounds=40)
    assert ran == 5 and len(notes) == 1


class _TimesItsOwnCalls(NumpyReference):
    """The NumPy reference, keeping when each forward call entered and left its method."""

    def __init__(self) -> None:
        self.spans: list[tuple[float, float]] = []

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        entered = time.perf_counter()
        result = super().softmax(x, axis)
        self.spans.append((entered, time.perf_counter()))
        return result


def test_a_round_s_calls_are_timed_inside_the_adapter(monkeypatch: pytest.MonkeyPatch) -> None:
    """A round's spans are the adapter's methods alone, not the suite's copying and checking
    around them: those let two spans cross while the adapter's calls did not."""
    seen: list[list[tuple[float, float, int]]] = []
    monkeypatch.setattr(concurrency, "crossed", lambda calls: seen.append(sorted(calls)) or True)
    adapter = _TimesItsOwnCalls()
    subject = Subject(adapter, "numpy", "numpy")
    rng = np.random.default_rng(1)
    big = [(Argument(rng.standard_normal(2**20).astype(np.float32)), {"forward": []}) for _ in range(2)]
    concurrently(subject, "softmax", big, 0, lambda: "", rounds=1, floor_rounds=1, max_rounds=1)
    [calls] = seen
    inside = sorted(adapter.spans)
    assert len(calls) == len(inside) == 2
    for (start, end, _), (entered, left) in zip(calls, inside, strict=True):
        assert start <= entered and left <= end
        assert (end - start) - (left - entered) < 1e-3, "the span holds the suite's work besides the call"
