"""TensorFlow adapters: one class per AD path, all computing ``tf.nn.softmax`` / ``tf.nn.log_softmax``.

* ``tensorflow``          :class:`TensorflowEager`: eager ``tf.GradientTape``
  (``gradient`` with ``output_gradients``, ``jacobian``), ``tf.autodiff.ForwardAccumulator``
  for the JVP and nested tapes for the second order;
* ``tensorflow-function`` :class:`TensorflowFunction`: the same programs as graphs,
  ``tf.function`` with an exact ``input_signature``, one per (op, quantity, axis, shapes, dtype);
* ``tensorflow-xla``      :class:`TensorflowXla`: the same with ``jit_compile=True`` (XLA).

``tape.jacobian`` keeps its default, ``experimental_use_pfor=True``: it vectorises the
backward pass with pfor. Eagerly that means a fresh internal ``tf.function`` traced on
every call (~40-120 ms on a small CPU, and TF logs a retracing warning), but the
``while_loop`` alternative runs one eager backward per output element (~4 ms each:
16 s for a 64 x 64 input, against 0.9 s with pfor). Under ``tf.function`` pfor is traced
once per cached signature and costs nothing more per call.

On the CPU inputs cross by DLPack and results come back as views: no copy of either (one
aligned copy of an input TensorFlow cannot take as it is). Measured at 1e8 float32 elements
(0.37 GiB an array, TF 2.21): ``tf.convert_to_tensor`` (``tf.constant`` alike) of an array,
aligned or not, holds two copies of it (+0.75 GiB) for as long as the tensor lives, 1.5 GiB
for a VJP's input and cotangent, and ``Tensor.numpy()`` copies by design (+0.37 GiB). What
the kernels allocate (the output, the gradient's temporaries) is TensorFlow's and stays.
"""

from __future__ import annotations

import functools
import os
from typing import Any, ClassVar

import ml_dtypes
import numpy as np
import tensorflow as tf

from conformance.adapter import NativeArgument
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
from conformance.truth.arrays import aligned_empty
from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.oracle import Op, Quantity

_DEVICE_KINDS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU"}
_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
# TensorFlow's CPU kernels require their buffers aligned to Eigen's widest vector (64 bytes
# where AVX-512 is compiled in): a tensor wrapped around a buffer 32 bytes off aborts the
# process ("Check failed: IsAligned()") in the first kernel that reads it.
_KERNEL_ALIGNMENT = 64


# The rank oneDNN's softmax kernels stop at (they take ranks 1 to 5): one past it.
_PROBED_RANK = 6
# The tf.functions a compiled path keeps: more than a run makes (a dev run of one worker made
# 790 distinct ones; with 256 kept it traced 202 of them again, 20 % of its traces).
FUNCTIONS_KEPT = 4096


def _raises(op: Op, dtype: str) -> bool:
    """Whether ``op`` of a rank _PROBED_RANK tensor of ``dtype`` raises here, eagerly."""
    try:
        getattr(tf.nn, op)(tf.zeros([2] * _PROBED_RANK, dtype=dtype), axis=-1)
    except tf.errors.OpError:
        return True
    return False


@functools.cache
def _environment() -> dict[str, Any]:
    """TensorFlow as this process runs it: whether its oneDNN kernels are on (by default on
    CPUs with AVX-512; ``TF_ENABLE_ONEDNN_OPTS`` overrides), ``XLA_FLAGS``, and, per dtype,
    whether a rank 6 softmax (log_softmax) raises, which depends on oneDNN and the CPU."""
    from tensorflow.python.util import _pywrap_util_port

    return {
        "onednn": "on" if _pywrap_util_port.IsMklEnabled() else "off",
        "TF_ENABLE_ONEDNN_OPTS": os.environ.get("TF_ENABLE_ONEDNN_OPTS", "unset"),
        "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
        **{
            f"rank_{_PROBED_RANK}_{op}_raises": {dtype: _raises(op, dtype) for dtype in DTYPE_NAMES}
            for op in ("softmax", "log_softmax")
        },
    }


# -- AD strategies: (f, x, *vectors) -> tensor, f = x -> op(x, axis) ---------------------


@native("return f(x)")
def _call(f: Any, x: tf.Tensor) -> tf.Tensor:
    return f(x)


@native(
    "with tf.GradientTape() as tape:",
    "    tape.watch(x)",
    "    y = f(x)",
    "return tape.gradient(y, x, output_gradients=cotangent)",
)
def _tape_vjp(f: Any, x: tf.Tensor, cotangent: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x, output_gradients=cotangent)


@native(
    "with tf.GradientTape() as tape:",
    "    tape.watch(x)",
    "    y = f(x)",
    "return tape.jacobian(y, x)",
)
def _tape_jacobian(f: Any, x: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.jacobian(y, x)


@native(
    "with tf.autodiff.ForwardAccumulator(x, tangent) as accumulator:",
    "    y = f(x)",
    "return accumulator.jvp(y)",
)
def _accumulator_jvp(f: Any, x: tf.Tensor, tangent: tf.Tensor) -> tf.Tensor:
    with tf.autodiff.ForwardAccumulator(x, tangent) as accumulator:
        y = f(x)
    return accumulator.jvp(y)


@native(
    "with tf.GradientTape() as outer:",
    "    outer.watch(x)",
    "    with tf.GradientTape() as inner:",
    "        inner.watch(x)",
    "        y = f(x)",
    "    grad = inner.gradient(y, x, output_gradients=cotangent)",
    "return outer.gradient(grad, x, output_gradients=direction)",
)
def _nested_tapes(f: Any, x: tf.Tensor, cotangent: tf.Tensor, direction: tf.Tensor) -> tf.Tensor:
    # v(x) = J(x)^T g is the gradient of <g, f(x)>, so dv/dx is a (symmetric) Hessian and
    # the VJP of v with the direction is the derivative of v along it.
    with tf.GradientTape() as outer:
        outer.watch(x)
        with tf.GradientTape() as inner:
            inner.watch(x)
            y = f(x)
        grad = inner.gradient(y, x, output_gradients=cotangent)
    return outer.gradient(grad, x, output_gradients=direction)


# -- the framework layer ----------------------------------------------------------------


def _shared_tensor(array: np.ndarray) -> tf.Tensor | None:
    """A CPU tensor on the buffer of ``array``, or of an aligned C-contiguous copy of it
    where TensorFlow cannot take ``array``'s own: a read-only array (unversioned DLPack
    cannot say read-only), a non-contiguous one (TensorFlow takes no strides from DLPack)
    or one off the kernels' alignment. None for a dtype DLPack does not know (bfloat16
    crosses as its bit pattern and is ``tf.bitcast`` back, which keeps the buffer).

    A kernel may reuse an input's buffer for its output only when nothing else references
    it, and the tensors made here are referenced by the call's arguments until it returns:
    the caller's arrays come back unchanged (checked for every path and quantity)."""
    if not (array.flags.c_contiguous and array.flags.writeable) or array.ctypes.data % _KERNEL_ALIGNMENT:
        copy = aligned_empty(array.shape, array.dtype, _KERNEL_ALIGNMENT)
        copy[...] = array
        array = copy
    bits = array.view(np.uint16) if array.dtype == _BFLOAT16 else array
    try:
        tensor = tf.experimental.dlpack.from_dlpack(bits.__dlpack__())
    except (BufferError, TypeError, ValueError, tf.errors.InvalidArgumentError):
        return None
    return tf.bitcast(tensor, tf.bfloat16) if array.dtype == _BFLOAT16 else tensor


def _tf_device(requested: str) -> str:
    """The first TF device of kind "cpu" or "gpu" ("cuda" is taken as "gpu")."""
    available = [device.name for device in tf.config.list_logical_devices()]
    kind = _DEVICE_KINDS.get(requested.lower())
    name = f"/device:{kind}:0"
    if kind is None or name not in available:
        raise unavailable_device("tensorflow", requested, available)
    return name


class TensorflowEager(AdapterBase):
    """Eager TensorFlow: ``GradientTape.gradient(output_gradients=)`` (VJP),
    ``GradientTape.jacobian`` (pfor), ``ForwardAccumulator`` (JVP), nested tapes (second order)."""

    name = "tensorflow"
    _namespace = tf.nn
    _native_namespace = "tf.nn"
    _native_imports = ("import tensorflow as tf",)
    _not_supported = ("No gradient defined for operation",)
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _tape_jacobian,
        "vjp": _tape_vjp,
        "jvp": _accumulator_jvp,
        "vjp_derivative": _nested_tapes,
    }

    def __init__(self, device: str | None = None) -> None:
        requested = requested_device(device)
        self._tf_device = _tf_device(requested)
        self.device = self._tf_device.split(":")[1].lower()

    def _placement(self) -> Any:
        return tf.device(self._tf_device)

    def environment(self) -> dict[str, Any]:
        return dict(_environment())

    def thread_environment(self, count: int) -> dict[str, str]:
        """TensorFlow sizes its intra-op pool (its CPU kernels', oneDNN's included) once, when its
        runtime starts (loading this adapter starts it), from ``TF_NUM_INTRAOP_THREADS``."""
        return {"TF_NUM_INTRAOP_THREADS": str(count), "OMP_NUM_THREADS": str(count)}

    def _to_framework(self, array: np.ndarray) -> tf.Tensor:
        """``array`` as a tensor: on the CPU one on its buffer, or on one aligned copy
        (:func:`_shared_tensor`); else ``tf.convert_to_tensor``."""
        if self.device == "cpu":
            shared = _shared_tensor(array)
            if shared is not None:
                return shared
        return tf.convert_to_tensor(array)

    def _native_array(self, argument: NativeArgument) -> str:
        tensor = f"tf.constant({viewed(argument, argument.name)})"
        return f"tf.cast({tensor}, tf.bfloat16)" if argument.dtype == "bfloat16" else tensor

    def _native_call(self, call: str) -> list[str]:
        return [f"with tf.device({self._tf_device!r}):", f"    {call}"]

    def _to_numpy(self, value: Any) -> np.ndarray:
        """The result as a read-only NumPy view of the tensor's buffer on the CPU (``__array__``;
        the view keeps the tensor alive), a copy from other devices. ``Tensor.numpy()``
        would copy on the CPU too: its docstring says so, to keep tensors immutable."""
        if value is None:
            raise no_result(self)
        return np.asarray(value)


class TensorflowFunction(TensorflowEager):
    """The eager programs traced by ``tf.function``: one function per
    (op, quantity, axis, shapes, dtype), its ``input_signature`` exactly those shapes, so
    each traces once and never retraces. The functions are kept for the whole run
    (:data:`FUNCTIONS_KEPT`): every property cycles through the same (op, dtype) pairs, so a
    function dropped is one traced again."""

    name = "tensorflow-function"
    _jit_compile: ClassVar[bool | None] = None

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        options = "" if self._jit_compile is None else f", jit_compile={self._jit_compile!r}"
        return [f"program = tf.function(program{options})"]

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self._functions = ProgramCache(FUNCTIONS_KEPT)

    def _program(self, op: Op, quantity: Quantity, axis: Any, arrays: tuple[np.ndarray, ...]) -> Program:
        eager = super()._program

        def make() -> Program:
            signature = [tf.TensorSpec(array.shape, tf.as_dtype(array.dtype)) for array in arrays]
            return tf.function(
                eager(op, quantity, axis, arrays), input_signature=signature, jit_compile=self._jit_compile
            )

        key = (op, quantity, axis_key(axis), tuple((array.shape, array.dtype) for array in arrays))
        return self._functions.get(key, make)


class TensorflowXla(TensorflowFunction):
    """The ``tensorflow-function`` programs compiled by XLA (``jit_compile=True``)."""

    name = "tensorflow-xla"
    _jit_compile = True
