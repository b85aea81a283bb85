"""Hypothesis strategies for softmax inputs: shapes, axes, logits, masks, layouts, vectors.

Bugs live at the edges, so the logits come from regimes, each aimed at a class of bug:

* ``moderate``: ordinary logits;
* ``overflow``: near log(max) of the dtype, where exp overflows without the max shift;
* ``spread``: a huge range, where x - max itself is large and exp underflows;
* ``ties``: few distinct values, where argmax-like shortcuts and symmetric rows go wrong;
* ``tiny``: near zero, including subnormals, where softmax is almost uniform;
* ``underflow``: each row's first logit 0 and the rest between log of the dtype's smallest
  normal and a little past log of its smallest subnormal, so that the row's other
  probabilities are subnormals (or round to 0), where flush-to-zero arithmetic and a kernel's
  rounding below the normal range show;
* ``late_max``: moderate logits with each row's maximum near its end, where a streaming
  (online) softmax must rescale what it has summed so far;
* ``mixed_scales``: each row of a batch scaled by its own power of two (2**-12 to 2**12),
  where a maximum taken over the whole batch instead of per row underflows the small rows.

Masks come as models make them: scattered -inf places, or a padding or causal mask, a
contiguous run of -inf at the start or the end of a row, of a length at and around the block
sizes of blocked kernels (16 to 128), where a kernel meets a block that is -inf throughout.

Every argument (x, and each cotangent, tangent or direction) comes in a drawn layout: as is
(contiguous), or as an equal view that is transposed, strided (step 2), reversed (a negative
stride), offset (starting past the start of a larger buffer), or broadcast (a stride of 0:
equal values along one side). Each view is rebuilt by the reproducer from its ``View``.

In float16 and bfloat16, a vector may be loss-scaled, as mixed-precision training scales the
cotangents of its backward pass: multiplied by a power of two from 2**8 to 2**16 (as far as
its elements stay finite), so that a sum over a row can pass float16's 65504 even where the
result does not.

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

from conformance.inputs.arguments import Argument, View
from conformance.inputs.shape_pool import Site

REGIMES: tuple[str, ...] = (
    "moderate",
    "overflow",
    "spread",
    "ties",
    "tiny",
    "underflow",
    "late_max",
    "mixed_scales",
)
_ELEMENTWISE_LIMIT = 12  # arrays up to this size draw each element through Hypothesis


_SEEDS = st.integers(0, 2**32 - 1)
_REGIMES = st.sampled_from(REGIMES)
_MASK_OR_NOT = st.booleans()
_MASKED_SHARES = st.sampled_from((0.25, 0.5, 0.9))
MASK_KINDS: tuple[str, ...] = ("scattered", "prefix", "suffix")
CONTIGUOUS_MASKS: tuple[str, ...] = ("prefix", "suffix")  # a padding or causal mask
_PER_ROW = st.booleans()
# Runs of -inf at and around the block sizes of blocked kernels (16, 32, 64, 128): a run of a
# block's length, or one more, masks a whole block; one less leaves it a single finite place.
BLOCK_RUNS: tuple[int, ...] = tuple(block + d for block in (16, 32, 64, 128) for d in (-1, 0, 1))
_SHORT_RUNS: tuple[int, ...] = (1, 2, 3)
# Loss scales of mixed-precision training, as powers of two, and how many halvings below the
# largest one a scale is drawn; None (no scaling) shrinks first.
LOSS_SCALE_EXPONENTS: tuple[int, int] = (8, 16)
_LOSS_SCALE_HALVINGS = st.one_of(st.none(), st.integers(0, LOSS_SCALE_EXPONENTS[1] - LOSS_SCALE_EXPONENTS[0]))
_TIE_VALUES = st.lists(st.floats(-4, 4, width=16), min_size=1, max_size=3, unique=True)
_VECTOR_ELEMENTS = st.floats(-4, 4, width=16)
LAYOUTS: tuple[str, ...] = ("contiguous", "transposed", "strided", "reversed", "offset", "broadcast")
_LAYOUTS = {kinds: st.sampled_from(kinds) for kinds in [("contiguous",), LAYOUTS[:1] + LAYOUTS[2:], LAYOUTS]}


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
    if regime == "underflow":
        return float(np.log(float(info.smallest_subnormal))) - 2.0, float(np.log(float(info.smallest_normal)))
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


@functools.cache
def _sides_longer_than_one(shape: tuple[int, ...]) -> SearchStrategy[int]:
    """A dimension of ``shape`` whose side is at least 2 (reversing or broadcasting along it
    changes the layout)."""
    return st.sampled_from(tuple(dim for dim, side in enumerate(shape) if side > 1))


@functools.cache
def run_lengths(n: int) -> tuple[int, ...]:
    """The lengths a contiguous mask of a row of ``n`` takes: short runs, the block runs that
    fit, and all but one place; never the whole row (a row of -inf only is NaN)."""
    return tuple(sorted({k for k in (*_SHORT_RUNS, *BLOCK_RUNS, n - 1) if 1 <= k <= n - 1}))


@functools.cache
def _run_length(n: int) -> SearchStrategy[int]:
    return st.sampled_from(run_lengths(n))


@functools.cache
def _mask_kinds(kinds: tuple[str, ...]) -> SearchStrategy[str]:
    return st.sampled_from(kinds)


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
    if regime == "underflow" and values.ndim and values.size:
        np.moveaxis(values, axis, -1)[..., 0] = 0.0  # the row's maximum: the rest fall below the normal range
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


def _mask_rows(
    draw: st.DrawFn,
    rng: Callable[[], np.random.Generator],
    values: np.ndarray,
    axis: int,
    kinds: tuple[str, ...] = MASK_KINDS,
) -> np.ndarray:
    """Set a drawn set of places to -inf, in a mask of one of ``kinds``: scattered over the
    rows (keeping each row's first place finite), or a contiguous run at the start (``prefix``)
    or the end (``suffix``) of every row, of one drawn length for the whole batch or its own
    length in each row."""
    if values.ndim == 0 or values.size == 0 or values.shape[axis] < 2:
        return values
    kind = draw(_mask_kinds(kinds))
    rows = np.moveaxis(values, axis, -1)
    n = rows.shape[-1]
    if kind == "scattered":
        masked = rng().random(rows.shape) < draw(_MASKED_SHARES)
        masked[..., 0] = False
    else:
        if draw(_PER_ROW):
            runs = rng().choice(run_lengths(n), size=rows.shape[:-1] + (1,))
        else:
            runs = np.full(rows.shape[:-1] + (1,), draw(_run_length(n)))
        places = np.arange(n)
        masked = places < runs if kind == "prefix" else places >= n - runs
    return np.moveaxis(np.where(masked, -np.inf, rows), -1, axis)


def _slice_source(dim: int, ndim: int, text: str) -> str:
    """``base[:, 1:]``: ``text`` at ``dim``, every other dimension whole."""
    return "base[" + ", ".join(text if d == dim else ":" for d in range(ndim)) + "]"


def _sliced_view(array: np.ndarray, dim: int, kind: str) -> Argument:
    """``array`` as a slice along ``dim`` of a base made for it: every other place of a base
    twice as long (strided), a base reversed along ``dim`` (reversed), or all but the first
    place of a base one longer (offset). The places the view skips hold zeros."""
    picker: list[slice] = [slice(None)] * array.ndim
    if kind == "reversed":
        base = np.ascontiguousarray(np.flip(array, dim))
        picker[dim], text = slice(None, None, -1), "::-1"
    else:
        shape = list(array.shape)
        shape[dim] = 2 * shape[dim] if kind == "strided" else shape[dim] + 1
        base = np.zeros(shape, dtype=array.dtype)
        picker[dim], text = (slice(None, None, 2), "::2") if kind == "strided" else (slice(1, None), "1:")
        base[tuple(picker)] = array
    return Argument(base[tuple(picker)], View(base, _slice_source(dim, array.ndim, text)))


def _broadcast_view(array: np.ndarray, dim: int) -> Argument:
    """One slice of ``array`` along ``dim``, broadcast (stride 0) back to its shape: equal values
    along ``dim``. The slice is the one with the fewest -inf places, so that broadcasting along
    a masked row never makes it -inf throughout. The view is read-only, as a broadcast is."""
    masked_places = np.isneginf(array).sum(axis=tuple(d for d in range(array.ndim) if d != dim))
    base = np.take(array, [int(np.argmin(masked_places))], axis=dim)
    view = np.broadcast_to(base, array.shape)
    return Argument(view, View(base, f"np.broadcast_to(base, {tuple(array.shape)!r})"))


def _lay_out(draw: st.DrawFn, array: np.ndarray, allow_views: bool = True) -> Argument:
    """``array`` as is, or as a non-contiguous view of a drawn kind (see the module docstring):
    equal to it, except a broadcast, which repeats one slice of it."""
    kinds: tuple[str, ...] = ("contiguous",)
    if allow_views and array.ndim >= 2:
        kinds = LAYOUTS
    elif allow_views and array.ndim >= 1 and array.size > 1:
        kinds = LAYOUTS[:1] + LAYOUTS[2:]
    kind = draw(_LAYOUTS[kinds])
    if kind == "transposed":
        base = np.ascontiguousarray(array.T)
        return Argument(base.T, View(base, "base.T"))
    if kind == "strided":
        return _sliced_view(array, draw(_dims(array.ndim)), kind)
    if kind in ("reversed", "offset"):
        return _sliced_view(array, draw(_sides_longer_than_one(array.shape)), kind)
    if kind == "broadcast":
        return _broadcast_view(array, draw(_sides_longer_than_one(array.shape)))
    return Argument(array.copy(order="C"))  # a copy keeps a 0-d array 0-d (ascontiguousarray makes it 1-d)


@st.composite
def laid_out(draw: st.DrawFn, array: np.ndarray, allow_views: bool = True) -> Argument:
    """``array`` as is, or as a non-contiguous view (see :func:`_lay_out`)."""
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
    mask_kinds: tuple[str, ...],
) -> Problem:
    site = draw(sites)
    regime = draw(_REGIMES)
    rng = _Generator(draw)
    values = _values(draw, rng, site.shape, dtype, regime, site.axis if site.rank else -1)
    if force_mask or (masks and draw(_MASK_OR_NOT)):
        values = _mask_rows(draw, rng, values, site.axis % max(site.rank, 1), mask_kinds)
    x = _lay_out(draw, values.astype(dtype), views)
    return Problem(x, site.axis)


@functools.lru_cache(maxsize=4096)
def _problems(
    dtype: np.dtype[Any],
    sites: tuple[Site, ...],
    masks: bool,
    force_mask: bool,
    views: bool,
    mask_kinds: tuple[str, ...],
) -> SearchStrategy[Problem]:
    return _problem(dtype, st.sampled_from(sites), masks, force_mask, views, mask_kinds)


def problems(
    dtype: np.dtype[Any],
    sites: Sequence[Site],
    *,
    masks: bool = True,
    force_mask: bool = False,
    views: bool = True,
    mask_kinds: Sequence[str] = MASK_KINDS,
) -> SearchStrategy[Problem]:
    """Logits on one of ``sites`` (a shape and an axis from the run's pool, see
    :mod:`conformance.inputs.shape_pool`), in a drawn regime, maybe masked (by a mask of one
    of ``mask_kinds``), in a drawn layout.

    The same arguments give the same strategy object, built once."""
    return _problems(np.dtype(dtype), tuple(sites), masks, force_mask, views, tuple(mask_kinds))


def _loss_scaled(draw: st.DrawFn, values: np.ndarray, dtype: np.dtype[Any]) -> np.ndarray:
    """``values`` times a loss scale 2**k, k in LOSS_SCALE_EXPONENTS, in a share of examples
    in float16 and bfloat16, where mixed-precision training scales its cotangents.

    A dynamic loss scaler (torch.amp's GradScaler, for one) halves its scale whenever the
    scaled gradients overflow and doubles it after a run of finite steps, so it settles near
    the largest scale that keeps them finite. So k is the largest exponent (up to 16) at which
    the largest element stays finite, less a drawn number of halvings (none shrinks first),
    and never below 8 unless the largest element leaves no room for it."""
    if np.dtype(dtype).itemsize != 2 or not values.size:
        return values
    halvings = draw(_LOSS_SCALE_HALVINGS)
    largest = float(np.max(np.abs(values)))
    if halvings is None or not largest:
        return values
    low, high = LOSS_SCALE_EXPONENTS
    room = math.floor(math.log2(float(ml_dtypes.finfo(dtype).max) / largest))
    return np.asarray(values * 2.0 ** min(max(min(high, room) - halvings, low), room))


@st.composite
def _vector(draw: st.DrawFn, shape: tuple[int, ...], dtype: np.dtype[Any], views: bool, loss_scaled: bool) -> Argument:
    if _size(shape) <= _ELEMENTWISE_LIMIT:
        values = draw(_vector_elements(shape))
    else:
        values = np.random.default_rng(draw(_SEEDS)).standard_normal(shape)
    values = np.asarray(values)
    if loss_scaled:
        values = _loss_scaled(draw, values, dtype)
    return _lay_out(draw, values.astype(dtype), views)


@functools.lru_cache(maxsize=4096)
def _vectors(shape: tuple[int, ...], dtype: np.dtype[Any], views: bool, loss_scaled: bool) -> SearchStrategy[Argument]:
    return _vector(shape, dtype, views, loss_scaled)


def vectors(
    shape: tuple[int, ...], dtype: np.dtype[Any], views: bool = True, loss_scaled: bool = True
) -> SearchStrategy[Argument]:
    """A cotangent, tangent or direction: random, never constant over the whole array (a sum
    cotangent is blind to most backward bugs; a broadcast layout repeats it along one side).
    In float16 and bfloat16 it is loss-scaled in a share of examples (``loss_scaled=False``
    for a vector that a training loop never scales, such as the direction of a second-order
    product, which scaled together with its cotangent would overflow the product itself).
    The same arguments give the same strategy object."""
    return _vectors(tuple(shape), np.dtype(dtype), views, loss_scaled)
