"""A user's softmax on a framework's own tensors (issue 17 §1): from_torch, from_jax and
from_tensorflow differentiate it with the framework's machinery on any of its AD paths, what
the function cannot do there is "not supported", the known divergences of that machinery
apply to it (and those of the framework's softmax kernel do not), and the command line takes
``FRAMEWORK[@PATH]:file.py:softmax[,log_softmax]``.

The functions are in tests/fixtures/framework_functions: a torch.autograd.Function (forward,
backward and jvp), a jax.custom_vjp and a tf.custom_gradient, each correct and each broken
the classic way (the backward's inner product left out: VJP = s * g).
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest

from conformance.results import divergences
from conformance.results.records import Record
from conformance.running.loading import AdapterSpecError, absolute_spec, check_spec, load_adapter, selected_specs
from tests.conftest import REPO, CliResult, run_cli

FUNCTIONS = Path("tests/fixtures/framework_functions")
TORCH, JAX, TENSORFLOW = (FUNCTIONS / f"{name}_function.py" for name in ("torch", "jax", "tensorflow"))
VERSIONS = {"torch": "2.13.0", "jax": "0.7.0", "tensorflow": "2.21.0"}
# what the tests of the correct functions' run read, and nothing more
ASSERTED = ("vjp_accuracy", "jvp_accuracy", "empty_inputs", "shapes_and_dtypes", "results_are_not_reused")

# Warnings from torch 2.13 itself, about its own use of torch.jit.script / script_method.
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script(_method)?` is deprecated:DeprecationWarning")


def _needs(*frameworks: str) -> None:
    missing = [name for name in frameworks if importlib.util.find_spec(name) is None]
    if missing:
        pytest.skip(f"not installed: {', '.join(missing)} (scripts/setup.sh installs them)")


def _by_adapter(result: CliResult) -> dict[str, list[dict[str, Any]]]:
    found: dict[str, list[dict[str, Any]]] = {}
    for record in result.records():
        found.setdefault(record["adapter"], []).append(record)
    return found


# --- the real runs, through the CLI ----------------------------------------------------------


@pytest.fixture(scope="module")
def correct_run(tmp_path_factory: pytest.TempPathFactory) -> CliResult:
    """The three correct functions on their frameworks' primary paths, in ``ci``, over the
    properties the tests below read: the torch one in its Python form (file.py:NAME of a
    from_torch adapter), the others as function specs."""
    _needs("torch", "jax", "tensorflow")
    folder = tmp_path_factory.mktemp("framework-functions")
    return run_cli(
        "run",
        "--adapter",
        f"{TORCH}:MINE",
        "--adapter",
        f"jax:{JAX}:softmax",
        "--adapter",
        f"tensorflow:{TENSORFLOW}:softmax",
        "--profile",
        "ci",
        "--properties",
        ",".join(ASSERTED),
        "--plain",
        json_path=folder / "results.json",
        timeout=1800,
    )


@pytest.mark.slow
def test_a_correct_function_of_each_framework_conforms_on_its_primary_path(correct_run: CliResult) -> None:
    result = correct_run
    bad = [f"{r['adapter']} {r['property']} {r['dtype']}: {r['message'][:300]}" for r in result.records("failed")]
    bad += [f"{r['adapter']} {r['property']} {r['dtype']}: {r['message'][:300]}" for r in result.records("error")]
    assert not bad and result.returncode == 0, "\n".join(bad) or result.stderr[-3000:]
    assert not result.document["metadata"]["divergence_problems"]
    records = _by_adapter(result)
    expected = {
        "mine@torch": ("torch", "torch"),
        "jax_function.softmax@jax-jit": ("jax", "jax-jit"),
        "tensorflow_function.softmax@tensorflow-function": ("tensorflow", "tensorflow-function"),
    }
    assert set(records) == set(expected)
    for adapter, (framework, path) in expected.items():
        own = records[adapter]
        assert {(r["framework"], r.get("ad_path")) for r in own} == {(framework, path)}, adapter
        # the VJP, the quantity every one of these functions defines itself, is right in every dtype
        vjp = [r for r in own if r["property"] == "vjp_accuracy" and r["op"] == "softmax"]
        assert {r["dtype"] for r in vjp} == {"float16", "bfloat16", "float32", "float64"}, adapter
        assert all(r["status"] in ("passed", "xfailed") for r in vjp), adapter
        assert any(r["status"] == "passed" for r in vjp), adapter
        # no log_softmax was given: every log_softmax result is "not provided", none computed
        logs = [r for r in own if r["op"] == "log_softmax"]
        assert logs and all(r["status"] == "skipped" and r.get("not_provided") for r in logs), adapter
    meta = {entry["adapter"]: entry for entry in result.document["metadata"]["adapters"]}
    assert meta["mine@torch"]["ad_path"] == "torch" and meta["mine@torch"]["framework"] == "torch"
    assert meta["mine@torch"]["capabilities"]["log_softmax_vjp"] is False


@pytest.mark.slow
def test_the_machinery_divergences_of_the_path_apply_to_the_users_function(correct_run: CliResult) -> None:
    """torch.autograd.functional.jacobian (the torch path) cannot take a zero-size input,
    whatever function it differentiates: the known divergence explains it for the user's
    Function too, with its reason."""
    empty = [r for r in _by_adapter(correct_run)["mine@torch"] if r["property"] == "empty_inputs"]
    assert empty and all(r["status"] == "xfailed" for r in empty if r["op"] == "softmax")
    assert all("stack expects a non-empty TensorList" in r["message"] for r in empty if r["op"] == "softmax")
    assert all("torch.autograd.functional.jacobian" in r["xfail_reason"] for r in empty if r["op"] == "softmax")


@pytest.mark.slow
def test_forward_mode_of_a_custom_vjp_is_not_supported_with_jaxs_reason(correct_run: CliResult) -> None:
    own = _by_adapter(correct_run)["jax_function.softmax@jax-jit"]
    jvp = [r for r in own if r["property"] == "jvp_accuracy" and r["op"] == "softmax"]
    assert len(jvp) == 4
    for record in jvp:
        assert record["status"] == "skipped" and record.get("not_supported") and not record.get("not_provided")
        assert record["message"].startswith("not supported: ")
        assert "can't apply forward-mode autodiff (jvp) to a custom_vjp function" in record["message"]
    # the tf.custom_gradient has a forward mode: TensorFlow derives it from the gradient
    tf_jvp = [
        r
        for r in _by_adapter(correct_run)["tensorflow_function.softmax@tensorflow-function"]
        if r["property"] == "jvp_accuracy" and r["op"] == "softmax"
    ]
    assert tf_jvp and all(r["status"] in ("passed", "xfailed") for r in tf_jvp)
    # a property that checks several quantities leaves the unsupported one out and checks the rest
    several = [
        r
        for r in own
        if r["op"] == "softmax" and r["property"] in ("empty_inputs", "shapes_and_dtypes", "results_are_not_reused")
    ]
    assert len(several) == 12 and all(r["status"] in ("passed", "xfailed") for r in several), several


@pytest.mark.slow
def test_the_same_functions_without_the_inner_product_fail_vjp_accuracy(tmp_path: Path) -> None:
    _needs("torch", "jax", "tensorflow")
    result = run_cli(
        "run",
        *(
            f"--adapter={framework}:{file}:broken_softmax"
            for framework, file in (("torch", TORCH), ("jax", JAX), ("tensorflow", TENSORFLOW))
        ),
        "--properties",
        "vjp_accuracy",
        "--dtypes",
        "float32,float64",
        "--plain",
        json_path=tmp_path / "results.json",
        timeout=1200,
    )
    assert result.returncode == 1, result.stderr[-3000:]
    records = _by_adapter(result)
    assert set(records) == {
        "torch_function.broken_softmax@torch",
        "jax_function.broken_softmax@jax-jit",
        "tensorflow_function.broken_softmax@tensorflow-function",
    }
    for adapter, own in records.items():
        softmax = [r for r in own if r["op"] == "softmax"]
        assert {r["dtype"] for r in softmax} == {"float32", "float64"}, adapter
        assert all(r["status"] == "failed" and r["property"] == "vjp_accuracy" for r in softmax), adapter
        assert all(r["message"].startswith("vjp[") for r in softmax), adapter


@pytest.mark.slow
def test_a_custom_vjp_on_the_forward_mode_path_is_not_supported_not_failed(tmp_path: Path) -> None:
    """jax-jacfwd builds the Jacobian with jax.jacfwd: a custom_vjp has no forward mode, so the
    Jacobian properties are "not supported"; its VJP still conforms, and the run passes."""
    _needs("jax")
    result = run_cli(
        "run",
        f"--adapter=jax@jax-jacfwd:{JAX}:softmax",
        "--properties",
        "jacobian_accuracy,vjp_accuracy,shapes_and_dtypes,length_one_axis_is_exact",
        "--dtypes",
        "float32",
        "--plain",
        json_path=tmp_path / "results.json",
        timeout=900,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    own = _by_adapter(result)["jax_function.softmax@jax-jacfwd"]
    by_property = {r["property"]: r for r in own if r["op"] == "softmax"}
    jacobian = by_property["jacobian_accuracy"]
    assert jacobian["status"] == "skipped" and jacobian["not_supported"], jacobian
    assert "custom_vjp" in jacobian["message"]
    assert by_property["vjp_accuracy"]["status"] in ("passed", "xfailed")
    # the properties of several quantities check the forward pass and the VJP without the Jacobian
    assert by_property["shapes_and_dtypes"]["status"] == "passed", by_property["shapes_and_dtypes"]
    assert by_property["length_one_axis_is_exact"]["status"] == "passed"
    assert {r["ad_path"] for r in own} == {"jax-jacfwd"}
    assert not [r for r in own if r["status"] in ("failed", "error")]


# --- the command line's spec -----------------------------------------------------------------


def test_all_paths_runs_a_function_spec_on_every_path_of_its_framework() -> None:
    spec = f"jax:{JAX}:softmax"
    assert selected_specs(None, [spec]) == [spec]
    assert selected_specs(None, [spec], all_paths=True) == [
        spec,
        f"jax@jax:{JAX}:softmax",
        f"jax@jax-jacfwd:{JAX}:softmax",
    ]
    # a spec that names its path is that path only
    assert selected_specs(None, [f"jax@jax:{JAX}:softmax"], all_paths=True) == [f"jax@jax:{JAX}:softmax"]
    assert absolute_spec(f"torch@torch-func:{TORCH}:softmax") == f"torch@torch-func:{REPO / TORCH}:softmax"


def test_a_function_spec_loads_on_the_path_it_names_with_log_softmax_only_when_named() -> None:
    _needs("jax")
    for spec, path in ((f"jax:{JAX}:softmax", "jax-jit"), (f"jax@jax-jacfwd:{JAX}:softmax", "jax-jacfwd")):
        check_spec(spec)
        adapter = load_adapter(spec)
        assert adapter.ad_path == path and adapter.name == f"jax_function.softmax@{path}"
        assert adapter.log_softmax is None and adapter.log_softmax_vjp is None
    both = load_adapter(f"jax:{JAX}:softmax,broken_softmax")  # the second name is log_softmax
    assert callable(both.log_softmax_vjp)


@pytest.mark.parametrize(
    ("spec", "says"),
    [
        (f"mxnet:{TORCH}:softmax", "unknown framework 'mxnet'; a function spec is FRAMEWORK[@PATH]:file.py:softmax"),
        (f"mlx:{TORCH}:softmax", "FRAMEWORK one of torch, jax, tensorflow"),
        (f"torch@jax-jit:{TORCH}:softmax", "unknown AD path 'jax-jit'; torch's are: torch, torch-func"),
        ("torch:no/such/file.py:softmax", "no file 'no/such/file.py'"),
        (f"torch:{TORCH}:no_such_function", "has no 'no_such_function'; it defines: "),
        (f"torch:{TORCH}:softmax,no_log", "has no 'no_log'"),
        (f"torch:{TORCH}:a,b,c", "a function spec is FRAMEWORK[@PATH]:file.py:softmax[,log_softmax]"),
    ],
)
def test_a_bad_function_spec_is_one_line_naming_the_choices_and_exit_2(cli, spec: str, says: str) -> None:
    result = cli("run", "--adapter", spec, "--plain")
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr, result.stderr
    assert says in result.stderr and f"--adapter={spec}" in result.stderr, result.stderr
    assert result.document is None  # nothing ran


def test_from_framework_checks_its_path_and_leaves_log_softmax_absent() -> None:
    _needs("torch")
    import torch

    from conformance.adapter import capabilities
    from conformance.adapters import from_jax, from_torch

    adapter = from_torch(torch.softmax, path="torch-func")
    assert (adapter.name, adapter.ad_path) == ("softmax@torch-func", "torch-func")
    assert not any(provided for method, provided in capabilities(adapter).items() if method.startswith("log_"))
    assert capabilities(adapter)["jvp"] and capabilities(adapter)["vjp_derivative"]
    with pytest.raises(ValueError, match="jax's AD paths are: jax-jit, jax, jax-jacfwd"):
        from_jax(torch.softmax, path="torch")
    with pytest.raises(AdapterSpecError):
        check_spec("torch:missing.py:softmax")


# --- which known divergences apply to a user's function ---------------------------------------


def _record(adapter: str, ad_path: str | None, framework: str, message: str) -> Record:
    return Record(
        adapter, "empty_inputs", "softmax", "float32", "failed", message, framework=framework, ad_path=ad_path
    )


def test_machinery_entries_apply_on_the_path_and_kernel_entries_never_to_a_users_function() -> None:
    entries = divergences.parse(
        """
[[divergence]]
adapter = "torch"
property = "empty_inputs"
framework = "torch"
machinery = true
message = "*machinery*"
reason = "the path's autodiff"

[[divergence]]
adapter = "torch*"
property = "empty_inputs"
framework = "torch"
message = "*kernel*"
reason = "torch.softmax's kernel"

[[divergence]]
adapter = "mine@torch"
property = "empty_inputs"
message = "*own*"
reason = "the user's own entry about the user's own adapter"
""",
        source="test.toml",
    )

    def status(record: Record) -> str:
        return divergences.apply([record], entries, VERSIONS)[0].status

    # the built-in adapter: both entries apply
    assert status(_record("torch", None, "torch", "machinery")) == "xfailed"
    assert status(_record("torch", None, "torch", "kernel")) == "xfailed"
    # a user's function on the torch path: the machinery entry applies, the kernel one does not,
    # even when the function's name happens to match the kernel entry's glob
    assert status(_record("mine@torch", "torch", "torch", "machinery")) == "xfailed"
    assert status(_record("mine@torch", "torch", "torch", "kernel")) == "failed"
    assert status(_record("torch_softmax@torch", "torch", "torch", "kernel")) == "failed"
    # on another path the machinery entry is not about it; the user's entry naming it applies
    assert status(_record("mine@torch-func", "torch-func", "torch", "machinery")) == "failed"
    assert status(_record("mine@torch", "torch", "torch", "own")) == "xfailed"
    # the audit holds the machinery entry to the run when only the user's function ran its path
    problems = divergences.audit([_record("mine@torch", "torch", "torch", "other")], entries[:1], VERSIONS)
    assert len(problems) == 1 and "stale" in problems[0]
    assert not divergences.audit([_record("mine@torch", "torch-func", "torch", "other")], entries[:1], VERSIONS)


def test_the_packaged_machinery_entries_are_the_ones_about_autodiff_compilers_and_flush_to_zero() -> None:
    machinery = [entry for entry in divergences.load_default() if entry.machinery]
    assert any(
        entry.adapter == ("torch", "torch-compile") and entry.property == ("empty_inputs",) for entry in machinery
    )
    flush = [entry for entry in machinery if entry.message and "flushed to zero" in " ".join(entry.message)]
    assert {entry.framework for entry in flush} == {"jax", "tensorflow"}
    # the framework's own softmax: never about a user's function
    kernel = [entry for entry in divergences.load_default() if not entry.machinery]
    assert any(entry.property == ("length_one_axis_is_exact",) for entry in kernel)
    assert any(entry.dtype == "float16" and entry.framework == "jax" for entry in kernel)
