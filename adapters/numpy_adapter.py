"""A correct softmax in plain NumPy: the closed forms, computed in float64 and rounded once.

It is the suite's control: every property must pass on it. It is also the template for
testing your own code: copy it, replace the bodies with calls into your implementation.
"""

from __future__ import annotations

import numpy as np

from conformance.truth import oracle


class NumpyReference:
    name = "numpy"
    device = "cpu"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return oracle.softmax(x, axis).astype(x.dtype)

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return oracle.jacobian("softmax", x, axis).astype(x.dtype)

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return oracle.vjp("softmax", x, cotangent, axis).astype(x.dtype)

    def jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        return oracle.jvp("softmax", x, tangent, axis).astype(x.dtype)

    def vjp_derivative(self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int) -> np.ndarray:
        return oracle.vjp_derivative("softmax", x, cotangent, direction, axis).astype(x.dtype)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return oracle.log_softmax(x, axis).astype(x.dtype)

    def log_softmax_jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return oracle.jacobian("log_softmax", x, axis).astype(x.dtype)

    def log_softmax_vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return oracle.vjp("log_softmax", x, cotangent, axis).astype(x.dtype)

    def log_softmax_jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        return oracle.jvp("log_softmax", x, tangent, axis).astype(x.dtype)

    def log_softmax_vjp_derivative(
        self, x: np.ndarray, cotangent: np.ndarray, direction: np.ndarray, axis: int
    ) -> np.ndarray:
        return oracle.vjp_derivative("log_softmax", x, cotangent, direction, axis).astype(x.dtype)
