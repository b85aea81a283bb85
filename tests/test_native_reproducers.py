"""Reproducers in the framework's own words: the script is NumPy and the framework alone, it
computes what the adapter computes (bit for bit, on every installed AD path and quantity),
and a real failure's script runs in an interpreter that cannot import this suite."""

from __future__ import annotations

import contextlib
import copy
import html
import importlib
import io
import re
import subprocess
import sys
import types
import warnings
from pathlib import Path
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from conformance import load_adapter
from conformance.adapter import NativeArgument, NativeProgram, method_name
from conformance.adapters import FRAMEWORKS
from conformance.checks.calls import Subject
from conformance.checks.failures import AdapterCallError, ConformanceFailure, WorstElement
from conformance.checks.large.seeded import Seeded, SeededRow
from conformance.checks.native import native_call, native_script
from conformance.checks.quantities import VECTORS, compare, run
from conformance.checks.reproducer import Call, array_source
from conformance.inputs.arguments import Argument, View
from conformance.presentation import report
from conformance.results.records import Document, Record
from conformance.truth.oracle import QUANTITIES, Quantity

pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script(_method)?` is deprecated:DeprecationWarning")

# every AD path of a framework (numpy's only path has no autodiff to spell)
PATHS = [name for framework, (_, names) in FRAMEWORKS.items() if framework != "numpy" for name in names]
X = np.array([[0.5, -1.25, 2.0], [3.0, 0.0, -0.75]], dtype=np.float32)
VECTOR_VALUES = {"cotangent": [1.0, -2.0, 0.5], "tangent": [0.25, 1.5, -1.0], "direction": [-0.5, 0.75, 2.0]}


class _Spelled:
    """A stand-in adapter that spells every call as one line, to check the assembly alone."""

    def native_program(
        self, op: str, quantity: str, axis: int, arguments: tuple[NativeArgument, ...]
    ) -> NativeProgram | None:
        described = ", ".join(f"{a.name}:{a.dtype}:{a.view}" for a in arguments)
        return NativeProgram(("import framework",), (f"result = framework.{op}_{quantity}({described}, {axis})",))


class _Silent:
    """An adapter of a user's function: it cannot spell its calls."""

    def native_program(self, *args: Any) -> None:
        return None


def _call(
    adapter: Any, op: str, quantity: Quantity, arrays: dict[str, np.ndarray], axis: int = 1, **options: Any
) -> Call:
    return Call(
        spec="x",
        method=method_name(op, quantity),  # type: ignore[arg-type]
        axis=axis,
        arrays=arrays,
        native=native_call(adapter, op, quantity),  # type: ignore[arg-type]
        **options,
    )


def test_script_is_numpy_and_the_framework_alone():
    call = _call(_Spelled(), "softmax", "vjp", {"x": X, "cotangent": np.ones_like(X)})
    worst = WorstElement("vjp", (1, 2), 0.5, 0.25)
    script = native_script(call, worst)
    assert script is not None
    assert script.splitlines() == [
        "import numpy as np",
        "import framework",
        "x = np.array([[0.5, -1.25, 2.0], [3.0, 0.0, -0.75]], dtype=np.float64).astype(np.float32)",
        "cotangent = np.array([[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]], dtype=np.float64).astype(np.float32)",
        "result = framework.softmax_vjp(x:float32:None, cotangent:float32:None, 1)",
        "print('vjp[1, 2] =', float(result[1, 2]), 'but the oracle gives 0.25')",
    ]
    assert "conformance" not in script and "DTYPES" not in script


def test_an_error_prints_the_result_the_call_never_returns():
    script = native_script(_call(_Spelled(), "log_softmax", "forward", {"x": X}))
    assert script is not None and script.splitlines()[-1] == "print(result)"


def test_a_view_is_rebuilt_from_its_base_and_bfloat16_from_float32_values():
    base = np.array([[1.0, 2.0, -np.inf], [0.5, 0.25, 4.0]], dtype=ml_dtypes.bfloat16)
    call = _call(_Spelled(), "softmax", "forward", {"x": base.T}, axis=0, views={"x": View(base, "base.T")})
    script = native_script(call, WorstElement("softmax", (), "nan", "inf"))
    assert script is not None
    assert "inf, nan = float('inf'), float('nan')" in script
    assert "x = np.array([[1.0, 2.0, -inf], [0.5, 0.25, 4.0]], dtype=np.float64).astype(np.float32)" in script
    assert "x:bfloat16:base.T" in script
    assert script.endswith("print('softmax =', float(result), 'but the oracle gives inf')")


def test_a_large_array_travels_as_its_bytes():
    large = np.arange(100, dtype=np.float16)
    script = native_script(_call(_Spelled(), "softmax", "forward", {"x": large}, axis=0))
    assert script is not None and script.startswith("import base64\n") and "dtype=np.float16" in script


def test_no_script_without_a_native_spelling():
    assert native_script(_call(object(), "softmax", "forward", {"x": X})) is None
    assert native_script(_call(_Silent(), "softmax", "forward", {"x": X})) is None


def test_a_seeded_input_is_made_from_its_seed():
    recipe = Seeded((2, 3), "float32", seed=1, stream="x", axis=1)
    script = native_script(_call(_Spelled(), "softmax", "forward", {"x": X}, recipes={"x": recipe}))
    assert script is not None and "rng = np.random.default_rng([1, " in script and "base64" not in script


def test_an_empty_array_keeps_its_shape():
    empty = np.zeros((0, 3), np.float32)
    source = array_source(empty, dtype_source="np.float32")
    assert eval(source, {"np": np}).shape == (0, 3)


@pytest.fixture(scope="module")
def adapters() -> dict[str, Any]:
    return {}


def _adapter(adapters: dict[str, Any], name: str) -> Any:
    framework = next(framework for framework, (_, names) in FRAMEWORKS.items() if name in names)
    pytest.importorskip(FRAMEWORKS[framework][0], reason=f"{framework} is not installed")
    if name not in adapters:
        adapters[name] = load_adapter(name)
    return adapters[name]


def _as_float64(adapter: Any, value: Any, namespace: dict[str, Any]) -> np.ndarray:
    """A framework's array as float64 NumPy, as the adapter's native scripts make one
    (torch's, mlx's and paddle's bfloat16 have no NumPy form); ``namespace`` is the script's."""
    return eval(adapter._native_numpy, {**namespace, "value": value})


def _run_in_this_process(script: str, namespace: dict[str, Any], folder: Path) -> None:
    """``script`` run here from a file of its own, as a user runs it (paddle.jit.to_static
    reads the source of the functions it converts); the framework's remarks to its user while
    it runs (warnings) are let pass."""
    (folder / "native.py").write_text(script)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        exec(compile(script, str(folder / "native.py"), "exec"), namespace)


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("path", PATHS)
def test_native_script_computes_what_the_adapter_computes(adapters, path, op, quantity, tmp_path):
    adapter = _adapter(adapters, path)
    arrays = {"x": X, **{name: np.array([VECTOR_VALUES[name]] * 2, np.float32) for name in VECTORS[quantity]}}
    call = _call(adapter, op, quantity, arrays)
    if getattr(adapter, call.method) is None:
        pytest.skip(f"{path} does not provide {call.method}")
    expected = getattr(adapter, call.method)(*arrays.values(), call.axis)
    index = (1, 2, 1, 0) if quantity == "jacobian" else (1, 2)
    script = native_script(call, WorstElement(call.method, index, 0.0, 0.125))
    assert script is not None
    printed = io.StringIO()
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(printed):
        _run_in_this_process(script, namespace, tmp_path)
    np.testing.assert_array_equal(_as_float64(adapter, namespace["result"], namespace), expected.astype(np.float64))
    label = f"{call.method}[{', '.join(map(str, index))}] ="
    assert printed.getvalue() == f"{label} {float(expected[index])!r} but the oracle gives 0.125\n"


@pytest.mark.parametrize("path", ["torch", "jax", "tensorflow", "mlx", "paddle", "paddle-static"])
def test_native_script_gives_a_view_and_bfloat16_as_the_adapter_does(adapters, path, tmp_path):
    """bfloat16 where the adapter offers it (Paddle's CPU build has no bfloat16 softmax: float32)."""
    adapter = _adapter(adapters, path)
    dtype = ml_dtypes.bfloat16 if "bfloat16" in adapter.dtypes else np.float32
    base = np.array([[0.5, 3.0], [-1.25, 0.0], [2.0, -0.75]], dtype=dtype)
    cotangent = np.array([[1.0, -2.0, 0.5], [1.0, -2.0, 0.5]], dtype=dtype)
    call = _call(adapter, "softmax", "vjp", {"x": base.T, "cotangent": cotangent}, views={"x": View(base, "base.T")})
    expected = adapter.vjp(base.T, cotangent, 1)
    script = native_script(call, WorstElement("vjp", (0, 1), 0.0, 0.0))
    assert script is not None
    namespace: dict[str, Any] = {}
    with contextlib.redirect_stdout(io.StringIO()):
        _run_in_this_process(script, namespace, tmp_path)
    if path == "torch":
        assert namespace["x"].stride() == (1, 2) and str(namespace["x"].dtype) == "torch.bfloat16"
    if path == "paddle" and dtype == np.float32:  # the NumPy memory itself, strides and all
        assert not namespace["x"].is_contiguous()
    np.testing.assert_array_equal(_as_float64(adapter, namespace["result"], namespace), expected.astype(np.float64))


def test_a_real_failure_reproduces_without_this_suite(cli, tmp_path: Path):
    """torch's known divergence: autograd.functional.jacobian raises on a zero-size input."""
    result = cli(
        "run",
        "--frameworks",
        "torch",
        "--properties",
        "empty_inputs",
        "--dtypes",
        "float32",
        "--profile",
        "ci",
        timeout=300,
    )
    records = result.records("xfailed")
    assert records, result.stderr[-3000:]
    script = records[0]["native_reproducer"]
    assert "torch.autograd.functional.jacobian(f, x)" in script
    (tmp_path / "native.py").write_text(script)
    completed = subprocess.run(
        [sys.executable, "-c", "import sys; sys.modules['conformance'] = None; exec(open('native.py').read())"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert completed.returncode != 0
    assert completed.stderr.rstrip().endswith("RuntimeError: stack expects a non-empty TensorList")


def test_a_wrong_value_found_by_compare_carries_its_native_script(adapters, monkeypatch):
    """The way every accuracy property fails: compare() names the worst element, and the
    failure carries the script that prints it beside the oracle's value. An adapter whose op
    is not the framework's (a user's function in its place) has none."""
    adapter = _adapter(adapters, "torch")
    replaced = copy.copy(adapter)
    replaced._namespace = types.SimpleNamespace(softmax=lambda x, axis: x)
    assert replaced.native_program("softmax", "forward", 1, (NativeArgument("x", "float32"),)) is None
    subject = Subject(adapter, "torch", "torch")
    _buggy(monkeypatch, "lambda x, dim: _softmax(x, dim) * 1.5")
    with pytest.raises(ConformanceFailure) as raised:
        compare(subject, "softmax", "forward", Argument(X), 1)
    script, worst = raised.value.native_reproducer, raised.value.worst
    assert script is not None and worst is not None and "return torch.softmax(x, 1)" in script
    index = ", ".join(map(str, worst.index))
    assert script.endswith(
        f"print('softmax[{index}] =', float(result[{index}]), 'but the oracle gives {worst.expected!r}')"
    )


def test_the_record_keeps_it_and_the_report_shows_it_beside_the_reproducer(tmp_path: Path):
    script = "import torch\nprint(torch.softmax(torch.zeros(2), 0))"
    record = Record(
        adapter="torch",
        spec="torch",
        property="forward_accuracy",
        op="softmax",
        dtype="float32",
        status="failed",
        message="softmax[0] = 0.6, but the oracle gives 0.5 [torch softmax axis=0 float32]",
        framework="torch",
        reproducer="print('suite')",
        native_reproducer=script,
    )
    assert Record.from_dict(record.as_dict()) == record
    metadata = {"python": "3.12.1", "platform": "p", "profile": "ci", "seed": 1, "timestamp": "2025-01-01T00:00:00Z"}
    document = Document({**metadata, "frameworks": {}}, (record,)).as_dict()
    report.write_html([document], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert f'<pre id="g-1-native"><code>{html.escape(script)}</code></pre>' in page
    assert "The smallest in torch's own API" in page
    markdown = report.render_markdown([document])
    assert script in markdown


def test_a_group_shows_the_smallest_native_script_of_any_member(tmp_path: Path):
    """The smallest reproducer's record may have no native script (a user's adapter beside a
    built-in one): the card shows the smallest native script of the group, and whose it is."""
    metadata = {"python": "3.12.1", "platform": "p", "profile": "ci", "seed": 1, "timestamp": "2025-01-01T00:00:00Z"}
    common: dict[str, Any] = {"property": "forward_accuracy", "op": "softmax", "dtype": "float32", "status": "failed"}
    records = (
        Record(
            adapter="mine",
            spec="mine.py:Mine",
            message="softmax[0] = 0.6, but the oracle gives 0.5 [mine softmax axis=0 float32]",
            reproducer="print(1)",
            **common,
        ),
        *(
            Record(
                adapter=name,
                spec=name,
                message="softmax[1] = 0.7, but the oracle gives 0.5 [torch softmax axis=0 float32]",
                framework="torch",
                reproducer="print('long reproducer')",
                native_reproducer=native,
                **common,
            )
            for name, native in [
                ("torch", "import torch\nprint('the shorter native one')"),
                ("torch-func", "import torch\nprint('a much longer native one')"),
            ]
        ),
    )
    document = Document({**metadata, "frameworks": {}}, records).as_dict()
    report.write_html([document], tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text(encoding="utf-8")
    assert "the shorter native one" in page and "much longer" not in page
    assert "The smallest in torch's own API (torch · forward_accuracy" in page


# -- every failure of a built-in adapter has one --------------------------------------

# A torch build with bugs in it, as a framework's issue would describe it: the native scripts
# run under it too, without this suite, and must show each bug. float32: a wrong answer from
# any thread but the main one; float64: a batch (2-d or more) scaled; float16: every forward
# pass without autograd written into one buffer per shape and dtype, which the next overwrites.
BUGGY_TORCH = """
import threading
import torch

_softmax = torch.softmax
_buffers = {}


def _buggy_softmax(x, dim):
    out = _softmax(x, dim)
    if x.dtype == torch.float32 and threading.current_thread() is not threading.main_thread():
        return out * 1.5
    if x.dtype == torch.float64 and x.ndim > 1:
        return out * 1.5
    if x.dtype == torch.float16 and not out.requires_grad:
        return _buffers.setdefault((tuple(x.shape), x.dtype), torch.empty_like(out)).copy_(out)
    return out


# right forward; a backward wrong on one-hot cotangents only (what a Jacobian's rows are) and a
# JVP wrong everywhere: its VJP is not its Jacobian's transpose, nor its JVP's adjoint
class _BuggyLogSoftmax(torch.autograd.Function):

    @staticmethod
    def forward(x, dim):
        return _log_softmax(x, dim)

    @staticmethod
    def setup_context(ctx, inputs, output):
        ctx.dim = inputs[1]
        ctx.save_for_backward(output)
        ctx.save_for_forward(output)

    @staticmethod
    def backward(ctx, g):
        (out,) = ctx.saved_tensors
        grad = g - out.exp() * g.sum(ctx.dim, keepdim=True)
        return grad * (1.5 if int((g != 0).sum()) == 1 else 1.0), None

    @staticmethod
    def jvp(ctx, t, _):
        (out,) = ctx.saved_tensors
        return (t - (out.exp() * t).sum(ctx.dim, keepdim=True)) * 1.5


_log_softmax = torch.log_softmax
torch.softmax = _buggy_softmax
torch.log_softmax = _BuggyLogSoftmax.apply
"""

BUGGY_ADAPTER = """
import buggy_torch  # noqa: F401
from conformance.adapters.torch_adapter import TorchAutograd  # the built-in class itself
"""


def _runs_without_this_suite(script: str, folder: Path, prelude: str = "") -> subprocess.CompletedProcess[str]:
    """``script`` run in a fresh interpreter that cannot import this suite, after ``prelude``."""
    (folder / "native.py").write_text(script)
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; sys.modules['conformance'] = None\n"
            f"{prelude}\nexec(compile(open('native.py').read(), 'native.py', 'exec'))",
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_two_call_failures_of_a_built_in_path_carry_native_scripts_that_show_them(cli, tmp_path: Path):
    """A row alone vs in the batch, concurrent callers vs one alone, a result overwritten by the
    next call, a VJP vs its own Jacobian: real failure records of the built-in torch path under
    a buggy torch."""
    pytest.importorskip("torch")
    (tmp_path / "buggy_torch.py").write_text(BUGGY_TORCH)
    (tmp_path / "buggy_adapter.py").write_text(BUGGY_ADAPTER)
    result = cli(
        "run",
        "--adapter",
        f"{tmp_path / 'buggy_adapter.py'}:TorchAutograd",
        "--properties",
        "batch_equals_rows,concurrent_calls_agree,results_are_not_reused,vjp_equals_jacobian_transpose",
        "--dtypes",
        "float16,float32,float64",
        "--profile",
        "ci",
        timeout=300,
        env={"PYTHONPATH": str(tmp_path)},
    )
    failed = {
        (record["property"], record["dtype"]): record
        for record in result.records("failed")
        if record["op"] == ("log_softmax" if record["property"] == "vjp_equals_jacobian_transpose" else "softmax")
    }
    prelude = f"sys.path.insert(0, {str(tmp_path)!r}); import buggy_torch"
    for key, shown in [
        (("batch_equals_rows", "float64"), r"alone: .+? = (\S+) in the batch: .+? = (\S+) the oracle gives \S+$"),
        (("concurrent_calls_agree", "float32"), r"alone: (\S+) from 4 threads at once: (\S+)$"),
        (("results_are_not_reused", "float16"), r"first and later share memory: (True)()$"),
        (("vjp_equals_jacobian_transpose", "float32"), r"\] = (\S+) but its own .* gives (\S+)$"),
    ]:
        assert key in failed, (key, sorted(failed), result.stderr[-3000:])
        script = failed[key]["native_reproducer"]
        assert script and "conformance" not in script, key
        completed = _runs_without_this_suite(script, tmp_path, prelude)
        assert completed.returncode == 0, completed.stderr[-3000:]
        printed = re.search(shown, completed.stdout.strip().splitlines()[-1])
        assert printed is not None and printed[1] != printed[2], (key, completed.stdout[-500:])


@pytest.mark.parametrize("kind", ["logits", "normal", "ones"])
@pytest.mark.parametrize("dtype", ["float16", "bfloat16", "float32", "float64"])
def test_a_seeded_input_is_made_again_bit_for_bit_by_numpy_alone(kind, dtype):
    recipe = Seeded((300, 517), dtype, 11, "softmax/x", 0, kind, 1 / 16 if kind == "normal" else None)
    for made, name in [(recipe.build(), "x"), (SeededRow(recipe, 299).build(), "row")]:
        namespace: dict[str, Any] = {"np": np}
        exec("\n".join((recipe if name == "x" else SeededRow(recipe, 299)).native_source(name)), namespace)
        again = namespace[name].astype(made.dtype)  # bfloat16: float32 that hold bfloat16 values
        assert np.array_equal(np.ascontiguousarray(again).view(np.uint8), np.ascontiguousarray(made).view(np.uint8))


def test_a_2_to_the_24_element_input_is_made_again_bit_for_bit():
    recipe = Seeded((65536, 256), "float16", 3, "softmax/x", 1, "logits")
    namespace: dict[str, Any] = {"np": np}
    exec("\n".join(recipe.native_source("x")), namespace)
    assert np.array_equal(namespace["x"].view(np.uint16), recipe.build().view(np.uint16))


def test_a_subclass_or_a_users_function_gets_no_native_script(adapters):
    from conformance.adapters import from_torch
    from conformance.adapters.torch_adapter import TorchAutograd

    class Edited(TorchAutograd):
        def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
            return super().softmax(x, axis) * 2

    x = (NativeArgument("x", "float32"),)
    assert _adapter(adapters, "torch").native_program("softmax", "forward", 1, x) is not None
    assert Edited().native_program("softmax", "forward", 1, x) is None
    assert from_torch(lambda t, axis: t).native_program("softmax", "forward", 1, x) is None


# Each a bug torch.softmax could have, made in this process and again before the native script
# runs, and what that script then prints.
FORM_BUGS = {
    "shape": ("lambda x, dim: _softmax(x, dim).reshape(-1)", r"shape: \(6,\) but the oracle gives \(2, 3\)"),
    "dtype": ("lambda x, dim: _softmax(x, dim).double()", r"dtype: torch.float64 for float32 input"),
    "aliasing": ("lambda x, dim: x", r"shares memory with x: True"),
    "in place": ("lambda x, dim: _softmax(x.mul_(2), dim)", r"x unchanged, bit for bit: False"),
}


# The module each framework's adapters look the op up on, by framework and op.
OP_MODULES = {
    "torch": {"softmax": "torch", "log_softmax": "torch"},
    "mlx": {"softmax": "mlx.core", "log_softmax": "mlx.nn"},
    "paddle": {"softmax": "paddle.nn.functional", "log_softmax": "paddle.nn.functional"},
}


def _buggy(patch: Any, source: str, framework: str = "torch", op: str = "softmax") -> str:
    """Put the bug ``source`` into the framework's ``op`` here (undone after the test), and
    return the prelude that does the same in a fresh interpreter. ``source`` calls the right op
    as ``_softmax`` or ``_log_softmax``, and may use the op's module as ``_bugged``."""
    module_name = OP_MODULES[framework][op]
    module = importlib.import_module(module_name)
    prelude = f"import {module_name} as _bugged\n_{op} = _bugged.{op}\n_bugged.{op} = {source}"
    patch.setattr(module, op, eval(source, {f"_{op}": getattr(module, op), "_bugged": module}))
    return prelude


@pytest.mark.parametrize("bug", FORM_BUGS)
def test_a_wrong_form_of_the_answer_has_a_native_script_that_shows_it(adapters, monkeypatch, tmp_path, bug):
    source, shown = FORM_BUGS[bug]
    subject = Subject(_adapter(adapters, "torch"), "torch", "torch")
    prelude = _buggy(monkeypatch, source)
    with pytest.raises(ConformanceFailure) as raised:
        compare(subject, "softmax", "forward", Argument(X.copy()), 1)
    script = raised.value.native_reproducer
    assert script is not None
    completed = _runs_without_this_suite(script, tmp_path, prelude)
    assert re.search(shown, completed.stdout), (completed.stdout, completed.stderr[-2000:])


def test_a_timeout_has_a_native_script_that_makes_the_call(adapters, monkeypatch):
    subject = Subject(_adapter(adapters, "torch"), "torch", "torch", call_timeout=0.2)
    _buggy(monkeypatch, "lambda x, dim: __import__('time').sleep(5)")
    with pytest.raises(AdapterCallError) as raised:
        compare(subject, "softmax", "forward", Argument(X), 1)
    script = raised.value.native_reproducer
    assert script is not None and "# the call below gave no answer within 0.2 s" in script
    assert script.splitlines()[-2].strip() == "result = program(x)"


def test_a_failure_after_earlier_calls_makes_them_first(adapters, monkeypatch, tmp_path):
    subject = Subject(_adapter(adapters, "torch"), "torch", "torch")
    earlier = run(subject, "softmax", "forward", Argument(X[::-1].copy()), 1).call
    prelude = _buggy(monkeypatch, "lambda x, dim: _softmax(x, dim) * 1.5")
    with pytest.raises(ConformanceFailure) as raised:
        compare(subject, "softmax", "forward", Argument(X), 1, earlier=[earlier])
    script = raised.value.native_reproducer
    assert script is not None and "turn1_x = " in script
    completed = _runs_without_this_suite(script, tmp_path, prelude)
    worst = raised.value.worst
    assert worst is not None and completed.stdout.endswith(f"but the oracle gives {worst.expected!r}\n")


def test_a_failure_on_a_seeded_input_makes_it_again_natively(adapters, monkeypatch, tmp_path):
    recipe = Seeded((400, 300), "float32", 5, "softmax/x", 1, "logits")
    subject = Subject(_adapter(adapters, "torch"), "torch", "torch")
    prelude = _buggy(monkeypatch, "lambda x, dim: _softmax(x, dim) * 1.5")
    with pytest.raises(ConformanceFailure) as raised:
        compare(subject, "softmax", "forward", Argument(recipe.build(), recipe=recipe), 1)
    script = raised.value.native_reproducer
    assert script is not None and "default_rng" in script and "base64" not in script
    completed = _runs_without_this_suite(script, tmp_path, prelude)
    worst = raised.value.worst
    assert worst is not None
    printed = f"softmax{list(worst.index)} = {worst.value!r} but the oracle gives {worst.expected!r}\n"
    assert completed.stdout == printed


# -- MLX and Paddle: the same failures, in their own words -----------------------------

OTHER_PATHS = [name for framework in ("mlx", "paddle") for name in FRAMEWORKS[framework][1]]
SCALED = "lambda x, dim: _{op}(x, dim) * 1.5"  # wrong forward, so every derivative is wrong too


def _fresh(path: str) -> Any:
    """A new adapter of ``path`` (a compiled path keeps the programs it built with the op as it was)."""
    framework = next(framework for framework, (_, names) in FRAMEWORKS.items() if path in names)
    pytest.importorskip(FRAMEWORKS[framework][0], reason=f"{framework} is not installed")
    return load_adapter(path)


def _framework(path: str) -> str:
    return path.split("-")[0]


def _failure(
    adapter: Any,
    path: str,
    op: str,
    quantity: Quantity,
    x: Argument,
    vectors: list[Argument] | None = None,
    **options: Any,
) -> ConformanceFailure:
    """What compare() raises for ``quantity`` of ``op`` on ``x`` (the vectors, by default from VECTOR_VALUES)."""
    if getattr(adapter, method_name(op, quantity)) is None:  # type: ignore[arg-type]
        pytest.skip(f"{path} does not provide {method_name(op, quantity)}")  # type: ignore[arg-type]
    if vectors is None:
        vectors = [Argument(np.array([VECTOR_VALUES[name]] * 2, x.value.dtype)) for name in VECTORS[quantity]]
    with pytest.raises(ConformanceFailure) as raised:
        compare(Subject(adapter, path, path), op, quantity, x, 1, vectors, **options)  # type: ignore[arg-type]
    return raised.value


def _shows_worst(failure: ConformanceFailure, completed: subprocess.CompletedProcess[str]) -> None:
    """The script ran and printed the adapter's own worst element beside the oracle's value."""
    worst = failure.worst
    assert worst is not None and completed.returncode == 0, completed.stderr[-3000:]
    label = f"{worst.quantity}{list(worst.index)}" if len(worst.index) else worst.quantity
    assert (
        completed.stdout.strip().splitlines()[-1]
        == f"{label} = {worst.value!r} but the oracle gives {worst.expected!r}"
    )


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("op", ["softmax", "log_softmax"])
@pytest.mark.parametrize("path", OTHER_PATHS)
def test_a_wrong_value_of_mlx_or_paddle_reproduces_in_its_own_words(monkeypatch, tmp_path, path, op, quantity):
    """Every quantity of both ops, through the framework's own autodiff (mx.vjp, mx.jvp,
    mx.vmap; paddle.grad, paddle.incubate.autograd.jvp, to_static): the script prints the
    adapter's wrong value beside the oracle's, in an interpreter that cannot import this suite."""
    adapter = _fresh(path)
    prelude = _buggy(monkeypatch, SCALED.format(op=op), _framework(path), op)
    failure = _failure(adapter, path, op, quantity, Argument(X.copy()))
    script = failure.native_reproducer
    assert script is not None and "conformance" not in script
    _shows_worst(failure, _runs_without_this_suite(script, tmp_path, prelude))


@pytest.mark.parametrize("path", OTHER_PATHS)
def test_mlx_or_paddle_failure_after_earlier_calls_makes_them_first(monkeypatch, tmp_path, path):
    adapter = _fresh(path)
    prelude = _buggy(monkeypatch, SCALED.format(op="softmax"), _framework(path))  # before a path compiles it
    earlier = run(Subject(adapter, path, path), "softmax", "forward", Argument(X[::-1].copy()), 1).call
    failure = _failure(adapter, path, "softmax", "forward", Argument(X.copy()), earlier=[earlier])
    assert failure.native_reproducer is not None and "turn1_x = " in failure.native_reproducer
    _shows_worst(failure, _runs_without_this_suite(failure.native_reproducer, tmp_path, prelude))


@pytest.mark.parametrize("path", OTHER_PATHS)
def test_mlx_or_paddle_failure_on_a_seeded_input_makes_it_again_natively(monkeypatch, tmp_path, path):
    recipe = Seeded((400, 300), "float32", 5, "softmax/x", 1, "logits")
    seeded_cotangent = Seeded((400, 300), "float32", 5, "softmax/cotangent", 1, "logits")
    cotangent = Argument(seeded_cotangent.build(), recipe=seeded_cotangent)
    adapter = _fresh(path)
    prelude = _buggy(monkeypatch, SCALED.format(op="softmax"), _framework(path))
    failure = _failure(adapter, path, "softmax", "vjp", Argument(recipe.build(), recipe=recipe), [cotangent])
    script = failure.native_reproducer
    assert script is not None and "default_rng" in script and "base64" not in script
    _shows_worst(failure, _runs_without_this_suite(script, tmp_path, prelude))


# Each a bug the framework's softmax could have, and what the native script then prints.
OTHER_FORM_BUGS = {
    ("mlx", "shape"): ("lambda x, dim: _softmax(x, dim).reshape(-1)", r"shape: \(6,\) but the oracle gives \(2, 3\)"),
    ("mlx", "dtype"): (
        "lambda x, dim: _softmax(x, dim).astype(_bugged.float64)",
        r"dtype: mlx.core.float64 for float32",
    ),
    ("mlx", "error"): ("lambda x, dim: x.no_such_method()", r"AttributeError: .*no_such_method"),
    ("paddle", "shape"): (
        "lambda x, dim: _softmax(x, dim).reshape([-1])",
        r"shape: \(6,\) but the oracle gives \(2, 3\)",
    ),
    ("paddle", "dtype"): ("lambda x, dim: _softmax(x, dim).astype('float64')", r"dtype: paddle.float64 for float32"),
    ("paddle", "error"): ("lambda x, dim: x.no_such_method()", r"AttributeError: .*no_such_method"),
}


@pytest.mark.parametrize("bug", ["shape", "dtype", "error"])
@pytest.mark.parametrize("path", OTHER_PATHS)
def test_a_wrong_form_from_mlx_or_paddle_has_a_native_script_that_shows_it(monkeypatch, tmp_path, path, bug):
    source, shown = OTHER_FORM_BUGS[_framework(path), bug]
    adapter = _fresh(path)
    prelude = _buggy(monkeypatch, source, _framework(path))
    with pytest.raises((ConformanceFailure, AdapterCallError)) as raised:
        compare(Subject(adapter, path, path), "softmax", "forward", Argument(X.copy()), 1)
    script = raised.value.native_reproducer
    assert script is not None
    completed = _runs_without_this_suite(script, tmp_path, prelude)
    assert re.search(shown, completed.stdout + completed.stderr), (completed.stdout, completed.stderr[-2000:])


def test_paddle_writing_into_its_input_has_a_native_script_that_shows_it(monkeypatch, tmp_path):
    """The dynamic graph reads the caller's memory itself (paddle.from_dlpack): a write into
    the input is one into the caller's array, in the script as in the adapter."""
    adapter = _fresh("paddle")
    prelude = _buggy(monkeypatch, "lambda x, dim: _softmax(x.scale_(2.0), dim)", "paddle")
    with pytest.raises(ConformanceFailure) as raised:
        compare(Subject(adapter, "paddle", "paddle"), "softmax", "forward", Argument(X.copy()), 1)
    script = raised.value.native_reproducer
    assert script is not None and "paddle.from_dlpack(x)" in script
    completed = _runs_without_this_suite(script, tmp_path, prelude)
    assert "x unchanged, bit for bit: False" in completed.stdout, completed.stderr[-2000:]
