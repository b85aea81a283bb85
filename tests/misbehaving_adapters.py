"""Adapters that misbehave in the ways real code does: crash the process, hang, raise,
return junk. The runner must turn each into a reported result and lose nothing else."""

from __future__ import annotations

import ctypes
import time

import numpy as np

from conformance.adapters.numpy_adapter import NumpyReference


class Segfaults(NumpyReference):
    """Reads address 0 on its first softmax call: the worker process dies of SIGSEGV."""

    name = "segfaults"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        ctypes.string_at(0)
        return super().softmax(x, axis)


class HangsInPython(NumpyReference):
    """Sleeps in Python: the in-process alarm interrupts it."""

    name = "hangs-in-python"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        time.sleep(3600)
        return super().softmax(x, axis)


class HangsInC(NumpyReference):
    """Blocks in C without returning to the interpreter: only killing the worker ends it."""

    name = "hangs-in-c"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        ctypes.CDLL(None).sleep(3600)
        return super().softmax(x, axis)


class Raises(NumpyReference):
    name = "raises"

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        raise RuntimeError("backward kernel not implemented")


class ReturnsJunk(NumpyReference):
    """None, a list, the wrong shape, the wrong dtype, NaN: one per quantity."""

    name = "returns-junk"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return None  # type: ignore[return-value]

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray:
        return np.atleast_1d(super().vjp(x, cotangent, axis)).tolist()  # type: ignore[return-value]

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.zeros(x.shape, dtype=x.dtype)

    def jvp(self, x: np.ndarray, tangent: np.ndarray, axis: int) -> np.ndarray:
        return super().jvp(x, tangent, axis).astype(np.float64 if x.dtype != np.float64 else np.float32)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        return np.full(x.shape, np.nan, dtype=x.dtype)


class FailsToLoad:
    """Raises when instantiated."""

    name = "fails-to-load"

    def __init__(self) -> None:
        raise ImportError("libcustomkernel.so: cannot open shared object file")

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray: ...

    def jacobian(self, x: np.ndarray, axis: int) -> np.ndarray: ...

    def vjp(self, x: np.ndarray, cotangent: np.ndarray, axis: int) -> np.ndarray: ...
