"""Which tests a session runs: each conformance property parametrized over adapter x op x
dtype, the fixtures they take (the shape pool, bench's large input), what is deselected
(another shard's pairs, properties not asked for, those that run only when asked) and what is
skipped as "not provided", or as "not drawn" in a dev run's block of a plan."""

from __future__ import annotations

import dataclasses
import itertools
from pathlib import Path
from typing import Any

import pytest

from conformance.adapter import provided_method, supported_dtypes
from conformance.checks.calls import Subject
from conformance.inputs.covering import CONCURRENT_CALLERS, Drawn
from conformance.inputs.shape_pool import ShapePool, Site
from conformance.running.plugin.session import session_of
from conformance.truth.dtypes import dtype_name, dtype_named


@pytest.fixture
def pool(request: pytest.FixtureRequest, op: str, dtype: Any) -> ShapePool:
    """The shape pool of this test's (op, dtype): every property of the run draws from it."""
    return session_of(request.config).pool(op, dtype_name(dtype))


@pytest.fixture
def run_profile(request: pytest.FixtureRequest) -> str:
    """The run's profile (``ci``, ``dev``, ``thorough``), for a property that checks more outside
    ``dev`` than in it."""
    return session_of(request.config).run_config.profile


EDGES = pytest.StashKey[Drawn]()


@pytest.fixture
def edges(request: pytest.FixtureRequest, op: str, dtype: Any) -> Drawn:
    """The combinations of its edge catalogue this test's record checks in this run (kept on
    the item, for its record to say how much of the full product it checked)."""
    marker = request.node.get_closest_marker("conformance")
    assert marker is not None
    planned = session_of(request.config).edges(marker.kwargs["name"], op, dtype_name(dtype))
    request.node.stash[EDGES] = planned
    return planned


@pytest.fixture
def threads_drawn(request: pytest.FixtureRequest, op: str, dtype: Any) -> bool:
    """Whether this thread property makes the calls from threads at once for its (op, dtype) in
    this run: always outside ``dev``; in ``dev`` where the run's block of the concurrent callers
    (:data:`~conformance.inputs.covering.CONCURRENT_CALLERS`) gives them to it. Where not, the
    record says it checked none of the plan's combinations, so that a known divergence about
    it is not drawn rather than stale."""
    marker = request.node.get_closest_marker("conformance")
    assert marker is not None
    planned = session_of(request.config).edges(CONCURRENT_CALLERS, op, dtype_name(dtype))
    if (marker.kwargs["name"],) in planned.combinations:
        return True
    request.node.stash[EDGES] = dataclasses.replace(planned, combinations=())
    return False


@pytest.fixture
def run_dtypes(request: pytest.FixtureRequest, subject: Subject) -> tuple[Any, ...]:
    """The dtypes of this run that the adapter under test supports, in the run's order."""
    supported = supported_dtypes(subject.adapter)
    return tuple(dtype_named(name) for name in session_of(request.config).run_config.dtypes if name in supported)


@pytest.fixture
def large_site(request: pytest.FixtureRequest) -> Site | None:
    """The input bench asks for, else None."""
    large = session_of(request.config).run_config.large_input
    return None if large is None else Site(large.shape, large.axis)


@pytest.fixture
def large_cotangents(request: pytest.FixtureRequest) -> int:
    """How many random cotangents the large checks' VJP takes."""
    return session_of(request.config).run_config.cotangents


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("conformance")
    if marker is None or "subject" not in metafunc.fixturenames:
        return
    session = session_of(metafunc.config)
    pairs = set(session.pairs())
    allowed = marker.kwargs.get("dtypes") or session.run_config.dtypes
    dtypes = [dtype for dtype in session.run_config.dtypes if dtype in allowed]
    cases = [
        (subject, op, dtype_named(dtype))
        for subject, op, dtype in itertools.product(session.loaded(), marker.kwargs["ops"], dtypes)
        if (op, dtype) in pairs
    ]
    metafunc.parametrize(
        ("subject", "op", "dtype"),
        cases,
        ids=[f"{subject.spec}-{op}-{dtype_name(dtype)}" for subject, op, dtype in cases],
    )


def not_provided(item: pytest.Item) -> str | None:
    """Why ``item`` cannot run on its adapter ("not provided: ..."), or None."""
    callspec = getattr(item, "callspec", None)
    marker = item.get_closest_marker("conformance")
    if callspec is None or marker is None:
        return None
    subject, op, dtype = callspec.params["subject"], callspec.params["op"], callspec.params["dtype"]
    if dtype_name(dtype) not in supported_dtypes(subject.adapter):
        return f"not provided: {subject.name} does not support {dtype_name(dtype)}"
    for quantity in marker.kwargs["needs"]:
        if provided_method(subject.adapter, op, quantity) is None:
            return f"not provided: {subject.name} has no {op} {quantity}"
    return None


def pytest_collection_modifyitems(session: pytest.Session, config: pytest.Config, items: list[pytest.Item]) -> None:
    state = session_of(config)
    chosen = state.run_config
    done = set(Path(chosen.skip_file).read_text().split()) if chosen.skip_file else set()
    wanted = chosen.properties

    def unwanted(item: pytest.Item) -> bool:
        marker = item.get_closest_marker("conformance")
        if marker is None:
            return item.nodeid in done
        # a property with no (op, dtype) in this shard (softmax only, in a log_softmax shard)
        # is an empty parameter set: nothing to run
        callspec = getattr(item, "callspec", None)
        empty = callspec is not None and not isinstance(callspec.params.get("subject"), Subject)
        name = marker.kwargs["name"]
        asked = wanted is not None and name in wanted
        elsewhere = marker.kwargs.get("profiles") is not None and chosen.profile not in marker.kwargs["profiles"]
        not_asked = (marker.kwargs.get("on_request") or elsewhere) and not asked
        return item.nodeid in done or empty or (wanted is not None and not asked) or bool(not_asked)

    dropped = [item for item in items if unwanted(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not unwanted(item)]
    for item in items:
        reason = not_provided(item)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    if state.stream is not None:
        state.stream.emit(
            "collected", nodeids=[item.nodeid for item in items if item.get_closest_marker("conformance")]
        )
