"""A slow adapter stays a bounded run: in ``dev`` each property has a time budget, past which
it starts no new example and passes with what it checked; ``ci`` runs every example."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conformance.adapters.numpy_adapter import NumpyReference
from conformance.checks import measure, time_budget
from conformance.checks.calls import Subject
from conformance.checks.concurrency import SLOW_CALL_S, overlapping_site
from conformance.checks.quantities import run
from conformance.inputs.arguments import Argument
from conformance.inputs.shape_pool import ShapePool, shape_pool
from conformance.presentation.progress import STILL_RUNNING_S, PlainLines
from conformance.results.records import Record
from tests.conftest import REPO, CliResult, run_cli

QUADRATIC = "tests/conforming_adapters.py:PairwiseQuadraticSoftmax"
REFERENCE = "adapters/numpy_adapter.py:NumpyReference"


def _spent_budget(
    calls_s: float, elapsed_s: float, paced: bool = False, seconds: float = 0.0
) -> time_budget.TimeBudget:
    """A budget of ``seconds`` opened ``elapsed_s`` ago, of which the adapter's calls took
    ``calls_s`` (calls that show its pace, when ``paced``: a repeated layout's)."""
    budget = time_budget.start(seconds)
    budget.started -= elapsed_s
    budget.add_call(calls_s, paced)
    return budget


def test_the_first_example_always_runs_and_none_starts_once_the_budget_is_spent() -> None:
    try:
        budget = _spent_budget(calls_s=4.0, elapsed_s=5.0)
        time_budget.begin_example()  # the budget is spent already, but nothing was checked yet
        with pytest.raises(time_budget.OutOfTime):
            time_budget.begin_example()
    finally:
        time_budget.stop()
    assert budget.examples == 1
    assert budget.summary() == "stopped early: 1 example in 5 s, 4 s in the adapter's calls"


PROPERTY_S, REPEATED_S = time_budget.PROPERTY_SECONDS, time_budget.REPEATED_SECONDS


@pytest.fixture
def no_calls_yet(monkeypatch: pytest.MonkeyPatch) -> None:
    """A worker that has made no call yet: the calls other tests made in this process forgotten."""
    monkeypatch.setattr(time_budget, "_worker_programs", time_budget.grouped_both_ways())
    monkeypatch.setattr(time_budget, "_method_programs", {})
    monkeypatch.setattr(time_budget, "_seconds_by_pace", {})


@pytest.mark.parametrize(
    ("calls_s", "elapsed_s", "paced", "spent"),
    [
        (3.9, 5.0, False, True),
        (3.0, 5.0, False, False),
        (0.1, 60.0, False, False),
        (2.0, 2.0, False, False),
        (4.0, 4.0, False, True),
        (2.0, 2.0, True, True),
        (0.9, 1.0, True, True),
        (0.3, 1.0, True, False),
        (REPEATED_S * 0.9, REPEATED_S * 0.95, True, False),
    ],
    ids=[
        "calls-dominate",
        "calls-within-their-share",
        "the-suite-s-own-work-dominates",
        "first-calls-may-compile-for-property-seconds",
        "calls-at-once-add-up",
        "slow-repeated-calls-stop-sooner",
        "repeated-calls-dominate",
        "repeated-calls-within-their-share",
        "within-the-repeated-seconds",
    ],
)
def test_a_property_stops_once_the_adapter_s_calls_dominate_the_suite_s_own_work(
    calls_s: float, elapsed_s: float, paced: bool, spent: bool
) -> None:
    """The budget scales with the adapter's measured call times: a fast adapter on a slow
    machine, or under a property whose oracle work is large, runs every example; calls that
    may compile (a layout's first) get PROPERTY_SECONDS, calls that repeat one REPEATED_SECONDS."""
    try:
        budget = _spent_budget(calls_s, elapsed_s, paced, seconds=PROPERTY_S)
        assert budget.spent is spent and time_budget.spent() is spent
    finally:
        time_budget.stop()


def _layout(shape: tuple[int, ...], strides: tuple[int, ...] | None = None, method: str = "softmax") -> tuple:
    """A call's layout (``Call.layout``): a float32 input of ``shape`` along its last axis."""
    contiguous = tuple(int(np.prod(shape[place + 1 :])) * 4 for place in range(len(shape)))
    return (method, -1, (("x", shape, contiguous if strides is None else strides, "float32"),))


def _calls_made_again(
    first_s: float, again_s: float, method: str = "softmax", programs: int = time_budget.EVIDENCE_PROGRAMS
) -> None:
    """``programs`` programs of ``method`` called twice, first in ``first_s``, then in ``again_s``."""
    for number in range(programs):
        for seconds in (first_s, again_s):
            time_budget.add_call(seconds, _layout((2, number + 1), method=method), (method, (2, number + 1), "float32"))


@pytest.mark.usefixtures("no_calls_yet")
@pytest.mark.parametrize(
    ("first_s", "again_s", "compiles"),
    [(0.001, 0.001, False), (0.5, 0.5, False), (0.02, 0.0006, True), (0.004, 0.0001, False), (0.09, 0.05, False)],
    ids=[
        "fast-both-times",
        "slow-both-times",
        "first-slower-by-a-compilation",
        "first-slower-by-a-warm-up",
        "a-slow-call-slower-under-load",
    ],
)
def test_first_calls_count_as_the_adapter_s_pace_once_repeats_show_nothing_built(
    first_s: float, again_s: float, compiles: bool
) -> None:
    """A pairwise softmax takes 2 s a long row at its first call and at every other: once its
    worker has seen the method's programs called again no faster, a property stops on its
    first calls as on repeated ones. A compiled path's repeats are faster by a compilation:
    its first calls keep PROPERTY_SECONDS."""
    time_budget.start(PROPERTY_S)
    try:
        assert time_budget.first_calls_compile("softmax"), "with no program called again, a first call may compile"
        _calls_made_again(first_s, again_s)
        assert time_budget.first_calls_compile("softmax") is compiles
        assert time_budget.first_calls_compile("vjp"), "each method is judged on its own calls"
        budget = time_budget.start(PROPERTY_S)  # the next property: a first example on the long rows
        time_budget.add_call(1.9, _layout((8191,)), ("softmax", (8191,), "float32"))
        budget.started = time.monotonic() - 2.0
        assert budget.spent is not compiles
    finally:
        time_budget.stop()


@pytest.mark.usefixtures("no_calls_yet")
def test_each_method_is_judged_on_its_own_calls() -> None:
    """Eager TensorFlow traces the loop of its Jacobian and builds nothing for the rest, and a
    method's first call may warm its framework up (torch.func's first VJP took a second): a
    first call of a method whose own programs show nothing built is its pace, of another not."""
    time_budget.start(PROPERTY_S)
    try:
        _calls_made_again(0.001, 0.001, programs=16)
        _calls_made_again(0.05, 0.001, method="jacobian", programs=time_budget.METHOD_EVIDENCE_PROGRAMS)
        assert not time_budget.first_calls_compile("softmax") and time_budget.first_calls_compile("jacobian")
        budget = time_budget.start(PROPERTY_S)  # the next property
        time_budget.add_call(0.9, _layout((4, 5), method="jacobian"), ("jacobian", (4, 5), "float32"))
        time_budget.add_call(0.9, _layout((4, 5), method="vjp"), ("vjp", (4, 5), "float32"))
        assert budget.paced_s == 0.0, "a traced Jacobian, and the first vjp call: either may have built something"
        time_budget.add_call(0.9, _layout((4, 5)), ("softmax", (4, 5), "float32"))
        assert budget.paced_s == pytest.approx(0.9), "softmax builds nothing: its first call is its pace"
    finally:
        time_budget.stop()


@pytest.mark.usefixtures("no_calls_yet")
def test_a_method_that_has_built_nothing_yet_may_still_compile_on_a_path_that_builds() -> None:
    """inductor has built the forward's programs; three VJP programs that happened to be built
    by then do not make its next first VJP call the adapter's pace."""
    time_budget.start(PROPERTY_S)
    try:
        _calls_made_again(0.2, 0.001)
        _calls_made_again(0.001, 0.001, method="vjp", programs=time_budget.METHOD_EVIDENCE_PROGRAMS)
        assert time_budget.first_calls_compile("vjp")
    finally:
        time_budget.stop()


@pytest.mark.usefixtures("no_calls_yet")
@pytest.mark.parametrize("builds_for_each_strides", [True, False], ids=["inductor", "xla"])
def test_a_compiled_path_looks_compiled_whether_it_builds_for_each_layout_or_each_shape(
    builds_for_each_strides: bool,
) -> None:
    """inductor builds a program for each strides: each shape contiguous (built), then in four
    other strides (each built) and contiguous again; grouped by shape, most of its calls are
    as slow as the first. XLA takes any strides into the program it built for the shape: each
    shape contiguous (built), then strided twice; grouped by layout, no first call was slow."""
    time_budget.start(PROPERTY_S)
    try:
        for number in range(time_budget.EVIDENCE_PROGRAMS):
            shape = (3, number + 2)
            contiguous, strided = _layout(shape), [_layout(shape, strides=(4, 12 * k)) for k in range(1, 5)]
            if builds_for_each_strides:
                calls = [(contiguous, 0.2), *((layout, 0.2) for layout in strided), (contiguous, 0.0005)]
            else:
                calls = [(contiguous, 0.2), (strided[0], 0.0005), (strided[0], 0.0005)]
            for layout, seconds in calls:
                time_budget.add_call(seconds, layout, ("softmax", shape, "float32"))
        assert time_budget.first_calls_compile("softmax")
    finally:
        time_budget.stop()


@pytest.mark.usefixtures("no_calls_yet")
def test_fast_repeats_on_masked_inputs_do_not_make_a_slow_adapter_look_compiled() -> None:
    """A pairwise softmax takes the reference's fast way on non-finite inputs: a program first
    called on finite logits (0.3 s) and then on masked ones (0.1 ms) looks like a compilation,
    until finite inputs come again; and a few such programs among many are not most."""
    pace = ("softmax", (8191,), "float32")
    time_budget.start(PROPERTY_S)
    try:
        _calls_made_again(0.3, 0.3)
        for seconds in (0.3, 0.0001, 0.0001):
            time_budget.add_call(seconds, _layout((8191,)), pace)
        by_layout, by_shape = time_budget._method_programs["softmax"]
        assert (len(by_layout.built), len(by_shape.built)) == (1, 1)
        assert not time_budget.first_calls_compile("softmax"), "one program of nine"
        for seconds in (0.3, 0.3):
            time_budget.add_call(seconds, _layout((8191,), strides=(8,)), pace)  # strided: the same program
        assert len(by_layout.built) == 1, "the masked calls' layout: its first call alone was slow"
        assert not by_shape.built, "most calls of its shape as slow as the first: nothing was built"
    finally:
        time_budget.stop()


@pytest.mark.usefixtures("no_calls_yet")
def test_a_call_repeats_when_its_method_shapes_strides_dtype_and_axis_were_called_before() -> None:
    """The calls a compiled path answers from a program it built already count as repeated."""

    class Slow(NumpyReference):
        def softmax(self, x, axis):
            time.sleep(0.05)
            return super().softmax(x, axis)

    subject = Subject(Slow(), "slow", "slow")
    x = np.ones((2, 3))
    budget = time_budget.start(PROPERTY_S)
    try:
        for argument, axis in [(x, -1), (x + 1, -1), (x, 0), (x.T.copy().T, -1), (np.ones((2, 4)), -1)]:
            run(subject, "softmax", "forward", Argument(argument), axis)
    finally:
        time_budget.stop()
    assert 5 * 0.05 <= budget.calls_s < budget.elapsed
    assert 0.05 <= budget.paced_s < 0.1, "only x + 1 repeats a layout: same shape, strides, dtype and axis"


@pytest.mark.usefixtures("no_calls_yet")
def test_a_typical_call_is_the_mean_of_those_after_the_first_of_its_shape() -> None:
    pace = ("softmax", (2, 4097), "float32")
    budget = time_budget.start(PROPERTY_S)
    try:
        assert time_budget.typical_call(*pace) is None
        time_budget.add_call(0.3, _layout((2, 4097)), pace)  # the first may compile
        assert time_budget.typical_call(*pace) == (0.3, 1), "with one call, the first is all there is"
        time_budget.add_call(0.001, _layout((2, 4097)), pace)
        time_budget.add_call(0.005, _layout((2, 4097), strides=(4, 8)), pace)  # another layout, the same shape
        assert time_budget.typical_call(*pace) == pytest.approx((0.003, 2))
        assert time_budget.typical_call("vjp", (2, 4097), "float32") is None, "each method has its own"
        assert time_budget.typical_call("softmax", (4097, 2), "float32") is None, "and each shape"
    finally:
        time_budget.stop()
    assert budget.paced_s == pytest.approx(0.001), "a repeated layout is still the budget's own count"


@pytest.mark.usefixtures("no_calls_yet")
def test_a_typical_call_counts_the_first_once_first_calls_are_known_to_build_nothing() -> None:
    """A pairwise softmax's one slow call on the long rows, then a fast one on a masked input
    (it takes the reference's way there): its pace is their mean, not the fast one alone."""
    pace = ("softmax", (8191,), "float32")
    time_budget.start(PROPERTY_S)
    try:
        _calls_made_again(0.001, 0.001)
        time_budget.add_call(0.6, _layout((8191,)), pace)
        time_budget.add_call(0.0002, _layout((8191,)), pace)  # masked
    finally:
        time_budget.stop()
    assert time_budget.typical_call(*pace) == pytest.approx((0.3001, 2))


def _pool_whose_long_calls_took(seconds: float, op: str = "softmax") -> ShapePool:
    """A pool, and a forward call on its long rows that took ``seconds``, made twice (a repeat)."""
    pool = shape_pool(3, op, "float32")
    pace = (op, pool.long[0].shape, "float32")
    for _ in range(2):
        time_budget.add_call(seconds, _layout(pool.long[0].shape, method=op), pace)
    return pool


@pytest.mark.usefixtures("no_calls_yet")
@pytest.mark.parametrize(("seconds", "moved"), [(SLOW_CALL_S * 3, True), (SLOW_CALL_S / 3, False)])
def test_callers_move_off_the_long_rows_only_for_an_adapter_slow_on_them(seconds: float, moved: bool) -> None:
    """A pairwise softmax takes 0.3 s a call on the long rows: its concurrency checks run on the
    pool's largest other site, and the record says so; a fast adapter keeps the long rows."""
    measurement = measure.start()
    time_budget.start(PROPERTY_S)
    try:
        pool = _pool_whose_long_calls_took(seconds, op="log_softmax")
        site = overlapping_site("log_softmax", np.dtype("float32"), pool)
        unmeasured = overlapping_site("softmax", np.dtype("float32"), pool)
    finally:
        time_budget.stop()
        measure.stop()
    assert unmeasured == pool.long[0], "with no call measured, the long rows"
    if not moved:
        assert site == pool.long[0] and measurement.notes == []
        return
    assert site == max(pool.sites(wide=True), key=lambda other: other.size) and site.size < pool.long[0].size
    [note] = measurement.notes
    assert f"made on {site.shape} along axis {site.axis} instead of {pool.long[0].shape}" in note
    assert f"took {seconds:.2f} s (the mean of 1)" in note, "the first call may compile: only the second counts"


def test_once_an_example_failed_the_budget_stops_none_of_its_shrinking() -> None:
    """Stopped while Hypothesis shrinks a failure, a property would pass: the failure is kept."""
    try:
        budget = _spent_budget(calls_s=4.0, elapsed_s=5.0)
        time_budget.begin_example()
        time_budget.example_failed()
        time_budget.begin_example()  # the budget is spent, and an example failed: it runs
    finally:
        time_budget.stop()
    assert budget.examples == 2 and budget.failed


def test_outside_a_budget_every_example_starts() -> None:
    for _ in range(3):
        time_budget.begin_example()
    assert not time_budget.spent()


def test_a_plain_line_says_what_still_runs_once_per_period() -> None:
    stream = io.StringIO()
    lines = PlainLines(stream)
    running = Record(
        "slow", "concurrent_calls_agree", "softmax", "float32", "skipped", spec="slow", nodeid="concurrent"
    )
    for seconds, examples in ((1.0, 1), (STILL_RUNNING_S + 1, 2), (STILL_RUNNING_S + 2, 2), (3 * STILL_RUNNING_S, 3)):
        lines.running(running, seconds, examples)
    assert stream.getvalue().splitlines() == [
        "[slow] still running concurrent_calls_agree softmax float32: 16 s, 2 examples",
        "[slow] still running concurrent_calls_agree softmax float32: 45 s, 3 examples",
    ]


_COUNT_BOUNDS = """
import sys, pytest
calls = []

class CountingBounds:  # after collection, once the suite's profile has set the property's settings
    def pytest_collection_finish(self):
        import conformance.properties.test_threads as threads
        original = threads.bound_for
        threads.bound_for = lambda *arguments, **options: calls.append(1) or original(*arguments, **options)

code = pytest.main(["--pyargs", "conformance.properties.test_threads", "-q", "--assert=plain", "-p", "no:randomly",
    "-p", "no:cacheprovider", "-p", "no:warnings",
    "--adapter", "numpy", "--conformance-profile", "ci", "--conformance-ops", "softmax", "--dtypes", "float32",
    "--conformance-json", sys.argv[1]], plugins=[CountingBounds()])
print("bounds", len(calls))
sys.exit(code)
"""


def test_concurrent_calls_compute_each_bound_once_per_example_not_per_round(tmp_path: Path) -> None:
    document = tmp_path / "threads.json"
    done = subprocess.run(
        [sys.executable, "-c", _COUNT_BOUNDS, str(document)], capture_output=True, text=True, cwd=REPO, timeout=300
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    [record] = json.loads(document.read_text())["results"]
    callers, quantities = 4, 2
    assert f"bounds {record['examples'] * callers * quantities}" in done.stdout


def _timed_dev_run(spec: str, json_path: Path) -> tuple[CliResult, float]:
    started = time.monotonic()
    # one dtype: the budget is per property, op and dtype, so the others would only repeat it
    result = run_cli(
        "run",
        "--adapter",
        spec,
        "--profile",
        "dev",
        "--seed",
        "1",
        "--dtypes",
        "float32",
        "--plain",
        json_path=json_path,
    )
    return result, time.monotonic() - started


def _checked(result: CliResult) -> set[tuple[str, str, str]]:
    return {(record["property"], record["op"], record["dtype"]) for record in result.records()}


BOUNDED = 10 * time_budget.PROPERTY_SECONDS  # no property of a bounded run takes longer than this


@pytest.mark.slow
def test_a_quadratic_adapter_stays_a_bounded_run_in_dev(tmp_path: Path) -> None:
    """Every property is reported, those past their budget say so, and none runs on unbounded.
    How its whole run compares with the reference's in time is a benchmark's figure, not this
    test's: a wall-time ratio asserted here failed under load (3.2x one time, 2.4x another)."""
    reference, _ = _timed_dev_run(REFERENCE, tmp_path / "reference.json")
    quadratic, _ = _timed_dev_run(QUADRATIC, tmp_path / "quadratic.json")
    assert reference.returncode == 0, reference.stderr[-3000:]
    assert quadratic.returncode == 0, quadratic.stderr[-3000:]
    assert _checked(quadratic) == _checked(reference), "every property × op × dtype has its record"
    stopped = [record for record in quadratic.records("passed") if "stopped early" in record["message"]]
    assert stopped, "no property ran out of its budget"
    assert all("in the adapter's calls" in record["message"] for record in stopped)
    assert not any("stopped early" in record["message"] for record in reference.records()), "a fast adapter is not"
    moved = {
        record["property"]
        for record in quadratic.records("passed")
        if "the long rows' calls made on" in record["message"]
    }
    assert moved == {"concurrent_calls_agree", "same_bits_every_call"}, "slow on long rows, called on a smaller site"
    assert not any("the long rows' calls" in record["message"] for record in reference.records())
    slowest = max(quadratic.records(), key=lambda record: record["duration_s"] or 0)
    assert slowest["duration_s"] <= BOUNDED, f"{slowest['property']} took {slowest['duration_s']:.0f} s"


@pytest.mark.slow
def test_ci_runs_every_example_of_a_slow_adapter(tmp_path: Path) -> None:
    """ci has no budget: the slow adapter runs exactly the examples the fast reference runs."""
    examples = {}
    for name, spec in (("quadratic", QUADRATIC), ("reference", REFERENCE)):
        result = run_cli(
            "run",
            *("--adapter", spec, "--profile", "ci", "--plain"),
            *("--properties", "long_row_accuracy", "--dtypes", "float64"),
            json_path=tmp_path / f"{name}.json",
        )
        assert result.returncode == 0, result.stderr[-3000:]
        assert all("stopped early" not in record["message"] for record in result.records())
        examples[name] = sorted((record["op"], record["examples"]) for record in result.records())
    assert examples["quadratic"] == examples["reference"]
