"""The environment a run's results depend on: the facts it records, the known divergences that
hold only under some facts (TensorFlow's oneDNN), and stock TensorFlow conforming either way."""

from __future__ import annotations

import importlib.util

import pytest

from conformance.results import divergences
from conformance.results.divergences import DivergenceFileError
from conformance.results.environment import MACHINE, describe, facts_for, holds, machine_facts, run_environment
from conformance.results.records import Record

TF_VERSIONS = {"tensorflow": "2.21.0"}
ONEDNN_MESSAGE = (
    "softmax raised AbortedError: Graph execution error:\n\nDetected at node Softmax defined at (most recent call "
    "last):\n  File ...\nInput dims must be <= 5 and >=1\n\t [[{{node Softmax}}]] [Op:__inference_program_12]"
)


def onednn(on: bool, raising: tuple[str, ...] = ("bfloat16", "float32")) -> dict[str, dict]:
    """A run's environment with TensorFlow's oneDNN ``on`` and a rank 6 softmax raising in ``raising``."""
    dtypes = ("float16", "bfloat16", "float32", "float64")
    return {
        MACHINE: {"cpu": "AMD EPYC", "cpu_features": "avx2 avx512f avx512_bf16"},
        "tensorflow": {
            "onednn": "on" if on else "off",
            "rank_6_softmax_raises": {dtype: on and dtype in raising for dtype in dtypes},
        },
    }


def tf_record(dtype: str, status: str = "error", message: str = ONEDNN_MESSAGE) -> Record:
    return Record(
        "tensorflow-function", "every_axis_in_turn", "softmax", dtype, status, message, framework="tensorflow"
    )


ENTRY = """[[divergence]]
adapter = "tensorflow*"
property = "*"
framework = "tensorflow"
environment = { onednn = "on", rank_6_softmax_raises = true }
message = "*Input dims must be <= 5*"
reason = "oneDNN takes ranks 1 to 5"
"""


def test_a_condition_holds_by_bool_glob_and_per_dtype_table() -> None:
    facts = {"onednn": "on", "cpu_features": "avx2 avx512_fp16", "raises": {"float16": True, "float32": False}}
    assert holds({"onednn": "on", "cpu_features": "*avx512_fp16*"}, facts, "float32")
    assert holds({"raises": True}, facts, "float16")
    assert not holds({"raises": True}, facts, "float32")
    assert not holds({"raises": True}, facts, "bfloat16")  # a dtype the probe did not report
    assert not holds({"onednn": "off"}, facts, "float32")
    assert not holds({"onednn": True}, facts, "float32")  # a bool never matches a string fact
    assert not holds({"amx": "*"}, facts, "float32")  # a fact the run did not record never holds


def test_a_framework_s_facts_add_to_the_machine_s_and_win() -> None:
    environment = {MACHINE: {"cpu": "AMD EPYC", "onednn": "?"}, "tensorflow": {"onednn": "on"}}
    assert facts_for(environment, "tensorflow") == {"cpu": "AMD EPYC", "onednn": "on"}
    assert facts_for(environment, None) == {"cpu": "AMD EPYC", "onednn": "?"}


def test_the_run_environment_takes_each_framework_s_facts_from_its_adapters() -> None:
    adapters = [
        {"spec": "numpy", "framework": "numpy", "environment": {}},
        {"spec": "tensorflow-function", "framework": "tensorflow", "environment": {"onednn": "on"}},
        {"spec": "tensorflow-xla", "framework": "tensorflow", "environment": {"onednn": "off?"}},
        {"spec": "mine.py:Mine", "framework": None, "environment": {"anything": "x"}},
    ]
    found = run_environment(adapters)
    assert found["tensorflow"] == {"onednn": "on"}
    assert set(found) == {MACHINE, "tensorflow"}
    assert set(found[MACHINE]) == {"cpu", "cpu_features"} == set(machine_facts())
    assert describe({"float16": False, "float32": True}) == "float16: no, float32: yes"


def test_an_entry_with_an_environment_applies_only_where_the_run_s_facts_hold() -> None:
    [entry] = divergences.parse(ENTRY)
    on, off = onednn(True), onednn(False)
    apply = divergences.apply
    assert apply([tf_record("float32")], [entry], TF_VERSIONS, on)[0].status == "xfailed"
    assert apply([tf_record("float16")], [entry], TF_VERSIONS, on)[0].status == "error"  # the probe: fine here
    assert apply([tf_record("float32")], [entry], TF_VERSIONS, off)[0].status == "error"
    assert apply([tf_record("float32")], [entry], TF_VERSIONS)[0].status == "error"  # no facts recorded
    # Intel with avx512_fp16: the same entry covers float16 there, because its probe says so.
    intel = onednn(True, raising=("float16", "bfloat16", "float32"))
    assert apply([tf_record("float16")], [entry], TF_VERSIONS, intel)[0].status == "xfailed"


def test_the_audit_leaves_an_entry_alone_where_its_facts_do_not_hold() -> None:
    [entry] = divergences.parse(ENTRY)
    passing = [tf_record(dtype, "passed", "") for dtype in ("float16", "bfloat16", "float32", "float64")]
    assert divergences.audit(passing, [entry], TF_VERSIONS, onednn(False)) == []
    [problem] = divergences.audit(passing, [entry], TF_VERSIONS, onednn(True))
    assert "stale" in problem and "environment onednn='on'" in problem
    explained = divergences.apply([tf_record("float32"), *passing[:1]], [entry], TF_VERSIONS, onednn(True))
    assert divergences.audit(explained, [entry], TF_VERSIONS, onednn(True)) == []


@pytest.mark.parametrize(
    ("table", "complaint"),
    [
        ('environment = { onednn = "on" }\n', "environment needs framework"),
        ('framework = "tensorflow"\nenvironment = {}\n', "environment is empty"),
        (
            'framework = "tensorflow"\nenvironment = { onednn = 1 }\n',
            "environment.onednn must be true, false or a glob",
        ),
        ('framework = "tensorflow"\nenvironment = "on"\n', "environment must be a table of facts"),
    ],
)
def test_a_malformed_environment_is_one_line_naming_the_entry(table: str, complaint: str) -> None:
    text = f'[[divergence]]\nadapter = "tensorflow"\nproperty = "*"\nreason = "r"\n{table}'
    with pytest.raises(DivergenceFileError, match=complaint) as raised:
        divergences.parse(text, source="mine.toml")
    assert str(raised.value).startswith("mine.toml: divergence #1") and "\n" not in str(raised.value)


def test_the_shipped_onednn_entry_is_keyed_by_the_probe_not_by_a_cpu() -> None:
    [entry] = [e for e in divergences.load_default() if e.environment and "rank_6_softmax_raises" in e.environment]
    assert entry.environment == {"onednn": "on", "rank_6_softmax_raises": True}
    assert entry.matches(tf_record("bfloat16"), TF_VERSIONS, environment=onednn(True))
    assert not entry.matches(tf_record("float64"), TF_VERSIONS, environment=onednn(True))
    assert not entry.matches(tf_record("bfloat16"), TF_VERSIONS, environment=onednn(False))


needs_tensorflow = pytest.mark.skipif(importlib.util.find_spec("tensorflow") is None, reason="needs tensorflow")


@needs_tensorflow
@pytest.mark.slow
@pytest.mark.parametrize("setting", ["0", "1"])
def test_stock_tensorflow_conforms_with_onednn_off_and_on(cli, setting) -> None:
    """The main job on TensorFlow, on the inputs whose kernels oneDNN changes (every rank from 5
    to 8), exits 0 either way: what oneDNN rejects on this CPU is a known divergence, keyed
    by the run's own probe, and shown in the run's environment. The probe reports oneDNN as
    the process has it: off, Eigen's softmax takes any rank; on, it says for each dtype."""
    result = cli(
        "run",
        "--frameworks",
        "tensorflow",
        "--profile",
        "ci",
        "--properties",
        "every_axis_in_turn,forward_accuracy",
        "--plain",
        env={"TF_ENABLE_ONEDNN_OPTS": setting},
    )
    bad = [f"{r['property']} {r['op']} {r['dtype']}: {r['message'][:300]}" for r in result.records("failed")]
    bad += [f"{r['property']} {r['op']} {r['dtype']}: {r['message'][:300]}" for r in result.records("error")]
    assert result.returncode == 0 and not bad, "\n".join(bad) or result.stderr[-2000:]
    meta = result.document["metadata"]
    assert not meta["divergence_problems"]
    facts = meta["environment"]["tensorflow"]
    assert facts["onednn"] == ("on" if setting == "1" else "off")
    assert facts["TF_ENABLE_ONEDNN_OPTS"] == setting
    assert set(facts["rank_6_softmax_raises"]) == {"float16", "bfloat16", "float32", "float64"}
    if setting == "0":
        assert not any(facts["rank_6_softmax_raises"].values())
    raising = {dtype for dtype, raises in facts["rank_6_softmax_raises"].items() if raises}
    for record in result.records("xfailed"):
        if "Input dims must be <= 5" in record["message"]:
            assert setting == "1" and record["dtype"] in raising and record["op"] == "softmax"


def test_a_failure_in_another_dtype_of_the_same_record_is_matched_at_that_dtype() -> None:
    """every_dtype_in_turn calls every dtype within one record: a float32 answer that fails
    inside the bfloat16 record is explained by the float32 entries, not the bfloat16 ones."""
    [entry] = divergences.parse(
        '[[divergence]]\nadapter = "jax*"\nproperty = "*"\ndtype = "float32"\nframework = "jax"\n'
        'message = "*flushed to zero*"\nreason = "XLA flushes float32 subnormals"\n'
    )
    failing = Record(
        "jax-jit",
        "every_dtype_in_turn",
        "softmax",
        "bfloat16",
        "failed",
        "softmax[0, 2] = 0 ... flushed to zero",
        framework="jax",
    )
    assert divergences.apply([failing], [entry], {})[0].status == "failed"
    in_float32 = failing.replace(call_dtype="float32")
    assert in_float32.failing_dtype == "float32"
    assert divergences.apply([in_float32], [entry], {})[0].status == "xfailed"
    assert Record.from_dict(in_float32.as_dict()).call_dtype == "float32"


def test_the_second_order_s_overflow_is_named_when_the_cotangent_sum_times_the_direction_passes_the_max() -> None:
    """jax's float16 second order of log_softmax gave inf for an exact 3295: Σ|g| was 62144,
    under 65504, but it is multiplied by the direction's terms (up to 2.3) on the way."""
    import numpy as np

    from conformance.checks.quantities import likely_cause

    x = np.zeros(3, np.float16)
    g = np.array([30000, 20000, 12144], np.float16)
    u = np.array([2.3, -1.0, 0.5], np.float16)
    overflowed = np.array([np.inf, 0, 0], np.float16)
    cause = likely_cause("log_softmax", "vjp_derivative", x, -1, [g, u], overflowed)
    assert cause is not None and "times the direction's largest |u|" in cause and "float16" in cause
