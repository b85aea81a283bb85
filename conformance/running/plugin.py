"""The pytest plugin: options, adapter x op x dtype parametrization, records, JSON.

Registered through the ``pytest11`` entry point, so ``pytest --pyargs conformance.properties
--frameworks torch`` works wherever the package is installed. It loads no framework until
a conformance property is collected.
"""

from __future__ import annotations

import contextlib
import itertools
import random
import re
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import Phase, settings

from conformance.adapter import adapter_name, capabilities, provided_method, supported_dtypes
from conformance.adapters import framework_of
from conformance.checks import calls, measure
from conformance.checks.calls import AdapterCallError, ConformanceFailure, Subject
from conformance.inputs.profiles import UnknownProfile, check_profile, default_profile, register_profiles
from conformance.inputs.shape_pool import ShapePool, Site, shape_pool
from conformance.properties.marks import UnknownProperty, check_properties
from conformance.results import divergences, records
from conformance.running import probes
from conformance.running.loading import AdapterSpecError, absolute_spec, load_adapter, selected_specs
from conformance.truth.dtypes import DTYPE_NAMES, UnknownDtype, dtype_name, dtype_named
from conformance.truth.oracle import OPS, Op

DEFAULT_DIVERGENCES = Path(__file__).resolve().parents[2] / "known_divergences.toml"
_STATE = pytest.StashKey[dict[str, Any]]()
_RECORD = pytest.StashKey[dict[str, Any]]()
_MEASUREMENT = pytest.StashKey[measure.Measurement]()
_BLOB = re.compile(r"@reproduce_failure\([^\n]*\)")
_REPRODUCER_SPLIT = "\n\nReproduce with:\n"


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("softmax-conformance", "softmax conformance suite")
    group.addoption("--frameworks", default=None, help="comma-separated built-in frameworks (each one's primary path)")
    group.addoption(
        "--all-paths", action="store_true", default=False, help="every AD path of the frameworks, not just the primary"
    )
    group.addoption(
        "--adapter",
        action="append",
        default=[],
        dest="conformance_adapters",
        help="adapter spec: built-in name, path/to/file.py:NAME or package.module:NAME (repeatable)",
    )
    group.addoption("--profile", default=None, help="hypothesis profile: ci, dev or thorough")
    group.addoption("--dtypes", default=None, help=f"comma-separated subset of {', '.join(DTYPE_NAMES)}")
    group.addoption("--properties", default=None, help="comma-separated subset of the properties")
    group.addoption("--call-timeout", type=float, default=None, help="seconds one adapter call may take")
    group.addoption(
        "--divergences", default=str(DEFAULT_DIVERGENCES), help="known-divergences file (default: the repository's)"
    )
    group.addoption("--conformance-json", default=None, help="write the results document here")
    group.addoption("--conformance-stream", default=None, help="append JSON-lines events here (used by the runner)")
    group.addoption(
        "--conformance-probes",
        default=None,
        help="write each adapter's answers on the agreement inputs here (used by the runner)",
    )
    group.addoption("--conformance-skip", default=None, help="file of test ids not to run (used by the runner)")
    group.addoption(
        "--conformance-shard",
        default=None,
        help="K/N: only the K-th of N shares of the (op, dtype) pairs, K from 0 (used by the runner)",
    )
    group.addoption(
        "--conformance-ops", default=None, help=f"comma-separated subset of {', '.join(OPS)} (used by bench)"
    )
    group.addoption(
        "--conformance-large-input",
        default=None,
        help="ROWSxLENGTH[@AXIS]: the input of the large_input property (used by bench)",
    )
    group.addoption(
        "--conformance-cotangents",
        type=int,
        default=1,
        help="random cotangents for the large checks' VJP (used by bench)",
    )


def _split(value: str | None) -> list[str]:
    return [part.strip() for part in (value or "").split(",") if part.strip()]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "conformance(name, needs, ops): a conformance property")
    register_profiles()
    try:
        profile = check_profile(config.getoption("profile") or default_profile())
        dtypes = [dtype_name(dtype_named(name)) for name in _split(config.getoption("dtypes"))] or None
        wanted = check_properties(_split(config.getoption("properties"))) or None
    except (UnknownProfile, UnknownDtype, UnknownProperty) as error:
        raise pytest.UsageError(str(error)) from None
    settings.load_profile(profile)
    stream_path = config.getoption("conformance_stream")
    stream = records.Stream(stream_path) if stream_path else None
    if stream is not None:
        calls.heartbeat = _beats(stream, seconds=0.5)
    config.stash[_STATE] = {
        "profile": profile,
        "shape_seed": _shape_seed(config.getoption("hypothesis_seed", None), profile),
        "pools": {},
        "dtypes": dtypes,
        "properties": wanted,
        "subjects": None,
        "records": [],
        "started": records.now(),
        "clock": time.monotonic(),
        "stream": stream,
    }


def _shape_seed(hypothesis_seed: Any, profile: str) -> int:
    """The seed of the run's shape pools: the Hypothesis seed when one is given (the runner
    gives every worker the same), 0 when the profile is derandomized, else a fresh one."""
    if hypothesis_seed is not None:
        text = str(hypothesis_seed)
        return int(text) if text.lstrip("-").isdigit() else int.from_bytes(text.encode()[:8], "little")
    return 0 if settings.get_profile(profile).derandomize else random.randrange(2**31)


@pytest.fixture
def pool(request: pytest.FixtureRequest, op: str, dtype: Any) -> ShapePool:
    """The shape pool of this test's (op, dtype): every property of the run draws from it."""
    return shape_pool_for(request.config, op, dtype_name(dtype))


def shape_pool_for(config: pytest.Config, op: str, dtype: str) -> ShapePool:
    state = config.stash[_STATE]
    key = (op, dtype)
    if key not in state["pools"]:
        state["pools"][key] = shape_pool(state["shape_seed"], op, dtype, thorough=state["profile"] == "thorough")
    found: ShapePool = state["pools"][key]
    return found


@pytest.fixture
def large_site(request: pytest.FixtureRequest) -> Site | None:
    """The input ``--conformance-large-input ROWSxLENGTH[@AXIS]`` asks for (bench), else None."""
    return large_input_site(request.config.getoption("conformance_large_input"))


@pytest.fixture
def large_cotangents(request: pytest.FixtureRequest) -> int:
    """How many random cotangents the large checks' VJP takes."""
    return max(1, int(request.config.getoption("conformance_cotangents")))


def large_input_site(text: str | None) -> Site | None:
    """``100000x1000@-1`` as rows of 1000 along axis -1: ``Site((100000, 1000), -1)``; an axis of
    0 or -2 puts the rows along the first dimension (``(1000, 100000)``)."""
    if not text:
        return None
    size, _, axis_text = text.partition("@")
    rows, _, length = size.partition("x")
    axis = int(axis_text or -1)
    shape = (int(rows), int(length)) if axis in (1, -1) else (int(length), int(rows))
    return Site(shape, axis)


def _beats(stream: records.Stream, seconds: float) -> Callable[[float | None], None]:
    """A heartbeat for the runner: at most one every ``seconds``, except that a call allowed
    another time than the last beat said is announced at once (the runner waits that long)."""
    last: list[Any] = [0.0, None]

    def beat(timeout: float | None) -> None:
        now = time.monotonic()
        if now - last[0] >= seconds or timeout != last[1]:
            last[:] = [now, timeout]
            stream.emit("beat", timeout=timeout)

    return beat


def _specs(config: pytest.Config) -> list[str]:
    return selected_specs(
        _split(config.getoption("frameworks")) or None,
        list(config.getoption("conformance_adapters")),
        all_paths=config.getoption("all_paths"),
    )


def _subjects(config: pytest.Config) -> list[Subject]:
    """Load the adapters once, on first need; one that fails to load becomes an error record."""
    state = config.stash[_STATE]
    if state["subjects"] is None:
        try:
            specs = _specs(config)
        except AdapterSpecError as error:
            raise pytest.UsageError(str(error)) from None
        subjects = []
        for spec in specs:
            try:
                subjects.append(
                    Subject(load_adapter(spec), spec, absolute_spec(spec), config.getoption("call_timeout"))
                )
            except AdapterSpecError as error:
                raise pytest.UsageError(str(error)) from None
            except Exception as error:
                message = f"loading raised {type(error).__name__}: {error}"
                _emit_record(config, records.adapter_error(spec, framework_of(spec), "load_adapter", message))
        state["subjects"] = subjects
    loaded: list[Subject] = state["subjects"]
    return loaded


def _emit_record(config: pytest.Config, entry: dict[str, Any]) -> None:
    state = config.stash[_STATE]
    state["records"].append(entry)
    if state["stream"] is not None:
        state["stream"].emit("record", record=entry)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    marker = metafunc.definition.get_closest_marker("conformance")
    if marker is None or "subject" not in metafunc.fixturenames:
        return
    pairs = set(_pairs(metafunc.config))
    subjects = _subjects(metafunc.config)
    dtypes = [dtype for dtype in _dtypes(metafunc.config) if dtype in (marker.kwargs.get("dtypes") or DTYPE_NAMES)]
    cases = [
        (subject, op, dtype_named(dtype))
        for subject, op, dtype in itertools.product(subjects, marker.kwargs["ops"], dtypes)
        if (op, dtype) in pairs
    ]
    metafunc.parametrize(
        ("subject", "op", "dtype"),
        cases,
        ids=[f"{subject.spec}-{op}-{dtype_name(dtype)}" for subject, op, dtype in cases],
    )


def _dtypes(config: pytest.Config) -> list[str]:
    """The names of the dtypes this session tests (checked and spelled canonically when read)."""
    return config.stash[_STATE]["dtypes"] or list(DTYPE_NAMES)


def _shard(config: pytest.Config) -> tuple[int, int] | None:
    """``--conformance-shard K/N`` as (K, N); None for the whole run."""
    text = config.getoption("conformance_shard")
    if text is None:
        return None
    index, count = (int(part) for part in text.split("/"))
    return index, count


def shard_pairs(pairs: list[tuple[Op, str]], shard: tuple[int, int] | None) -> list[tuple[Op, str]]:
    """The (op, dtype) pairs of shard (K, N): every N-th, from the K-th. Each (op, dtype)
    has its own shape pool, so shards build disjoint sets of programs."""
    if shard is None:
        return pairs
    index, count = shard
    return pairs[index::count]


def _pairs(config: pytest.Config) -> list[tuple[Op, str]]:
    """The (op, dtype) pairs this session tests, in order."""
    ops = _split(config.getoption("conformance_ops")) or list(OPS)
    every = [(op, dtype) for op in OPS if op in ops for dtype in _dtypes(config)]
    return shard_pairs(every, _shard(config))


def _not_provided(item: pytest.Item) -> str | None:
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
    skip_file = config.getoption("conformance_skip")
    done = set(Path(skip_file).read_text().split()) if skip_file else set()
    wanted = config.stash[_STATE]["properties"]

    profile = config.stash[_STATE]["profile"]

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
        elsewhere = marker.kwargs.get("profiles") is not None and profile not in marker.kwargs["profiles"]
        not_asked = (marker.kwargs.get("on_request") or elsewhere) and not asked
        return item.nodeid in done or empty or (wanted is not None and not asked) or bool(not_asked)

    dropped = [item for item in items if unwanted(item)]
    if dropped:
        config.hook.pytest_deselected(items=dropped)
        items[:] = [item for item in items if not unwanted(item)]
    for item in items:
        reason = _not_provided(item)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))
    state = config.stash[_STATE]
    if state["stream"] is not None:
        state["stream"].emit(
            "collected", nodeids=[item.nodeid for item in items if item.get_closest_marker("conformance")]
        )


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_setup(item: pytest.Item) -> None:
    state = item.config.stash[_STATE]
    if state["stream"] is not None and item.get_closest_marker("conformance") and hasattr(item, "callspec"):
        state["stream"].emit("start", nodeid=item.nodeid, record=_identity(item))


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item: pytest.Item) -> Any:
    """Run a property; where a known divergence is about it, first without shrinking.

    Shrinking a failure costs many more examples than finding it (torch-compile spent 225 of
    its 256 s shrinking failures the known-divergences file explains). So an item that an
    entry is about runs first without the shrink phase; a failure the entry explains is
    reported as found, and any other one is run again, shrinking, from the same seed.
    """
    item.stash[_MEASUREMENT] = measure.start()
    known = item.get_closest_marker("conformance") is not None and hasattr(item, "callspec") and _may_be_known(item)
    try:
        with _without_shrinking(getattr(item, "obj", None)) if known else contextlib.nullcontext():
            return (yield)
    except Exception as failure:
        if not known or _explained(item, failure):
            raise
        item.stash[_MEASUREMENT] = measure.start()  # the figures of the shrunk run
        item.runtest()  # the same seed finds the failure again, and shrinks it
        raise  # it did not fail again: report what failed the first time
    finally:
        measure.stop()


def _known_divergences(config: pytest.Config) -> tuple[list[divergences.Divergence], dict[str, str]]:
    state = config.stash[_STATE]
    if "divergences" not in state:
        path = config.getoption("divergences")
        state["divergences"] = divergences.load(path) if Path(path).is_file() else []
        state["versions"] = records.framework_versions()
    return state["divergences"], state["versions"]


def _may_be_known(item: pytest.Item) -> bool:
    """Whether a known divergence is about this item, whatever its failure would say."""
    entries, versions = _known_divergences(item.config)
    identity = _identity(item)
    record = {**identity, "property": identity["prop"]}
    return any(entry.matches(record, versions, check_message=False) for entry in entries)


def _explained(item: pytest.Item, failure: BaseException) -> bool:
    status, message, _, _ = _classify(pytest.ExceptionInfo.from_exception(failure))
    identity = _identity(item)
    entry = records.record(**identity, status=status, message=message)
    return _explain(item.config, entry)["status"] == "xfailed"


@contextlib.contextmanager
def _without_shrinking(test: Any) -> Iterator[None]:
    """``test`` (a Hypothesis test) with its shrink phase off, for the length of the block."""
    original = getattr(test, "_hypothesis_internal_use_settings", None)
    if original is None:  # not a Hypothesis test, or a Hypothesis that keeps its settings elsewhere
        yield
        return
    test._hypothesis_internal_use_settings = settings(
        original, phases=[p for p in original.phases if p != Phase.shrink]
    )
    try:
        yield
    finally:
        test._hypothesis_internal_use_settings = original


def _first_exception(error: BaseException) -> BaseException:
    while isinstance(error, BaseExceptionGroup) and error.exceptions:
        error = error.exceptions[0]
    return error


def _classify(excinfo: pytest.ExceptionInfo[BaseException]) -> tuple[str, str, str | None, dict[str, Any] | None]:
    """status, message, reproducer, worst element, from what the test raised."""
    error = _first_exception(excinfo.value)
    if isinstance(error, (ConformanceFailure, AdapterCallError)):
        message = str(error).split(_REPRODUCER_SPLIT)[0]
        status = "failed" if isinstance(error, ConformanceFailure) else "error"
        return status, message, error.reproducer, getattr(error, "worst", None)
    if isinstance(error, AssertionError):
        return "failed", str(error) or "assertion failed", None, None
    return "error", f"{type(error).__name__}: {error}", None, None


def _identity(item: pytest.Item) -> dict[str, Any]:
    """The fields that say which adapter, property, op and dtype a test is."""
    params = item.callspec.params  # type: ignore[attr-defined]
    subject: Subject = params["subject"]
    marker = item.get_closest_marker("conformance")
    assert marker is not None
    return {
        "adapter": subject.name,
        "spec": subject.spec,
        "framework": framework_of(subject.spec),
        "prop": marker.kwargs["name"],
        "op": params["op"],
        "dtype": dtype_name(params["dtype"]),
    }


def _record_for(item: pytest.Item, report: pytest.TestReport, call: pytest.CallInfo[None]) -> dict[str, Any]:
    extra: dict[str, Any] = {"nodeid": item.nodeid, "duration_s": round(report.duration, 4)}
    measurement = item.stash.get(_MEASUREMENT, None)
    if measurement is not None and measurement.examples:
        extra["examples"] = measurement.examples
    if measurement is not None and measurement.max_error_ulp is not None:
        extra.update(
            max_error_ulp=_finite(measurement.max_error_ulp),
            bound_ulp=_finite(measurement.bound_ulp),
            error_ratios=[value for value in measurement.ratios if np.isfinite(value)],
        )
    if report.skipped:
        reason = str(report.longrepr[-1]) if isinstance(report.longrepr, tuple) else str(report.longrepr)
        reason = reason.removeprefix("Skipped: ")
        status, message = "skipped", reason
        extra["not_provided"] = reason.startswith("not provided")
    elif report.passed:
        status, message = "passed", ""
    else:
        if call.excinfo is None:
            status, message = "error", report.longreprtext[-2000:]
        else:
            status, message, reproducer, worst = _classify(call.excinfo)
            extra.update(reproducer=reproducer, worst=worst)
            if worst and "error_ulp" in worst:
                # the figures of the example the message reports (Hypothesis' smallest), not of
                # the larger ones it tried while shrinking
                extra.update(
                    max_error_ulp=_finite(float(worst["error_ulp"])), bound_ulp=_finite(float(worst["bound_ulp"]))
                )
        blob = _BLOB.search(report.longreprtext)
        extra["hypothesis_blob"] = blob.group(0) if blob else None
    return records.record(**_identity(item), status=status, message=message, **extra)


def _finite(value: float | None) -> float | None:
    return None if value is None or not np.isfinite(value) else float(value)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report: pytest.TestReport = yield
    if item.get_closest_marker("conformance") is None or not hasattr(item, "callspec"):
        return report
    final = report.when == "call" or (report.when == "setup" and not report.passed)
    if final and _RECORD not in item.stash:
        entry = _record_for(item, report, call)
        entry = _explain(item.config, entry)
        if entry["status"] == "xfailed" and report.failed:
            report.outcome = "skipped"
            report.wasxfail = entry.get("xfail_reason", "known divergence")
        item.stash[_RECORD] = entry
        _emit_record(item.config, entry)
    return report


def _explain(config: pytest.Config, entry: dict[str, Any]) -> dict[str, Any]:
    """Mark a failure that the known-divergences file explains as ``xfailed``."""
    entries, versions = _known_divergences(config)
    return divergences.apply([entry], entries, versions)[0]


def _adapter_metadata(subjects: list[Subject]) -> list[dict[str, Any]]:
    return [
        {
            "adapter": adapter_name(subject.adapter),
            "spec": subject.spec,
            "framework": framework_of(subject.spec),
            "device": str(getattr(subject.adapter, "device", "")) or None,
            "capabilities": capabilities(subject.adapter),
        }
        for subject in subjects
    ]


def run_metadata(config: pytest.Config) -> dict[str, Any]:
    state = config.stash[_STATE]
    return records.metadata(
        profile=state["profile"],
        seed=config.getoption("hypothesis_seed", None),
        adapters=_adapter_metadata(state["subjects"] or []),
        started=state["started"],
        duration=time.monotonic() - state["clock"],
    )


def _probe(config: pytest.Config, meta: dict[str, Any]) -> None:
    """Add the behaviour matrix and cross-adapter agreement of the adapters that ran."""
    subjects = [subject for subject in config.stash[_STATE]["subjects"] or [] if not subject.hung]
    if not subjects:
        return
    pairs = _pairs(config)
    shard = _shard(config)
    if shard is None or shard[0] == 0:  # the behaviour matrix does not depend on the pairs: one shard probes it
        meta["behaviour"] = [row for subject in subjects for row in probes.behaviour(subject)]
    outputs = {
        subject.spec: probes.agreement_outputs(subject, pairs, lambda op, dtype: shape_pool_for(config, op, dtype))
        for subject in subjects
    }
    folder = config.getoption("conformance_probes")
    if folder:
        for index, (spec, answers) in enumerate(outputs.items()):
            np.savez(Path(folder) / f"outputs-{index}.npz", spec=np.array(spec), **answers)  # type: ignore[arg-type]
    else:
        meta["agreement"] = probes.pairwise_agreement(outputs)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    state = session.config.stash.get(_STATE, None)
    if state is None:
        return
    path = session.config.getoption("conformance_json")
    if state["stream"] is not None or path:
        meta = run_metadata(session.config)
        if state["records"]:
            _probe(session.config, meta)
        if state["stream"] is not None:
            state["stream"].emit("finished", metadata=meta)
            state["stream"].close()
        if path:
            records.write_document(path, records.document(state["records"], meta))
    if any(entry["status"] in records.BAD_STATUSES for entry in state["records"]) and session.exitstatus == 0:
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


def pytest_report_header(config: pytest.Config) -> list[str]:
    state = config.stash[_STATE]
    versions = ", ".join(f"{name} {version}" for name, version in records.framework_versions().items())
    seed = config.getoption("hypothesis_seed", None)
    return [
        f"softmax-conformance: profile={state['profile']} seed={seed if seed is not None else 'derandomized/random'} "
        f"shape-pool seed={state['shape_seed']}",
        f"softmax-conformance versions: {versions}",
    ]
