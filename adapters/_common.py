"""What the framework adapters share: the public capability layer and the private plumbing.

An adapter is written in two layers, the way Hypothesis' ``make_strategies_namespace``
binds one set of strategies to an array namespace:

* the private layer is the framework *namespace* (``torch``, ``jax.nn``, ``tf.nn``) whose
  ``softmax`` / ``log_softmax`` compute the forward pass, plus a table of *AD strategies*:
  plain functions ``strategy(f, x, *vectors)`` that take ``f = lambda x: op(x, axis)`` and
  return one quantity (jacobian, vjp, ...) through the framework's own autodiff;
* the public layer is :class:`AdapterBase`: the ten capability methods of
  :mod:`conformance.adapter`, each a one-line binding of ``(op, quantity)``, and the
  conversion NumPy -> framework -> NumPy.

A framework module subclasses :class:`AdapterBase` once (conversion, device, namespace)
and then once per AD path, where a path is nothing but its strategy table, and, for
compiled paths, a :meth:`AdapterBase._program` that wraps and caches the strategy.

The op function is looked up on the namespace when a program is built (or traced), never
bound at import, so the results provably come from the framework: patch
``torch.softmax`` and the adapter breaks.

The namespace is the only thing that makes a built-in adapter about the framework's softmax.
:meth:`AdapterBase.of_functions` puts a user's ``softmax(x, axis)`` (and ``log_softmax``, if
given) in its place on an instance of a path's class: the same strategies, compilation and
conversions then differentiate the user's function, which is what ``from_torch``,
``from_jax`` and ``from_tensorflow`` (:mod:`conformance.adapters`) return.
"""

from __future__ import annotations

import contextlib
import functools
import os
import re
import types
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from typing import Any, ClassVar, Self

import numpy as np

from conformance.adapter import NativeArgument, NativeProgram, NotSupported, method_name
from conformance.truth.dtypes import DTYPE_NAMES
from conformance.truth.frameworks import BUILTIN_ADAPTERS
from conformance.truth.oracle import QUANTITIES, Op, Quantity

Strategy = Callable[..., Any]
Program = Callable[..., Any]

DEVICE_ENVIRONMENT_VARIABLE = "CONFORMANCE_DEVICE"


def requested_device(device: str | None) -> str:
    """``device``, else ``$CONFORMANCE_DEVICE``, else ``"cpu"``."""
    if device is not None:
        return device
    return os.environ.get(DEVICE_ENVIRONMENT_VARIABLE) or "cpu"


def unavailable_device(framework: str, device: str, available: list[str]) -> RuntimeError:
    """The error for a device the framework cannot see, naming the ones it can."""
    return RuntimeError(
        f"{framework}: device {device!r} is not available; available devices: {', '.join(available) or 'none'}"
    )


def op_function(namespace: Any, op: Op, axis: Any) -> Callable[[Any], Any]:
    """``x -> namespace.<op>(x, axis)``; the attribute is looked up at every call."""

    def function(x: Any) -> Any:
        return getattr(namespace, op)(x, axis)

    function.__name__ = op
    return function


def axis_key(axis: Any) -> tuple[type, Any]:
    """A cache key for ``axis`` that keeps ``True`` apart from ``1`` (the framework sees
    exactly the axis it was given)."""
    return (type(axis), axis)


def native(*body: str) -> Callable[[Strategy], Strategy]:
    """Declare how a strategy reads in the framework's own API: ``body`` is the body of
    ``program(x, *vectors)`` (the vectors named as the adapter protocol names them), with
    ``f`` the op along the axis; what a native reproducer runs (:meth:`AdapterBase.native_program`)."""

    def declared(strategy: Strategy) -> Strategy:
        strategy.native_body = body  # type: ignore[attr-defined]
        return strategy

    return declared


def viewed(argument: NativeArgument, operand: str) -> str:
    """``operand`` (source of the argument's base) taken through its view: ``x.T``."""
    if argument.view is None:
        return operand
    return re.sub(r"\bbase\b", operand, argument.view)


class ProgramCache:
    """Compiled programs by key; beyond ``maxsize`` the least recently used is dropped
    (a property test can send hundreds of shapes, and every traced graph holds memory)."""

    def __init__(self, maxsize: int = 256) -> None:
        self.maxsize = maxsize
        self._programs: OrderedDict[Hashable, Program] = OrderedDict()

    def get(self, key: Hashable, make: Callable[[], Program]) -> Program:
        """The program for ``key``, made by ``make()`` on first use."""
        program = self._programs.get(key)
        if program is None:
            program = self._programs[key] = make()
            if len(self._programs) > self.maxsize:
                self._programs.popitem(last=False)
        else:
            self._programs.move_to_end(key)
        return program

    def __len__(self) -> int:
        return len(self._programs)


class AdapterBase:
    """The capability methods of the adapter protocol, bound to a framework's AD strategies.

    Subclasses provide ``_namespace``, ``_strategies`` (quantity -> strategy) and the
    conversions; compiled paths override :meth:`_program`.
    """

    name: str
    device: str
    ad_path: str | None = None  # set on an adapter of a user's function (of_functions)
    bitwise: tuple[str, ...] = ()  # what it promises to keep bit for bit (conformance.adapter.BITWISE_PROMISES)
    dtypes: tuple[str, ...] = DTYPE_NAMES
    _strategies: ClassVar[Mapping[str, Strategy]]
    # Pieces of the framework's error messages that mean "this function has no rule for this
    # mode of autodiff" (a custom_vjp under jvp): such a call raises NotSupported instead.
    _not_supported: ClassVar[tuple[str, ...]] = ()

    @classmethod
    def of_functions(
        cls,
        softmax: Callable[[Any, Any], Any],
        log_softmax: Callable[[Any, Any], Any] | None = None,
        *,
        name: str | None = None,
        bitwise: tuple[str, ...] = (),
        **options: Any,
    ) -> Self:
        """This path's adapter, differentiating ``softmax(x, axis)`` (and ``log_softmax``) on
        the framework's own tensors instead of the framework's ops; ``options`` go to the
        constructor (``device=``). Without ``log_softmax`` the log_softmax methods are absent
        (None: "not provided"). The adapter's ``ad_path`` is this path's name, its ``bitwise``
        what the user's function promises to keep bit for bit."""
        adapter = cls(**options)
        adapter.bitwise = tuple(bitwise)
        adapter._namespace = types.SimpleNamespace(softmax=softmax, log_softmax=log_softmax)
        adapter.name = name or f"{getattr(softmax, '__name__', 'softmax')}@{cls.name}"
        adapter.ad_path = cls.name
        if log_softmax is None:
            for method in LOG_SOFTMAX_METHODS:
                setattr(adapter, method, None)
        return adapter

    # -- the public layer ------------------------------------------------------------

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        """softmax(x) along ``axis``."""
        return self._evaluate("softmax", "forward", axis, x)

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        """The full Jacobian of softmax, shape ``x.shape + x.shape``."""
        return self._evaluate("softmax", "jacobian", axis, x)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        """``J^T cotangent`` (reverse mode)."""
        return self._evaluate("softmax", "vjp", axis, x, cotangent)

    def jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        """``J tangent`` (forward mode)."""
        return self._evaluate("softmax", "jvp", axis, x, tangent)

    def vjp_derivative(self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int) -> np.ndarray:
        """d/de vjp(x + e*direction, cotangent) at e = 0."""
        return self._evaluate("softmax", "vjp_derivative", axis, x, cotangent, direction)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        """log_softmax(x) along ``axis``."""
        return self._evaluate("log_softmax", "forward", axis, x)

    def log_softmax_jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        """The full Jacobian of log_softmax."""
        return self._evaluate("log_softmax", "jacobian", axis, x)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        """``J^T cotangent`` of log_softmax."""
        return self._evaluate("log_softmax", "vjp", axis, x, cotangent)

    def log_softmax_jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        """``J tangent`` of log_softmax."""
        return self._evaluate("log_softmax", "jvp", axis, x, tangent)

    def log_softmax_vjp_derivative(
        self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int
    ) -> np.ndarray:
        """d/de log_softmax_vjp(x + e*direction, cotangent) at e = 0."""
        return self._evaluate("log_softmax", "vjp_derivative", axis, x, cotangent, direction)

    def environment(self) -> dict[str, Any]:
        """Facts about the framework as this process runs it (switches, probed behaviour), for
        the run's environment and the known divergences' conditions: none by default."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(device={self.device!r})"

    def native_program(
        self, op: Op, quantity: Quantity, axis: Any, arguments: tuple[NativeArgument, ...]
    ) -> NativeProgram | None:
        """``quantity`` of ``op`` as this path computes it, in the framework's own API (a
        reproducer that runs without this suite). None unless this adapter computes what the
        built-in path does: an adapter of a user's function, or a subclass of a built-in
        class, runs code that is the user's, not the framework's."""
        body: tuple[str, ...] | None = getattr(self._strategies[quantity], "native_body", None)
        if body is None or not self._is_builtin_path():
            return None
        names = ", ".join(argument.name for argument in arguments)
        lines = [
            *(f"{argument.name} = {self._native_array(argument)}" for argument in arguments),
            "def f(x):",
            f"    return {self._native_namespace}.{op}(x, {axis!r})",
            f"def program({names}):",
            *(f"    {line}" for line in body),
            *self._native_compilation(quantity),
            *self._native_call(f"result = program({names})"),
        ]
        return NativeProgram(self._native_imports, tuple(lines), self._native_numpy)

    def _is_builtin_path(self) -> bool:
        """Whether this adapter is a built-in path as registered: its class one of
        BUILTIN_ADAPTERS (not a subclass of one) and its ops the framework's (not a user's
        function put in their place, as :meth:`of_functions` does)."""
        cls = type(self)
        return (cls.__module__, cls.__qualname__) in BUILTIN_ADAPTERS.values() and "_namespace" not in vars(self)

    # -- the private layer -----------------------------------------------------------

    _namespace: Any = None  # the module whose softmax / log_softmax are under test
    _native_namespace: ClassVar[str]  # the same, as a native reproducer spells it ("tf.nn")
    _native_imports: ClassVar[tuple[str, ...]]  # the lines a native reproducer starts with
    _native_numpy: ClassVar[str] = "np.asarray(value, dtype=np.float64)"  # an array ``value`` as float64 NumPy

    def _native_array(self, argument: NativeArgument) -> str:
        """Source that turns the NumPy variable of ``argument`` into the array this path is given."""
        raise NotImplementedError

    def _native_compilation(self, quantity: Quantity) -> list[str]:
        """Lines that compile ``f`` or ``program`` the way this path does (eager: none)."""
        return []

    def _native_call(self, call: str) -> list[str]:
        """``call`` (``result = program(...)``) placed where this path computes."""
        return [call]

    def _evaluate(self, op: Op, quantity: Quantity, axis: Any, x: np.ndarray, *vectors: np.ndarray) -> np.ndarray:
        """Run ``quantity`` of ``op`` on NumPy inputs and bring the result back to NumPy.

        Cotangents, tangents and directions are given the dtype of ``x`` (the protocol
        speaks of one dtype per call); nothing else is touched, and the result keeps
        whatever dtype the framework produced.
        """
        x = np.asarray(x)
        arrays = (x, *(np.asarray(vector, dtype=x.dtype) for vector in vectors))
        with self._placement():
            program = self._program(op, quantity, axis, arrays)
            try:
                result = program(*(self._to_framework(array) for array in arrays))
            except Exception as error:
                reason = self._unsupported_reason(error)
                if reason is None:
                    raise
                raise NotSupported(reason) from error
            return self._to_numpy(result)

    def _unsupported_reason(self, error: Exception) -> str | None:
        """The framework's own words, when ``error`` says the function has no rule for a mode
        of autodiff this path uses; None for any other error."""
        text = str(error)
        if not any(piece in text for piece in self._not_supported):
            return None
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        return f"{self.name}: {type(error).__name__}: {first}"

    def _program(self, op: Op, quantity: Quantity, axis: Any, arrays: tuple[np.ndarray, ...]) -> Program:
        """The callable ``(x, *vectors) -> result`` on framework arrays (eager: no caching)."""
        return functools.partial(self._strategies[quantity], op_function(self._namespace, op, axis))

    def _placement(self) -> contextlib.AbstractContextManager[Any]:
        """A context the conversion and computation run in (e.g. ``tf.device``)."""
        return contextlib.nullcontext()

    def _to_framework(self, array: np.ndarray) -> Any:
        raise NotImplementedError

    def _to_numpy(self, value: Any) -> np.ndarray:
        raise NotImplementedError


LOG_SOFTMAX_METHODS: tuple[str, ...] = tuple(method_name("log_softmax", quantity) for quantity in QUANTITIES)


def no_result(adapter: AdapterBase) -> RuntimeError:
    """The error for a framework call that returned ``None`` where an array was due."""
    return RuntimeError(f"{adapter.name}: the framework returned None instead of an array")
