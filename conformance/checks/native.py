"""Reproducers in the framework's own words: a failure of a built-in adapter as a script of
NumPy and the framework's API alone, which runs without this suite installed and prints the
wrong value beside the oracle's (or raises what the adapter raised): what a framework's
issue tracker asks for.

The framework code is the adapter's to spell (``native_program``, see
:class:`conformance.adapter.NativeProgram`); this module adds the arrays (a seeded input as
the NumPy lines that make it again) and the printout: of one call (:func:`call_script`), or
of several in one process (:func:`steps_script`), for a failure that compares two answers of
the adapter (a row alone and in the batch, a caller alone and among threads).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from conformance.adapter import NativeArgument, NativeProgram
from conformance.checks.failures import WorstElement
from conformance.checks.reproducer import Call, array_source
from conformance.truth.dtypes import dtype_name
from conformance.truth.oracle import Op, Quantity

_BFLOAT16 = np.dtype(ml_dtypes.bfloat16)
_NON_FINITE = re.compile(r"\b(inf|nan)\b")


@dataclass(frozen=True)
class NativeCall:
    """The framework code behind an adapter call: the adapter that spells it, op and quantity."""

    adapter: Any
    op: Op
    quantity: Quantity


def native_call(adapter: Any, op: Op, quantity: Quantity) -> NativeCall | None:
    """What a :class:`~conformance.checks.reproducer.Call` of ``adapter`` needs for a native
    reproducer; None for an adapter that cannot spell its calls (any but a built-in one)."""
    return NativeCall(adapter, op, quantity) if callable(getattr(adapter, "native_program", None)) else None


def native_script(call: Call, worst: WorstElement | None = None, reference: str = "but the oracle gives") -> str | None:
    """``call`` in the framework's own API: the arguments as NumPy arrays, the call, then the
    ``worst`` element of the result beside what ``reference`` says it should be; without
    ``worst``, the result (the call raises, as it did in the adapter). None when the call has
    no native spelling (not a built-in adapter's)."""
    return call_script(call, ["result"] if worst is None else [worst_shown(worst, reference)])


def call_script(call: Call, shown: Sequence[str], before: Sequence[str] = ()) -> str | None:
    """``call`` in the framework's own API: its arguments as NumPy variables of their names,
    then ``before`` (lines that may keep them, or say what follows), then the call, whose
    answer is ``result`` (a framework array), then each of ``shown`` printed (the arguments
    of a ``print``). None when the call has no native spelling."""
    program = _program(call)
    if program is None:
        return None
    values = [line for name in call.arrays for line in _values_source(call, name, name)]
    return _assembled([program], values, [*values, *before, *program.lines], shown)


Step = tuple[str, Call] | str


def steps_script(steps: Sequence[Step], shown: Sequence[str]) -> str | None:
    """Several calls in the framework's own API, one after another in one process. A step
    ``(name, call)`` makes the call's arguments as NumPy variables ``{name}_{argument}`` and
    its answer as the framework array ``name`` (``numpy_of(name)`` is it in float64 NumPy);
    a step that is a line runs as it is (it may keep what the calls before it left). Then
    each of ``shown`` is printed (the arguments of a ``print``). None when one of the calls
    has no native spelling."""
    programs: list[NativeProgram] = []
    values: list[str] = []
    lines: list[str] = []
    made: dict[str, str] = {}  # an argument's source -> the variable that already holds it
    for step in steps:
        if isinstance(step, str):
            lines.append(step)
            continue
        name, call = step
        program = _program(call)
        if program is None:
            return None
        programs.append(program)
        for argument in call.arrays:
            variable = f"{name}_{argument}"
            source = _values_source(call, argument, variable)
            key = "\n".join(source).replace(variable, "\0")
            if key in made:
                lines.append(f"{variable} = {made[key]}")
            else:
                made[key] = variable
                values += source
                lines += source
        arguments = ", ".join(call.arrays)
        lines += [
            f"{arguments} = {', '.join(f'{name}_{argument}' for argument in call.arrays)}",
            *program.lines,
            *([] if name == "result" else [f"{name} = result"]),
        ]
    return _assembled(programs, values, lines, shown)


def element(name: str, index: Sequence[int]) -> str:
    """``float(batch[1, 3])``: element ``index`` of the framework array ``name``, in a script."""
    return f"float({name}{_subscript(index)})"


def worst_shown(worst: WorstElement, reference: str, name: str = "result") -> str:
    """What prints the worst element of ``name`` beside what ``reference`` says it should be."""
    label = f"{worst.quantity}{_subscript(worst.index)} ="
    return f"{label!r}, {element(name, worst.index)}, {f'{reference} {float(worst.expected)!r}'!r}"


def _subscript(index: Sequence[int]) -> str:
    return f"[{', '.join(map(str, index))}]" if len(index) else ""


def _program(call: Call) -> NativeProgram | None:
    """The framework code of ``call``, from its adapter; None without a native spelling."""
    native = call.native
    if native is None:
        return None
    arguments = tuple(
        NativeArgument(
            name, dtype_name(array.dtype), view.expression if (view := call.pristine_views.get(name)) else None
        )
        for name, array in call.arrays.items()
    )
    program: NativeProgram | None = native.adapter.native_program(native.op, native.quantity, call.axis, arguments)
    return program


def _assembled(
    programs: Sequence[NativeProgram], values: Sequence[str], lines: Sequence[str], shown: Sequence[str]
) -> str:
    """The script: its imports (and what ``values``, the arguments' sources, need), ``lines``,
    then a ``print`` of each of ``shown``."""
    printed = [f"print({arguments})" for arguments in shown]
    header = [
        *(["import base64"] if any("base64." in line for line in values) else []),
        "import numpy as np",
        *dict.fromkeys(line for program in programs for line in program.imports),
        *(["inf, nan = float('inf'), float('nan')"] if any(_NON_FINITE.search(line) for line in values) else []),
    ]
    if any("numpy_of(" in line for line in [*lines, *printed]):
        header += ["def numpy_of(value):", f"    return {programs[0].as_numpy}"]
    return "\n".join([*header, *lines, *printed])


def _values_source(call: Call, name: str, variable: str) -> list[str]:
    """NumPy lines that make argument ``name``'s values as given as ``variable`` (of its base,
    for a view; from its seed, for a seeded one): in its own dtype, or float32 for bfloat16,
    which holds every bfloat16 value exactly."""
    recipe = call.recipes.get(name)
    if recipe is not None:
        return recipe.native_source(variable)
    view = call.pristine_views.get(name)
    values = view.base if view is not None else call.pristine[name]
    if values.dtype == _BFLOAT16:
        values = values.astype(np.float32)
    return [f"{variable} = {array_source(values, dtype_source=f'np.{values.dtype.name}')}"]
