"""What a property measured while it ran: its error against the bound, and error/bound samples.

The plugin opens a :class:`Measurement` around each test; the assertions feed it.

One error measure is used everywhere, in messages, in the JSON (``max_error_ulp`` and
``bound_ulp``) and in the report: the error of the element that is *worst against its
bound* (the largest error/bound ratio), in ulps of that element's scale (see
:mod:`conformance.truth.tolerance`), beside its bound in the same ulps. An element whose scale is
0 (a masked place, an exact zero) has the subnormal spacing as its ulp, so it enters the
figure only when it is the worst against its bound, never because its ulp is tiny.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from conformance.checks.bitwise import BitwiseFinding

_SAMPLES_KEPT = 256


@dataclass
class Measurement:
    max_error_ulp: float | None = None  # error of the element worst against its bound, in ulps of its scale
    bound_ulp: float | None = None  # that element's bound, in the same ulps
    worst_ratio: float = -math.inf  # its error / bound
    ratios: list[float] = field(default_factory=list)
    examples: int = 0  # examples Hypothesis ran, shrinking included
    notes: list[str] = field(default_factory=list)  # what a passed record must say it checked, or did not
    bitwise: BitwiseFinding | None = None  # what a bit-for-bit property found (conformance.checks.bitwise)

    def observe(self, error_ulp: float, bound_ulp: float, ratio: float, samples: list[float]) -> None:
        """Record one comparison: its worst element's error and bound (ulps), its error/bound
        ``ratio``, and a sample of the largest ratios of its elements."""
        worst = math.inf if math.isnan(ratio) else ratio
        if worst > self.worst_ratio:
            self.worst_ratio, self.max_error_ulp, self.bound_ulp = worst, float(error_ulp), float(bound_ulp)
        if len(self.ratios) < _SAMPLES_KEPT:
            self.ratios.extend(samples[: _SAMPLES_KEPT - len(self.ratios)])


_current: Measurement | None = None


def start() -> Measurement:
    global _current
    _current = Measurement()
    return _current


def current() -> Measurement | None:
    return _current


def stop() -> Measurement | None:
    global _current
    done, _current = _current, None
    return done


def note(text: str) -> None:
    """Say, in the current measurement, what a passed record checked if it was less than its
    input (``compared 40 of 320 chunks of rows with the oracle ...``); once per text."""
    if _current is not None and text not in _current.notes:
        _current.notes.append(text)


def count_example() -> None:
    """Count one example in the current measurement (an enumerated case, a large input)."""
    if _current is not None:
        _current.examples += 1
