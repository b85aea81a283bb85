"""The few (shape, axis) sites a run draws its inputs from, per op and dtype.

Compiled paths (``jax.jit``, ``tf.function``, XLA, ``torch.compile``) build one program per
(op, quantity, dtype, shape, axis), at 20 to 100 ms each on a CPU, while a call of a built
program takes well under a millisecond. Drawn freely, the shapes of one run made about 1500
distinct programs for ``jax-jit``: 90 % of its time. So every property of one (op, dtype)
draws from the same small pool of sites, and Hypothesis varies everything else freely:
values, regimes, masks, layouts, cotangents. A program is built once and reused by every
property and example that lands on its site.

Each pool is stratified, so that every (op, dtype) reaches the places where bugs live:

* ``small`` (at most 36 elements, so full Jacobians fit): a rank 1 site, a rank 2 site
  (non-square, any axis), a rank 3 site over its middle axis, a rank 4 site. Batch sides
  of length 1 appear at the start, middle and end. The rank 1, 2 and 4 sites share one row
  length, so that a row of a batch, checked alone, reuses the rank 1 site's programs;
* ``wide`` (up to 4098 elements), for the O(N) checks: two sites whose rows have lengths
  where kernels break, one of 13 to 40 elements (SIMD remainders), one just past or short
  of a power of two (63 to 2049) or of a block, or a prime;
* ``long``: one row of 4095 to 8193 elements (a power of two, or one more or less), where
  the order of accumulation matters;
* ``high_rank``: one site of rank 5 to 8 (every side 2 or 3), called on each of its axes in
  turn. The ranks are dealt out so that each op sees all four in every run. Each axis is
  written in one form per run, counted from the start or from the end as the seed says
  (``axis_forms``), so that every example of a run calls the same programs; ``ci`` and
  ``thorough`` write every axis both ways;
* the large tier, where real kernels change algorithm: ``many_rows``, more than 65535 rows
  (a launch grid's largest side; the half types' rows are long enough that the input also
  passes 2**24 elements, where float32 stops counting exactly), and ``vocabulary``, two or
  three rows longer than 65536 (a 16-bit counter), each of a real LLM vocabulary's size.
  ``huge``, past 2**31 elements (int32 indices), only in float16 and only when asked for
  (the ``thorough`` profile and ``bench``).

The edges that are few enough to enumerate (empty inputs, 0-d, length-1 axes, a single row or
column) are not drawn here: :mod:`conformance.inputs.catalogue` lists them, and every run
takes every one.

The pools differ between (op, dtype) pairs and between seeds, so a run still covers dozens
of shapes, and every dev run a different set of them. A ``dev`` pool keeps its rank 1 site and
a block of the other small, wide and large kinds (:data:`conformance.inputs.covering.SHAPE_POOL`:
every pair of kind, op and dtype in each run, every triple in two). They depend only on the seed, so the
workers of one run, each testing another adapter, draw from the same pools.
"""

from __future__ import annotations

import hashlib
from collections.abc import Collection, Sequence
from dataclasses import dataclass

import numpy as np

SMALL_ELEMENTS = 36  # a full Jacobian of SMALL_ELEMENTS**2 entries stays cheap
WIDE_ELEMENTS = 2 * 2049


def _primes(low: int, high: int) -> list[int]:
    return [n for n in range(low, high + 1) if all(n % d for d in range(2, int(n**0.5) + 1))]


# Row lengths where kernels break: a vector of 4 to 64 lanes leaves a remainder, a block of
# 32 to 2048 a last partial block, a prime length both. Every length from 13 to 40 (the small
# sites cover 2 to 12), one past and one short of each power of two up to 2049, one past a
# multiple of a block, and primes.
TAIL_ROW_LENGTHS: tuple[int, ...] = tuple(range(13, 41))
AWKWARD_ROW_LENGTHS: tuple[tuple[int, ...], ...] = (
    tuple(2**k + d for k in range(6, 12) for d in (-1, 1)),
    tuple(m * block + 1 for block in (32, 64, 128) for m in (1, 2, 3)),
    tuple(_primes(41, 509)),
)
# Long rows, where a sum's rounding grows with the length: the errors of a float16 running
# sum only stand out from a pairwise one beyond a few thousand terms.
LONG_ROW_LENGTHS: tuple[int, ...] = tuple(2**k + d for k in (12, 13) for d in (-1, 0, 1))
HIGH_RANKS: tuple[int, ...] = (5, 6, 7, 8)
HIGH_RANK_ELEMENTS = 512
# Sizes where kernels change algorithm.
GRID_ROWS = 65535  # the largest side of a CUDA launch grid: rows past it need another loop
COUNTER_LIMIT = 65536  # what a 16-bit counter can count
FLOAT32_INTEGERS = 2**24  # float32 counts exactly up to here, and no further
INT32_INDICES = 2**31  # int32 indices stop here
HALF_ROW_LENGTH = 257  # many_rows in a half type: (GRID_ROWS + 2) * 257 > FLOAT32_INTEGERS
# Vocabularies of real language models, all past a 16-bit counter: GPT-4's cl100k, Llama 3,
# DeepSeek-V3, Mistral NeMo (2**17), Qwen2, GPT-4o's o200k, Gemma, Gemma 3 (2**18).
VOCABULARY_SIZES: tuple[int, ...] = (100277, 128256, 129280, 131072, 151936, 200019, 256000, 262144)
HUGE_ROW_LENGTH = 128256


@dataclass(frozen=True)
class Site:
    """A shape and the axis softmax runs along (negative axes are kept as drawn: the adapter
    sees exactly this axis)."""

    shape: tuple[int, ...]
    axis: int

    @property
    def rank(self) -> int:
        return len(self.shape)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def row_length(self) -> int:
        return self.shape[self.axis] if self.shape else 1


@dataclass(frozen=True)
class ShapePool:
    """The sites of one (op, dtype) in one run, each group smallest first (Hypothesis
    shrinks a choice towards the first)."""

    seed: int  # the large inputs' values come from it, the same in every worker of the run
    small: tuple[Site, ...]
    row_axis: int  # a row checked alone is given this axis, the rank 1 site's, and reuses its programs
    wide: tuple[Site, ...]
    long: tuple[Site, ...]
    high_rank: Site  # called on every axis; ``axis`` is unused
    axis_forms: tuple[tuple[bool, ...], ...]  # per form, per axis of high_rank: written from the end?
    many_rows: Site | None  # None: not in this dev run's block (covering.SHAPE_POOL)
    vocabulary: Site | None  # likewise
    huge: Site | None  # float16 in the thorough profile and bench only

    def large(self, *, many_rows: bool = False, vocabulary: bool = False) -> tuple[Site, ...]:
        """Those of the large tier's sites asked for that this pool holds (a ``dev`` pool holds
        one of the two)."""
        asked = (self.many_rows if many_rows else None, self.vocabulary if vocabulary else None)
        return tuple(site for site in asked if site is not None)

    def sites(self, *, min_rank: int = 0, wide: bool = False, min_row_length: int = 0) -> tuple[Site, ...]:
        """The small sites (and the wide ones, with ``wide``) of at least ``min_rank`` whose
        rows have at least ``min_row_length`` elements."""
        chosen = self.small + (self.wide if wide else ())
        found = tuple(site for site in chosen if site.rank >= min_rank and site.row_length >= min_row_length)
        if not found:
            raise ValueError(f"no site of rank >= {min_rank} and rows >= {min_row_length} in {self}")
        return found


def _rng(seed: int, op: str, dtype_name: str) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{op}|{dtype_name}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def _axis(rng: np.random.Generator, position: int, rank: int) -> int:
    """``position`` written as drawn: as itself or counted from the end."""
    return position if rng.random() < 0.5 else position - rank


def _batch_sides(rng: np.random.Generator, count: int, budget: int) -> list[int]:
    """``count`` batch sides from {1, 2, 3} whose product is 2 to ``budget`` (a batch of
    one row would hide every bug that mixes rows up)."""
    while True:
        sides = [int(side) for side in rng.integers(1, 4, size=count)]
        if 2 <= int(np.prod(sides)) <= budget:
            return sides


def _small_sites(rng: np.random.Generator) -> list[Site]:
    short, medium = int(rng.integers(2, 7)), int(rng.integers(2, 13))
    first = Site((medium,), int(rng.choice([0, -1])))
    other = int(rng.integers(2, 4))
    while other == medium:
        other += 1
    rank2 = [other, medium] if rng.random() < 0.5 else [medium, other]
    axis2 = rank2.index(medium)
    before, after = _batch_sides(rng, 2, SMALL_ELEMENTS // short)
    rank3 = Site((before, short, after), _axis(rng, 1, 3))
    sides4 = _batch_sides(rng, 3, SMALL_ELEMENTS // medium)
    position4 = int(rng.integers(0, 4))
    shape4 = [*sides4[:position4], medium, *sides4[position4:]]
    return [first, Site(tuple(rank2), _axis(rng, axis2, 2)), rank3, Site(tuple(shape4), _axis(rng, position4, 4))]


def _wide_site(rng: np.random.Generator, lengths: tuple[int, ...]) -> Site:
    n = int(rng.choice(lengths))
    if rng.random() < 0.5:
        return Site((n,), int(rng.choice([0, -1])))
    batch = int(rng.integers(2, max(2, WIDE_ELEMENTS // n) + 1))
    return Site((batch, n), _axis(rng, 1, 2)) if rng.random() < 0.5 else Site((n, batch), _axis(rng, 0, 2))


def _long_site(rng: np.random.Generator) -> Site:
    n = int(rng.choice(LONG_ROW_LENGTHS))
    kind = int(rng.integers(0, 3))
    if kind == 0:
        return Site((n,), int(rng.choice([0, -1])))
    return Site((2, n), _axis(rng, 1, 2)) if kind == 1 else Site((n, 2), _axis(rng, 0, 2))


def _high_rank_site(rng: np.random.Generator, seed: int, op: str, dtype_name: str) -> Site:
    """Rank 5 to 8, every side 2 or 3 (none of length 1: merging two sides must change the
    rows), at most HIGH_RANK_ELEMENTS elements. The four ranks are dealt to the four dtypes of
    an op by a permutation of the seed, so each op sees every rank in every run."""
    dtypes = ("float16", "bfloat16", "float32", "float64")
    order = np.random.default_rng([seed, 1 if op == "softmax" else 2]).permutation(len(HIGH_RANKS))
    rank = HIGH_RANKS[int(order[dtypes.index(dtype_name)])] if dtype_name in dtypes else HIGH_RANKS[0]
    while True:
        sides = tuple(int(side) for side in rng.integers(2, 4, size=rank))
        if int(np.prod(sides)) <= HIGH_RANK_ELEMENTS:
            return Site(sides, -1)


def _many_rows_site(rng: np.random.Generator, dtype_name: str, row_length: int, thorough: bool) -> Site:
    """More than GRID_ROWS rows of the rank 1 site's length (the rows checked alone reuse its
    programs); in the half types rows of HALF_ROW_LENGTH, so that the input also passes 2**24
    elements. Rows run along the last axis or the first."""
    extra = int(rng.integers(2, 2**16 if thorough else 2**11))
    rows = GRID_ROWS + extra
    length = HALF_ROW_LENGTH if dtype_name in ("float16", "bfloat16") else row_length
    return _rows_site(rng, rows, length)


def _vocabulary_site(rng: np.random.Generator, thorough: bool) -> Site:
    """Two or three rows (more when thorough) of a real vocabulary's size, past COUNTER_LIMIT."""
    length = int(rng.choice(VOCABULARY_SIZES))
    rows = int(rng.integers(2, 9 if thorough else 4))
    return _rows_site(rng, rows, length)


def _huge_site(rng: np.random.Generator) -> Site:
    """Past INT32_INDICES elements, in rows of a vocabulary's size."""
    rows = INT32_INDICES // HUGE_ROW_LENGTH + 1 + int(rng.integers(0, 4))
    return _rows_site(rng, rows, HUGE_ROW_LENGTH)


def _rows_site(rng: np.random.Generator, rows: int, length: int) -> Site:
    """``rows`` rows of ``length``, along the last axis or the first, written as drawn."""
    if rng.random() < 0.5:
        return Site((rows, length), _axis(rng, 1, 2))
    return Site((length, rows), _axis(rng, 0, 2))


def _by_size(sites: Sequence[Site]) -> tuple[Site, ...]:
    return tuple(sorted(dict.fromkeys(sites), key=lambda site: (site.size, site.rank)))


def _axis_forms(rng: np.random.Generator, rank: int, every_form: bool) -> tuple[tuple[bool, ...], ...]:
    """How the high-rank site's axes are written, per form: each from the end or not, as drawn
    (one form), or both ways for every axis (``every_form``)."""
    if every_form:
        return ((False,) * rank, (True,) * rank)
    return (tuple(bool(side) for side in rng.random(rank) < 0.5),)


def shape_pool(
    seed: int,
    op: str,
    dtype_name: str,
    *,
    thorough: bool = False,
    every_axis_form: bool = False,
    kinds: Collection[str] | None = None,
) -> ShapePool:
    """The pool of (``op``, ``dtype_name``) for a run with ``seed``: the same for every
    worker and adapter of that run. ``thorough`` makes the large tier larger and adds ``huge``;
    ``every_axis_form`` writes each axis of the high-rank site both ways (``ci``, ``thorough``);
    ``kinds`` keeps only those of the drawn and large sites besides the rank 1 one (``"rank 2"``,
    ``"rank 3"``, ``"rank 4"``, ``"tail"``, ``"awkward"``, ``"many rows"``, ``"vocabulary"``: a
    ``dev`` run's block, see :mod:`conformance.inputs.covering`), each the same site as in the
    whole pool."""
    rng = _rng(seed, op, dtype_name)
    whole_small = _small_sites(rng)
    row_axis = whole_small[0].axis
    tail = _wide_site(rng, TAIL_ROW_LENGTHS)
    awkward = _wide_site(rng, AWKWARD_ROW_LENGTHS[int(rng.integers(0, len(AWKWARD_ROW_LENGTHS)))])

    def kept(kind: str) -> bool:
        return kinds is None or kind in kinds

    small = [site for site in whole_small if site.rank == 1 or kept(f"rank {site.rank}")]
    wide = _by_size([site for kind, site in (("tail", tail), ("awkward", awkward)) if kept(kind)])
    long = (_long_site(rng),)
    high_rank = _high_rank_site(rng, seed, op, dtype_name)
    many_rows = _many_rows_site(rng, dtype_name, whole_small[0].row_length, thorough)
    vocabulary = _vocabulary_site(rng, thorough)
    return ShapePool(
        seed=seed,
        small=_by_size(small),
        row_axis=row_axis,
        wide=wide,
        long=long,
        high_rank=high_rank,
        axis_forms=_axis_forms(_rng(seed, f"{op}|axis forms", dtype_name), high_rank.rank, every_axis_form),
        many_rows=many_rows if kept("many rows") else None,
        vocabulary=vocabulary if kept("vocabulary") else None,
        huge=_huge_site(rng) if thorough and dtype_name == "float16" else None,
    )
