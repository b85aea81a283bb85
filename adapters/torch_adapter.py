"""PyTorch adapters: one class per AD path, all computing ``torch.softmax`` / ``torch.log_softmax``.

* ``torch``         :class:`TorchAutograd`: ``torch.autograd`` (grad, functional.jacobian,
  forward_ad, double backward);
* ``torch-func``    :class:`TorchFunc`: ``torch.func`` (vjp, jacrev, jvp, jvp-of-vjp);
* ``torch-jacfwd``  :class:`TorchFuncForward`: ``torch.func`` starting from forward mode
  (jacfwd, vjp-of-jvp);
* ``torch-compile`` :class:`TorchCompile`: the same op through ``torch.compile``.

Inputs keep their strides: ``torch.from_numpy`` wraps the NumPy buffer, so a transposed or
strided view reaches the kernel as a non-contiguous tensor. bfloat16 crosses as its bit
pattern (``uint16``), which is exact and keeps the strides too.
"""

from __future__ import annotations

import os
import types
import warnings
from typing import Any, ClassVar

import ml_dtypes
import numpy as np
import torch
from torch.autograd import forward_ad

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
from conformance.truth.oracle import Op, Quantity

_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
_DEVICE_ALIASES = {"gpu": "cuda"}


# -- AD strategies: (f, x, *vectors) -> tensor, f = x -> op(x, axis) ---------------------


@native("return f(x)")
def _call(f: Any, x: torch.Tensor) -> torch.Tensor:
    return f(x)


def _leaf(x: torch.Tensor) -> torch.Tensor:
    """``x`` as a fresh leaf that requires grad (same storage, same strides)."""
    return x.detach().requires_grad_(True)


@native(
    "x = x.detach().requires_grad_(True)",
    "(grad,) = torch.autograd.grad(f(x), x, cotangent)",
    "return grad",
)
def _autograd_vjp(f: Any, x: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
    x = _leaf(x)
    (grad,) = torch.autograd.grad(f(x), x, cotangent)
    return grad


@native("return torch.autograd.functional.jacobian(f, x)")
def _autograd_jacobian(f: Any, x: torch.Tensor) -> torch.Tensor:
    # vectorize=False (the default): one backward pass per output element.
    return torch.autograd.functional.jacobian(f, x)


@native(
    "with torch.autograd.forward_ad.dual_level():",
    "    out = f(torch.autograd.forward_ad.make_dual(x, tangent))",
    "    return torch.autograd.forward_ad.unpack_dual(out).tangent",
)
def _forward_ad_jvp(f: Any, x: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    with forward_ad.dual_level():
        out = f(forward_ad.make_dual(x, tangent))
        return forward_ad.unpack_dual(out).tangent


@native(
    "x = x.detach().requires_grad_(True)",
    "(grad,) = torch.autograd.grad(f(x), x, cotangent, create_graph=True)",
    "(second,) = torch.autograd.grad(grad, x, direction)",
    "return second",
)
def _double_backward(f: Any, x: torch.Tensor, cotangent: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    # v(x) = J(x)^T g is the gradient of <g, f(x)>, so dv/dx is a (symmetric) Hessian and
    # the VJP of v with the direction is the derivative of v along it.
    x = _leaf(x)
    (grad,) = torch.autograd.grad(f(x), x, cotangent, create_graph=True)
    (second,) = torch.autograd.grad(grad, x, direction)
    return second


@native("return torch.func.vjp(f, x)[1](cotangent)[0]")
def _func_vjp(f: Any, x: torch.Tensor, cotangent: torch.Tensor) -> torch.Tensor:
    pullback = torch.func.vjp(f, x)[1]
    (grad,) = pullback(cotangent)
    return grad


@native("return torch.func.jacrev(f)(x)")
def _func_jacrev(f: Any, x: torch.Tensor) -> torch.Tensor:
    return torch.func.jacrev(f)(x)


@native("return torch.func.jacfwd(f)(x)")
def _func_jacfwd(f: Any, x: torch.Tensor) -> torch.Tensor:
    return torch.func.jacfwd(f)(x)


@native("return torch.func.jvp(f, (x,), (tangent,))[1]")
def _func_jvp(f: Any, x: torch.Tensor, tangent: torch.Tensor) -> torch.Tensor:
    return torch.func.jvp(f, (x,), (tangent,))[1]


@native("return torch.func.jvp(lambda y: torch.func.vjp(f, y)[1](cotangent)[0], (x,), (direction,))[1]")
def _forward_over_reverse(f: Any, x: torch.Tensor, cotangent: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    return _func_jvp(lambda y: _func_vjp(f, y, cotangent), x, direction)


@native("return torch.func.vjp(lambda y: torch.func.jvp(f, (y,), (direction,))[1], x)[1](cotangent)[0]")
def _reverse_over_forward(f: Any, x: torch.Tensor, cotangent: torch.Tensor, direction: torch.Tensor) -> torch.Tensor:
    # <g, J(x) u> has gradient H u (H the Hessian of <g, f>): the same quantity.
    return _func_vjp(lambda y: _func_jvp(f, y, direction), x, cotangent)


# -- the framework layer ----------------------------------------------------------------


def _torch_device(requested: str) -> torch.device:
    """The ``torch.device`` for ``requested``; a RuntimeError naming the available ones if absent."""
    available = ["cpu"] + [f"cuda:{index}" for index in range(torch.cuda.device_count())]
    try:
        device = torch.device(_DEVICE_ALIASES.get(requested, requested))
    except RuntimeError as error:
        raise unavailable_device("torch", requested, available) from error
    if device.type == "cpu":
        return device
    if device.type == "cuda" and torch.cuda.is_available() and (device.index or 0) < torch.cuda.device_count():
        return device
    raise unavailable_device("torch", requested, available)


class _TorchAdapter(AdapterBase):
    """Conversion and placement for torch; subclasses choose the AD strategies."""

    _namespace = torch
    _native_namespace = "torch"
    _native_imports = ("import torch",)
    _native_numpy = "value.detach().cpu().double().numpy()"
    _not_supported = (
        "You must implement the jvp function for custom autograd.Function",  # forward AD, no jvp
        "must override the setup_context staticmethod",  # torch.func, an old-style Function
        "does not have vmap support",  # jacfwd (vmap of jvp), a Function without a vmap rule
        "marked with @once_differentiable",  # double backward
        "does not support it because it has not been implemented yet",  # an op without forward AD
        "Unsupported custom jvp",  # torch.compile cannot trace a Function that defines jvp
    )

    def __init__(self, device: str | None = None) -> None:
        self._torch_device = _torch_device(requested_device(device))
        self.device = str(self._torch_device)

    def environment(self) -> dict[str, Any]:
        """The vector instructions ATen's CPU kernels dispatch to here, and whether oneDNN
        (mkldnn) is built in and enabled."""
        return {
            "cpu_capability": str(torch.backends.cpu.get_cpu_capability()),
            "onednn": "on" if torch.backends.mkldnn.is_available() and torch.backends.mkldnn.enabled else "off",
            "threads": str(torch.get_num_threads()),
        }

    def thread_environment(self, count: int) -> dict[str, str]:
        """The OpenMP and MKL pools of a process that starts with these, ``count`` threads each."""
        return {"OMP_NUM_THREADS": str(count), "MKL_NUM_THREADS": str(count)}

    def use_threads(self, count: int) -> None:
        """``torch.set_num_threads``: the intra-op pool that ATen's CPU kernels split their work over."""
        torch.set_num_threads(count)

    def _to_framework(self, array: np.ndarray) -> torch.Tensor:
        if any(stride < 0 for stride in array.strides):
            array = array.copy(order="K")  # torch has no negative strides: the same axes, each ascending
        with warnings.catch_warnings():
            # Read-only inputs are fine: nothing here writes to them.
            warnings.filterwarnings("ignore", message="The given NumPy array is not writable", category=UserWarning)
            if array.dtype == _BFLOAT16:
                tensor = torch.from_numpy(array.view(np.uint16)).view(torch.bfloat16)
            else:
                tensor = torch.from_numpy(array)
        return tensor.to(self._torch_device)

    def _native_array(self, argument: NativeArgument) -> str:
        """``torch.from_numpy`` of the base, then the view: the strides the adapter gives the kernel."""
        tensor = f"torch.from_numpy({argument.name})"
        if argument.dtype == "bfloat16":
            tensor += ".to(torch.bfloat16)"
        tensor = viewed(argument, tensor)
        return tensor if self._torch_device.type == "cpu" else f"{tensor}.to({self.device!r})"

    def _to_numpy(self, value: Any) -> np.ndarray:
        if value is None:
            raise no_result(self)
        value = value.detach().cpu()
        if value.dtype == torch.bfloat16:
            return value.view(torch.uint16).numpy().view(_BFLOAT16)
        return value.numpy()


class TorchAutograd(_TorchAdapter):
    """``torch.autograd``: ``autograd.grad`` (VJP), ``autograd.functional.jacobian`` (one
    backward per output), ``autograd.forward_ad`` dual numbers (JVP), and
    ``autograd.grad(create_graph=True)`` twice (double backward) for the second order."""

    name = "torch"
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _autograd_jacobian,
        "vjp": _autograd_vjp,
        "jvp": _forward_ad_jvp,
        "vjp_derivative": _double_backward,
    }


class TorchFunc(_TorchAdapter):
    """``torch.func``: ``vjp``, ``jacrev``, ``jvp``, and forward-over-reverse
    (``jvp`` of ``vjp``) for the second order."""

    name = "torch-func"
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _func_jacrev,
        "vjp": _func_vjp,
        "jvp": _func_jvp,
        "vjp_derivative": _forward_over_reverse,
    }


class TorchFuncForward(TorchFunc):
    """``torch.func`` from forward mode: ``jacfwd`` for the Jacobian, reverse-over-forward
    (``vjp`` of ``jvp``) for the second order; ``vjp`` and ``jvp`` as in ``torch-func``."""

    name = "torch-jacfwd"
    _strategies: ClassVar[dict[str, Strategy]] = {
        **TorchFunc._strategies,
        "jacobian": _func_jacfwd,
        "vjp_derivative": _reverse_over_forward,
    }


def _given_strides(array: np.ndarray) -> tuple[int, ...]:
    """The strides, in elements, of the tensor :meth:`_TorchAdapter._to_framework` makes of
    ``array`` (an array with a negative stride is copied first, its axes kept in order)."""
    if any(stride < 0 for stride in array.strides):
        array = np.empty_like(array, order="K")
    return tuple(stride // max(array.itemsize, 1) for stride in array.strides)


def _layout(array: np.ndarray) -> tuple[Any, ...]:
    """What a compiled graph specialises on beyond symbolic sizes and strides: dtype, rank,
    which sizes are 0 or 1, which strides are 0 or 1, and whether the memory is C- or
    F-contiguous. Dynamo guards on each of these (its 0/1 specialisation covers strides as
    well as sizes); a key that leaves one out lets views of one kind after another (offset,
    stepped, transposed, broadcast) recompile one graph past its limit."""
    return (
        array.dtype,
        tuple(min(size, 2) for size in array.shape),
        tuple(min(stride, 2) for stride in _given_strides(array)),
        array.flags.c_contiguous,
        array.flags.f_contiguous,
    )


def _bind(strategy: Strategy, f: Any) -> Any:
    def program(*args: torch.Tensor) -> torch.Tensor:
        return strategy(f, *args)

    return program


def _own_code(function: Any, label: str) -> Any:
    """A copy of ``function`` with a code object of its own.

    Dynamo keeps its graphs, and its recompile limit (8, then a hard error under
    ``fullgraph=True``), per code object, not per function: closures made by one ``def``
    share it. Four dtypes, inference and training graphs, two ops and a few axes are far
    more than 8, so each cached callable gets its own code.
    """
    code = function.__code__.replace(co_name=label, co_qualname=label)
    return types.FunctionType(code, function.__globals__, label, function.__defaults__, function.__closure__)


class TorchCompile(_TorchAdapter):
    """``torch.compile(fullgraph=True, dynamic=True)``; backend ``aot_eager`` unless
    ``backend=`` or ``$CONFORMANCE_TORCH_COMPILE_BACKEND`` says otherwise (``inductor``).

    ``aot_eager`` runs everything torch.compile does to the autodiff (Dynamo's capture, the
    forward and backward graphs AOTAutograd derives, functionalization, dynamic shapes) and
    then runs those graphs with torch's eager kernels. ``inductor`` also generates C++
    kernels for them: on a 2-core machine each of the few hundred graphs a full run needs
    costs seconds to build, and the full run takes hours, so it is opt-in.

    * ``softmax``, ``vjp`` and ``jacobian`` call the compiled op the way a training loop
      does: the forward is the compiled graph, and ``torch.autograd`` runs the backward
      graph AOTAutograd compiled with it (``autograd.grad``; ``autograd.functional.jacobian``
      loops that backward once per output; ``vectorize=True`` fails inside the compiled
      backward with "Cannot access data pointer of Tensor that doesn't have storage").
    * ``jvp`` and ``vjp_derivative`` compile the whole ``torch.func`` program
      (``jvp``; ``jvp`` of ``vjp``), because autograd cannot go through a compiled graph
      there: ``forward_ad`` dual numbers pass through a compiled function with their
      tangent silently dropped (``unpack_dual(...).tangent`` is None), and double backward
      raises "torch.compile with aot_autograd does not currently support double backward".

    ``fullgraph=True`` makes a graph break or a hit recompile limit an error instead of a
    silent fallback to eager. Compiled callables are cached per (op, quantity, axis,
    layout), layout being dtype, rank, which sizes are 0 or 1, and C/F-contiguity (what the
    guards specialise on); ``dynamic=True`` lets one graph serve all other sizes, so the
    suite's many shapes do not each cost a compilation.

    Measured on a 2-core CPU machine with g++ (torch 2.13): inductor works. The first graph
    in a process takes ~4-5 s (Dynamo start-up, C++ kernels; ~20 s with a cold on-disk
    inductor cache), each later one ~0.5-3 s; afterwards a (5, 4) float32 VJP takes ~0.6 ms
    and a Jacobian (20 compiled backward calls) ~7 ms. Seen with ``dynamic=True``, and
    reported as they are: results on non-contiguous inputs differ from the contiguous
    ones by an ulp; ``jvp``/``vjp_derivative`` on a non-contiguous input raise while
    tracing ``make_dual`` ("Cannot call storage_offset() on tensor with symbolic
    sizes/strides"); an int64 input returns int64 zeros where eager torch raises; and inductor
    emits a DeprecationWarning (``torch.jit.script_method``) while compiling, which under
    ``-W error`` becomes BackendCompilerFailed.
    """

    name = "torch-compile"
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _autograd_jacobian,
        "vjp": _autograd_vjp,
        "jvp": _func_jvp,
        "vjp_derivative": _forward_over_reverse,
    }
    _compiled_whole: ClassVar[frozenset[str]] = frozenset({"jvp", "vjp_derivative"})

    def __init__(self, device: str | None = None, backend: str | None = None) -> None:
        super().__init__(device)
        self.backend = backend or os.environ.get("CONFORMANCE_TORCH_COMPILE_BACKEND") or "aot_eager"
        self._compiled = ProgramCache()
        self._made = 0

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        compiled = "program" if quantity in self._compiled_whole else "f"
        return [f"{compiled} = torch.compile({compiled}, fullgraph=True, dynamic=True, backend={self.backend!r})"]

    def _compile(self, key: tuple[Any, ...], make: Any) -> Any:
        """The compiled callable for ``key``, made and compiled on first use."""

        def compiled() -> Any:
            self._made += 1
            function = _own_code(make(), f"compiled_{self._made}_{key[0]}_{key[1]}")
            return torch.compile(function, fullgraph=True, dynamic=True, backend=self.backend)

        return self._compiled.get(key, compiled)

    def _program(self, op: Op, quantity: Quantity, axis: Any, arrays: tuple[np.ndarray, ...]) -> Program:
        strategy = self._strategies[quantity]
        key: tuple[Any, ...]
        if quantity in self._compiled_whole:
            key = (op, quantity, axis_key(axis), tuple(_layout(array) for array in arrays))
            return self._compile(key, lambda: _bind(strategy, op_function(self._namespace, op, axis)))
        # softmax, vjp and jacobian share one compiled op per input layout
        key = (op, "op", axis_key(axis), _layout(arrays[0]))
        compiled = self._compile(key, lambda: op_function(self._namespace, op, axis))
        return lambda *args: strategy(compiled, *args)
