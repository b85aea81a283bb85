"""The built-in framework adapters: wired to their framework, right on small inputs, dtype-faithful.

Every test runs for every AD path of every installed framework (torch, jax, tensorflow,
mlx, paddle); a framework that is not installed is skipped, naming it. Shapes are small and
adapters are shared per module, so compiled paths (jit, tf.function, XLA, torch.compile,
mx.compile, to_static) compile few graphs.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest

from conformance import load_adapter, oracle
from conformance.adapter import capabilities, method_name, provided_method
from conformance.adapters import BUILTIN_ADAPTERS, FRAMEWORKS
from conformance.adapters._common import DEVICE_ENVIRONMENT_VARIABLE
from conformance.truth import tolerance
from conformance.truth.dtypes import DTYPE_NAMES, DTYPES
from conformance.truth.oracle import OPS, QUANTITIES

# Warnings from torch 2.13 itself, about its own use of torch.jit.script / script_method:
# torch.autograd.forward_ad loads its JVP decompositions lazily on the first make_dual, and
# inductor's compile path imports modules that script; both now warn "is deprecated".
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script(_method)?` is deprecated:DeprecationWarning")

SHAPE = (5, 4)  # one shape throughout (the batched Jacobian's), so compile caches are shared

# (framework, adapter name) for every built-in framework adapter
ADAPTERS = [(framework, name) for framework, (_, names) in FRAMEWORKS.items() if framework != "numpy" for name in names]
# where each framework's softmax / log_softmax live, as the adapters call them: (package, attribute)
NAMESPACES = {
    "torch": {"softmax": ("torch", ""), "log_softmax": ("torch", "")},
    "jax": {"softmax": ("jax", "nn"), "log_softmax": ("jax", "nn")},
    "tensorflow": {"softmax": ("tensorflow", "nn"), "log_softmax": ("tensorflow", "nn")},
    "mlx": {"softmax": ("mlx.core", ""), "log_softmax": ("mlx.nn", "")},
    "paddle": {"softmax": ("paddle.nn.functional", ""), "log_softmax": ("paddle.nn.functional", "")},
}
# capabilities a path does not provide, because its framework cannot compute them
NOT_PROVIDED = {
    # Paddle 3.3: log_softmax_grad has no grad op, even with its composite backward rules
    "paddle": {"log_softmax_jvp", "log_softmax_vjp_derivative"},
    "paddle-static": {"log_softmax_jvp", "log_softmax_vjp_derivative"},
}
VECTORS = {"forward": 0, "jacobian": 0, "vjp": 1, "jvp": 1, "vjp_derivative": 2}
WORK = np.longdouble  # the exact values: beyond float64 where the platform allows

MLX_FLOAT64 = (
    "mlx 0.32: mx.exp of float64 is only float32-accurate (6.4e-7 relative at -15), so every "
    "float64 softmax and log_softmax quantity is (known_divergences.toml)"
)
TORCH_COMPILE_STRIDED_JVP = (
    "torch 2.13: torch.compile(dynamic=True) of torch.func.jvp on a non-contiguous input fails "
    "while tracing make_dual: 'Cannot call storage_offset() on tensor with symbolic sizes/strides'"
)

# softmax Jacobian at [0, 1, 2, 3], as printed (4 decimals) in a forum thread
FORUM_JACOBIAN = np.array(
    [
        [0.0310, -0.0028, -0.0076, -0.0206],
        [-0.0028, 0.0796, -0.0206, -0.0561],
        [-0.0076, -0.0206, 0.1808, -0.1525],
        [-0.0206, -0.0561, -0.1525, 0.2293],
    ]
)


def _framework(name: str) -> str:
    return next(framework for framework, adapter in ADAPTERS if adapter == name)


def _load(name: str) -> Any:
    package = FRAMEWORKS[_framework(name)][0]
    pytest.importorskip(package, reason=f"{package} is not installed ({name} needs it)")
    return load_adapter(name)


def _require(adapter: Any, op: str, quantity: str, dtype: str = "float32") -> None:
    """Skip, saying why, what ``adapter`` does not offer: a capability or a dtype."""
    if provided_method(adapter, op, quantity) is None:
        pytest.skip(f"{adapter.name} does not provide {method_name(op, quantity)}")
    if dtype not in adapter.dtypes:
        pytest.skip(f"{adapter.name} does not compute {dtype} (its dtypes: {', '.join(adapter.dtypes)})")


@pytest.fixture(scope="module", params=[name for _, name in ADAPTERS])
def adapter(request: pytest.FixtureRequest) -> Iterator[Any]:
    with pytest.MonkeyPatch.context() as patch:
        # The default backend (aot_eager), whatever the environment says; inductor is
        # checked by test_torch_compile_runs_with_inductor_on_request.
        patch.delenv("CONFORMANCE_TORCH_COMPILE_BACKEND", raising=False)
        loaded = _load(request.param)
    yield loaded


def _inputs(shape: tuple[int, ...], dtype: str, count: int, seed: int = 0) -> list[np.ndarray]:
    """``count`` standard-normal arrays of ``dtype`` (exactly representable in it)."""
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape).astype(DTYPES[dtype]) for _ in range(count)]


def _call(adapter: Any, op: str, quantity: str, x: np.ndarray, vectors: list[np.ndarray], axis: int) -> np.ndarray:
    return getattr(adapter, method_name(op, quantity))(x, *vectors, axis)


def _expected_shape(quantity: str, shape: tuple[int, ...]) -> tuple[int, ...]:
    return shape + shape if quantity == "jacobian" else shape


def _assert_within_bound(
    adapter: Any, op: str, quantity: str, x: np.ndarray, vectors: list[np.ndarray], axis: int
) -> None:
    """``quantity`` of ``op`` within the tolerance model's bound of the exact value."""
    result = _call(adapter, op, quantity, x, vectors, axis)
    assert result.dtype == x.dtype and result.shape == _expected_shape(quantity, x.shape)
    if quantity == "jacobian":
        off_block = oracle.off_block_mask(x.shape, axis)
        assert (result[off_block] == 0).all(), "an output depends on another row"
        result = oracle.blocks_from_jacobian(result, axis)
        exact = oracle.blocks(op, x, axis, work=WORK)
        bound = tolerance.blocks_bound(op, x, axis, x.dtype)
    elif quantity == "forward":
        exact = oracle.forward(op, x, axis, work=WORK)
        bound = tolerance.forward_bound(op, x, axis, x.dtype)
    elif quantity == "vjp":
        exact = oracle.vjp(op, x, vectors[0], axis, work=WORK)
        bound = tolerance.vjp_bound(op, x, vectors[0], axis, x.dtype)
    elif quantity == "jvp":
        exact = oracle.jvp(op, x, vectors[0], axis, work=WORK)
        bound = tolerance.jvp_bound(op, x, vectors[0], axis, x.dtype)
    else:
        exact = oracle.vjp_derivative(op, x, vectors[0], vectors[1], axis, work=WORK)
        bound = tolerance.vjp_derivative_bound(op, x, vectors[0], vectors[1], axis, x.dtype)
    error = np.abs(result.astype(WORK) - exact)
    assert (error <= bound.absolute).all(), (
        f"{adapter.name} {method_name(op, quantity)}: error {np.max(bound.ulps(error)):.1f} ulps, "
        f"bound {np.min(bound.bound_ulps):.1f}"
    )


def test_provides_every_capability(adapter: Any) -> None:
    missing = {name for name, provided in capabilities(adapter).items() if not provided}
    assert missing == NOT_PROVIDED.get(adapter.name, set())
    assert type(adapter).__name__ == BUILTIN_ADAPTERS[adapter.name][1]
    assert isinstance(adapter.device, str) and adapter.device  # "cpu" unless $CONFORMANCE_DEVICE says otherwise
    assert set(adapter.dtypes) <= set(DTYPE_NAMES)


def test_jacobian_matches_the_forum_numbers(adapter: Any) -> None:
    result = adapter.jacobian(np.arange(4.0), -1)
    np.testing.assert_array_almost_equal(result, FORUM_JACOBIAN, decimal=4)


def test_batched_jacobian_is_exactly_block_diagonal(adapter: Any) -> None:
    result = adapter.jacobian(np.arange(20.0).reshape(5, 4), -1)
    assert result.shape == (5, 4, 5, 4)
    assert np.count_nonzero(result == 0) == 320


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_vjp_of_ones_vanishes(adapter: Any, dtype: str) -> None:
    _require(adapter, "softmax", "vjp", dtype)
    (x,) = _inputs((5, 4), dtype, 1)
    ones = np.ones_like(x)
    result = adapter.vjp(x, ones, -1)
    bound = tolerance.vjp_bound("softmax", x, ones, -1, x.dtype)
    assert (np.abs(result.astype(np.float64)) <= bound.absolute).all(), result


# The half types compile a fresh set of graphs / XLA executables (~5-13 s per JAX path or
# torch.compile on a 2-core machine): marked slow, so `-m "not slow"` is a quick run.
HALF_SLOW = [
    pytest.param(name, marks=pytest.mark.slow) if name in ("float16", "bfloat16") else name for name in DTYPE_NAMES
]


@pytest.mark.parametrize("dtype", HALF_SLOW)
def test_every_method_keeps_the_dtype(adapter: Any, dtype: str) -> None:
    _require(adapter, "softmax", "forward", dtype)
    x, g, u = _inputs(SHAPE, dtype, 3)
    for op in OPS:
        for quantity in QUANTITIES:
            if provided_method(adapter, op, quantity) is None:
                continue
            result = _call(adapter, op, quantity, x, [g, u][: VECTORS[quantity]], -1)
            assert type(result) is np.ndarray, method_name(op, quantity)
            assert result.dtype == x.dtype, f"{method_name(op, quantity)}: {result.dtype} from {x.dtype}"
            assert result.shape == _expected_shape(quantity, x.shape), method_name(op, quantity)


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("op", OPS)
# the last axis in float32 (the graphs test_every_method_keeps_the_dtype compiled), the
# first in float64: both dtypes and both kinds of axis, at half the compilations
@pytest.mark.parametrize(("dtype", "axis"), [("float32", -1), ("float64", 0)])
def test_agrees_with_the_oracle(
    request: pytest.FixtureRequest, adapter: Any, dtype: str, axis: int, op: str, quantity: str
) -> None:
    _require(adapter, op, quantity, dtype)
    if adapter.name.startswith("mlx") and dtype == "float64":
        request.applymarker(pytest.mark.xfail(reason=MLX_FLOAT64, strict=True))
    x, g, u = _inputs(SHAPE, dtype, 3, seed=1)
    _assert_within_bound(adapter, op, quantity, x, [g, u][: VECTORS[quantity]], axis)


@pytest.mark.parametrize("quantity", QUANTITIES)
@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("view", ["transposed", "strided"])
def test_non_contiguous_input_gives_the_contiguous_result(
    request: pytest.FixtureRequest, adapter: Any, view: str, op: str, quantity: str
) -> None:
    """The strided view and its contiguous copy both give the right answer; they may differ
    in round-off (torch.compile's dynamic-shape kernels do, by an ulp), not beyond."""
    _require(adapter, op, quantity)
    if adapter.name == "torch-compile" and quantity in ("jvp", "vjp_derivative"):
        request.applymarker(pytest.mark.xfail(reason=TORCH_COMPILE_STRIDED_JVP, strict=True))
    rows, columns = SHAPE
    if view == "transposed":
        x = _inputs((columns, rows), "float32", 1, seed=2)[0].T
    else:
        x = _inputs((rows, 2 * columns), "float32", 1, seed=2)[0][:, ::2]
    assert not x.flags.c_contiguous
    vectors = _inputs(x.shape, "float32", VECTORS[quantity], seed=3)
    _assert_within_bound(adapter, op, quantity, x, vectors, -1)
    _assert_within_bound(adapter, op, quantity, np.ascontiguousarray(x), vectors, -1)


@pytest.mark.parametrize("view", ["transposed", "strided"])
def test_non_contiguous_bfloat16_crosses_intact(adapter: Any, view: str) -> None:
    _require(adapter, "softmax", "forward", "bfloat16")
    rows, columns = SHAPE
    if view == "transposed":
        x = _inputs((columns, rows), "bfloat16", 1, seed=4)[0].T
    else:
        x = _inputs((rows, 2 * columns), "bfloat16", 1, seed=4)[0][:, ::2]
    _assert_within_bound(adapter, "softmax", "forward", x, [], -1)


class _Sentinel(Exception):
    """Raised by a patched framework softmax."""


def _chain(error: BaseException | None) -> Iterator[BaseException]:
    while error is not None:
        yield error
        error = error.__cause__ or error.__context__


@pytest.mark.parametrize("op", OPS)
@pytest.mark.parametrize("name", [name for _, name in ADAPTERS])
def test_results_come_from_the_framework(monkeypatch: pytest.MonkeyPatch, name: str, op: str) -> None:
    fresh = _load(name)  # nothing compiled or cached yet
    package, attribute = NAMESPACES[_framework(name)][op]
    namespace = importlib.import_module(package)
    if attribute:
        namespace = getattr(namespace, attribute)

    def patched(*args: Any, **kwargs: Any) -> Any:
        raise _Sentinel(f"{package}.{op} was called")

    monkeypatch.setattr(namespace, op, patched)
    x, g, u = _inputs(SHAPE, "float32", 3)
    for quantity in QUANTITIES:
        if provided_method(fresh, op, quantity) is None:
            continue
        with pytest.raises(Exception) as raised:
            _call(fresh, op, quantity, x, [g, u][: VECTORS[quantity]], -1)
        assert any(isinstance(error, _Sentinel) or "was called" in str(error) for error in _chain(raised.value)), (
            f"{name} {method_name(op, quantity)} raised {raised.value!r}, not through the patched {op}"
        )


@pytest.mark.parametrize("name", [name for _, name in ADAPTERS])
def test_an_absent_device_is_named_with_the_available_ones(monkeypatch: pytest.MonkeyPatch, name: str) -> None:
    pytest.importorskip(FRAMEWORKS[_framework(name)][0])
    module_name, class_name = BUILTIN_ADAPTERS[name]
    cls = getattr(importlib.import_module(module_name), class_name)
    monkeypatch.setenv(DEVICE_ENVIRONMENT_VARIABLE, "no-such-device")
    with pytest.raises(RuntimeError, match=r"(?i)available devices: .*cpu"):
        cls()
    monkeypatch.delenv(DEVICE_ENVIRONMENT_VARIABLE)
    assert cls().device == "cpu"


def test_torch_compile_defaults_to_aot_eager(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFORMANCE_TORCH_COMPILE_BACKEND", raising=False)
    assert _load("torch-compile").backend == "aot_eager"


@pytest.mark.slow
def test_torch_compile_runs_with_inductor_on_request(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONFORMANCE_TORCH_COMPILE_BACKEND", "inductor")
    compiled = _load("torch-compile")
    assert compiled.backend == "inductor"
    np.testing.assert_array_almost_equal(compiled.jacobian(np.arange(4.0), -1), FORUM_JACOBIAN, decimal=4)
    x, g = _inputs(SHAPE, "float32", 2)
    for quantity in ("forward", "vjp", "jvp"):
        _assert_within_bound(compiled, "softmax", quantity, x, [g][: VECTORS[quantity]], -1)


# Views of one (3 + 2) x (k + 2) base, each a kind of layout the suite draws, on axis 1.
TORCH_COMPILE_VIEWS = {
    "whole": lambda base: base,
    "offset": lambda base: base[:, 1:],
    "offset rows and columns": lambda base: base[1:, 1:],
    "every other column": lambda base: base[:, ::2],
    "every other row": lambda base: base[::2, :],
    "transposed": lambda base: base.T,
    "reversed": lambda base: base[:, ::-1],
    "broadcast row": lambda base: np.broadcast_to(base[:1, :], (3, base.shape[1])),
    "broadcast column": lambda base: np.broadcast_to(base[:, :1], (base.shape[0], 5)),
}


def test_torch_compile_takes_every_layout_in_turn_without_a_recompile_limit() -> None:
    """Dynamo guards on which strides are 0 or 1 as well as on sizes, and under fullgraph=True
    its ninth graph of one function raises FailOnRecompileLimitHit. The adapter keys its compiled
    functions by all of these, so that one view kind after another (as a run draws them, with
    forward and backward graphs) never piles graphs onto one function (seen in a dev campaign:
    concurrent_calls_agree log_softmax float16 raised after the run's other properties)."""
    compiled = _load("torch-compile")
    rng = np.random.default_rng(0)
    for length in (7, 12, 33):
        for view in TORCH_COMPILE_VIEWS.values():
            x = view(rng.standard_normal((5, length + 2)).astype(np.float16))
            compiled.log_softmax(x, 1)
            compiled.log_softmax_vjp(x, np.ones(x.shape, np.float16), 1)


def test_the_tensorflow_function_cache_keeps_every_function_a_run_traces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every property cycles through the run's programs: a function the cache dropped would be
    traced again when the next property needs it (256 kept traced 202 of a dev run's 992 again)."""
    adapter = _load("tensorflow-function")
    import tensorflow as tf

    traced: list[Any] = []

    def tracing(program: Any, **options: Any) -> Any:
        traced.append(program)
        return program

    monkeypatch.setattr(tf, "function", tracing)
    lengths = range(1, 301)  # more distinct shapes than the 256 functions the cache used to keep
    for _ in range(2):  # two properties, each through every shape
        for length in lengths:
            adapter.softmax(np.ones(length, np.float32), 0)
    assert len(traced) == len(lengths)
