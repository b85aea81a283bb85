"""The floating dtypes the suite tests, and their unit in the last place.

NumPy has no bfloat16; ``ml_dtypes`` (a dependency of JAX) provides one that NumPy
arrays accept, so every dtype here is a real NumPy dtype.
"""

from __future__ import annotations

from typing import Any

import ml_dtypes
import numpy as np

DTYPES: dict[str, np.dtype[Any]] = {
    "float16": np.dtype(np.float16),
    "bfloat16": np.dtype(ml_dtypes.bfloat16),
    "float32": np.dtype(np.float32),
    "float64": np.dtype(np.float64),
}
DTYPE_NAMES: tuple[str, ...] = tuple(DTYPES)


# every float16 value, indexed by its bits
_FLOAT16_VALUES = np.arange(2**16, dtype=np.uint16).view(np.float16).astype(np.float64)


def as_float64(array: Any) -> np.ndarray:
    """``array`` in float64 (exact for every dtype here). float16 is looked up by its bits:
    NumPy's cast takes a slow path on subnormals, which half of a long row's probabilities
    are in float16 (2.5 times faster on such an array)."""
    array = np.asarray(array)
    if array.dtype == np.float16:
        return np.take(_FLOAT16_VALUES, array.view(np.uint16))
    return array.astype(np.float64)


class UnknownDtype(ValueError):
    pass


def dtype_named(name: str) -> np.dtype[Any]:
    """The dtype called ``name``; an unknown one lists the valid names."""
    try:
        return DTYPES[name]
    except KeyError:
        raise UnknownDtype(f"dtype={name!r}, but the known dtypes are: {', '.join(DTYPE_NAMES)}") from None


def dtype_name(dtype: Any) -> str:
    """The suite's name for ``dtype`` (``str`` of the dtype for anything else)."""
    dtype = np.dtype(dtype)
    for name, known in DTYPES.items():
        if known == dtype:
            return name
    return str(dtype)


def mantissa_bits(dtype: Any) -> int:
    """Precision p of ``dtype``: significand bits including the implicit one."""
    return int(ml_dtypes.finfo(dtype).nmant) + 1


def unit_roundoff(dtype: Any) -> float:
    """u = 2**-p, the largest relative error of one correctly rounded operation."""
    return float(2.0 ** -mantissa_bits(dtype))


def ulp(values: np.ndarray, dtype: Any) -> np.ndarray:
    """Spacing of ``dtype`` at each of ``values`` (given in any wider float type).

    For |v| in [2**e, 2**(e+1)) this is 2**(e - p + 1), and below the smallest
    normal it is the subnormal spacing, so it is never zero. ``u*|v| < ulp(v) <= 2u*|v|``
    for normal v, which is what lets a relative bound in units of u be read in ulps.
    """
    info = ml_dtypes.finfo(dtype)
    p = int(info.nmant) + 1
    magnitude = np.abs(np.asarray(values, dtype=np.longdouble))
    _, exponent = np.frexp(magnitude)
    exponent = np.maximum(np.where(magnitude > 0, exponent - 1, int(info.minexp)), int(info.minexp))
    return np.ldexp(np.ones_like(magnitude), exponent - p + 1)
