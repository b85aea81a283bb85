"""The plugin turns off shrinking for a test a known divergence is about by replacing the
settings Hypothesis keeps on the test function, a private attribute. If a Hypothesis release
renames it or stops reading it, these tests fail instead of the suite silently shrinking
again (torch-compile spent most of a run shrinking failures it then reported as known)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from conformance.running.plugin.known import SETTINGS_ATTRIBUTE, without_shrinking


def _failing_test(calls: list[list[int]]):  # type: ignore[no-untyped-def]
    @settings(database=None, derandomize=True, max_examples=300)
    @given(st.lists(st.integers(0, 10_000), min_size=1))
    def test(numbers: list[int]) -> None:
        calls.append(numbers)
        assert sum(numbers) < 5_000

    return test


def _calls_after_the_first_failure(run_inside_block: bool) -> int:
    calls: list[list[int]] = []
    test = _failing_test(calls)
    try:
        if run_inside_block:
            with without_shrinking(test):
                test()
        else:
            test()
    except AssertionError:
        pass
    else:
        raise AssertionError("the test was meant to fail")
    first = next(i for i, numbers in enumerate(calls) if sum(numbers) >= 5_000)
    return len(calls) - first - 1


def test_hypothesis_still_keeps_a_tests_settings_in_the_attribute() -> None:
    test = _failing_test([])
    kept = getattr(test, SETTINGS_ATTRIBUTE)
    assert isinstance(kept, settings) and kept.max_examples == 300


def test_replacing_the_attribute_still_turns_off_shrinking_and_restores_it_after() -> None:
    shrinking = _calls_after_the_first_failure(run_inside_block=False)
    not_shrinking = _calls_after_the_first_failure(run_inside_block=True)
    assert shrinking > 10, shrinking  # Hypothesis shrank the failure: many calls after it
    assert not_shrinking <= 2, not_shrinking  # only the replay of the failing example
    test = _failing_test([])
    before = getattr(test, SETTINGS_ATTRIBUTE)
    with without_shrinking(test):
        assert getattr(test, SETTINGS_ATTRIBUTE) is not before
    assert getattr(test, SETTINGS_ATTRIBUTE) is before
