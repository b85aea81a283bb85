"""Known divergences: the TOML format, apply (failed -> xfailed), audit (stale, matches nothing),
and the small PEP 440 comparator."""

from __future__ import annotations

import copy
import importlib.util
import itertools
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conformance.results import divergences, documents
from conformance.results.divergences import Divergence, DivergenceFileError
from conformance.results.records import Record

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = Path(__file__).with_name("fixtures")
VERSIONS = {"torch": "2.13.0", "jax": "0.4.35", "numpy": "2.1.3"}


def record(adapter: str, prop: str, op: str, dtype: str, status: str, **extra: Any) -> Record:
    framework = extra.pop("framework", adapter.split("-")[0])
    message = extra.pop("message", "" if status == "passed" else "boom")
    return Record(adapter, prop, op, dtype, status, message, framework=framework, **extra)


def entries(text: str) -> list[Divergence]:
    return divergences.parse(text, source="test.toml")


# --- the file format -------------------------------------------------------------------------


def test_the_repository_file_parses_and_every_entry_pins_its_framework_and_failure() -> None:
    entries = divergences.load_default()
    assert entries
    for entry in entries:
        assert entry.reason and entry.framework and entry.message and entry.reproducer, entry.label()


REPOSITORY_ENTRIES = divergences.load_default()


@pytest.mark.parametrize("entry", REPOSITORY_ENTRIES, ids=[f"#{entry.number}" for entry in REPOSITORY_ENTRIES])
def test_each_entry_s_reproducer_runs_alone_and_shows_the_divergence(entry: Divergence) -> None:
    """What would go into the framework's issue tracker: it exits 0 while the divergence is
    there, and fails (an assertion, SystemExit) once the framework has fixed it."""
    assert entry.framework is not None and entry.reproducer is not None
    if importlib.util.find_spec(entry.framework) is None:
        pytest.skip(f"{entry.framework} is not installed")
    completed = subprocess.run(
        [sys.executable, "-c", entry.reproducer],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"},
    )
    shown = f"{entry.label()}\n{completed.stdout[-2000:]}\n{completed.stderr[-2000:]}"
    if completed.returncode != 0 and entry.shows_on is not None and "fixed" in completed.stderr:
        pytest.skip(f"does not show on this machine (it shows on {entry.shows_on}):\n{shown}")
    assert completed.returncode == 0, shown


# Failure messages seen in campaign runs, cut to what tells them apart, and failures the same
# entries must not explain.
SEEN_IN_RUNS = [
    (
        "torch-compile",
        "results_are_not_reused",
        "softmax",
        "float32",
        "vjp_derivative raised TorchRuntimeError: RuntimeError when making fake tensor call\n  Explanation: "
        "Dynamo failed to run FX node with fake tensors: ... got RuntimeError('The following operation failed "
        'in the TorchScript interpreter.\\n  File "decompositions.py", line 904, in aten::_softmax_backward_data',
    ),
    (
        "torch-compile",
        "jvp_accuracy",
        "softmax",
        "float32",
        "jvp raised TorchRuntimeError: RuntimeError when making fake tensor call ... "
        "Cannot call storage_offset() on tensor with symbolic sizes/strides",
    ),
    (
        "mlx",
        "vocabulary_rows",
        "softmax",
        "float32",
        "softmax[197092, 0] = 0.0239888, but the oracle gives 0.0239783 (err 5.63e+03 ulp > bound 1.14e+03 ulp) "
        "[mlx softmax axis=0 float32]; 512000 of 512000 elements exceed their bound",
    ),
    (
        "paddle",
        "vocabulary_rows",
        "log_softmax",
        "float32",
        "log_softmax[1, 113737] = -2.73774, but the oracle gives -2.73813 (err 1.65e+03 ulp > bound 1.03e+03 ulp) "
        "[paddle log_softmax axis=1 float32]; 10 of 786432 elements exceed their bound",
    ),
    (
        "mlx",
        "vocabulary_rows",
        "softmax",
        "bfloat16",
        "row (0,) alone vs in the batch: forward[57517] = 0.0583496, but the same row in the batch gives 0.0307617 "
        "(err 226 ulp > bound 74.4 ulp) [mlx softmax axis=0 bfloat16]; 129280 of 129280 elements exceed their bound",
    ),
    (
        "mlx",
        "many_rows",
        "softmax",
        "float16",
        "softmax[2458, 31] = 0.819824, but the oracle gives 0.808567 (err 23.1 ulp > bound 18.6 ulp) "
        "[mlx softmax axis=1 float16]; 120 of 17291731 elements exceed their bound",
    ),
    (
        "mlx",
        "empty_inputs",
        "log_softmax",
        "float32",
        "no answer within 70 s (the call timeout is 60 s); the worker was killed while running this property",
    ),
    (
        "mlx",
        "vjp_accuracy",
        "softmax",
        "float16",
        "vjp[1033, 0] = -1.44839e-05, but the oracle gives -6.73495e-07 (err 57.9 ulp > bound 38 ulp) "
        "[mlx softmax axis=0 float16]; 852 of 4098 elements exceed their bound",
    ),
    (
        "paddle-static",
        "jacobian_rows_sum_to_zero",
        "softmax",
        "float64",
        "jacobian @ ones[0, 4] = -1.80055e-55, but shift invariance (a row shifted by a constant has the same "
        "softmax) gives 0 (err 4.02e-12 ulp > bound 3.97e-279 ulp) [paddle-static softmax axis=1 float64]; "
        "14 of 27 elements exceed their bound",
    ),
    (
        "paddle",
        "vocabulary_rows",
        "log_softmax",
        "float64",
        "no answer within 70 s (the call timeout is 60 s); the worker was killed while running this property",
    ),
]
NOT_EXPLAINED = [
    (
        "torch-compile",
        "jvp_accuracy",
        "softmax",
        "float32",
        "jvp raised TorchRuntimeError: RuntimeError when making fake tensor call",
    ),
    (
        "torch-compile",
        "vjp_accuracy",
        "softmax",
        "float32",
        "vjp[2, 3] = 0.5, but the oracle gives 0.25 (err 9e+06 ulp > bound 4 ulp)",
    ),
    # the running float32 sum over long rows explains nothing about short ones
    (
        "paddle",
        "forward_accuracy",
        "softmax",
        "float32",
        "softmax[3] = 0.25, but the oracle gives 0.2 (err 9e+05 ulp > bound 4 ulp) [paddle softmax axis=0 float32]",
    ),
    # MLX's half-type sum shows over long rows, not over a few elements
    (
        "mlx",
        "vjp_accuracy",
        "softmax",
        "float16",
        "vjp[1, 0] = -1.4e-05, but the oracle gives -6.7e-07 (err 57.9 ulp > bound 38 ulp) "
        "[mlx softmax axis=0 float16]; 2 of 12 elements exceed their bound",
    ),
    # only log_softmax is slow in Paddle, and only MLX's log_softmax hangs on an empty axis
    (
        "paddle",
        "vocabulary_rows",
        "softmax",
        "float32",
        "no answer within 70 s (the call timeout is 60 s); the worker was killed while running this property",
    ),
    (
        "mlx",
        "empty_inputs",
        "softmax",
        "float32",
        "no answer within 70 s (the call timeout is 60 s); the worker was killed while running this property",
    ),
]
RUN_VERSIONS = {"torch": "2.13.0", "mlx": "0.32.4", "paddle": "3.3.1"}


@pytest.mark.parametrize(("adapter", "prop", "op", "dtype", "message"), SEEN_IN_RUNS)
def test_the_repository_file_explains_the_failures_seen_in_runs(
    adapter: str, prop: str, op: str, dtype: str, message: str
) -> None:
    failing = record(adapter, prop, op, dtype, "failed", message=message)
    [applied] = divergences.apply([failing], REPOSITORY_ENTRIES, RUN_VERSIONS)
    assert applied.status == "xfailed"


@pytest.mark.parametrize(("adapter", "prop", "op", "dtype", "message"), NOT_EXPLAINED)
def test_the_repository_file_does_not_explain_other_failures_of_the_same_results(
    adapter: str, prop: str, op: str, dtype: str, message: str
) -> None:
    failing = record(adapter, prop, op, dtype, "failed", message=message)
    [applied] = divergences.apply([failing], REPOSITORY_ENTRIES, RUN_VERSIONS)
    assert applied.status == "failed"


def test_all_fields() -> None:
    [entry] = entries(
        """
        [[divergence]]
        adapter = "jax*"
        property = "forward_accuracy"
        op = "log_softmax"
        dtype = "float16"
        framework = "jax"
        versions = ">=0.4,<0.11"
        reason = "XLA's   float16 exp\\n is 2 ulp off"
        max_error_ulp = 6
        """
    )
    assert entry.adapter == ("jax*",)
    assert entry.op == "log_softmax"
    assert entry.versions is not None and str(entry.versions) == "<0.11,>=0.4"
    assert entry.reason == "XLA's float16 exp is 2 ulp off"  # whitespace folded to one line
    assert entry.max_error_ulp == 6.0
    assert entry.number == 1
    assert "test.toml divergence #1" in entry.label()


@pytest.mark.parametrize(
    ("text", "needle"),
    [
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\n', "missing required field 'reason'"),
        ('[[divergence]]\nadapter = "x"\nreason = "r"\n', "missing required field 'property'"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nreasons = "typo"\n', "unknown field(s) reasons"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nop = "softmx"\n', "op 'softmx'"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "  "\n', "reason is empty"),
        ('[[divergence]]\nadapter = 3\nproperty = "p"\nreason = "r"\n', "adapter must be a string"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nmax_error_ulp = "6"\n', "must be a number"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nmax_error_ulp = true\n', "must be a number"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nframework = "mxnet"\n', "framework 'mxnet'"),
        ('[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nversions = ">=1"\n', "versions needs framework"),
        (
            '[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nframework = "jax"\nversions = "=>1"\n',
            "versions: Invalid specifier: '=>1'",
        ),
        (
            '[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nframework = "jax"\nversions = ">=1,"\n',
            "empty version specifier",
        ),
        (
            '[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nframework = "jax"\nversions = "~=2"\n',
            "versions: Invalid specifier: '~=2'",
        ),
        (
            '[[divergence]]\nadapter = "x"\nproperty = "p"\nreason = "r"\nframework = "jax"\nversions = ">=2.*"\n',
            "versions: Invalid specifier: '>=2.*'",
        ),
        ('[divergence]\nadapter = "x"\n', "array of tables"),
        ('[[divergences]]\nadapter = "x"\n', "unknown top-level key(s) divergences"),
        ("divergence = [1]\n", "expected a table"),
        ('[[divergence]\nadapter = "x"\n', "not valid TOML"),
    ],
)
def test_bad_files_raise_one_line(tmp_path: Path, text: str, needle: str) -> None:
    path = tmp_path / "known.toml"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(DivergenceFileError) as caught:
        divergences.load(path)
    message = str(caught.value)
    assert needle in message
    assert message.startswith(str(path))
    assert "\n" not in message


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(DivergenceFileError, match="no such file"):
        divergences.load(tmp_path / "absent.toml")
    with pytest.raises(DivergenceFileError, match="is a directory"):
        divergences.load(tmp_path)
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(DivergenceFileError, match="not UTF-8"):
        divergences.load(binary)


# --- apply ----------------------------------------------------------------------------------


def test_apply_turns_matched_failures_into_xfailed_and_keeps_the_message() -> None:
    [entry] = entries('[[divergence]]\nadapter = "torch-*"\nproperty = "forward_accuracy"\nreason = "known"\n')
    records = [
        record("torch-compile", "forward_accuracy", "softmax", "float16", "failed", message="9 ulp > 6 ulp"),
        record("torch-func", "forward_accuracy", "log_softmax", "float32", "error", message="RuntimeError"),
        record("torch-func", "forward_accuracy", "softmax", "float32", "passed"),
        record("torch", "forward_accuracy", "softmax", "float32", "failed"),  # "torch-*" does not match "torch"
        record("torch-func", "vjp_accuracy", "softmax", "float32", "failed"),
    ]
    before = copy.deepcopy(records)
    out = divergences.apply(records, [entry], VERSIONS)
    assert records == before  # inputs untouched
    assert [r.status for r in out] == ["xfailed", "xfailed", "passed", "failed", "failed"]
    assert out[0].xfail_reason == "known" and out[0].message == "9 ulp > 6 ulp"
    assert out[1].message == "RuntimeError"
    assert out[2].xfail_reason is None


def test_op_dtype_and_framework_narrow_an_entry() -> None:
    [entry] = entries(
        '[[divergence]]\nadapter = "*"\nproperty = "*_accuracy"\nop = "log_softmax"\ndtype = "*16"\n'
        'framework = "jax"\nreason = "r"\n'
    )
    assert entry.matches(record("jax-jit", "vjp_accuracy", "log_softmax", "bfloat16", "failed"), VERSIONS)
    assert not entry.matches(record("jax-jit", "vjp_accuracy", "softmax", "bfloat16", "failed"), VERSIONS)
    assert not entry.matches(record("jax-jit", "vjp_accuracy", "log_softmax", "float32", "failed"), VERSIONS)
    assert not entry.matches(record("torch", "vjp_accuracy", "log_softmax", "float16", "failed"), VERSIONS)
    assert not entry.matches(record("jax", "rows_sum_to_one", "log_softmax", "float16", "failed"), VERSIONS)
    # a record without a framework field gets its framework from the adapter registry
    no_field = record("jax", "vjp_accuracy", "log_softmax", "float16", "failed").as_dict()
    del no_field["framework"]
    assert entry.matches(Record.from_dict(no_field), VERSIONS)
    # op "any" or omitted: every op
    [anyop] = entries('[[divergence]]\nadapter = "jax"\nproperty = "p"\nop = "any"\nreason = "r"\n')
    assert anyop.matches(record("jax", "p", "softmax", "float32", "failed"), VERSIONS)
    assert anyop.matches(record("jax", "p", "any", "any", "failed"), VERSIONS)


def test_versions_decide_whether_an_entry_applies() -> None:
    text = '[[divergence]]\nadapter = "jax*"\nproperty = "p"\nframework = "jax"\nversions = "{}"\nreason = "r"\n'
    failing = record("jax", "p", "softmax", "float16", "failed")
    assert divergences.apply([failing], entries(text.format(">=0.4,<0.5")), VERSIONS)[0].status == "xfailed"
    assert divergences.apply([failing], entries(text.format("<0.4.35")), VERSIONS)[0].status == "failed"
    # the framework's version unknown: the entry cannot be confirmed, so it does not apply
    assert divergences.apply([failing], entries(text.format(">=0.4")), {})[0].status == "failed"


# --- audit ----------------------------------------------------------------------------------


def test_audit_finds_stale_entries() -> None:
    found = entries(
        '[[divergence]]\nadapter = "torch*"\nproperty = "forward_accuracy"\ndtype = "float16"\nreason = "r"\n'
    )
    records = [
        record("torch", "forward_accuracy", "softmax", "float16", "failed"),
        record("torch-func", "forward_accuracy", "softmax", "float16", "passed"),
    ]
    [problem] = divergences.audit(records, found, VERSIONS)
    assert "stale" in problem and "torch-func forward_accuracy (softmax, float16)" in problem
    assert "test.toml divergence #1" in problem
    # still failing everywhere it matches: fine, before or after apply
    records[1] = records[1].replace(status="failed")
    assert divergences.audit(records, found, VERSIONS) == []
    assert divergences.audit(divergences.apply(records, found, VERSIONS), found, VERSIONS) == []


def test_audit_finds_entries_matching_nothing_only_when_their_framework_ran() -> None:
    found = entries(
        '[[divergence]]\nadapter = "torch*"\nproperty = "no_such_property"\nreason = "r"\n'
        '[[divergence]]\nadapter = "jax*"\nproperty = "no_such_property"\nreason = "r"\n'
        '[[divergence]]\nadapter = "x"\nproperty = "p"\nframework = "tensorflow"\nreason = "r"\n'
        '[[divergence]]\nadapter = "my-adapter"\nproperty = "p"\nreason = "r"\n'
        '[[divergence]]\nadapter = "*"\nproperty = "p"\nframework = "torch"\nreason = "r"\n'
    )
    records = [record("torch", "forward_accuracy", "softmax", "float16", "failed")]
    problems = divergences.audit(records, found, VERSIONS)
    assert len(problems) == 2
    assert "divergence #1" in problems[0] and "matches nothing" in problems[0]
    assert "divergence #5" in problems[1] and "matches nothing" in problems[1]
    # a user adapter in the run makes its entry relevant
    records.append(record("my-adapter", "q", "softmax", "float32", "passed", framework=None))
    assert any("divergence #4" in problem for problem in divergences.audit(records, found, VERSIONS))


def test_an_entry_about_one_ad_path_is_not_about_a_run_without_that_path() -> None:
    found = entries('[[divergence]]\nadapter = "torch-compile"\nproperty = "p"\nframework = "torch"\nreason = "r"\n')
    only_torch = [record("torch", "p", "softmax", "float32", "passed")]
    assert divergences.audit(only_torch, found, VERSIONS) == []
    with_compile = [*only_torch, record("torch-compile", "q", "softmax", "float32", "passed")]
    [problem] = divergences.audit(with_compile, found, VERSIONS)
    assert "matches nothing" in problem


def test_an_entry_may_name_several_ad_paths_and_is_about_a_run_of_any_of_them() -> None:
    text = (
        '[[divergence]]\nadapter = ["torch", "torch-compile"]\nproperty = "empty_inputs"\nframework = "torch"\n'
        'message = "*non-empty TensorList*"\nreason = "r"\n'
    )
    [entry] = entries(text)
    failing = record("torch-compile", "empty_inputs", "softmax", "float32", "failed", message="non-empty TensorList")
    assert entry.matches(failing, VERSIONS)
    assert not entry.matches(failing.replace(adapter="torch-func"), VERSIONS)
    # a run of torch-func alone is not about this entry, so it cannot make it stale
    only_func = [record("torch-func", "empty_inputs", "softmax", "float32", "passed")]
    assert divergences.audit(only_func, [entry], VERSIONS) == []
    assert "adapter ['torch', 'torch-compile']" in entry.label()
    with pytest.raises(DivergenceFileError, match="adapter must be a glob or a non-empty list of globs"):
        entries('[[divergence]]\nadapter = []\nproperty = "p"\nreason = "r"\n')


def test_audit_ignores_entries_outside_their_version_range() -> None:
    text = '[[divergence]]\nadapter = "jax"\nproperty = "gone"\nframework = "jax"\nversions = "{}"\nreason = "r"\n'
    records = [record("jax", "forward_accuracy", "softmax", "float16", "passed")]
    assert divergences.audit(records, entries(text.format("<0.4")), VERSIONS) == []
    [problem] = divergences.audit(records, entries(text.format(">=0.4")), VERSIONS)
    assert "matches nothing" in problem
    [unknown] = divergences.audit(records, entries(text.format(">=0.4")), {"torch": "2.13.0"})
    assert "did not record the version of jax" in unknown


def test_fixture_xfail_reason_survives_apply() -> None:
    document = documents.load_documents([FIXTURES / "torch_run.json"])[0]
    out = divergences.apply(document.results, [], document.metadata["frameworks"])
    assert out == list(document.results)


# --- versions -------------------------------------------------------------------------------


def _applies(spec: str, version: str) -> bool:
    [entry] = divergences.parse(
        f'[[divergence]]\nadapter = "torch"\nproperty = "p"\nframework = "torch"\nversions = "{spec}"\nreason = "r"\n'
    )
    return entry.version_applies("torch", {"torch": version})


@pytest.mark.parametrize(
    ("spec", "version", "expected"),
    [
        (">=0.4,<0.11", "0.4.35", True),
        (">=0.4,<0.11", "0.11.0", False),
        (">=0.4,<0.11", "0.3.99", False),
        ("==2.13.0", "2.13", True),
        ("==2.13.0", "2.13.0+cpu", True),
        ("==2.13.*", "2.13.1", True),
        ("==2.13.*", "2.14.0", False),
        ("!=2.13.*", "2.14.0", True),
        ("~=2.16", "2.19.1", True),
        ("~=2.16", "3.0", False),
        ("~=2.16.1", "2.16.5", True),
        ("~=2.16.1", "2.17.0", False),
        ("<2.14", "2.14.0rc1", False),
        ("<2.14rc2", "2.14.0rc1", True),
        (">2.13", "2.13.post1", False),
        (">2.13", "2.13.1", True),
        (">=2.5", "2.5.0.dev20240101", False),
        (">=2.5.0.dev1", "2.5.0a1", True),
        ("<=1.0", "1.0.post1", False),
        (">=1", "not a version", False),
        ("==1!2.0", "2.0", False),
    ],
)
def test_specifiers(spec: str, version: str, expected: bool) -> None:
    assert _applies(spec, version) is expected


def test_version_ranges_are_packaging_s_with_pre_post_and_dev_releases_counted() -> None:
    """PEP 440 as pip reads it (packaging's own specifiers), with the installed pre-releases
    and local builds (2.13.0+cpu) matched as releases."""
    from packaging.specifiers import SpecifierSet

    versions = [
        "0.4", "0.4.30", "0.10.9", "0.11.0", "1.0.dev1", "1.0a1", "1.0rc1", "1.0", "1.0.post1", "1.0.1",
        "2.0", "2.0.post1", "2.0rc1", "2.0.dev3", "2.13.0", "2.13.0+cpu", "2.14.0rc1", "2.14.0", "3.0",
    ]  # fmt: skip
    specs = [
        ">=0.4,<0.11", "==2.13.*", "~=2.16", "<2.14", ">2.13", "<=1.0", ">=1.0a1", "==0.*",
        "<2.0.post1", ">2.0rc1", ">=2.0.dev1", "<2.0rc1", ">2.0.post1", "!=2.0.*", "<2.0.dev5",
    ]  # fmt: skip
    for spec, version in itertools.product(specs, versions):
        theirs = SpecifierSet(spec).contains(version, prereleases=True)
        assert _applies(spec, version) is theirs, (spec, version)
    assert _applies("<2.0.post1", "2.0") and _applies(">2.0rc1", "2.0.post1")  # the hand-written parser's misses
    assert not _applies(">=1", "not a version")


def test_a_message_pattern_limits_the_entry_to_the_documented_failure():
    [entry] = divergences.parse(
        '[[divergence]]\nadapter = "torch"\nproperty = "empty_inputs"\n'
        'message = "*stack expects a non-empty TensorList*"\nreason = "torch jacobian rejects empty input"\n'
    )
    known = {
        "adapter": "torch",
        "framework": "torch",
        "property": "empty_inputs",
        "op": "softmax",
        "dtype": "float32",
        "status": "error",
        "message": "jacobian raised RuntimeError: stack expects a non-empty TensorList",
    }
    known = Record.from_dict(known)
    other = known.replace(message="softmax returned shape (3,), but the oracle gives (3, 0)")
    explained, unexplained = divergences.apply([known, other], [entry], {"torch": "2.13.0"})
    assert explained.status == "xfailed" and explained.xfail_reason == "torch jacobian rejects empty input"
    assert unexplained.status == "error"
    passing = known.replace(status="passed", message="")
    [problem] = divergences.audit([passing], [entry], {"torch": "2.13.0"})
    assert "stale" in problem
    # while the documented failure still happens somewhere, passing results elsewhere are fine
    assert divergences.audit([passing, explained], [entry], {"torch": "2.13.0"}) == []


def test_an_intermittent_entry_is_never_stale():
    [entry] = divergences.parse(
        '[[divergence]]\nadapter = "tensorflow*"\nproperty = "*_accuracy"\nframework = "tensorflow"\n'
        'message = "*] = 0.0, but the oracle gives*"\nintermittent = true\nreason = "flush to zero, per thread"\n'
    )
    passing = Record("tensorflow", "jvp_accuracy", "softmax", "float32", "passed", framework="tensorflow")
    assert entry.intermittent and divergences.audit([passing], [entry], {"tensorflow": "2.21.0"}) == []


def test_an_entry_that_shows_on_some_processors_is_intermittent_and_names_them():
    [entry] = divergences.parse(
        '[[divergence]]\nadapter = "tensorflow*"\nproperty = "length_one_axis_is_exact"\nframework = "tensorflow"\n'
        'shows_on = """x86-64 with\n AVX2"""\nreason = "8 rows at a time"\n'
    )
    assert entry.intermittent and entry.shows_on == "x86-64 with AVX2"
    with pytest.raises(divergences.DivergenceFileError, match="shows_on must be a string"):
        divergences.parse('[[divergence]]\nadapter = "a"\nproperty = "p"\nshows_on = true\nreason = "r"\n')


def _vjp_run(tmp_path: Path, divergences_text: str | None) -> Record:
    from tests.conftest import TESTS, run_cli

    arguments = ["run", "--adapter", f"{TESTS / 'broken_adapters.py'}:VjpWithoutInnerProduct", "--profile", "ci"]
    arguments += ["--dtypes", "float32", "--properties", "vjp_accuracy", "--plain"]
    tmp_path.mkdir()
    if divergences_text is not None:
        (tmp_path / "known.toml").write_text(divergences_text)
        arguments += ["--divergences", str(tmp_path / "known.toml")]
    result = run_cli(*arguments, json_path=tmp_path / "run.json")
    [record] = [r for r in result.records() if r["op"] == "softmax"]
    return Record.from_dict(record)


KNOWN = (
    '[[divergence]]\nadapter = "vjp-without-inner-product"\nproperty = "vjp_accuracy"\nop = "softmax"\n'
    'message = "{message}"\nreason = "r"\nreproducer = "print(1)"\n'
)


def test_a_failure_a_known_divergence_explains_is_not_shrunk_and_any_other_still_is(tmp_path: Path) -> None:
    unknown = _vjp_run(tmp_path / "none", None)
    assert unknown.status == "failed" and unknown.examples > 20  # found, then shrunk
    known = _vjp_run(tmp_path / "known", KNOWN.format(message="vjp[[]*] = *, but the oracle gives *"))
    assert known.status == "xfailed" and known.examples < 10  # reported as found
    other = _vjp_run(tmp_path / "other", KNOWN.format(message="*a message this failure does not have*"))
    assert other.status == "failed"
    assert other.reproducer == unknown.reproducer  # shrunk as far as without the entry


def test_a_run_that_did_not_make_an_entrys_check_says_nothing_about_it() -> None:
    """bench runs one property, --properties and --dtypes a subset: an entry about a property,
    op or dtype the run left out is not "matching nothing"; a misspelt property still is."""
    found = entries(
        '[[divergence]]\nadapter = "torch"\nproperty = "empty_inputs"\nframework = "torch"\nreason = "r"\n'
        '[[divergence]]\nadapter = "torch"\nproperty = "vjp_accuracy"\ndtype = "float16"\nreason = "r"\n'
        '[[divergence]]\nadapter = "torch"\nproperty = "empty_input"\nreason = "a typo"\n'
    )
    bench = [record("torch", "large_input", "softmax", "float32", "passed")]
    [problem] = divergences.audit(bench, found, VERSIONS)
    assert "divergence #3" in problem and "matches nothing" in problem
    float32_only = [record("torch", "vjp_accuracy", "softmax", "float32", "passed")]
    assert [p for p in divergences.audit(float32_only, found, VERSIONS) if "#3" not in p] == []
    wider = [
        *float32_only,
        record("torch", "empty_inputs", "softmax", "float16", "passed"),
        record("torch-func", "vjp_accuracy", "softmax", "float16", "passed"),
    ]
    problems = divergences.audit(wider, found, VERSIONS)
    assert any("divergence #1" in p and "stale" in p for p in problems)  # its check ran, and passed
    assert any("divergence #2" in p and "matches nothing" in p for p in problems)  # ran, on another path
