"""Paste-and-run reproducers: the adapter, the exact input arrays, the call, the oracle."""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from conformance.dtypes import dtype_name

_LIST_LIMIT = 64  # larger arrays are embedded as exact bytes rather than a literal list


def array_source(array: np.ndarray, view: View | None = None) -> str:
    """Python source that rebuilds ``array`` bit for bit, and its strides when it is a ``view``."""
    base = array if view is None else view.base
    name = dtype_name(base.dtype)
    if base.size <= _LIST_LIMIT:
        literal = repr(base.astype(np.float64).tolist())
        source = f"np.array({literal}, dtype=np.float64).astype(DTYPES[{name!r}])"
    else:
        payload = base64.b64encode(np.ascontiguousarray(base).tobytes()).decode()
        source = f"np.frombuffer(base64.b64decode({payload!r}), dtype=DTYPES[{name!r}]).reshape({tuple(base.shape)!r})"
    if view is None:
        return source
    return f"(lambda base: {view.expression})({source})"


@dataclass(frozen=True)
class View:
    """A non-contiguous argument: ``expression`` (over ``base``) applied to a contiguous ``base``."""

    base: np.ndarray
    expression: str


@dataclass
class Call:
    """One adapter call: enough to rebuild it in a fresh interpreter."""

    spec: str
    method: str
    axis: int
    arrays: dict[str, np.ndarray]
    views: dict[str, View] = field(default_factory=dict)

    def argument_list(self) -> str:
        return ", ".join([*self.arrays, f"axis={self.axis}"])

    def source(self, oracle_call: str | None = None) -> str:
        lines = [
            "import base64",
            "import numpy as np",
            "from conformance import load_adapter, oracle",
            "from conformance.dtypes import DTYPES",
            "inf, nan = float('inf'), float('nan')",
            f"adapter = load_adapter({self.spec!r})",
        ]
        for name, array in self.arrays.items():
            lines.append(f"{name} = {array_source(array, self.views.get(name))}")
        lines.append(f"result = adapter.{self.method}({self.argument_list()})")
        lines.append("print(result)")
        if oracle_call is not None:
            lines.append(f"print({oracle_call})")
        return "\n".join(lines)


def format_value(value: Any, other: Any = None) -> str:
    """A number as a message shows it: 6 significant digits, or every digit its dtype holds
    when that is what tells ``value`` from ``other`` (0.99999994 is not 1)."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return repr(value)
    short = f"{number:.6g}"
    if other is not None and short == format_value(other):
        return str(value) if isinstance(value, np.floating) and value.dtype != np.longdouble else repr(number)
    return short
