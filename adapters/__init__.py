"""Built-in adapters, one module per framework; each AD path is its own adapter.

Modules are imported only when their adapter is loaded, so a missing framework costs
nothing until it is asked for. Which adapters and frameworks there are is plain data in
:mod:`conformance.truth.frameworks`, which every stage may read; it is re-exported here.

:func:`from_torch`, :func:`from_jax` and :func:`from_tensorflow` make an adapter of a user's
own ``softmax(x, axis)`` on the framework's tensors (a ``torch.autograd.Function``, a
``jax.custom_vjp``, a ``tf.custom_gradient``): the path's built-in adapter, with the user's
function where the framework's softmax was, differentiated by the same machinery.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import Any

from conformance.adapter import check_promises
from conformance.truth.frameworks import BUILTIN_ADAPTERS, FRAMEWORKS, FUNCTION_FRAMEWORKS, framework_of

__all__ = [
    "BUILTIN_ADAPTERS",
    "FRAMEWORKS",
    "FUNCTION_FRAMEWORKS",
    "framework_of",
    "from_framework",
    "from_jax",
    "from_tensorflow",
    "from_torch",
]


def from_torch(
    softmax: Callable[[Any, Any], Any],
    *,
    log_softmax: Callable[[Any, Any], Any] | None = None,
    name: str | None = None,
    path: str | None = None,
    bitwise: Sequence[str] = (),
    **options: Any,
) -> Any:
    """An adapter of ``softmax(x, axis)`` on torch tensors, differentiated by torch on ``path``
    (one of FRAMEWORKS["torch"]'s paths; default: the primary, ``torch``), exactly as that
    path's built-in adapter differentiates ``torch.softmax``. Without ``log_softmax`` the
    log_softmax capabilities are "not provided". ``name`` defaults to ``<function>@<path>``;
    ``bitwise`` is what the function promises to keep bit for bit (a subset of
    ``conformance.adapter.BITWISE_PROMISES``: ``"batch"``, ``"determinism"``, ``"threads"``),
    a failure where it does not hold; ``options`` go to the path's adapter (``device=``, and
    ``backend=`` for torch-compile)."""
    return from_framework("torch", softmax, log_softmax=log_softmax, name=name, path=path, bitwise=bitwise, **options)


def from_jax(
    softmax: Callable[[Any, Any], Any],
    *,
    log_softmax: Callable[[Any, Any], Any] | None = None,
    name: str | None = None,
    path: str | None = None,
    bitwise: Sequence[str] = (),
    **options: Any,
) -> Any:
    """As :func:`from_torch`, on jax arrays; paths ``jax-jit`` (the default), ``jax``, ``jax-jacfwd``."""
    return from_framework("jax", softmax, log_softmax=log_softmax, name=name, path=path, bitwise=bitwise, **options)


def from_tensorflow(
    softmax: Callable[[Any, Any], Any],
    *,
    log_softmax: Callable[[Any, Any], Any] | None = None,
    name: str | None = None,
    path: str | None = None,
    bitwise: Sequence[str] = (),
    **options: Any,
) -> Any:
    """As :func:`from_torch`, on TensorFlow tensors; paths ``tensorflow-function`` (the default),
    ``tensorflow``, ``tensorflow-xla``."""
    return from_framework(
        "tensorflow", softmax, log_softmax=log_softmax, name=name, path=path, bitwise=bitwise, **options
    )


def from_framework(
    framework: str,
    softmax: Callable[[Any, Any], Any],
    *,
    log_softmax: Callable[[Any, Any], Any] | None = None,
    name: str | None = None,
    path: str | None = None,
    bitwise: Sequence[str] = (),
    **options: Any,
) -> Any:
    """``from_<framework>``: the adapter of ``path``'s class made with the user's functions."""
    promises = check_promises(bitwise, f"from_{framework}")
    if framework not in FUNCTION_FRAMEWORKS:
        raise ValueError(f"no from_{framework}: the frameworks are {', '.join(FUNCTION_FRAMEWORKS)}")
    paths = FRAMEWORKS[framework][1]
    path = paths[0] if path is None else path
    if path not in paths:
        raise ValueError(f"from_{framework}: path={path!r}, but {framework}'s AD paths are: {', '.join(paths)}")
    if not callable(softmax) or (log_softmax is not None and not callable(log_softmax)):
        raise TypeError(f"from_{framework}: softmax and log_softmax must be functions (x, axis) -> y")
    module_name, class_name = BUILTIN_ADAPTERS[path]
    adapter_class = getattr(importlib.import_module(module_name), class_name)
    return adapter_class.of_functions(softmax, log_softmax, name=name, bitwise=promises, **options)
