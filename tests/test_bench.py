"""``python -m conformance bench`` and the large tier's checks: one engine for every size. A
large input is checked by the same calls, comparisons, messages and records as a small one,
its reproducer makes the input again from its seed, and bench's JSON is a results document."""

from __future__ import annotations

import numpy as np
import pytest

from conformance.adapters.numpy_adapter import NumpyReference
from conformance.checks.calls import Subject
from conformance.checks.failures import AdapterCallError, ConformanceFailure
from conformance.checks.large import at_scale
from conformance.checks.large.seeded import Seeded, SeededRow
from conformance.inputs.shape_pool import Site
from conformance.results import documents
from conformance.truth.arrays import ALIGNMENT
from tests import broken_adapters
from tests.conftest import TESTS, run_cli

BROKEN = TESTS / "broken_adapters.py"
MISBEHAVING = TESTS / "misbehaving_adapters.py"
SMALL = ("--elements", "100000", "--row-length", "100")


def _subject(adapter) -> Subject:
    return Subject(adapter, "numpy", "numpy", call_timeout=60)


def _large(shape=(300, 70), axis=-1, dtype=np.float32, op="softmax"):
    return at_scale.large_input(Site(shape, axis), dtype, seed=3, op=op)


def test_bench_writes_a_results_document_with_the_workers_time_and_memory(tmp_path):
    result = run_cli(
        "bench",
        "--adapter",
        "adapters/numpy_adapter.py:NumpyReference",
        *SMALL,
        "--ops",
        "softmax,log_softmax",
        json_path=tmp_path / "bench.json",
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    document = result.document
    assert document is not None
    documents.validate(document)
    assert document["metadata"]["bench"] == {
        "elements": 100_000,
        "row_length": 100,
        "dtype": "float32",
        "axis": -1,
        "ops": ["softmax", "log_softmax"],
        "cotangents": 3,
    }
    assert {(r["property"], r["op"], r["dtype"], r["status"]) for r in document["results"]} == {
        ("large_input", "softmax", "float32", "passed"),
        ("large_input", "log_softmax", "float32", "passed"),
    }
    (worker,) = document["metadata"]["workers"]
    assert worker["spec"].endswith("numpy_adapter.py:NumpyReference")
    assert 0 < worker["peak_rss_bytes"] < 2**31 and worker["seconds"] > 0
    assert "conforms" in result.stdout and "1 of 1 adapter conforms" in result.stdout


def test_bench_fails_broken_adapters_with_the_suites_messages_and_the_gate_reads_its_json(tmp_path):
    result = run_cli(
        "bench",
        "--adapter",
        f"{BROKEN}:VjpReducesWholeTensor",
        "--adapter",
        f"{BROKEN}:VjpWithoutInnerProduct",
        "--adapter",
        "numpy",
        *SMALL,
        "--cotangents",
        "1",
        json_path=tmp_path / "bench.json",
        timeout=300,
    )
    assert result.returncode == 1
    document = result.document
    assert document is not None
    by_spec = {record["spec"].rsplit(":", 1)[-1]: record for record in document["results"]}
    assert by_spec["numpy"]["status"] == "passed"
    leaking = by_spec["VjpReducesWholeTensor"]
    assert leaking["status"] == "failed" and "[vjp-reduces-whole-tensor softmax axis=-1 float32]" in leaking["message"]
    assert "a row whose cotangent is 0 must give exactly 0" in leaking["message"]
    assert "seeded.array((1000, 100), 'float32'" in leaking["reproducer"]
    blind = by_spec["VjpWithoutInnerProduct"]
    assert blind["status"] == "failed" and "the worst is element" in blind["message"]
    assert "of 1000 rows of 100" in blind["message"] and "seeded.array((1000, 100), 'float32'" in blind["reproducer"]
    gate = run_cli("gate", str(tmp_path / "bench.json"))
    assert gate.returncode == 1 and "large_input" in gate.stdout
    assert "FAILS" in result.stdout


def test_a_crashing_and_a_hanging_adapter_become_error_records(tmp_path):
    result = run_cli(
        "bench",
        "--adapter",
        f"{MISBEHAVING}:Segfaults",
        "--adapter",
        f"{MISBEHAVING}:HangsInC",
        "--adapter",
        "numpy",
        "--call-timeout",
        "5",
        *SMALL,
        json_path=tmp_path / "bench.json",
        timeout=300,
    )
    assert result.returncode == 1
    document = result.document
    assert document is not None
    by_spec = {record["spec"].rsplit(":", 1)[-1]: record for record in document["results"]}
    assert by_spec["Segfaults"]["status"] == "error" and "SIGSEGV" in by_spec["Segfaults"]["message"]
    hung = by_spec["HangsInC"]
    assert hung["status"] == "error" and ("timed out after 5 s" in hung["message"] or "no answer" in hung["message"])
    assert by_spec["numpy"]["status"] == "passed"
    workers = {worker["spec"].rsplit(":", 1)[-1]: worker for worker in document["metadata"]["workers"]}
    assert workers["Segfaults"]["peak_rss_bytes"] > 0


@pytest.mark.parametrize(
    ("arguments", "expected"),
    [
        (("--elements", "1001"), "does not divide into rows of --row-length=1000"),
        (("--elements", "0"), "must be positive"),
        (("--elements", "lots"), "is not a number of elements"),
        (("--elements", "1e5", "--row-length", "0"), "must be positive"),
        (("--elements", "1e5", "--dtype", "float8"), "known dtypes are"),
        (("--elements", "1e5", "--ops", "softmin"), "the ops are: softmax, log_softmax"),
        (("--elements", "1e5", "--axis", "2"), "the axes are -2, -1, 0, 1"),
        (("--elements", "1e5", "--frameworks", "caffe"), "the known frameworks are"),
        (("--elements", "1e5", "--adapter", "nowhere.py:Thing"), "no file"),
        ((), "--elements"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(arguments, expected):
    result = run_cli("bench", *arguments, "--adapter", "numpy", timeout=120)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0], result.stderr


# -- the checks in-process ---------------------------------------------------------------------


@pytest.mark.parametrize("axis", [-1, 0])
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
def test_the_large_checks_pass_the_reference_along_either_axis_and_for_both_ops(axis, op):
    shape = (300, 70) if axis == -1 else (70, 300)
    at_scale.check_large_input(_subject(NumpyReference()), op, _large(shape, axis, op=op), row_axis=0, cotangents=2)


def test_a_seeded_input_is_the_same_whole_chunk_by_chunk_and_row_by_row():
    recipe = Seeded((40000, 7), "float16", 5, "softmax/x", -1, "logits")
    whole = recipe.build()
    assert whole.ctypes.data % ALIGNMENT == 0 and whole.dtype == np.float16
    layout = recipe.layout
    assert layout.chunks > 1
    assert np.array_equal(whole[layout.rows(1)], recipe.chunk(1))
    assert np.array_equal(whole[20000], SeededRow(recipe, 20000).build())
    assert np.array_equal(recipe.build(), whole) and recipe.changed(whole) == 0
    whole[3, 4] += 1
    assert recipe.changed(whole) == 1
    holed = Seeded((200, 7), "float32", 5, "g", -1, "normal", zero_fraction=1 / 16)
    zero = np.flatnonzero(~np.any(holed.layout.view(holed.build()) != 0, axis=-1))
    assert list(zero) == list(holed.zero_rows) and len(zero) == 12
    assert not SeededRow(holed, int(zero[0])).build().any() and SeededRow(holed, int(zero[0]) + 1).build().any()
    for batch in (2, 3):  # a vocabulary's few rows: at least one row is 0, and one is not
        rows = Seeded((batch, 5), "float32", 5, "g", -1, "normal", zero_fraction=1 / 16).zero_rows
        assert len(rows) == 1


def test_a_large_failure_names_its_row_and_element_and_its_reproducer_rebuilds_the_input():
    spec = f"{BROKEN}:GridWrapsPast65535Rows"
    subject = Subject(broken_adapters.GridWrapsPast65535Rows(), spec, spec, call_timeout=60)
    with pytest.raises(ConformanceFailure) as caught:
        at_scale.check_forward(subject, "softmax", _large((70000, 3)), row_axis=0)
    message = str(caught.value).split("\n\nReproduce with:")[0]
    assert "of 70000 rows of 3" in message and "the worst is element" in message
    assert int(message.split("of row ")[1].split(" ")[0]) >= 65535
    assert "seeded.array((70000, 3), 'float32', seed=3" in caught.value.reproducer
    shown: list[tuple[object, ...]] = []
    exec(caught.value.reproducer, {"print": lambda *args: shown.append(args)})
    (_, got), (_, exact) = shown
    assert abs(float(got) - float(exact)) > 1e-3  # the wrapped row, reproduced from the seed


@pytest.mark.parametrize("shape", [(300, 70), (3, 1000)])
def test_the_vjp_check_catches_a_vjp_that_leaks_into_rows_whose_cotangent_is_0(shape):
    with pytest.raises(ConformanceFailure, match="a row whose cotangent is 0 must give exactly 0") as caught:
        at_scale.check_vjp(_subject(broken_adapters.VjpReducesWholeTensor()), "softmax", _large(shape), 1, 0)
    assert f"(the cotangent is 0 on {max(1, round(shape[0] / 16))} of {shape[0]} rows)" in str(caught.value)
    assert "zero_fraction=0.0625" in caught.value.reproducer


def test_a_leak_too_small_for_the_bound_is_caught_on_the_rows_whose_cotangent_is_0():
    class LeaksALittle(NumpyReference):
        def vjp(self, x, cotangent, axis):
            out = super().vjp(x, cotangent, axis)
            return out + np.float32(1e-30) * np.roll(cotangent, 1, axis=1 - axis % 2)

    with pytest.raises(ConformanceFailure, match="a row whose cotangent is 0 must give exactly 0"):
        at_scale.check_vjp(_subject(LeaksALittle()), "softmax", _large(), 1, 0)


def test_a_large_input_modified_in_place_is_caught_by_its_digest():
    with pytest.raises(ConformanceFailure, match="modified its argument `x` in place"):
        at_scale.check_forward(_subject(broken_adapters.ShiftsItsInputInPlace()), "softmax", _large(), row_axis=0)


def test_a_large_call_that_raises_or_returns_the_wrong_dtype_fails_in_the_suites_words():
    class Float64Out(NumpyReference):
        def vjp(self, x, cotangent, axis):
            return super().vjp(x, cotangent, axis).astype(np.float64)

    with pytest.raises(ConformanceFailure, match="returned dtype float64 for float32 input"):
        at_scale.check_vjp(_subject(Float64Out()), "softmax", _large(), cotangents=1, row_axis=0)

    class Raises(NumpyReference):
        def softmax(self, x, axis):
            raise MemoryError("out of memory")

    with pytest.raises(AdapterCallError, match="softmax raised MemoryError: out of memory"):
        at_scale.check_forward(_subject(Raises()), "softmax", _large(), row_axis=0)


def test_a_call_on_a_large_input_may_take_longer_in_proportion():
    from conformance.checks.calls import time_allowed

    assert time_allowed(60, 1000) == 60 and time_allowed(60, 2**25) == 120 and time_allowed(None, 2**31) is None


def test_an_input_the_machine_has_no_memory_for_is_skipped_with_the_figures(monkeypatch):
    """A worker the kernel kills for memory says nothing about the adapter: the check is skipped,
    saying how much it takes and how much there is."""
    from conformance.checks.large import at_scale
    from conformance.inputs.shape_pool import Site

    site = Site((2_099_200, 1024), 1)  # 4.0 GiB of float16
    monkeypatch.setattr(at_scale, "memory_available_bytes", lambda: 8 * 2**30)
    short = at_scale.memory_short(site, np.float16, "torch")
    assert short is not None and "2,149,580,800 float16 elements" in short and "8.00 GiB is available" in short
    assert "with torch" in short
    monkeypatch.setattr(at_scale, "memory_available_bytes", lambda: 22 * 2**30)
    assert at_scale.memory_short(site, np.float16, "torch") is None  # 4.5 x 4 GiB fits
    assert at_scale.memory_short(site, np.float16, "jax") is not None  # jax computes in float32: 8 x
    assert at_scale.memory_short(site, np.float16, None) is not None  # an unknown adapter is given the most
    monkeypatch.setattr(at_scale, "memory_available_bytes", lambda: 64 * 2**30)
    assert at_scale.memory_short(site, np.float16) is None
    monkeypatch.setattr(at_scale, "memory_available_bytes", lambda: None)  # no /proc/meminfo: try
    assert at_scale.memory_short(site, np.float16) is None


def test_each_cotangent_and_its_answer_are_freed_before_the_next_is_made():
    """With several cotangents the VJP check holds one cotangent and one answer at a time: two
    of each would be two more inputs' worth of memory at the peak (6x the input instead of 4x)."""
    import gc
    import weakref

    site = Site((70_000, 3), 1)
    whole: list[weakref.ref] = []  # the cotangents and answers of calls on the whole input
    alive_at_whole_calls: list[int] = []

    class Watched(NumpyReference):
        def vjp(self, x, cotangent, axis):
            answer = super().vjp(x, cotangent, axis)
            if x.shape == site.shape:
                gc.collect()
                alive_at_whole_calls.append(sum(ref() is not None for ref in whole))
                whole.extend([weakref.ref(cotangent), weakref.ref(answer)])
            return answer

    x = at_scale.large_input(site, np.float32, 5, "softmax")
    at_scale.check_vjp(_subject(Watched()), "softmax", x, 3, -1)
    assert alive_at_whole_calls == [0, 0, 0]


def test_the_suites_own_work_on_a_large_input_keeps_the_worker_alive(monkeypatch):
    """Making a 2**31-element input and comparing it take minutes outside any adapter call; the
    runner takes a worker silent for the call timeout for hung, so each chunk beats (with no
    call under way: timeout None). The thorough profile's torch worker was killed so."""
    from conformance.checks import heartbeat

    beats: list[float | None] = []
    monkeypatch.setattr(heartbeat, "beat", beats.append)
    site = Site((70_000, 3), 1)
    x = at_scale.large_input(site, np.float32, 5, "softmax")
    chunks = at_scale._layout(x).chunks
    assert chunks > 1 and beats == [None] * chunks
    beats.clear()
    at_scale.check_forward(_subject(NumpyReference()), "softmax", x, -1)
    whole_call = next(number for number, beat in enumerate(beats) if beat is not None)  # it announces its time
    compared = beats[whole_call + 1 :]
    assert compared[:chunks] == [None] * chunks  # then the comparison, chunk by chunk
