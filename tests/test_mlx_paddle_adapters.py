"""What the MLX and Paddle adapters do beyond the shared checks of test_builtin_adapters: how
inputs cross into the framework, and why some capabilities or dtypes are not offered.

Neither framework is installed by default (scripts/setup.sh: SETUP_EXTRA_FRAMEWORKS=mlx,paddle);
without one, its tests skip, naming it.
"""

from __future__ import annotations

import subprocess
import sys
from typing import Any

import ml_dtypes
import numpy as np
import pytest

from conformance import load_adapter
from conformance.truth.dtypes import DTYPE_NAMES


def _framework(module: str, adapter: str) -> Any:
    return pytest.importorskip(module, reason=f"{module.split('.')[0]} is not installed ({adapter} needs it)")


# -- MLX ----------------------------------------------------------------------------------


def test_mlx_gets_each_dtype_exactly_and_the_memory_order() -> None:
    """``mx.array`` of a float64 array is float32 unless told; bfloat16 crosses bit for bit; a
    transposed array reaches MLX transposed (so its kernels see a strided input)."""
    mx = _framework("mlx.core", "mlx")
    adapter = load_adapter("mlx")
    x = np.random.default_rng(0).standard_normal((4, 5))
    assert adapter._to_framework(x).dtype == mx.float64
    assert adapter._to_framework(x.astype(np.float16)).dtype == mx.float16
    half = x.astype(ml_dtypes.bfloat16)
    assert np.array_equal(adapter._to_numpy(adapter._to_framework(half)).view(np.uint16), half.view(np.uint16))
    transposed = adapter._to_framework(x.T)
    assert transposed.shape == (5, 4) and np.array_equal(np.array(transposed), x.T)
    assert adapter._to_framework(np.array(1.5)).shape == ()  # 0-d stays 0-d
    assert adapter.dtypes == DTYPE_NAMES  # float64 too, on the CPU


def test_mlx_compile_caches_one_program_per_op_quantity_and_axis() -> None:
    _framework("mlx.core", "mlx-compile")
    adapter = load_adapter("mlx-compile")
    x = np.random.default_rng(1).standard_normal((3, 4)).astype(np.float32)
    for shape in ((3, 4), (2, 5)):
        adapter.softmax(x.reshape(-1)[: np.prod(shape)].reshape(shape), -1)
    adapter.softmax(x, 0)
    assert len(adapter._compiled) == 2  # axis -1 (two shapes, one program) and axis 0


# -- Paddle -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def paddle() -> Any:
    return _framework("paddle", "paddle")


def test_paddle_reads_the_numpy_memory_itself(paddle: Any) -> None:
    """Zero copy, strides kept: a write Paddle makes into its input is a write into the
    caller's array, which the suite's purity check then sees."""
    adapter = load_adapter("paddle")
    x = np.zeros((4, 6))
    view = x[:, ::2]
    tensor = adapter._to_framework(view)
    assert tuple(tensor.shape) == (4, 3) and not tensor.is_contiguous()
    tensor[0, 1] = 5.0
    assert x[0, 2] == 5.0


def test_paddle_offers_the_half_types_only_where_it_has_kernels_for_them(paddle: Any) -> None:
    adapter = load_adapter("paddle")
    assert {"float32", "float64"} <= set(adapter.dtypes)
    for name in ("float16", "bfloat16"):
        if name in adapter.dtypes:
            continue
        x = paddle.zeros([2], dtype="float32").astype(name)
        with pytest.raises(RuntimeError, match="not registered"):
            paddle.nn.functional.softmax(x, axis=0)


@pytest.mark.parametrize("name", ["paddle", "paddle-static"])
def test_paddle_has_no_second_derivative_of_log_softmax_so_neither_path_offers_one(paddle: Any, name: str) -> None:
    """Once Paddle can differentiate log_softmax's gradient, this fails: then provide
    log_softmax_jvp and log_softmax_vjp_derivative."""
    adapter = load_adapter(name)
    assert adapter.log_softmax_jvp is None and adapter.log_softmax_vjp_derivative is None
    from paddle.framework import core

    core.set_prim_eager_enabled(True)
    try:
        x = paddle.to_tensor(np.arange(4.0), stop_gradient=False)
        with pytest.raises(RuntimeError, match="log_softmax_grad doesn't have any grad op"):
            (grad,) = paddle.grad([paddle.nn.functional.log_softmax(x, axis=0)], [x], create_graph=True)
            paddle.grad([grad], [x], [paddle.ones_like(x)])
    finally:
        core.set_prim_eager_enabled(False)


def test_paddle_static_programs_leave_their_inputs_alone(paddle: Any) -> None:
    """The programs avoid ``t.detach()`` of an input, after which Paddle 3.3's static program
    writes into the input's memory (see the adapter's docstring); only the JVP, through
    ``paddle.incubate.autograd.jvp``, still does it, to the adapter's copy."""
    adapter = load_adapter("paddle-static")
    rng = np.random.default_rng(2)
    x, g, u = (rng.standard_normal((3, 4)) for _ in range(3))
    for program, arguments in (("vjp", (g,)), ("jacobian", ()), ("vjp_derivative", (g, u))):
        tensor = paddle.to_tensor(x)
        adapter._program("softmax", program, -1, (x, *arguments))(tensor, *map(paddle.to_tensor, arguments))
        assert np.array_equal(tensor.numpy(), x), program


def test_paddle_static_runs_on_copies(paddle: Any) -> None:
    """A from_dlpack tensor freed after static programs ran on it can deadlock Paddle 3.3."""
    adapter = load_adapter("paddle-static")
    x = np.zeros((2, 3))
    tensor = adapter._to_framework(x)
    tensor[0, 0] = 1.0
    assert x[0, 0] == 0.0
    assert load_adapter("paddle")._to_framework(x) is not None  # the dynamic graph shares (above)


_CONCURRENT_GRAD = """
import sys, threading, warnings
warnings.filterwarnings("ignore")
import numpy as np, paddle
rng = np.random.default_rng(0)
inputs = [rng.standard_normal(5000) for _ in range(4)]
def vjp(x):
    t = paddle.to_tensor(x, stop_gradient=False)
    return paddle.grad([paddle.nn.functional.softmax(t, axis=-1)], [t], [paddle.to_tensor(x)])[0].numpy()
alone = [vjp(x) for x in inputs]
barrier, wrong = threading.Barrier(4), []
def caller(i):
    for _ in range(50):
        barrier.wait()
        wrong.append(not np.allclose(vjp(inputs[i]), alone[i]))
sys.setswitchinterval(1e-6)
threads = [threading.Thread(target=caller, args=(i,)) for i in range(4)]
[thread.start() for thread in threads]
[thread.join() for thread in threads]
print("wrong answers:", sum(wrong), "of", len(wrong))
sys.exit(1 if any(wrong) else 0)
"""


def test_paddle_paths_declare_that_they_are_not_thread_safe(paddle: Any) -> None:
    """Paddle's autograd keeps process-wide state: paddle.grad from four threads at once raises
    ("Cannot copy backward graph"), crashes or answers wrong. Once it runs clean, this fails:
    then drop ``thread_safe = False``."""
    assert all(load_adapter(name).thread_safe is False for name in ("paddle", "paddle-static"))
    try:
        completed = subprocess.run(
            [sys.executable, "-c", _CONCURRENT_GRAD], capture_output=True, text=True, timeout=120
        )
    except subprocess.TimeoutExpired:
        return  # a hang is not thread-safe either
    assert completed.returncode != 0, completed.stdout + completed.stderr[-2000:]


def test_mlx_paths_do_not_declare_themselves_unsafe_for_threads() -> None:
    """MLX's transforms answered four threads at once right in every run: concurrent_calls_agree
    checks them."""
    _framework("mlx.core", "mlx")
    assert all(getattr(load_adapter(name), "thread_safe", True) is True for name in ("mlx", "mlx-compile"))


# -- not installed ------------------------------------------------------------------------


def test_a_framework_that_is_not_installed_is_skipped_with_one_line(monkeypatch: Any, capsys: Any) -> None:
    """``run --frameworks mlx,paddle`` where neither is installed: one line for each, then the
    verdict that nothing was checked; no worker starts, and no known divergence is audited."""
    from conformance import cli
    from conformance.running import loading

    monkeypatch.setattr(loading, "_findable", lambda module: module not in ("mlx.core", "paddle"))
    assert cli.main(["run", "--frameworks", "mlx,paddle", "--plain"]) == cli.EXIT_FAILED
    captured = capsys.readouterr()
    assert captured.err.splitlines() == [
        "skipping mlx: it is not installed here (no module mlx.core); pip install 'softmax-conformance[mlx]'",
        "skipping paddle: it is not installed here (no module paddle); pip install 'softmax-conformance[paddle]'",
        "FAIL: nothing to check: no framework asked for is installed here",
    ]
    assert captured.out == ""
    assert cli.main(["run", "--frameworks", "mlx,mxnet"]) == cli.EXIT_USAGE  # an unknown name is still a usage error


def test_a_folder_named_like_a_framework_does_not_count_as_it(tmp_path: Any, monkeypatch: Any) -> None:
    """Any folder on the path imports as a namespace package (``cd /tmp`` with a /tmp/mlx), so
    MLX counts as installed only when ``mlx.core``, the module the adapter imports, is there."""
    from conformance.adapters import FRAMEWORKS
    from conformance.running import loading

    assert FRAMEWORKS["mlx"][0] == "mlx.core"
    (tmp_path / "strayframework").mkdir()
    monkeypatch.syspath_prepend(str(tmp_path))
    assert loading._findable("strayframework") and not loading._findable("strayframework.core")
