"""What a property measured while it ran: the largest ulp error, and error/bound samples.

The plugin opens a :class:`Measurement` around each test; the assertions feed it.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

_SAMPLES_PER_CALL = 16
_SAMPLES_KEPT = 256


@dataclass
class Measurement:
    max_error_ulp: float | None = None
    bound_ulp: float | None = None
    ratios: list[float] = field(default_factory=list)

    def observe(self, error_ulp: np.ndarray, bound_ulp: np.ndarray, ratio: np.ndarray) -> None:
        """Record one comparison's per-element errors, bounds (both in ulps) and ratios."""
        finite = np.isfinite(error_ulp)
        if not finite.any():
            return
        worst = int(np.argmax(np.where(finite, error_ulp, -1.0)))
        if self.max_error_ulp is None or error_ulp.flat[worst] > self.max_error_ulp:
            self.max_error_ulp = float(error_ulp.flat[worst])
            self.bound_ulp = float(bound_ulp.flat[worst])
        kept = ratio[np.isfinite(ratio)]
        if kept.size and len(self.ratios) < _SAMPLES_KEPT:
            top = np.sort(kept)[-_SAMPLES_PER_CALL:]
            self.ratios.extend(float(value) for value in top)


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
