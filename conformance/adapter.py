"""The adapter protocol: what an implementation under test provides, and what it may.

An adapter turns NumPy arrays into calls of the implementation and NumPy arrays back.
All checking lives in the suite; an adapter only computes. Three methods make an adapter
fully testable::

    class Adapter:
        name: str
        def softmax(self, x, axis): ...                  # x.shape
        def jacobian(self, x, axis): ...                 # x.shape + x.shape
        def vjp(self, x, cotangent, axis): ...           # x.shape

Output dtype equals input dtype (float16, ``ml_dtypes.bfloat16``, float32, float64).

Optional capabilities are discovered by name; a missing one is reported as
"not provided", never as a failure:

* ``jvp(x, tangent, axis)``: forward mode, ``J t``;
* ``vjp_derivative(x, cotangent, direction, axis)``: d/de vjp(x + e*u, g) at e = 0;
* ``log_softmax``, ``log_softmax_jacobian``, ``log_softmax_vjp``, ``log_softmax_jvp``,
  ``log_softmax_vjp_derivative``: the same for log_softmax;
* ``dtypes``: the dtype names the adapter supports (default: all four);
* ``device``: where it computes (shown in the report);
* ``ad_path``: the built-in AD path (``"torch-func"``, ``"jax-jit"``, ...) whose autodiff
  computes the derivatives of the adapter's own function: what :func:`~conformance.adapters.from_torch`,
  ``from_jax`` and ``from_tensorflow`` set. Its results carry the path and its framework, and
  the known divergences of that path's machinery (``machinery = true``) apply to them.

A built-in adapter also spells its calls in the framework's own API,
:meth:`native_program` (see :class:`NativeProgram`): how a failure is reproduced without
this suite, for the framework's issue tracker.

A method may raise :class:`NotSupported` for a quantity its implementation cannot compute at
all (a ``jax.custom_vjp`` function has no forward mode): the result is "not supported", with
the reason, not a failure.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.oracle import OPS, Op

Quantity = Literal["forward", "jacobian", "vjp", "jvp", "vjp_derivative"]
QUANTITIES: tuple[Quantity, ...] = ("forward", "jacobian", "vjp", "jvp", "vjp_derivative")
REQUIRED_METHODS: tuple[str, ...] = ("softmax", "jacobian", "vjp")


class NotSupported(Exception):
    """What an adapter raises for a quantity its implementation cannot compute on its AD path
    (no forward-mode rule, no vmap rule, ...): the property is reported "not supported" with
    ``reason``, and is neither a failure nor an error."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class NativeArgument:
    """An argument of a call, as a native reproducer has it: a NumPy variable ``name`` that
    holds its values in ``dtype`` (bfloat16 as float32 values, which NumPy alone cannot
    spell), contiguous; ``view`` (an expression over ``base``) makes the argument's strides."""

    name: str
    dtype: str
    view: str | None = None


@dataclass(frozen=True)
class NativeProgram:
    """A call in a framework's own API: ``imports``, then ``lines`` that turn the NumPy
    variables of its :class:`NativeArgument` into the framework's arrays and compute
    ``result`` the way the adapter's AD path does; ``as_numpy``, an expression of a
    framework array ``value``, makes it a float64 NumPy array (to compare two results)."""

    imports: tuple[str, ...]
    lines: tuple[str, ...]
    as_numpy: str = "np.asarray(value, dtype=np.float64)"


@runtime_checkable
class Adapter(Protocol):
    name: str

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray: ...

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray: ...

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray: ...


def method_name(op: Op, quantity: Quantity) -> str:
    """The adapter method that computes ``quantity`` of ``op``."""
    base = {"forward": op, "jacobian": "jacobian", "vjp": "vjp", "jvp": "jvp", "vjp_derivative": "vjp_derivative"}[
        quantity
    ]
    if op == "softmax" or quantity == "forward":
        return base
    return f"{op}_{base}"


def provided_method(adapter: Any, op: Op, quantity: Quantity) -> Callable[..., Any] | None:
    """The bound method for ``(op, quantity)``, or None when the adapter does not offer it."""
    method = getattr(adapter, method_name(op, quantity), None)
    return method if callable(method) else None


def supported_dtypes(adapter: Any) -> tuple[str, ...]:
    declared = getattr(adapter, "dtypes", None)
    if declared is None:
        return DTYPE_NAMES
    return tuple(str(name) for name in declared)


def adapter_name(adapter: Any) -> str:
    name = getattr(adapter, "name", None)
    return str(name) if name else type(adapter).__name__


def missing_required(adapter: Any) -> list[str]:
    return [name for name in REQUIRED_METHODS if not callable(getattr(adapter, name, None))]


def capabilities(adapter: Any) -> dict[str, bool]:
    """Every optional capability and whether ``adapter`` provides it, for the report."""
    found = {
        method_name(op, quantity): provided_method(adapter, op, quantity) is not None
        for op in OPS
        for quantity in QUANTITIES
    }
    return found
