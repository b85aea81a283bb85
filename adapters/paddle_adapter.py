"""PaddlePaddle adapters: one class per AD path, computing ``paddle.nn.functional.softmax`` /
``log_softmax``.

* ``paddle``        :class:`PaddleDynamic`: the dynamic graph (Paddle's default mode):
  ``paddle.grad`` (VJP), one ``paddle.grad`` per one-hot cotangent on a kept graph (Jacobian),
  ``paddle.incubate.autograd.jvp`` (JVP) and ``paddle.grad(create_graph=True)`` twice (second
  order);
* ``paddle-static`` :class:`PaddleStatic`: the same programs traced whole by
  ``paddle.jit.to_static(full_graph=True)`` into static programs, one per
  (op, quantity, axis), retraced by Paddle for each new shape and dtype; the Jacobian is
  ``paddle.autograd.jacobian``.

Higher order. Paddle's softmax and log_softmax kernels have no second derivative
(``softmax_grad doesn't have any grad op``); Paddle's answer is its composite ("prim")
backward rules, which write a VJP in primitive ops that do have derivatives. softmax's JVP
(``paddle.incubate.autograd.jvp``, the double-backward trick: the VJP of the VJP with
respect to its cotangent) and second order therefore run with the composite backward
switched on, ``core.set_prim_eager_enabled`` in the dynamic graph and
``core._set_prim_backward_enabled`` while a static program is built; the forward pass is
the softmax kernel either way. log_softmax has no composite backward rule in Paddle 3.3
("log_softmax_grad has no grad op" with or without it), so neither path provides
``log_softmax_jvp`` or ``log_softmax_vjp_derivative``: Paddle has no forward mode of its own
to give them. For the same reason ``paddle.autograd.jacobian``, which
always asks for ``create_graph=True``, fails in the dynamic graph, so the ``paddle`` path
builds the Jacobian from ``paddle.grad`` itself; in a static program it works.

In the dynamic graph inputs keep their memory and strides: ``paddle.from_dlpack`` wraps the
NumPy buffer, so a transposed or strided view reaches the kernel as a strided tensor, and the
suite sees any write into it. The static programs get copies (``paddle.to_tensor``): with
Paddle 3.3, a ``from_dlpack`` tensor that a static program has run on can deadlock the
process when it is freed (the executor frees it on a thread of its own while the main thread
waits inside the next ``from_dlpack``; seen after about a hundred programs). bfloat16 crosses as
its bit pattern (Paddle reads a ``uint16`` array as bfloat16). Paddle's CPU build has no
float16 or bfloat16 softmax kernel, so ``dtypes`` is what the device's kernels take, asked of
Paddle when the adapter is made.

Seen with Paddle 3.3, and out of the suite's sight here: a ``to_static`` function that takes
``t.detach()`` of an input and differentiates through it writes into that input's memory;
``paddle.incubate.autograd.jvp`` does that detach itself, so a static JVP overwrites its
argument (the result is right). The static programs mark their own inputs as requiring grad
instead, ``detach`` their outputs, so that ``to_static`` builds no backward program of its own
for them, and run on copies.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator
from typing import Any, ClassVar

import ml_dtypes
import numpy as np

with warnings.catch_warnings():
    # paddle warns at import when it finds no ccache (for its C++ extension builder)
    warnings.filterwarnings("ignore", message="No ccache found", category=UserWarning)
    import paddle
    import paddle.nn.functional
from paddle.framework import core as _core

from conformance.adapter import NativeArgument
from conformance.adapters._common import (
    AdapterBase,
    Program,
    ProgramCache,
    Strategy,
    axis_key,
    native,
    no_result,
    op_function,
    requested_device,
    unavailable_device,
    viewed,
)
from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.oracle import Op, Quantity

_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
core: Any = _core  # Paddle's type stubs lack the prim switches used below
_DEVICE_ALIASES = {"cuda": "gpu"}
_ALWAYS = ("float32", "float64")  # the dtypes every Paddle build computes softmax in


# -- prim: Paddle's composite backward rules, for derivatives of derivatives -----------------


@contextlib.contextmanager
def _composite_backward_eager() -> Iterator[None]:
    """The dynamic graph's composite backward rules on, then as they were."""
    before = core._is_eager_prim_enabled()
    core.set_prim_eager_enabled(True)
    try:
        yield
    finally:
        core.set_prim_eager_enabled(before)


@contextlib.contextmanager
def _composite_backward_static() -> Iterator[None]:
    """Static programs built with composite backward rules, then as before."""
    before = core._is_bwd_prim_enabled()
    core._set_prim_backward_enabled(True)
    try:
        yield
    finally:
        core._set_prim_backward_enabled(before)


# -- AD strategies, dynamic graph: (f, x, *vectors) -> tensor, f = x -> op(x, axis) ----------

# A native reproducer's body between these runs with the composite backward rules on
_COMPOSITE_EAGER_ON = (
    "paddle.framework.core.set_prim_eager_enabled(True)  # composite rules: softmax_grad has no grad op",
    "try:",
)
_COMPOSITE_EAGER_OFF = ("finally:", "    paddle.framework.core.set_prim_eager_enabled(False)")


@native("return f(x)")
def _call(f: Any, x: paddle.Tensor) -> paddle.Tensor:
    return f(x)


def _leaf(x: paddle.Tensor) -> paddle.Tensor:
    """``x`` as a fresh tensor that requires grad (same memory)."""
    leaf = x.detach()
    leaf.stop_gradient = False
    return leaf


@native(
    "x = x.detach()",
    "x.stop_gradient = False",
    "(grad,) = paddle.grad([f(x)], [x], [cotangent])",
    "return grad",
)
def _grad_vjp(f: Any, x: paddle.Tensor, cotangent: paddle.Tensor) -> paddle.Tensor:
    x = _leaf(x)
    (grad,) = paddle.grad([f(x)], [x], [cotangent])
    return grad


@native(
    "x = x.detach()",
    "x.stop_gradient = False",
    "y = f(x)",
    "count = int(np.prod(y.shape))",
    "one_hots = paddle.eye(count, dtype=y.dtype).reshape([count, *y.shape])",
    "rows = [paddle.grad([y], [x], [one_hots[i]], retain_graph=True)[0] for i in range(count)]",
    "if not rows:",
    "    return paddle.zeros([*x.shape, *x.shape], dtype=x.dtype)",
    "return paddle.stack(rows).reshape([*y.shape, *x.shape])",
)
def _grad_rows_jacobian(f: Any, x: paddle.Tensor) -> paddle.Tensor:
    # Row i of the Jacobian is e_i^T J: one backward pass per output element on a graph kept
    # between them (paddle.autograd.jacobian would ask for create_graph=True, which softmax's
    # backward kernel cannot give; see the module docstring).
    x = _leaf(x)
    y = f(x)
    count = int(np.prod(y.shape))
    one_hots = paddle.eye(count, dtype=y.dtype).reshape([count, *y.shape])
    rows = [paddle.grad([y], [x], [one_hots[i]], retain_graph=True)[0] for i in range(count)]
    if not rows:  # nothing to differentiate: an empty Jacobian of its shape
        return paddle.zeros([*x.shape, *x.shape], dtype=x.dtype)
    return paddle.stack(rows).reshape([*y.shape, *x.shape])


@native(
    *_COMPOSITE_EAGER_ON,
    "    return paddle.incubate.autograd.jvp(f, x, tangent)[1]",
    *_COMPOSITE_EAGER_OFF,
)
def _double_backward_jvp(f: Any, x: paddle.Tensor, tangent: paddle.Tensor) -> paddle.Tensor:
    with _composite_backward_eager():
        _, tangent_out = paddle.incubate.autograd.jvp(f, x, tangent)
    return tangent_out


@native(
    *_COMPOSITE_EAGER_ON,
    "    x = x.detach()",
    "    x.stop_gradient = False",
    "    (grad,) = paddle.grad([f(x)], [x], [cotangent], create_graph=True)",
    "    (second,) = paddle.grad([grad], [x], [direction])",
    "    return second",
    *_COMPOSITE_EAGER_OFF,
)
def _double_backward(f: Any, x: paddle.Tensor, cotangent: paddle.Tensor, direction: paddle.Tensor) -> paddle.Tensor:
    # v(x) = J(x)^T g is the gradient of <g, f(x)>, so dv/dx is a (symmetric) Hessian and
    # the VJP of v with the direction is the derivative of v along it.
    with _composite_backward_eager():
        x = _leaf(x)
        (grad,) = paddle.grad([f(x)], [x], [cotangent], create_graph=True)
        (second,) = paddle.grad([grad], [x], [direction])
    return second


# -- AD strategies, static programs: traced by to_static, so written as plain defs -----------
# An input is marked as requiring grad in place of t.detach() (see the module docstring), and
# every result is detached, so to_static builds no backward program of its own for it.


def _static_call(f: Any, x: paddle.Tensor) -> paddle.Tensor:
    return f(x)


def _static_vjp(f: Any, x: paddle.Tensor, cotangent: paddle.Tensor) -> paddle.Tensor:
    x.stop_gradient = False
    grads = paddle.grad([f(x)], [x], [cotangent])
    return grads[0].detach()


def _static_jacobian(f: Any, x: paddle.Tensor) -> paddle.Tensor:
    # paddle.autograd.jacobian takes tensors of at most one dimension: differentiate the
    # function of the flattened input, then give the result its shape
    shape = x.shape
    flat = x.reshape([-1])
    flat.stop_gradient = False
    y = f(flat.reshape(shape)).reshape([-1])
    jacobian = paddle.autograd.jacobian(y, flat)[:]
    return jacobian.reshape(shape + shape).detach()


def _static_jvp(f: Any, x: paddle.Tensor, tangent: paddle.Tensor) -> paddle.Tensor:
    results = paddle.incubate.autograd.jvp(f, x, tangent)
    return results[1].detach()


def _static_double_backward(
    f: Any, x: paddle.Tensor, cotangent: paddle.Tensor, direction: paddle.Tensor
) -> paddle.Tensor:
    x.stop_gradient = False
    grads = paddle.grad([f(x)], [x], [cotangent], create_graph=True)
    seconds = paddle.grad([grads[0]], [x], [direction])
    return seconds[0].detach()


# What each static strategy reads as in Paddle's own API. Declared here, not as decorators:
# to_static rewrites a function from its source, decorators and all.

_static_call = native("return f(x)")(_static_call)
_static_vjp = native(
    "x.stop_gradient = False",
    "grads = paddle.grad([f(x)], [x], [cotangent])",
    "return grads[0].detach()",
)(_static_vjp)
_static_jacobian = native(
    "shape = x.shape",
    "flat = x.reshape([-1])",
    "flat.stop_gradient = False",
    "y = f(flat.reshape(shape)).reshape([-1])",
    "jacobian = paddle.autograd.jacobian(y, flat)[:]",
    "return jacobian.reshape(shape + shape).detach()",
)(_static_jacobian)
_static_jvp = native("results = paddle.incubate.autograd.jvp(f, x, tangent)", "return results[1].detach()")(_static_jvp)
_static_double_backward = native(
    "x.stop_gradient = False",
    "grads = paddle.grad([f(x)], [x], [cotangent], create_graph=True)",
    "seconds = paddle.grad([grads[0]], [x], [direction])",
    "return seconds[0].detach()",
)(_static_double_backward)


# -- the framework layer ----------------------------------------------------------------


def _paddle_place(requested: str) -> str:
    """Paddle's name for ``requested`` ("cpu", "gpu", "gpu:1"; "cuda" is taken as "gpu")."""
    kind, _, index = requested.lower().partition(":")
    kind = _DEVICE_ALIASES.get(kind, kind)
    gpus = paddle.device.cuda.device_count() if paddle.device.is_compiled_with_cuda() else 0
    available = ["cpu"] + [f"gpu:{i}" for i in range(gpus)]
    name = "cpu" if kind == "cpu" else f"gpu:{index or 0}"
    if name not in available:
        raise unavailable_device("paddle", requested, available)
    return name


def _has_kernels(dtype: str, place: str) -> bool:
    """Whether Paddle computes softmax and log_softmax of the half type ``dtype`` on ``place``
    (its CPU build has no float16 or bfloat16 kernels for them)."""
    x = paddle.to_tensor(np.zeros(2, dtype=np.float32), place=place).astype(getattr(paddle, dtype))
    try:
        paddle.nn.functional.softmax(x, axis=0)
        paddle.nn.functional.log_softmax(x, axis=0)
    except (RuntimeError, NotImplementedError):  # "The kernel ... is not registered"
        return False
    return True


class PaddleDynamic(AdapterBase):
    """The dynamic graph: ``paddle.grad`` (VJP), ``paddle.grad`` per one-hot cotangent
    (Jacobian), ``paddle.incubate.autograd.jvp`` (JVP) and double backward (second order),
    the last two through Paddle's composite backward rules."""

    name = "paddle"
    _namespace = paddle.nn.functional
    _native_namespace = "paddle.nn.functional"
    _native_imports = ("import paddle",)
    _native_numpy = "value.cpu().astype('float64').numpy()"
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _grad_rows_jacobian,
        "vjp": _grad_vjp,
        "jvp": _double_backward_jvp,
        "vjp_derivative": _double_backward,
    }

    # log_softmax has no derivative of its derivative in Paddle, composite rules or not
    # ("log_softmax_grad doesn't have any grad op"): its JVP and second order are not provided.
    log_softmax_jvp = None
    log_softmax_vjp_derivative = None

    # Paddle's autograd is not meant to be called from several threads at once: paddle.grad
    # builds its backward graph through one process-wide GeneralGrad, and two threads in it
    # raise "Cannot copy backward graph, unable to find copied target for certain grad node"
    # or crash (SIGSEGV); the static programs hang or run out of memory. The composite-rule
    # switches and the default device the adapter sets are process-wide too. A lock here would
    # report Paddle as safe to call concurrently, which it is not, so the adapter says so.
    thread_safe = False

    def __init__(self, device: str | None = None) -> None:
        self.device = _paddle_place(requested_device(device))
        with self._placement():
            # float32 and float64 always: a missing kernel there is a failure to report
            self.dtypes = tuple(name for name in DTYPE_NAMES if name in _ALWAYS or _has_kernels(name, self.device))

    def _placement(self) -> Any:
        return _on_device(self.device)

    def _to_framework(self, array: np.ndarray) -> paddle.Tensor:
        if array.dtype == _BFLOAT16:
            tensor = paddle.to_tensor(array.view(np.uint16), place="cpu")  # uint16 reads as bfloat16
        else:
            tensor = paddle.from_dlpack(array)  # the NumPy buffer itself, strides and all
        if self.device != "cpu":
            tensor = tensor.to(self.device)
        return tensor

    def _native_array(self, argument: NativeArgument) -> str:
        """``paddle.from_dlpack`` of the NumPy view: the memory and strides the adapter gives
        Paddle (bfloat16, which DLPack cannot carry from NumPy, as a copy)."""
        values = viewed(argument, argument.name)
        if argument.dtype == "bfloat16":
            tensor = f"paddle.to_tensor({values}, place='cpu').astype('bfloat16')"
        else:
            tensor = f"paddle.from_dlpack({values})"
        return tensor if self.device == "cpu" else f"{tensor}.to({self.device!r})"

    def _native_call(self, call: str) -> list[str]:
        return [f"paddle.device.set_device({self.device!r})", call]

    def _to_numpy(self, value: Any) -> np.ndarray:
        if value is None:
            raise no_result(self)
        if value.dtype == paddle.bfloat16:
            return value.cpu().numpy().view(_BFLOAT16)  # Paddle gives bfloat16 as uint16
        return value.cpu().numpy()


@contextlib.contextmanager
def _on_device(device: str) -> Iterator[None]:
    """Paddle's default device set to ``device``, then as before."""
    before = paddle.device.get_device()
    paddle.device.set_device(device)
    try:
        yield
    finally:
        paddle.device.set_device(before)


def _bind(strategy: Strategy, f: Any, arity: int) -> Program:
    """``strategy`` with ``f`` bound, as a function of ``arity`` named tensors: to_static reads
    a function's parameters from its signature, and takes no ``*args``."""

    def one(x: paddle.Tensor) -> paddle.Tensor:
        return strategy(f, x)

    def two(x: paddle.Tensor, vector: paddle.Tensor) -> paddle.Tensor:
        return strategy(f, x, vector)

    def three(x: paddle.Tensor, cotangent: paddle.Tensor, direction: paddle.Tensor) -> paddle.Tensor:
        return strategy(f, x, cotangent, direction)

    return {1: one, 2: two, 3: three}[arity]


class PaddleStatic(PaddleDynamic):
    """The programs traced whole by ``paddle.jit.to_static(full_graph=True)``; the Jacobian is
    ``paddle.autograd.jacobian``, the JVP and second order built with composite backward rules."""

    name = "paddle-static"
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _static_call,
        "jacobian": _static_jacobian,
        "vjp": _static_vjp,
        "jvp": _static_jvp,
        "vjp_derivative": _static_double_backward,
    }
    _composite: ClassVar[frozenset[str]] = frozenset({"jvp", "vjp_derivative"})

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self._programs = ProgramCache()

    def _to_framework(self, array: np.ndarray) -> paddle.Tensor:
        # a copy, not from_dlpack: see the module docstring (a deadlock when it is freed)
        if array.dtype == _BFLOAT16:
            return paddle.to_tensor(array.view(np.uint16), place=self.device)
        return paddle.to_tensor(array, place=self.device)

    def _native_array(self, argument: NativeArgument) -> str:
        """``paddle.to_tensor``: a copy, as the adapter gives a static program."""
        tensor = f"paddle.to_tensor({viewed(argument, argument.name)}, place={self.device!r})"
        return f"{tensor}.astype('bfloat16')" if argument.dtype == "bfloat16" else tensor

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        static = "paddle.jit.to_static(program, full_graph=True)"
        if quantity not in self._composite:
            return [f"program = {static}"]
        return [  # built and run with the composite backward rules on, as the adapter does
            f"def program(*arguments, static={static}):",
            "    paddle.framework.core._set_prim_backward_enabled(True)  # softmax_grad has no grad op",
            "    try:",
            "        return static(*arguments)",
            "    finally:",
            "        paddle.framework.core._set_prim_backward_enabled(False)",
        ]

    def _program(self, op: Op, quantity: Quantity, axis: Any, arrays: tuple[np.ndarray, ...]) -> Program:
        strategy = self._strategies[quantity]

        def make() -> Program:
            return paddle.jit.to_static(
                _bind(strategy, op_function(self._namespace, op, axis), len(arrays)), full_graph=True
            )

        static = self._programs.get((op, quantity, axis_key(axis)), make)
        composite = quantity in self._composite

        def run(*args: paddle.Tensor) -> paddle.Tensor:
            with warnings.catch_warnings(), _composite_backward_static() if composite else contextlib.nullcontext():
                # Paddle's own remarks while tracing: paddle.autograd.jacobian asks a traced
                # tensor for its place, and create_graph means nothing in a static program
                warnings.filterwarnings("ignore", message="Tensor do not have 'place' interface", category=UserWarning)
                warnings.filterwarnings("ignore", message="paddle.grad has unsupported parameter", category=UserWarning)
                return static(*args)  # a new shape builds a new program, with the rules it needs

        return run
