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

An adapter may promise that its results are the same bits whatever else is computed with
them: a class attribute ``bitwise``, a subset of :data:`BITWISE_PROMISES` (``from_torch``,
``from_jax`` and ``from_tensorflow`` take it as ``bitwise=``):

* ``"batch"``: a row gives the same bits alone and in any batch, at any place in it;
* ``"determinism"``: the same call gives the same bits every time, and from several threads at once;
* ``"threads"``: the same call gives the same bits on one thread and on all of them.

The bit-for-bit properties measure all three for every adapter and report what they find; a
promise made that does not hold is a failure, and one not made never is.

The thread count is set where a process starts (an environment variable, XLA's flags,
TensorFlow's intra-op pool), so an adapter that has a thread setting says how to make it,
with either or both of:

* ``thread_environment(count)``: the environment variables a process must start with to
  compute on ``count`` threads (asked in the process that tests it);
* ``use_threads(count)``: called in such a process once the adapter is loaded, before any
  call (``torch.set_num_threads``; a NumPy adapter may keep ``count`` and honour it).

An adapter with neither has no thread setting: the thread-count property is "not provided".

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
from typing import Any, Protocol, runtime_checkable

import numpy as np

from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.oracle import OPS, QUANTITIES, Op, Quantity

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


# What an adapter may promise to keep bit for bit (its ``bitwise`` attribute).
BITWISE_PROMISES: tuple[str, ...] = ("batch", "determinism", "threads")


class UnknownPromise(ValueError):
    """A ``bitwise`` declaration that names something other than :data:`BITWISE_PROMISES`."""


def check_promises(declared: Any, where: str) -> tuple[str, ...]:
    """``declared`` (a name or names of :data:`BITWISE_PROMISES`) as a tuple; an
    :class:`UnknownPromise`, one line naming the valid choices and ``where`` it was declared,
    for anything else."""
    names = (declared,) if isinstance(declared, str) else declared
    try:
        found = tuple(names)
    except TypeError:
        found = (declared,)
    unknown = [name for name in found if name not in BITWISE_PROMISES]
    if unknown:
        raise UnknownPromise(
            f"{where}: bitwise={declared!r}, but the promises are: {', '.join(BITWISE_PROMISES)} "
            f"(unknown: {', '.join(map(repr, unknown))})"
        )
    return found


def declared_promises(adapter: Any) -> tuple[str, ...]:
    """What ``adapter`` promises to keep bit for bit (its ``bitwise`` attribute), checked."""
    return check_promises(getattr(adapter, "bitwise", ()) or (), f"{adapter_name(adapter)}.bitwise")


def has_thread_setting(adapter: Any) -> bool:
    """Whether ``adapter`` can be told how many threads to compute on (``use_threads`` or
    ``thread_environment``)."""
    return any(callable(getattr(adapter, name, None)) for name in ("use_threads", "thread_environment"))


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
