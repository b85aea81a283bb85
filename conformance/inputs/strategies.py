"""Hypothesis strategies for softmax inputs: shapes, axes, logits, masks, layouts, vectors.

Bugs live at the edges, so the logits come from regimes, each aimed at a class of bug:

* ``moderate``: ordinary logits;
* ``overflow``: near log(max) of the dtype, where exp overflows without the max shift;
* ``spread``: a huge range, where x - max itself is large and exp underflows;
* ``ties``: few distinct values, where argmax-like shortcuts and symmetric rows go wrong;
* ``tiny``: near zero, including subnormals, where softmax is almost uniform;
* ``late_max``: moderate logits with each row's maximum near its end, where a streaming
  (online) softmax must rescale what it has summed so far;
* ``mixed_scales``: each row of a batch scaled by its own power of two (2**-12 to 2**12),
  where a maximum taken over the whole batch instead of per row underflows the small rows.

Small arrays draw every element through Hypothesis (so it can pick and shrink edge values);
large ones (long rows) are filled from a seeded NumPy generator, which costs nothing to draw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from conformance.inputs.seeded import Recipe
from conformance.inputs.shape_pool import Site

REGIMES: tuple[str, ...] = ("moderate", "overflow", "spread", "ties", "tiny", "late_max", "mixed_scales")
_ELEMENTWISE_LIMIT = 12  # arrays up to this size draw each element through Hypothesis


@dataclass(frozen=True)
class View:
    """A non-contiguous argument: ``expression`` (over ``base``) applied to a contiguous ``base``."""

    base: np.ndarray
    expression: str


@dataclass(frozen=True)
class Argument:
    """An array as the adapter receives it; ``view`` says how to rebuild a non-contiguous one,
    ``recipe`` how to make a large one again from its seed."""

    value: np.ndarray
    view: View | None = None
    recipe: Recipe | None = None


def _regime_range(regime: str, dtype: np.dtype[Any]) -> tuple[float, float]:
    info = ml_dtypes.finfo(dtype)
    overflow = float(np.log(float(info.max)))
    if regime == "overflow":
        return overflow - 4.0, min(overflow + 8.0, float(info.max))
    if regime == "spread":
        wide = min(1.0e4, float(info.max) / 4)
        return -wide, wide
    if regime == "tiny":
        return -64 * float(info.smallest_normal), 64 * float(info.smallest_normal)
    return -8.0, 8.0


@st.composite
def _values(draw: st.DrawFn, shape: tuple[int, ...], dtype: np.dtype[Any], regime: str, axis: int = -1) -> np.ndarray:
    """Float64 values in ``regime``, exactly representable in ``dtype``; rows run along ``axis``."""
    low, high = _regime_range(regime, dtype)
    size = int(np.prod(shape, dtype=np.int64))
    if regime == "ties":
        choices = draw(st.lists(st.floats(-4, 4, width=16), min_size=1, max_size=3, unique=True))
        if size <= _ELEMENTWISE_LIMIT:
            values = draw(hnp.arrays(np.float64, shape, elements=st.sampled_from(choices)))
        else:
            rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
            values = rng.choice(np.asarray(choices, dtype=np.float64), size=shape)
    elif size <= _ELEMENTWISE_LIMIT:
        values = draw(hnp.arrays(np.float64, shape, elements=st.floats(low, high)))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        values = rng.uniform(low, high, size=shape)
    values = np.asarray(values, dtype=np.float64)
    if regime in ("late_max", "mixed_scales") and values.ndim and values.size:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        rows = np.moveaxis(values, axis, -1)  # a view: writing it writes ``values``
        if regime == "late_max":
            n = rows.shape[-1]
            late = n - 1 - rng.integers(0, max(1, n // 8), size=rows.shape[:-1])
            peak = rows.max(axis=-1) + rng.uniform(1.0, 8.0, size=rows.shape[:-1])
            np.put_along_axis(rows, late[..., None], peak[..., None], axis=-1)
        else:
            rows *= np.exp2(rng.integers(-12, 13, size=rows.shape[:-1]))[..., None]
    return values.astype(dtype).astype(np.float64)


def _mask_rows(draw: st.DrawFn, values: np.ndarray, axis: int) -> np.ndarray:
    """Set a drawn subset of places to -inf, keeping the first place of every row finite."""
    if values.ndim == 0 or values.size == 0 or values.shape[axis] < 2:
        return values
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    masked = rng.random(values.shape) < draw(st.sampled_from([0.25, 0.5, 0.9]))
    keep = [slice(None)] * values.ndim
    keep[axis] = slice(0, 1)
    masked[tuple(keep)] = False
    return np.where(masked, -np.inf, values)


@st.composite
def laid_out(draw: st.DrawFn, array: np.ndarray, allow_views: bool = True) -> Argument:
    """``array`` as is, or as an equal non-contiguous view (transposed or strided)."""
    kinds = ["contiguous"]
    if allow_views and array.ndim >= 2:
        kinds.append("transposed")
    if allow_views and array.ndim >= 1 and array.size > 1:
        kinds.append("strided")
    kind = draw(st.sampled_from(kinds))
    if kind == "transposed":
        base = np.ascontiguousarray(array.T)
        return Argument(base.T, View(base, "base.T"))
    if kind == "strided":
        dim = draw(st.integers(0, array.ndim - 1))
        shape = list(array.shape)
        shape[dim] *= 2
        base = np.zeros(shape, dtype=array.dtype)
        picker = [slice(None)] * array.ndim
        picker[dim] = slice(None, None, 2)
        base[tuple(picker)] = array
        expression = "base[" + ", ".join("::2" if d == dim else ":" for d in range(array.ndim)) + "]"
        return Argument(base[tuple(picker)], View(base, expression))
    return Argument(array.copy(order="C"))  # a copy keeps a 0-d array 0-d (ascontiguousarray makes it 1-d)


@dataclass(frozen=True)
class Problem:
    """One generated input: logits ``x`` along ``axis``."""

    x: Argument
    axis: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.value.shape)


@st.composite
def problems(
    draw: st.DrawFn,
    dtype: np.dtype[Any],
    sites: Sequence[Site],
    *,
    masks: bool = True,
    force_mask: bool = False,
    views: bool = True,
) -> Problem:
    """Logits on one of ``sites`` (a shape and an axis from the run's pool, see
    :mod:`conformance.inputs.shape_pool`), in a drawn regime, maybe masked, in a drawn layout."""
    site = draw(st.sampled_from(sites))
    regime = draw(st.sampled_from(REGIMES))
    values = draw(_values(site.shape, dtype, regime, site.axis if site.rank else -1))
    if force_mask or (masks and draw(st.booleans())):
        values = _mask_rows(draw, values, site.axis % max(site.rank, 1))
    x = draw(laid_out(values.astype(dtype), views))
    return Problem(x, site.axis)


@st.composite
def vectors(draw: st.DrawFn, shape: tuple[int, ...], dtype: np.dtype[Any], views: bool = True) -> Argument:
    """A cotangent, tangent or direction: random, never a constant (a sum cotangent is
    blind to most backward bugs)."""
    size = int(np.prod(shape, dtype=np.int64))
    if size <= _ELEMENTWISE_LIMIT:
        values = draw(hnp.arrays(np.float64, shape, elements=st.floats(-4, 4, width=16)))
    else:
        rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
        values = rng.standard_normal(shape)
    return draw(laid_out(np.asarray(values).astype(dtype), views))
