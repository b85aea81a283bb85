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
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import tensorflow as tf

from conformance.adapters._common import (
    AdapterBase,
    Op,
    Program,
    ProgramCache,
    Quantity,
    Strategy,
    axis_key,
    no_result,
    requested_device,
    unavailable_device,
)

_DEVICE_KINDS = {"cpu": "CPU", "gpu": "GPU", "cuda": "GPU"}


# -- AD strategies: (f, x, *vectors) -> tensor, f = x -> op(x, axis) ---------------------


def _call(f: Any, x: tf.Tensor) -> tf.Tensor:
    return f(x)


def _tape_vjp(f: Any, x: tf.Tensor, cotangent: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.gradient(y, x, output_gradients=cotangent)


def _tape_jacobian(f: Any, x: tf.Tensor) -> tf.Tensor:
    with tf.GradientTape() as tape:
        tape.watch(x)
        y = f(x)
    return tape.jacobian(y, x)


def _accumulator_jvp(f: Any, x: tf.Tensor, tangent: tf.Tensor) -> tf.Tensor:
    with tf.autodiff.ForwardAccumulator(x, tangent) as accumulator:
        y = f(x)
    return accumulator.jvp(y)


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

    def _to_framework(self, array: np.ndarray) -> tf.Tensor:
        return tf.convert_to_tensor(array)

    def _to_numpy(self, value: Any) -> np.ndarray:
        if value is None:
            raise no_result(self)
        return np.asarray(value.numpy())


class TensorflowFunction(TensorflowEager):
    """The eager programs traced by ``tf.function``: one function per
    (op, quantity, axis, shapes, dtype), its ``input_signature`` exactly those shapes, so
    each traces once and never retraces."""

    name = "tensorflow-function"
    _jit_compile: ClassVar[bool | None] = None

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self._functions = ProgramCache()

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
