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

Every strategy object is built once and reused (cached per shape, dtype and regime, or at
module level): Hypothesis validates a strategy, and works out its label and properties, the
first time it is drawn from, so a new object on every draw paid that again, thousands of
times a run. A problem draws at most one seed: its NumPy fill, peaks, scales and mask all
come from one generator.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from hypothesis.strategies import SearchStrategy

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


_SEEDS = st.integers(0, 2**32 - 1)
_REGIMES = st.sampled_from(REGIMES)
_MASK_OR_NOT = st.booleans()
_MASKED_SHARES = st.sampled_from((0.25, 0.5, 0.9))
_TIE_VALUES = st.lists(st.floats(-4, 4, width=16), min_size=1, max_size=3, unique=True)
_VECTOR_ELEMENTS = st.floats(-4, 4, width=16)
_LAYOUTS = {
    kinds: st.sampled_from(kinds)
    for kinds in [("contiguous",), ("contiguous", "strided"), ("contiguous", "transposed", "strided")]
}


class _Generator:
    """The NumPy generator of one example, seeded by one draw, made the first time it is asked
    for (an example that needs none draws no seed)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw
        self._rng: np.random.Generator | None = None

    def __call__(self) -> np.random.Generator:
        if self._rng is None:
            self._rng = np.random.default_rng(self._draw(_SEEDS))
        return self._rng


@functools.cache
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


@functools.cache
def _elementwise(shape: tuple[int, ...], low: float, high: float) -> SearchStrategy[np.ndarray]:
    """Float64 arrays of ``shape`` in [low, high], drawn element by element."""
    return hnp.arrays(np.float64, shape, elements=st.floats(low, high))


@functools.cache
def _picks(shape: tuple[int, ...], count: int) -> SearchStrategy[np.ndarray]:
    """Arrays of ``shape`` of indices below ``count``, drawn element by element (the choices
    ``sampled_from`` of ``count`` values makes, shrinking towards the first)."""
    return hnp.arrays(np.intp, shape, elements=st.integers(0, count - 1))


@functools.cache
def _vector_elements(shape: tuple[int, ...]) -> SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, shape, elements=_VECTOR_ELEMENTS)


@functools.cache
def _dims(ndim: int) -> SearchStrategy[int]:
    return st.integers(0, ndim - 1)


def _size(shape: tuple[int, ...]) -> int:
    return math.prod(shape)  # np.prod would make an array of the tuple first, at ten times the cost


def _values(
    draw: st.DrawFn,
    rng: Callable[[], np.random.Generator],
    shape: tuple[int, ...],
    dtype: np.dtype[Any],
    regime: str,
    axis: int = -1,
) -> np.ndarray:
    """Float64 values in ``regime``, exactly representable in ``dtype``; rows run along ``axis``."""
    low, high = _regime_range(regime, dtype)
    size = _size(shape)
    if regime == "ties":
        choices = np.asarray(draw(_TIE_VALUES), dtype=np.float64)
        if size <= _ELEMENTWISE_LIMIT:
            values = choices[draw(_picks(shape, len(choices)))]
        else:
            values = rng().choice(choices, size=shape)
    elif size <= _ELEMENTWISE_LIMIT:
        values = draw(_elementwise(shape, low, high))
    else:
        values = rng().uniform(low, high, size=shape)
    values = np.asarray(values, dtype=np.float64)
    if regime in ("late_max", "mixed_scales") and values.ndim and values.size:
        generator = rng()
        rows = np.moveaxis(values, axis, -1)  # a view: writing it writes ``values``
        if regime == "late_max":
            n = rows.shape[-1]
            late = n - 1 - generator.integers(0, max(1, n // 8), size=rows.shape[:-1])
            peak = rows.max(axis=-1) + generator.uniform(1.0, 8.0, size=rows.shape[:-1])
            np.put_along_axis(rows, late[..., None], peak[..., None], axis=-1)
        else:
            rows *= np.exp2(generator.integers(-12, 13, size=rows.shape[:-1]))[..., None]
    return values.astype(dtype).astype(np.float64)


def _mask_rows(draw: st.DrawFn, rng: Callable[[], np.random.Generator], values: np.ndarray, axis: int) -> np.ndarray:
    """Set a drawn subset of places to -inf, keeping the first place of every row finite."""
    if values.ndim == 0 or values.size == 0 or values.shape[axis] < 2:
        return values
    generator = rng()
    masked = generator.random(values.shape) < draw(_MASKED_SHARES)
    keep = [slice(None)] * values.ndim
    keep[axis] = slice(0, 1)
    masked[tuple(keep)] = False
    return np.where(masked, -np.inf, values)


def _lay_out(draw: st.DrawFn, array: np.ndarray, allow_views: bool = True) -> Argument:
    """``array`` as is, or as an equal non-contiguous view (transposed or strided)."""
    kinds: tuple[str, ...] = ("contiguous",)
    if allow_views and array.ndim >= 2:
        kinds = ("contiguous", "transposed", "strided")
    elif allow_views and array.ndim >= 1 and array.size > 1:
        kinds = ("contiguous", "strided")
    kind = draw(_LAYOUTS[kinds])
    if kind == "transposed":
        base = np.ascontiguousarray(array.T)
        return Argument(base.T, View(base, "base.T"))
    if kind == "strided":
        dim = draw(_dims(array.ndim))
        shape = list(array.shape)
        shape[dim] *= 2
        base = np.zeros(shape, dtype=array.dtype)
        picker = [slice(None)] * array.ndim
        picker[dim] = slice(None, None, 2)
        base[tuple(picker)] = array
        expression = "base[" + ", ".join("::2" if d == dim else ":" for d in range(array.ndim)) + "]"
        return Argument(base[tuple(picker)], View(base, expression))
    return Argument(array.copy(order="C"))  # a copy keeps a 0-d array 0-d (ascontiguousarray makes it 1-d)


@st.composite
def laid_out(draw: st.DrawFn, array: np.ndarray, allow_views: bool = True) -> Argument:
    """``array`` as is, or as an equal non-contiguous view (transposed or strided)."""
    return _lay_out(draw, array, allow_views)


@dataclass(frozen=True)
class Problem:
    """One generated input: logits ``x`` along ``axis``."""

    x: Argument
    axis: int

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.x.value.shape)


@st.composite
def _problem(
    draw: st.DrawFn,
    dtype: np.dtype[Any],
    sites: SearchStrategy[Site],
    masks: bool,
    force_mask: bool,
    views: bool,
) -> Problem:
    site = draw(sites)
    regime = draw(_REGIMES)
    rng = _Generator(draw)
    values = _values(draw, rng, site.shape, dtype, regime, site.axis if site.rank else -1)
    if force_mask or (masks and draw(_MASK_OR_NOT)):
        values = _mask_rows(draw, rng, values, site.axis % max(site.rank, 1))
    x = _lay_out(draw, values.astype(dtype), views)
    return Problem(x, site.axis)


@functools.lru_cache(maxsize=4096)
def _problems(
    dtype: np.dtype[Any], sites: tuple[Site, ...], masks: bool, force_mask: bool, views: bool
) -> SearchStrategy[Problem]:
    return _problem(dtype, st.sampled_from(sites), masks, force_mask, views)


def problems(
    dtype: np.dtype[Any],
    sites: Sequence[Site],
    *,
    masks: bool = True,
    force_mask: bool = False,
    views: bool = True,
) -> SearchStrategy[Problem]:
    """Logits on one of ``sites`` (a shape and an axis from the run's pool, see
    :mod:`conformance.inputs.shape_pool`), in a drawn regime, maybe masked, in a drawn layout.

    The same arguments give the same strategy object, built once."""
    return _problems(np.dtype(dtype), tuple(sites), masks, force_mask, views)


@st.composite
def _vector(draw: st.DrawFn, shape: tuple[int, ...], dtype: np.dtype[Any], views: bool) -> Argument:
    if _size(shape) <= _ELEMENTWISE_LIMIT:
        values = draw(_vector_elements(shape))
    else:
        values = np.random.default_rng(draw(_SEEDS)).standard_normal(shape)
    return _lay_out(draw, np.asarray(values).astype(dtype), views)


@functools.lru_cache(maxsize=4096)
def _vectors(shape: tuple[int, ...], dtype: np.dtype[Any], views: bool) -> SearchStrategy[Argument]:
    return _vector(shape, dtype, views)


def vectors(shape: tuple[int, ...], dtype: np.dtype[Any], views: bool = True) -> SearchStrategy[Argument]:
    """A cotangent, tangent or direction: random, never a constant (a sum cotangent is
    blind to most backward bugs). The same arguments give the same strategy object."""
    return _vectors(tuple(shape), np.dtype(dtype), views)
