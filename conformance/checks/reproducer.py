"""Paste-and-run reproducers: the adapter, the exact input arrays, the call, the oracle."""

from __future__ import annotations

import base64
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from conformance.inputs.arguments import Recipe, View
from conformance.truth.dtypes import dtype_name

if TYPE_CHECKING:
    from conformance.checks.native import NativeCall

_LIST_LIMIT = 64  # larger arrays are embedded as exact bytes rather than a literal list


def array_source(array: np.ndarray, view: View | None = None, dtype_source: str | None = None) -> str:
    """Python source that rebuilds ``array`` bit for bit, and its strides when it is a ``view``;
    ``dtype_source`` spells its dtype (by default ``DTYPES[name]``, which needs this suite)."""
    base = array if view is None else view.base
    dtype = dtype_source or f"DTYPES[{dtype_name(base.dtype)!r}]"
    if base.size <= _LIST_LIMIT:
        literal = repr(base.astype(np.float64).tolist())
        source = f"np.array({literal}, dtype=np.float64).astype({dtype})"
        if base.size == 0:  # a list of no numbers keeps no sizes after the first zero
            source += f".reshape({tuple(base.shape)!r})"
    else:
        payload = base64.b64encode(np.ascontiguousarray(base).tobytes()).decode()
        source = f"np.frombuffer(base64.b64decode({payload!r}), dtype={dtype}).reshape({tuple(base.shape)!r})"
    if view is None:
        return source
    return f"(lambda base: {view.expression})({source})"


@dataclass
class Call:
    """One adapter call: enough to rebuild it in a fresh interpreter.

    ``arrays`` are the arguments as the adapter receives them. A copy of each (and of a
    view's base) is taken when the call is made, before the adapter runs: the reproducer
    rebuilds those, so it shows the inputs the adapter was given even if the adapter
    overwrote them, and :meth:`modified` tells whether it did. An argument with a seeded
    ``recipe`` (a large input) is not copied: the reproducer makes it again from its seed, and
    a digest of its bytes tells whether the adapter changed it. ``native``, for a built-in
    adapter, is the framework code the call runs (:mod:`conformance.checks.native`). ``span``
    is when the adapter's method was entered and when it returned or raised (``perf_counter``
    seconds, set by :func:`conformance.checks.calls.invoke`): the suite's own work before and
    after the call is not in it.
    """

    spec: str
    method: str
    axis: int
    arrays: dict[str, np.ndarray]
    views: dict[str, View] = field(default_factory=dict)
    recipes: dict[str, Recipe] = field(default_factory=dict)
    native: NativeCall | None = field(default=None, repr=False)
    pristine: dict[str, np.ndarray] = field(init=False, repr=False)
    pristine_views: dict[str, View] = field(init=False, repr=False)
    digests: dict[str, int] = field(init=False, repr=False)
    span: tuple[float, float] | None = field(default=None, init=False, repr=False)

    def layout(self) -> tuple[object, ...]:
        """What a compiled path keys its programs by: the method, each array's shape, strides
        and dtype, and the axis (a call of the same layout reuses an earlier call's program)."""
        arrays = tuple((name, a.shape, a.strides, a.dtype.name) for name, a in self.arrays.items())
        return (self.method, self.axis, arrays)

    def __post_init__(self) -> None:
        self.pristine = {
            name: np.array(array, copy=True) for name, array in self.arrays.items() if name not in self.recipes
        }
        self.pristine_views = {
            name: View(np.array(view.base, copy=True), view.expression) for name, view in self.views.items()
        }
        self.digests = {name: digest(self.arrays[name]) for name in self.recipes}

    def argument_list(self, prefix: str = "") -> str:
        """``x, cotangent, axis=0``, the arrays named ``prefix + name``."""
        return ", ".join([*(prefix + name for name in self.arrays), f"axis={self.axis}"])

    def modified(self) -> list[str]:
        """What the call changed in place, one phrase per argument: "its argument `x` in place
        (3 of 20 elements changed)", or the memory a view skips."""
        found = []
        for name, array in self.arrays.items():
            if name in self.recipes:
                changed = 0 if digest(array) == self.digests[name] else self.recipes[name].changed(array)
            else:
                changed = int(np.count_nonzero(bit_patterns(array) != bit_patterns(self.pristine[name])))
            if changed:
                found.append(f"its argument `{name}` in place ({changed} of {array.size} elements changed)")
            elif name in self.views and not np.array_equal(
                bit_patterns(self.views[name].base), bit_patterns(self.pristine_views[name].base)
            ):
                found.append(f"the memory around its argument `{name}`, a view (elements the view skips)")
        return found

    def assignments(self, prefix: str = "") -> list[str]:
        """Lines that rebuild the arguments as they were before the call, named ``prefix + name``."""
        return [f"{prefix}{name} = {self.argument_source(name)}" for name in self.arrays]

    def argument_source(self, name: str) -> str:
        """Source that makes argument ``name`` as it was given: from its seed, or its bits."""
        if name in self.recipes:
            return self.recipes[name].source()
        return array_source(self.pristine[name], self.pristine_views.get(name))

    def expression(self, prefix: str = "") -> str:
        """``adapter.vjp(x, cotangent, axis=0)``, over arguments named ``prefix + name``."""
        return f"adapter.{self.method}({self.argument_list(prefix)})"

    def source(self, oracle_call: str | None = None, earlier: Sequence[Call] = ()) -> str:
        """This call, after the ``earlier`` calls (made first, in the same process, their arguments
        named ``turn1_x``, ...: state they leave behind may change its answer): the result, then
        what it should be."""
        before = [
            line
            for number, call in enumerate(earlier, 1)
            for line in (*call.assignments(f"turn{number}_"), call.expression(f"turn{number}_"))
        ]
        return reproducer(
            self.spec, [*before, *self.assignments(), f"result = {self.expression()}"], ["result", oracle_call]
        )

    def modification_source(self) -> str:
        """This call, then whether each argument is still what it was given."""
        kept = [f"{name}_as_given = {name}.copy()" for name in self.arrays]
        unchanged = [
            f"'{name} unchanged, bit for bit:', {name}.tobytes() == {name}_as_given.tobytes()" for name in self.arrays
        ]
        return reproducer(self.spec, [*self.assignments(), *kept, f"result = {self.expression()}"], unchanged)


def digest(array: np.ndarray) -> int:
    """A fingerprint of ``array``'s bytes (CRC-32, about 3 GB/s), to tell cheaply whether an
    adapter changed a large argument in place."""
    return zlib.crc32(np.ascontiguousarray(array).reshape(-1).view(np.uint8).data)


def bit_patterns(array: np.ndarray) -> np.ndarray:
    """The bit patterns of ``array``'s elements (so -0 differs from 0, and NaN equals itself)."""
    return np.ascontiguousarray(array).view(f"u{array.dtype.itemsize}") if array.size else np.zeros(0, np.uint8)


def reproducer(spec: str, lines: Sequence[str], shown: Sequence[str | None]) -> str:
    """A script that loads the adapter ``spec``, runs ``lines`` and prints each of ``shown``."""
    header = [
        "import base64",
        "import numpy as np",
        "from conformance import DTYPES, load_adapter, oracle",
        *(["from conformance.checks.large import seeded"] if any("seeded." in line for line in lines) else []),
        "inf, nan = float('inf'), float('nan')",
        f"adapter = load_adapter({spec!r})",
    ]
    return "\n".join([*header, *lines, *(f"print({expression})" for expression in shown if expression is not None)])


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
