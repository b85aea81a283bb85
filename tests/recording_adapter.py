"""The NumPy reference, writing down every input its forward passes are given: what a property
drew, as the adapter sees it."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from conformance.adapters.numpy_adapter import NumpyReference

LOG_VARIABLE = "CONFORMANCE_TEST_INPUTS_LOG"  # the file the inputs are written to; unset: none


def _write_down(x: np.ndarray, axis: int) -> None:
    """A line for ``x``, appended to the file ``LOG_VARIABLE`` names: the test that called it
    (pytest's node id), then the input's shape, dtype, axis and a digest of its bytes."""
    path, test = os.environ.get(LOG_VARIABLE), os.environ.get("PYTEST_CURRENT_TEST")
    if not path or not test:
        return
    digest = hashlib.sha1(np.ascontiguousarray(x).tobytes()).hexdigest()
    with open(path, "a") as log:
        log.write(f"{test.rsplit(' ', 1)[0]}\t{x.shape} {x.dtype} axis={axis} {digest}\n")


class RecordsItsInputs(NumpyReference):
    name = "records-its-inputs"

    def softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        _write_down(x, axis)
        return super().softmax(x, axis)

    def log_softmax(self, x: np.ndarray, axis: int) -> np.ndarray:
        _write_down(x, axis)
        return super().log_softmax(x, axis)
