"""Known divergences during a session: which tests one is about, whether a failure is the one
it documents, and running such a test first without shrinking.

Shrinking a failure costs many more examples than finding it (torch-compile spent 225 of its
256 s shrinking failures the known-divergences file explains). So a test that an entry is
about runs first without Hypothesis' shrink phase; a failure the entry explains is reported
as found, and any other one is run again, shrinking, from the same seed.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import Phase, settings

from conformance.results import divergences
from conformance.results.records import Record
from conformance.running.plugin.session import session_of

# Hypothesis keeps a test's settings in this attribute of the test function. It is private: the
# project's tests check that it is still there and still honoured (tests/test_plugins.py).
SETTINGS_ATTRIBUTE = "_hypothesis_internal_use_settings"


def may_be_known(item: pytest.Item, identity: Record) -> bool:
    """Whether a known divergence is about ``identity``'s test, whatever its failure would say."""
    session = session_of(item.config)
    environment = session.environment
    return any(
        entry.matches(identity, session.versions, check_message=False, environment=environment)
        for entry in session.divergences
    )


def explain(config: pytest.Config, record: Record) -> Record:
    """``record`` as ``xfailed`` when a known divergence explains its failure."""
    session = session_of(config)
    [explained] = divergences.apply([record], session.divergences, session.versions, session.environment)
    return explained


@contextlib.contextmanager
def without_shrinking(test: Any) -> Iterator[None]:
    """``test`` (a Hypothesis test) with its shrink phase off, for the length of the block."""
    original = getattr(test, SETTINGS_ATTRIBUTE, None)
    if original is None:  # not a Hypothesis test, or a Hypothesis that keeps its settings elsewhere
        yield
        return
    setattr(test, SETTINGS_ATTRIBUTE, settings(original, phases=[p for p in original.phases if p != Phase.shrink]))
    try:
        yield
    finally:
        setattr(test, SETTINGS_ATTRIBUTE, original)
