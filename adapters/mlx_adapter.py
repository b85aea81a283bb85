"""MLX adapters: one class per AD path, computing ``mlx.core.softmax`` / ``mlx.nn.log_softmax``.

* ``mlx``         :class:`MlxEager`: ``mx.vjp``, ``mx.jvp``, the Jacobian as ``mx.vmap`` of
  ``mx.vjp`` over one-hot cotangents (MLX has no Jacobian function), and ``mx.jvp`` of the
  VJP (forward-over-reverse) for the second order;
* ``mlx-compile`` :class:`MlxCompile`: the same programs under ``mx.compile``.

These are the functions MLX users call: ``mx.softmax`` with its default accumulation
(``precise=False``), and ``mlx.nn.log_softmax`` (what ``nn.LogSoftmax`` calls), which MLX
itself wraps in ``mx.compile(shapeless=True)``. MLX has no ``log_softmax`` in ``mlx.core``.

``mx.array`` copies, and of a float64 NumPy array gives float32 unless told the dtype, so
every input is converted with its dtype named; bfloat16 crosses as its bit pattern
(``uint16``). A transposed NumPy array reaches MLX as a transposed MLX array: the copy is
made in the array's memory order and transposed back in MLX, so kernels see the layout.
"""

from __future__ import annotations

import dataclasses
import functools
from typing import Any, ClassVar

import ml_dtypes
import mlx.core as mx
import mlx.nn as nn
import numpy as np

from conformance.adapter import NativeArgument, NativeProgram
from conformance.adapters._common import (
    AdapterBase,
    Program,
    ProgramCache,
    Strategy,
    axis_key,
    native,
    no_result,
    requested_device,
    unavailable_device,
    viewed,
)
from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.oracle import Op, Quantity

_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
_MX_DTYPES = {np.dtype(np.float16): mx.float16, np.dtype(np.float32): mx.float32, np.dtype(np.float64): mx.float64}


# -- AD strategies: (f, x, *vectors) -> array, f = x -> op(x, axis) ----------------------


@native("return f(x)")
def _call(f: Any, x: mx.array) -> mx.array:
    return f(x)


@native("return mx.vjp(f, [x], [cotangent])[1][0]")
def _vjp(f: Any, x: mx.array, cotangent: mx.array) -> mx.array:
    _, (grad,) = mx.vjp(f, [x], [cotangent])
    return grad


@native("return mx.jvp(f, [x], [tangent])[1][0]")
def _jvp(f: Any, x: mx.array, tangent: mx.array) -> mx.array:
    _, (tangent_out,) = mx.jvp(f, [x], [tangent])
    return tangent_out


@native(
    "one_hots = mx.eye(x.size, dtype=x.dtype).reshape((x.size, *x.shape))",
    "rows = mx.vmap(lambda one_hot: mx.vjp(f, [x], [one_hot])[1][0])(one_hots)",
    "return rows.reshape(x.shape + x.shape)",
)
def _vmapped_vjp_jacobian(f: Any, x: mx.array) -> mx.array:
    # Row i of the Jacobian is e_i^T J, the VJP of the one-hot cotangent e_i; mx.vmap
    # batches the n pullbacks into one.
    count = x.size
    one_hots = mx.eye(count, dtype=x.dtype).reshape((count, *x.shape))
    rows = mx.vmap(functools.partial(_vjp, f, x))(one_hots)
    return rows.reshape(x.shape + x.shape)


@native("return mx.jvp(lambda y: mx.vjp(f, [y], [cotangent])[1][0], [x], [direction])[1][0]")
def _forward_over_reverse(f: Any, x: mx.array, cotangent: mx.array, direction: mx.array) -> mx.array:
    return _jvp(lambda y: _vjp(f, y, cotangent), x, direction)


# -- the framework layer ----------------------------------------------------------------


class _Ops:
    """Where MLX keeps the two ops: ``softmax`` in ``mlx.core``, ``log_softmax`` in ``mlx.nn``;
    looked up at every call, as the other adapters look up theirs."""

    @property
    def softmax(self) -> Any:
        return mx.softmax

    @property
    def log_softmax(self) -> Any:
        return nn.log_softmax


def _mx_device(requested: str) -> mx.Device:
    """``mx.cpu``, or ``mx.gpu`` ("gpu", "metal") where MLX has one."""
    available = ["cpu"] + (["gpu"] if mx.is_available(mx.gpu) else [])
    kind = {"cpu": "cpu", "gpu": "gpu", "metal": "gpu"}.get(requested.lower())
    if kind is None or kind not in available:
        raise unavailable_device("mlx", requested, available)
    return mx.Device(mx.cpu if kind == "cpu" else mx.gpu)


def _memory_order(array: np.ndarray) -> tuple[int, ...]:
    """The axes of ``array`` from the largest stride to the smallest (C order: 0, 1, ...)."""
    return tuple(sorted(range(array.ndim), key=lambda axis: -abs(array.strides[axis])))


class MlxEager(AdapterBase):
    """Eager MLX: ``mx.vjp``, ``mx.jvp``, ``mx.vmap`` of ``mx.vjp`` for the Jacobian, and
    ``mx.jvp`` of the VJP (forward-over-reverse) for the second order."""

    name = "mlx"
    _namespace = _Ops()
    _native_namespace = "mx"
    _native_imports = ("import mlx.core as mx", "import mlx.nn as nn")
    _native_numpy = "np.array(value.astype(mx.float32) if value.dtype == mx.bfloat16 else value, dtype=np.float64)"
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _vmapped_vjp_jacobian,
        "vjp": _vjp,
        "jvp": _jvp,
        "vjp_derivative": _forward_over_reverse,
    }

    def __init__(self, device: str | None = None) -> None:
        self._mx_device = _mx_device(requested_device(device))
        self.device = "cpu" if self._mx_device.type == mx.cpu else "gpu"
        # MLX's GPU (Metal) has no float64
        self.dtypes = DTYPE_NAMES if self.device == "cpu" else tuple(n for n in DTYPE_NAMES if n != "float64")

    def native_program(
        self, op: Op, quantity: Quantity, axis: Any, arguments: tuple[NativeArgument, ...]
    ) -> NativeProgram | None:
        """As the other built-in paths spell theirs, with log_softmax where MLX keeps it:
        ``nn.log_softmax`` (mlx.core has none)."""
        program = super().native_program(op, quantity, axis, arguments)
        if program is None or op != "log_softmax":
            return program
        lines = tuple(line.replace("mx.log_softmax(", "nn.log_softmax(") for line in program.lines)
        return dataclasses.replace(program, lines=lines)

    def _native_array(self, argument: NativeArgument) -> str:
        """``mx.array`` with the dtype named, as the adapter converts: a transposed view as the
        MLX transpose of its base (the layout the adapter gives MLX), any other view copied."""
        dtype = f"mx.{argument.dtype}"
        if argument.view == "base.T":
            return f"mx.array({argument.name}, dtype={dtype}).T"
        return f"mx.array({viewed(argument, argument.name)}, dtype={dtype})"

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        """MLX computes lazily: ``program`` evaluates its answer on the adapter's device where it
        is called (in a thread, say), as the adapter's conversion to NumPy does."""
        return [
            "def program(*arguments, lazy=program):  # MLX is lazy: compute here, on the adapter's device",
            f"    with mx.stream(mx.{self.device}):",
            "        result = lazy(*arguments)",
            "        mx.eval(result)",
            "    return result",
        ]

    def _placement(self) -> Any:
        return mx.stream(self._mx_device)

    def _to_framework(self, array: np.ndarray) -> mx.array:
        order = _memory_order(array)
        base = array.transpose(order).copy(order="C")  # not ascontiguousarray: it makes a 0-d array 1-d
        if base.dtype == _BFLOAT16:
            converted = mx.array(base.view(np.uint16), dtype=mx.uint16).view(mx.bfloat16)
        else:
            converted = mx.array(base, dtype=_MX_DTYPES[base.dtype])
        if order == tuple(range(array.ndim)):
            return converted
        return mx.transpose(converted, tuple(int(axis) for axis in np.argsort(order)))

    def _to_numpy(self, value: Any) -> np.ndarray:
        if value is None:
            raise no_result(self)
        if value.dtype == mx.bfloat16:
            return np.array(value.view(mx.uint16)).view(_BFLOAT16)
        return np.array(value)


class MlxCompile(MlxEager):
    """The ``mlx`` programs, each under ``mx.compile``: one compiled function per
    (op, quantity, axis), which MLX traces again for each new shape and dtype."""

    name = "mlx-compile"

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self._compiled = ProgramCache()

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        return ["program = mx.compile(program)", *super()._native_compilation(quantity)]

    def _program(self, op: Op, quantity: Quantity, axis: Any, arrays: tuple[np.ndarray, ...]) -> Program:
        eager = super()._program
        return self._compiled.get((op, quantity, axis_key(axis)), lambda: mx.compile(eager(op, quantity, axis, arrays)))
