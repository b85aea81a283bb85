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


_FLOAT16_SMALLEST_NORMAL = 2.0**-14
_FLOAT16_SUBNORMAL_STEPS = 2.0**24  # float16's subnormals are the multiples of 2**-24
_ROUNDING_CHUNK = 2**15  # elements rounded at a time, so that the scratch arrays stay in cache
_FEW_SUBNORMALS = 16  # a chunk with at most 1/16 of its elements subnormal is rounded by astype


def rounded_to(array: Any, dtype: Any) -> np.ndarray:
    """``array`` rounded once to ``dtype``, to nearest with ties to even: ``astype``, except
    that float64 to float16 rounds the subnormal range by hand. NumPy takes a slow path there,
    and half of a long row's probabilities are in it (16.8 million softmax values: 0.63 s by
    ``astype``, 0.28 s here). Below 2**-14 the bits of |v| in float16 are the integer nearest
    to |v| * 2**24 (exact in float64), and where that is 1024 they are the smallest normal's,
    which is where such a v rounds to."""
    array = np.asarray(array)
    if np.dtype(dtype) != np.float16 or array.dtype != np.float64:
        return array.astype(dtype)
    flat = array.reshape(-1)
    out = np.empty(flat.shape, np.float16)
    bits = out.view(np.uint16)
    size = min(_ROUNDING_CHUNK, flat.size)
    magnitude, normal, small = np.empty(size), np.empty(size), np.empty(size, dtype=bool)
    steps, sign = np.empty(size, dtype=np.uint16), np.empty(size, dtype=np.uint16)
    for start in range(0, flat.size, _ROUNDING_CHUNK):
        piece = flat[start : start + _ROUNDING_CHUNK]
        n = piece.size
        m, below = magnitude[:n], small[:n]
        np.abs(piece, out=m)
        np.less(m, _FLOAT16_SMALLEST_NORMAL, out=below)  # False for NaN
        if np.count_nonzero(below) <= n // _FEW_SUBNORMALS:  # NumPy's slow path is per element
            with np.errstate(over="ignore"):  # past float16's range: inf, as astype gives
                out[start : start + n] = piece
            continue
        keep, step, signs = normal[:n], steps[:n], sign[:n]
        np.copyto(keep, piece)
        np.copyto(keep, 0.0, where=below)
        with np.errstate(over="ignore"):
            out[start : start + n] = keep
        np.fmin(m, _FLOAT16_SMALLEST_NORMAL, out=m)  # NaN gives the bound: its bits are never taken
        np.rint(np.multiply(m, _FLOAT16_SUBNORMAL_STEPS, out=m), out=m)
        np.copyto(step, m, casting="unsafe")
        np.left_shift(np.signbit(piece).view(np.uint8), 15, out=signs, dtype=np.uint16)
        np.bitwise_or(step, signs, out=step)
        np.copyto(bits[start : start + n], step, where=below)
    return out.reshape(array.shape)


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
