"""The one tolerance model: how far a correct implementation may be from the exact value.

No atol/rtol pair can describe softmax accuracy. The error of a correct float16 softmax
grows with |x_i - max| (the shift x_i - m is rounded before exp magnifies it), and the
error of a VJP is set by the size of the terms that cancel in ``g_i - <g, s>``, not by the
result. So every bound here is derived from the computation, element by element, as a
first-order rounding-error analysis in the unit roundoff u = 2**-p of the dtype under
test (Higham, *Accuracy and Stability of Numerical Algorithms*, 2nd ed., ch. 3-4).

Allowances (relative errors, in units of u):

* ``ROUNDED = 1``: one correctly rounded operation (+, -, *, /, conversion).
* ``ELEMENTARY = 4``: exp or log accurate to 2 ulps (2 ulps <= 4u relative); vectorised
  library exps are 1-2 ulps.
* ``UNDERFLOW = 4``: below the normal range rounding is absolute, not relative (Higham's
  model fl(a op b) = (a op b)(1 + d) + e, |e| <= eta/2, eta the smallest subnormal);
  each bound adds 4 eta for the roundings that feed one output. A probability s_j formed
  in the dtype carries such an absolute error too, one eta/2 for each of the
  ``PROBABILITY_ROUNDINGS = 2`` roundings it is formed by (exp(d_j) in the dtype, then the
  division by Z), and the products magnify it: the VJP and JVP bounds add eta times the
  factor each s_j is multiplied by. (torch's float16 softmax over a first axis gives 0 for
  an exact 3.17e-8, 0.53 eta from it, and a loss-scaled cotangent multiplies that by
  |g_i - <g, s>| = 28000 in the VJP.) (TensorFlow's
  float16 log_softmax VJP forms exp(y) in float16: a probability of 2.6e-8 rounds to 0
  and drops s_i * sum(g) = 1.7e-6 from a gradient of 2.7e-4, 7 ulp. It is a correct
  rounding in the dtype, not a bug.)
* ``accumulation_allowance(n, dtype)``: a sum (or dot product) of n terms along the row.

  - float16 and bfloat16: ``summation_allowance(n) = ceil(log2 n) + 1``, a sum formed
    pairwise, in a tree, or in a wider accumulator. Every framework's forward pass sums
    half-precision rows in float32, at no cost; a running sum in the half type itself
    is a precision bug this bound is meant to catch (4096 float16 terms added in order
    lose about 120 ulps, mostly by a one-sided drift once the terms fall below half an
    ulp of the partial sum).
  - float32 and float64: the larger of that and ``running_sum_allowance(n) =
    min(n - 1, 5 sqrt(n / 3))``. No framework sums these in a wider type, and a running
    sum in the dtype (one per SIMD lane, as torch's CPU kernels do) is correct practice.
    Its worst case is (n - 1) roundings, but its error is a sum of independent,
    mean-zero roundings (Higham and Mary, "A New Approach to Probabilistic Rounding Error
    Analysis", SIAM J. Sci. Comput. 41(5), 2019): each is uniform on [-u, u], so the
    relative error has standard deviation at most u sqrt(n / 3), and 5 of those make a
    false alarm a 5-sigma event (about 6e-7 per row). At n = 2048, torch's float32 and
    float64 softmax exceed the pairwise bound: an element at 22 ulps against 17, one at
    29 against 23.

Relative error of s_i = softmax_i formed as exp(x - m) / Z, with d_j = x_j - m <= 0::

    K_s,i = |d_i| + sum_j s_j |d_j| + log Z + 2*ELEMENTARY + accumulation_allowance(n) + 3

|d_i| is the shift's rounding magnified by exp; ``sum_j s_j |d_j|`` (at most log n, the
entropy) is the same for the denominator; ``log Z`` covers log Z's own error. A backward
pass of log_softmax forms s_i as exp of the computed output y_i = d_i - log Z instead, and
that subtraction rounds too, by u |y_i| = u (|d_i| + log Z): such an s_i carries
``K_s,i + |d_i|`` (its log Z part is in K already). The log_softmax VJP and JVP bounds use
that. (torch's float32 log_softmax Jacobian entry -s_j = -1.97e-29, d_j = -65.7, was 82 ulps
off, over the 79 that K_s,j alone allows.)

Each quantity gets, per element, an absolute error bound and a *scale* M_i (the magnitude
of the terms the result is made of). Errors are reported in ulps of M_i: for the forward
softmax M_i = s_i, so this is the ordinary ulp error of the output; for a VJP, where
``g_i - <g, s>`` can cancel to nearly 0, it is the error relative to the terms.
An implementation passes when every element's error is within its bound; the ulp figures
are how the report says by how much.

Inputs exactly on the dtype's grid are assumed (the suite only feeds such inputs), and
the exact values come from :mod:`conformance.truth.oracle` in a precision well beyond the dtype
(float64 for the half and single types, long double for float64).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

import ml_dtypes
import numpy as np

from conformance.truth import oracle
from conformance.truth.dtypes import ulp, unit_roundoff
from conformance.truth.oracle import Op

ROUNDED = 1.0
ELEMENTARY = 4.0
UNDERFLOW = 4.0  # roundings near underflow that feed one output, each off by <= half a subnormal spacing
PROBABILITY_ROUNDINGS = 2.0  # roundings that form a probability s_j in the dtype: exp(d_j), then / Z


RUNNING_SUM_SIGMAS = 5.0


def summation_allowance(n: int) -> float:
    """Relative error, in u, of a sum of n terms formed pairwise or wider: ceil(log2 n) + 1."""
    return float(np.ceil(np.log2(max(n, 1)))) + 1.0


def running_sum_allowance(n: int) -> float:
    """Relative error, in u, of a running sum of n terms in the dtype itself, to 5 standard
    deviations of the random-walk model and never beyond the worst case n - 1."""
    return float(min(max(n - 1, 0), RUNNING_SUM_SIGMAS * np.sqrt(n / 3.0)))


def accumulation_allowance(n: int, dtype: Any) -> float:
    """Relative error, in u, allowed for a sum of n terms along a row of ``dtype``: formed
    pairwise or wider for the half types, a running sum in the dtype for wider ones."""
    if np.dtype(dtype).itemsize <= 2:
        return summation_allowance(n)
    return max(summation_allowance(n), running_sum_allowance(n))


def _smallest_subnormal(dtype: Any) -> float:
    """eta: the spacing of ``dtype`` below its normal range."""
    return float(ml_dtypes.finfo(dtype).smallest_subnormal)


def _rounded_probability_error(eta: float, magnitude: np.ndarray) -> np.ndarray:
    """eta/2 times ``magnitude`` for each of the PROBABILITY_ROUNDINGS that form a probability
    below the normal range, with eta last: half of float64's smallest subnormal is not a
    float64 and rounds to 0, and so does eta times a magnitude below 1/2 (such a term is
    below the eta every bound adds anyway)."""
    return np.asarray(eta * (magnitude * (PROBABILITY_ROUNDINGS / 2)))


@dataclass(frozen=True)
class Bound:
    """Per-element absolute error bound and the scale errors are measured against."""

    absolute: np.ndarray
    scale: np.ndarray
    dtype: np.dtype[Any]

    @classmethod
    def of(cls, absolute: np.ndarray, scale: np.ndarray, dtype: Any, shape: tuple[int, ...]) -> Bound:
        """A bound from a rounding analysis above underflow, widened by the underflow allowance."""
        eta = _smallest_subnormal(dtype)
        return cls(np.reshape(absolute + UNDERFLOW * eta, shape), np.reshape(scale, shape), np.dtype(dtype))

    def ulps(self, error: np.ndarray) -> np.ndarray:
        """``error`` in ulps (of the dtype under test) of the scale."""
        with np.errstate(over="ignore"):
            return np.asarray(np.abs(error) / ulp(self.scale, self.dtype), dtype=np.float64)

    @property
    def bound_ulps(self) -> np.ndarray:
        return self.ulps(self.absolute)

    def at(self, flat: int, shape: tuple[int, ...]) -> Bound:
        """The bound of one element of an array of ``shape`` (by flat index), as a 1-element
        Bound: what a message or a measurement needs, without ulps of every element."""

        def element(values: np.ndarray) -> np.ndarray:
            return np.asarray([np.broadcast_to(np.asarray(values), shape)[np.unravel_index(flat, shape)]])

        return Bound(element(self.absolute), element(self.scale), self.dtype)


@dataclass(frozen=True)
class RowTerms:
    """What every bound needs of x, along ``axis``, in float64, computed once per input: the
    exact softmax and log_softmax come out of the same work (they are the oracle's float64
    values, NaN on rows that are all -inf or hold +inf or NaN)."""

    softmax: np.ndarray  # the oracle's float64 softmax
    shifted: np.ndarray  # x - max, per row
    log_z: np.ndarray  # log sum exp(x - max), per row (NaN on those rows)
    s: np.ndarray  # softmax, 0 on those rows
    relative_s: np.ndarray  # K_s,i in units of u
    n: int
    axis: int
    accumulation: float  # accumulation_allowance(n, dtype)

    @functools.cached_property
    def relative_s_from_log_softmax(self) -> np.ndarray:
        """K_s,i + |d_i|: s_i formed as exp of a computed log_softmax, whose subtraction
        d_i - log Z rounds by u |y_i| (0 where d_i is not finite, as in K)."""
        with np.errstate(invalid="ignore"):
            depth = np.where(np.isfinite(self.shifted), np.abs(self.shifted), 0.0)
        return self.relative_s + depth

    @functools.cached_property
    def log_softmax(self) -> np.ndarray:
        """The oracle's float64 log_softmax."""
        with np.errstate(invalid="ignore"):
            return self.shifted - self.log_z


def row_terms(x: np.ndarray, axis: int, dtype: Any) -> RowTerms:
    """The :class:`RowTerms` of ``x`` along ``axis``, for an implementation in ``dtype``.

    A row that is all -inf, or holds +inf or NaN, has a NaN sum, so its softmax and
    log_softmax come out NaN everywhere, as the oracle has them; its bound terms are 0."""
    x = np.asarray(x)
    if x.ndim == 0:
        x, axis = x[None], 0
    axis = oracle.normalize_axis(axis, x.ndim)
    wide = x.astype(np.float64)
    n = wide.shape[axis]
    top = np.max(wide, axis=axis, keepdims=True, initial=-np.inf)
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        shifted = np.subtract(wide, top, out=wide)  # NaN on those rows (and where x is NaN)
        softmax = np.exp(shifted)
        total = np.sum(softmax, axis=axis, keepdims=True)
        softmax /= total
        log_z = np.log(total)
        s = np.nan_to_num(softmax) if np.isnan(total).any() else softmax
        depth = np.abs(shifted)  # -inf where x is -inf, NaN or inf on those rows: no term
        unusable = ~np.isfinite(depth)
        if unusable.any():
            depth[unusable] = 0.0
        weighted_depth = np.sum(s * depth, axis=axis, keepdims=True)
    constant = np.nan_to_num(weighted_depth + log_z, nan=0.0, posinf=0.0, neginf=0.0)
    accumulation = accumulation_allowance(n, dtype)
    relative_s = np.add(depth, constant + (2 * ELEMENTARY + accumulation + 3 * ROUNDED), out=depth)
    return RowTerms(softmax, shifted, log_z, s, relative_s, n, axis, accumulation)


def _dot(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    return np.sum(a * b, axis=axis, keepdims=True)


def forward_bound(op: Op, x: np.ndarray, axis: int, dtype: Any, terms: RowTerms | None = None) -> Bound:
    """Bound on softmax / log_softmax outputs (``terms``: :func:`row_terms` of x, if made)."""
    row = terms or row_terms(x, axis, dtype)
    u = unit_roundoff(dtype)
    shape = np.shape(x)
    if op == "softmax":
        scale = row.s
        absolute = (row.relative_s + ROUNDED) * u * row.s
    else:
        exact = np.nan_to_num(row.log_softmax, neginf=0.0)
        # |d_i - log Z| is formed from two terms of size |d_i| and log Z, each carrying
        # error; their size, and the output's own rounding, set the scale.
        scale = np.maximum(np.abs(exact), 1.0)
        absolute = (row.relative_s + ELEMENTARY + ROUNDED) * u * scale
    return Bound.of(absolute, scale, dtype, shape)


def _product_bound(op: Op, row: RowTerms, vector: np.ndarray, u: float, eta: float) -> tuple[np.ndarray, np.ndarray]:
    """Absolute bound and scale of the VJP ``J^T g`` / JVP ``J t`` with ``vector`` = g or t.

    softmax, v_i = s_i (g_i - c), c = <g, s>:
        |err_i| <= u s_i [ |g_i - c| K_s,i + sum_j |g_j| s_j K_s,j
                           + (accumulation_allowance(n) + 1) A + |g_i| + |c| ] + 2u|v_i|,
        A = sum_j |g_j| s_j, scale M_i = s_i (|g_i| + A).
    log_softmax VJP, v_i = g_i - s_i G, G = sum g, with s_i = exp(y_i) (K'_i = K_s,i + |d_i|):
        |err_i| <= u [ s_i |G| (K'_i + 1) + accumulation_allowance(n) s_i sum|g| + |g_i| ] + 2u|v_i|,
        scale M_i = |g_i| + s_i sum|g|.
    (The log_softmax JVP ``t_i - <s, t>`` is bounded by its own branch below.)
    Each s_j may also be off by eta absolutely (a probability formed below the normal range by
    two roundings): softmax adds eta (|g_i - c| + s_i sum|g|), log_softmax eta |G|.
    """
    s, k, axis = row.s, row.relative_s, row.axis
    g = np.asarray(vector, dtype=np.float64).reshape(s.shape)
    if not np.isfinite(g).all():
        g = np.nan_to_num(g)
    mag = np.abs(g)
    gather = row.accumulation + ROUNDED
    if op == "softmax":
        # the terms above, gathered so that each pass over the row does the most:
        # s_i (u [|g_i - c| (K_s,i + 2) + |g_i| + R] + eta sum|g|) + eta |g_i - c|,
        # R = sum_j |g_j| s_j K_s,j + (accumulation_allowance(n) + 1) A + |c|, since |v_i| = s_i |g_i - c|
        c = _dot(g, s, axis)
        a = _dot(mag, s, axis)
        spread = np.abs(g - c)  # |g_i - c|
        absolute = k + 2 * ROUNDED
        absolute *= spread
        absolute += mag
        absolute += _dot(mag * s, k, axis) + gather * a + np.abs(c)
        absolute *= u
        absolute += _rounded_probability_error(eta, np.sum(mag, axis=axis, keepdims=True))
        absolute *= s
        absolute += _rounded_probability_error(eta, spread)
        scale = s * (mag + a)
        return absolute, scale
    total = np.sum(g, axis=axis, keepdims=True)
    total_mag = np.sum(mag, axis=axis, keepdims=True)
    v = g - s * total
    k = row.relative_s_from_log_softmax
    absolute = u * (s * np.abs(total) * (k + ROUNDED) + gather * s * total_mag + mag)
    absolute = absolute + _rounded_probability_error(eta, np.abs(total))
    absolute += (2 * ROUNDED * u) * np.abs(v)
    return absolute, mag + s * total_mag


def vjp_bound(
    op: Op, x: np.ndarray, cotangent: np.ndarray, axis: int, dtype: Any, terms: RowTerms | None = None
) -> Bound:
    row = terms or row_terms(x, axis, dtype)
    absolute, scale = _product_bound(op, row, cotangent, unit_roundoff(dtype), _smallest_subnormal(dtype))
    return Bound.of(absolute, scale, dtype, np.shape(x))


def jvp_bound(
    op: Op, x: np.ndarray, tangent: np.ndarray, axis: int, dtype: Any, terms: RowTerms | None = None
) -> Bound:
    """The softmax JVP has the VJP's form (J is symmetric). The log_softmax JVP is
    ``t_i - <s, t>``: |err_i| <= u [ |t_i| + sum_j s_j |t_j| (K_s,j + |d_j| + gather) ] + 2u|v_i|
    + eta sum|t| (each s_j off by eta below the normal range)."""
    row = terms or row_terms(x, axis, dtype)
    u, eta = unit_roundoff(dtype), _smallest_subnormal(dtype)
    if op == "softmax":
        absolute, scale = _product_bound(op, row, tangent, u, eta)
    else:
        t = np.nan_to_num(np.asarray(tangent, dtype=np.float64).reshape(row.s.shape))
        weighted = _dot(row.s * np.abs(t), row.relative_s_from_log_softmax + row.accumulation + ROUNDED, row.axis)
        v = t - _dot(row.s, t, row.axis)
        absolute = u * (np.abs(t) + weighted) + 2 * ROUNDED * u * np.abs(v)
        absolute = absolute + _rounded_probability_error(eta, np.sum(np.abs(t), axis=row.axis, keepdims=True))
        scale = np.abs(t) + _dot(row.s, np.abs(t), row.axis)
    return Bound.of(absolute, scale, dtype, np.shape(x))


def blocks_bound(op: Op, x: np.ndarray, axis: int, dtype: Any) -> Bound:
    """Bound on each Jacobian block entry, shape ``x.shape + (n,)``.

    Entry (i, j) of a row's block is the VJP with the one-hot cotangent e_i read at j
    (reverse mode builds it so; forward mode's JVP with e_j gives the same numbers for
    softmax and the same form of bound for log_softmax), so it inherits that bound.
    """
    x = np.asarray(x)
    if x.ndim == 0:
        inner = blocks_bound(op, x[None], 0, dtype)
        return Bound(inner.absolute[0], inner.scale[0], inner.dtype)
    axis = oracle.normalize_axis(axis, x.ndim)
    rows = np.moveaxis(x, axis, -1)
    n = rows.shape[-1]
    repeated = np.broadcast_to(rows[..., None, :], rows.shape[:-1] + (n, n))
    one_hots = np.broadcast_to(np.eye(n), repeated.shape)
    bound = vjp_bound(op, repeated, one_hots, -1, dtype)
    return Bound(np.moveaxis(bound.absolute, -2, axis), np.moveaxis(bound.scale, -2, axis), bound.dtype)


def vjp_derivative_bound(
    op: Op,
    x: np.ndarray,
    cotangent: np.ndarray,
    direction: np.ndarray,
    axis: int,
    dtype: Any,
    terms: RowTerms | None = None,
) -> Bound:
    """Second order, d/de vjp(x + e u, g): a first-order bound on the sum of its terms.

    Every term is a product of first-order quantities, each with relative error at most
    K = max_row K_s + accumulation_allowance(n) + 3, and the sums cancel at most their terms'
    magnitude, so |err_i| <= 2 K u M_i with M_i the sum of the terms' magnitudes:
    softmax  M_i = |ds_i| (|g_i| + A) + s_i sum_j |ds_j g_j| + s_i |<g, ds>|,
    log_softmax M_i = |ds_i| sum|g|,  with |ds| = s (|u| + <s, |u|>).
    Each s_j off by eta (below the normal range) puts eta (|u_i| + <s, |u|> + s_i sum|u|)
    into ds_i, and that and the s_j's own eta pass through the same products; so does the
    rounding of ds_i itself, a product below the normal range (eta/2), which sum|g| multiplies
    in log_softmax's -ds_i sum(g): with |u_i - <s, u>| small and sum|g| large it is most of the
    error.
    """
    row = terms or row_terms(x, axis, dtype)
    s, axis_ = row.s, row.axis
    abs_g = np.abs(np.nan_to_num(np.asarray(cotangent, dtype=np.float64).reshape(s.shape)))
    abs_w = np.abs(np.nan_to_num(np.asarray(direction, dtype=np.float64).reshape(s.shape)))
    total_g = np.sum(abs_g, axis=axis_, keepdims=True)
    abs_w_s = _dot(s, abs_w, axis_)
    abs_g_s = _dot(abs_g, s, axis_)
    ds = s * (abs_w + abs_w_s)
    if op == "softmax":
        scale = ds * (abs_g + abs_g_s) + 2 * s * _dot(ds, abs_g, axis_)
    else:
        scale = ds * total_g
    k = np.max(row.relative_s, axis=axis_, keepdims=True, initial=0.0) + row.accumulation + 3 * ROUNDED
    absolute = 2 * k * unit_roundoff(dtype) * scale
    # each s_j off by eta moves ds_i by eta * spread_i (spread, in units of eta)
    spread = abs_w + abs_w_s + s * np.sum(abs_w, axis=axis_, keepdims=True)
    if op == "softmax":
        moved = spread * (abs_g + abs_g_s) + ds * total_g + _dot(abs_g, ds, axis_) + s * _dot(abs_g, spread, axis_)
        moved = moved + (abs_g + abs_g_s + s * total_g) / 2  # ds's own rounding
    else:
        moved = spread * total_g + total_g / 2
    absolute = absolute + _rounded_probability_error(_smallest_subnormal(dtype), moved)
    return Bound.of(absolute, scale, dtype, np.shape(x))
