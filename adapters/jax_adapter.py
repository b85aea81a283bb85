"""JAX adapters: one class per AD path, all computing ``jax.nn.softmax`` / ``jax.nn.log_softmax``.

* ``jax``        :class:`JaxEager`: op-by-op ``jax.vjp``, ``jax.jacrev``, ``jax.jvp``, and
  forward-over-reverse (``jax.jvp`` of the VJP) for the second order;
* ``jax-jit``    :class:`JaxJit`: the same programs under ``jax.jit``;
* ``jax-jacfwd`` :class:`JaxForward`: ``jax.jacfwd`` for the Jacobian and reverse-over-forward
  (``jax.vjp`` of the JVP) for the second order.

Importing this module turns on ``jax_enable_x64`` (process-wide): without it JAX silently
computes float64 inputs in float32.
"""

from __future__ import annotations

import os
from typing import Any, ClassVar

import jax
import numpy as np

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
from conformance.truth.oracle import Op, Quantity

jax.config.update("jax_enable_x64", True)


# -- AD strategies: (f, x, *vectors) -> array, f = x -> op(x, axis) ----------------------


@native("return f(x)")
def _call(f: Any, x: jax.Array) -> jax.Array:
    return f(x)


@native("return jax.vjp(f, x)[1](cotangent)[0]")
def _vjp(f: Any, x: jax.Array, cotangent: jax.Array) -> jax.Array:
    _, pullback = jax.vjp(f, x)
    (grad,) = pullback(cotangent)
    return grad


@native("return jax.jacrev(f)(x)")
def _jacrev(f: Any, x: jax.Array) -> jax.Array:
    return jax.jacrev(f)(x)


@native("return jax.jacfwd(f)(x)")
def _jacfwd(f: Any, x: jax.Array) -> jax.Array:
    return jax.jacfwd(f)(x)


@native("return jax.jvp(f, (x,), (tangent,))[1]")
def _jvp(f: Any, x: jax.Array, tangent: jax.Array) -> jax.Array:
    return jax.jvp(f, (x,), (tangent,))[1]


@native("return jax.jvp(lambda y: jax.vjp(f, y)[1](cotangent)[0], (x,), (direction,))[1]")
def _forward_over_reverse(f: Any, x: jax.Array, cotangent: jax.Array, direction: jax.Array) -> jax.Array:
    return _jvp(lambda y: _vjp(f, y, cotangent), x, direction)


@native("return jax.vjp(lambda y: jax.jvp(f, (y,), (direction,))[1], x)[1](cotangent)[0]")
def _reverse_over_forward(f: Any, x: jax.Array, cotangent: jax.Array, direction: jax.Array) -> jax.Array:
    # <g, J(x) u> has gradient H u (H the Hessian of <g, f>): the same quantity.
    return _vjp(lambda y: _jvp(f, y, direction), x, cotangent)


# -- the framework layer ----------------------------------------------------------------


def _jax_device(requested: str) -> Any:
    """The first JAX device of platform ``requested`` ("cpu", "gpu", "cuda")."""
    try:
        return jax.devices(requested)[0]
    except RuntimeError as error:
        available = sorted({f"{device.platform}:{device.id}" for device in jax.devices()} | {"cpu:0"})
        raise unavailable_device("jax", requested, available) from error


class JaxEager(AdapterBase):
    """Op-by-op JAX: ``jax.vjp``, ``jax.jacrev``, ``jax.jvp``, and ``jax.jvp`` of the VJP
    function (forward-over-reverse) for the second order."""

    name = "jax"
    _namespace = jax.nn
    _native_namespace = "jax.nn"
    _native_imports = ("import jax", "jax.config.update('jax_enable_x64', True)")
    _not_supported = (
        "can't apply forward-mode autodiff (jvp) to a custom_vjp function",
        "Differentiation rule for 'custom_lin' not implemented",  # vjp of jvp of a custom_vjp
        "Reverse-mode differentiation does not work for lax.while_loop",
    )
    _strategies: ClassVar[dict[str, Strategy]] = {
        "forward": _call,
        "jacobian": _jacrev,
        "vjp": _vjp,
        "jvp": _jvp,
        "vjp_derivative": _forward_over_reverse,
    }

    def __init__(self, device: str | None = None) -> None:
        requested = requested_device(device)
        self._jax_device = _jax_device(requested)
        self.device = str(self._jax_device.platform)

    def environment(self) -> dict[str, Any]:
        """XLA's CPU flags as this process runs it (they choose its code generation), and the
        jax settings that change numbers."""
        return {
            "XLA_FLAGS": os.environ.get("XLA_FLAGS", ""),
            "jax_enable_x64": bool(jax.config.values.get("jax_enable_x64")),
            "jax_default_matmul_precision": str(jax.config.values.get("jax_default_matmul_precision")),
        }

    def thread_environment(self, count: int) -> dict[str, str]:
        """XLA's CPU client sizes its intra-op pool by the cores the process may run on, when
        it starts, and Eigen's pool by ``--xla_cpu_multi_thread_eigen``: one thread turns that
        off (the suite pins a one-thread process to one core)."""
        eigen = f"--xla_cpu_multi_thread_eigen={'false' if count == 1 else 'true'}"
        return {"XLA_FLAGS": f"{os.environ.get('XLA_FLAGS', '')} {eigen}".strip()}

    def _to_framework(self, array: np.ndarray) -> jax.Array:
        return jax.device_put(array, self._jax_device)

    def _native_array(self, argument: NativeArgument) -> str:
        values = viewed(argument, argument.name)
        if argument.dtype == "bfloat16":
            values += ".astype(jax.numpy.bfloat16)"
        return f"jax.device_put({values}, jax.devices({self.device!r})[0])"

    def _to_numpy(self, value: Any) -> np.ndarray:
        """The result as a read-only NumPy view of the array's buffer on the CPU (the view
        keeps the array alive), a copy from other devices. ``np.array`` would copy on the
        CPU too: 0.37 GiB more at 1e8 float32, held with the output while it is checked."""
        if value is None:
            raise no_result(self)
        return np.asarray(value)


class JaxJit(JaxEager):
    """The ``jax`` programs, each under ``jax.jit``; one jitted function per
    (op, quantity, axis), and ``jax.jit`` compiles once per shape and dtype itself."""

    name = "jax-jit"

    def __init__(self, device: str | None = None) -> None:
        super().__init__(device)
        self._jitted = ProgramCache()

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        return ["program = jax.jit(program)"]

    def _program(self, op: Op, quantity: Quantity, axis: Any, arrays: tuple[np.ndarray, ...]) -> Program:
        eager = super()._program
        return self._jitted.get((op, quantity, axis_key(axis)), lambda: jax.jit(eager(op, quantity, axis, arrays)))


class JaxForward(JaxEager):
    """Forward-mode first: ``jax.jacfwd`` for the Jacobian, ``jax.vjp`` of the JVP
    (reverse-over-forward) for the second order; ``vjp`` and ``jvp`` as in ``jax``."""

    name = "jax-jacfwd"
    _strategies: ClassVar[dict[str, Strategy]] = {
        **JaxEager._strategies,
        "jacobian": _jacfwd,
        "vjp_derivative": _reverse_over_forward,
    }
