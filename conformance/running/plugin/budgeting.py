"""In the ``dev`` profile each property has a time budget (:mod:`conformance.checks.time_budget`):
the plugin checks it at the start of every Hypothesis example, and a property that ran out of
time passes with the examples it checked, its record saying so ("stopped early: 4 examples in
30 s"). A property whose example failed runs on, shrinking it (:mod:`conformance.checks.time_budget`).
``ci`` and ``thorough`` run every example, and so does a Hypothesis profile the user chose."""

from __future__ import annotations

import functools
from typing import Any

import pytest
from hypothesis.errors import UnsatisfiedAssumption

from conformance.checks import time_budget
from conformance.running.plugin.session import session_of

BUDGETED_PROFILES: tuple[str, ...] = ("dev",)
_STOPPED_EARLY = pytest.StashKey[str]()


def stopped_early(item: pytest.Item) -> str | None:
    """The note of a property its budget stopped early ("stopped early: 4 examples in 30 s")."""
    return item.stash.get(_STOPPED_EARLY, None)


def _counting_examples(test: Any) -> Any:
    @functools.wraps(test)
    def example(*args: Any, **kwargs: Any) -> Any:
        time_budget.begin_example()
        try:
            return test(*args, **kwargs)
        except UnsatisfiedAssumption:
            raise
        except Exception:
            time_budget.example_failed()
            raise

    return example


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run a property of a Hypothesis test within its budget: each example is counted as it
    starts (Hypothesis calls ``hypothesis.inner_test`` once per example), and the property that
    runs out of time ends as a pass."""
    hypothesis_api = getattr(getattr(item, "obj", None), "hypothesis", None)
    chosen = session_of(item.config).run_config
    budgeted = chosen.profile in BUDGETED_PROFILES and chosen.hypothesis_profile is None
    if hypothesis_api is None or not budgeted or item.get_closest_marker("conformance") is None:
        return (yield)
    inner = hypothesis_api.inner_test
    hypothesis_api.inner_test = _counting_examples(inner)
    budget = time_budget.start(time_budget.PROPERTY_SECONDS)
    try:
        return (yield)
    except time_budget.OutOfTime:
        item.stash[_STOPPED_EARLY] = budget.summary()
        return None
    finally:
        hypothesis_api.inner_test = inner
        time_budget.stop()
