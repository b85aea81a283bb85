"""Calling an adapter: deadlines, and turning whatever comes back into a checked NumPy array."""

from __future__ import annotations

import contextlib
import functools
import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest

from conformance.adapter import (
    NotSupported,
    adapter_name,
    capabilities,
    declared_promises,
    method_name,
    provided_method,
)
from conformance.checks import heartbeat, time_budget
from conformance.checks.failures import AdapterCallError, ConformanceFailure
from conformance.checks.headlines import raised_message
from conformance.checks.native import call_script, native_script
from conformance.checks.reproducer import Call
from conformance.truth.dtypes import dtype_name
from conformance.truth.frameworks import framework_of
from conformance.truth.oracle import Op, Quantity


class _Deadline(BaseException):
    """Raised by the alarm inside a hung adapter call (BaseException, so adapters don't catch it)."""


class QuantityNotSupported(pytest.skip.Exception):  # type: ignore[name-defined]
    """A quantity the adapter's AD path cannot compute (it raised :class:`NotSupported`): the
    property that checks that quantity alone is skipped as "not supported"; a property that
    checks several leaves it out (:func:`skipping_unsupported`) and checks the rest."""


def skipping_unsupported() -> contextlib.suppress:
    """Inside a loop over quantities: a quantity that is not supported is left out, not the property."""
    return contextlib.suppress(QuantityNotSupported)


@dataclass
class Subject:
    """An adapter under test, with the spec that loads it and what the run has learnt of it.

    ``location`` is the spec as a reproducer names it: a file's path absolute, to run from
    any folder.
    """

    adapter: Any
    spec: str
    location: str
    call_timeout: float | None = None
    hung: str | None = None
    unsupported: set[tuple[str, str]] = field(default_factory=set)  # (op, quantity) its AD path cannot compute

    def computes(self, op: Op, quantity: Quantity) -> bool:
        """Whether the adapter offers ``quantity`` of ``op`` and has not said it cannot compute it."""
        return provided_method(self.adapter, op, quantity) is not None and (op, quantity) not in self.unsupported

    @property
    def name(self) -> str:
        return adapter_name(self.adapter)

    @property
    def ad_path(self) -> str | None:
        """The built-in AD path that differentiates a user's function: the adapter's
        ``ad_path`` (set by from_torch, from_jax, from_tensorflow) when it names one. None
        for a built-in adapter, whose name is its path, and for other user adapters."""
        declared = getattr(self.adapter, "ad_path", None)
        if framework_of(self.spec) is not None or not isinstance(declared, str) or framework_of(declared) is None:
            return None
        return declared

    @property
    def framework(self) -> str | None:
        """The built-in framework whose code runs: a built-in adapter's, or its AD path's."""
        return framework_of(self.spec) or (framework_of(self.ad_path) if self.ad_path else None)

    @functools.cached_property
    def environment(self) -> dict[str, Any]:
        """The facts the adapter reports about its framework as this process runs it (its
        optional ``environment()``); an ``environment()`` that fails is a fact too."""
        probe = getattr(self.adapter, "environment", None)
        if not callable(probe):
            return {}
        try:
            facts = probe()
        except Exception as error:
            return {"environment_error": f"environment() raised {type(error).__name__}: {error}"}
        return dict(facts) if isinstance(facts, dict) else {"environment_error": f"environment() returned {facts!r}"}

    def metadata(self) -> dict[str, Any]:
        """What a run's document says of the adapter: name, spec, framework, AD path, device,
        capabilities, what it promises to keep bit for bit, and the facts of its framework's
        environment."""
        return {
            "adapter": self.name,
            "spec": self.spec,
            "framework": self.framework,
            "ad_path": self.ad_path,
            "device": str(getattr(self.adapter, "device", "")) or None,
            "capabilities": capabilities(self.adapter),
            "bitwise": list(declared_promises(self.adapter)),
            "environment": self.environment,
        }

    def __repr__(self) -> str:
        return f"Subject({self.spec!r})"


@contextlib.contextmanager
def deadline(seconds: float | None) -> Iterator[None]:
    """Interrupt Python-level hangs after ``seconds`` (main thread, POSIX only).

    A hang inside C code that never returns to the interpreter is caught one level up:
    the runner kills the worker process.
    """
    usable = seconds and hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
    if not usable:
        yield
        return

    def _alarm(signum: int, frame: Any) -> None:
        raise _Deadline

    previous = signal.signal(signal.SIGALRM, _alarm)
    signal.setitimer(signal.ITIMER_REAL, float(seconds))  # type: ignore[arg-type]
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


TIMEOUT_ELEMENTS = 2**24  # a call on more elements than this may take proportionally longer


def time_allowed(call_timeout: float | None, elements: int) -> float | None:
    """The seconds a call on ``elements`` elements may take: ``call_timeout``, and in proportion
    beyond 2**24 elements (a 2**31-element softmax is not a hang at 60 s)."""
    if not call_timeout:
        return call_timeout
    return call_timeout * max(1.0, elements / TIMEOUT_ELEMENTS)


def label(subject: Subject, op: Op, dtype: Any, axis: int | None = None) -> str:
    """``[torch softmax axis=1 float32]``: where a message comes from."""
    where = f" axis={axis}" if axis is not None else ""
    return f"[{subject.name} {op}{where} {dtype_name(dtype)}]"


def invoke(subject: Subject, op: Op, quantity: Quantity, call: Call, expected_shape: tuple[int, ...]) -> np.ndarray:
    """Run ``call`` on the adapter and return its result, checked to be an array of
    ``expected_shape`` and of the input's dtype."""
    method = provided_method(subject.adapter, op, quantity)
    x = call.arrays["x"]
    where = label(subject, op, x.dtype, call.axis)
    name = method_name(op, quantity)
    if method is None:
        raise AdapterCallError(f"{name} is not provided {where}", call.source())
    if subject.hung:
        raise AdapterCallError(f"{name} not called: {subject.hung} {where}", call.source())
    allowed = time_allowed(subject.call_timeout, int(x.size))
    heartbeat.beat(allowed)
    started = time.perf_counter()
    try:
        with deadline(allowed):
            result = method(*call.arrays.values(), call.axis)
    except NotSupported as error:
        subject.unsupported.add((op, quantity))
        raise QuantityNotSupported(f"not supported: {error.reason} {where}") from None
    except _Deadline:
        subject.hung = f"an earlier call of {name} hung (no answer within {allowed:g} s)"
        raise AdapterCallError(
            f"{name} timed out after {allowed:g} s {where}",
            call.source(),
            native_reproducer=call_script(call, ["result"], [f"# the call below gave no answer within {allowed:g} s"]),
        ) from None
    except Exception as error:
        raise AdapterCallError(
            raised_message(name, error, where),
            call.source(),
            error,
            native_reproducer=native_script(call),
            dtype=dtype_name(x.dtype),
        ) from error
    finally:
        call.span = (started, time.perf_counter())
        time_budget.add_call(call.span[1] - started, call.layout(), (name, x.shape, dtype_name(x.dtype)))
    modified = call.modified()
    if modified:
        raise ConformanceFailure(
            f"{name} modified {' and '.join(modified)} {where}: the caller's arrays must be left as they were",
            call.modification_source(),
            native_reproducer=call_script(
                call,
                [f"'{a} unchanged, bit for bit:', {a}_given.tobytes() == {a}_as_given.tobytes()" for a in call.arrays],
                [f"{a}_given, {a}_as_given = {a}, {a}.copy()" for a in call.arrays],
            ),
        )
    if isinstance(result, np.generic):
        result = np.asarray(result)
    if not isinstance(result, np.ndarray):
        raise ConformanceFailure(
            f"{name} returned {type(result).__name__}, not a numpy.ndarray {where}",
            call.source(),
            native_reproducer=call_script(call, ["type(result), result"]),
        )
    if result.shape != expected_shape:
        raise ConformanceFailure(
            f"{name} returned shape {result.shape}, but the oracle gives {expected_shape} {where}",
            call.source(f"'oracle shape:', {expected_shape!r}"),
            native_reproducer=call_script(
                call, [f"'shape:', tuple(result.shape), 'but the oracle gives', {expected_shape!r}"]
            ),
        )
    if result.dtype != x.dtype:
        raise ConformanceFailure(
            f"{name} returned dtype {dtype_name(result.dtype)} for {dtype_name(x.dtype)} input {where}",
            call.source(),
            native_reproducer=call_script(call, [f"'dtype:', result.dtype, 'for {dtype_name(x.dtype)} input'"]),
        )
    aliased = [argument for argument, array in call.arrays.items() if shares_memory(result, array)]
    if aliased:
        raise ConformanceFailure(
            f"{name} returned an array that shares memory with its argument `{aliased[0]}` {where}: writing to "
            "the result would change the caller's input, and the caller's next change of it the result",
            call.source(f"'shares memory with {aliased[0]}:', np.may_share_memory(result, {aliased[0]})"),
            native_reproducer=call_script(
                call,
                [f"'shares memory with {aliased[0]}:', np.may_share_memory(np.asarray(result), {aliased[0]}_given)"],
                [f"{aliased[0]}_given = {aliased[0]}"],
            ),
        )
    return result


def shares_memory(result: np.ndarray, argument: np.ndarray) -> bool:
    """Whether ``result`` lies in the memory of ``argument`` or of the array it is a view of."""
    if result.size == 0 or argument.size == 0:
        return False
    owner = argument.base if isinstance(argument.base, np.ndarray) else argument
    return bool(np.may_share_memory(result, argument) or np.may_share_memory(result, owner))
