"""Correct implementations that make other valid choices than the NumPy reference; each must
conform."""

from __future__ import annotations

from typing import Any

import numpy as np

from conformance.adapters.numpy_adapter import NumpyReference


class RejectsZeroDimensionalInput(NumpyReference):
    """NumPy's convention: softmax needs an axis, so a 0-d input raises at every call (as
    ``np.moveaxis``, jax and TensorFlow do). Everything else is the reference."""

    name = "rejects-zero-dimensional-input"

    def __getattribute__(self, name: str) -> Any:
        method = super().__getattribute__(name)
        if name.startswith(("softmax", "jacobian", "vjp", "jvp", "log_softmax")) and callable(method):

            def rejecting(x: np.ndarray, *arguments: Any) -> Any:
                if np.ndim(x) == 0:
                    raise ValueError(f"{name} needs at least one axis; got a 0-d input")
                return method(x, *arguments)

            return rejecting
        return method
