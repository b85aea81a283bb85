"""The planned edge catalogues and shape pool of a ``dev`` run: one block of a covering design
per run.

Each catalogue property (see :mod:`conformance.inputs.catalogue`) checks a finite product of
factors: the case, the quantity, the op and the dtype (for ``every_axis_in_turn``, the (axis,
quantity) call instead of the case). On a compiled path every element of the product is a
program to build, at 50 to 150 ms each, and the catalogue was more than half of jax-jit's
programs. The bugs it targets depend on one or two factors (a torch empty Jacobian on the
quantity; TensorFlow's length-1 float32 entry on the op and dtype), or three (a crash on an
empty axis on the case, quantity and op).

So the product is cut into ``k`` blocks, each a covering array (every pair of factor values
appears in it; for the empty inputs every (case, quantity, op) triple too), whose union is
the whole product. A ``dev`` run checks block ``run % k``, the run number kept in the
machine's history (:mod:`conformance.running.history`), so ``k`` consecutive runs check the
whole product; ``ci`` and ``thorough`` check the whole product in every run. The blocks are
made by the ``covertable`` library from a greedy first choice of the product's elements not
yet in a block (its presets), and depend on nothing but the run's ops and dtypes.

The shape pool's drawn sites (``SHAPE_POOL``: site kind, op, dtype) are planned the same way,
by a direct construction rather than covertable: its product is small, and each of its two
blocks must also keep a batch in every pool, which the construction does by design. So are the
concurrent callers (``CONCURRENT_CALLERS``: thread property, op, dtype), by the same
construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache

from covertable import make

from conformance.inputs import catalogue

Combination = tuple[Hashable, ...]  # one element of a product: a value per factor, in order

HIGH_RANK_POSITIONS = 8  # the most axes of the high-rank site; a position past its last axis is the last
FIRST_ORDER: tuple[str, ...] = ("forward", "vjp", "jvp", "jacobian")  # the quantities, by name


@dataclass(frozen=True)
class Catalogue:
    """A catalogue property's factors inside one record: their names, the values of each, and
    those that a block must cover three-way (with the op), where the bug class needs it."""

    factors: tuple[str, ...]
    values: tuple[tuple[Hashable, ...], ...]
    three_way: tuple[str, ...] = ()

    def describe(self) -> str:
        """``(case, quantity)``: what a record's combinations are of."""
        return f"({', '.join(self.factors)})"


def _axis_calls() -> tuple[tuple[int, str], ...]:
    """``every_axis_in_turn``'s calls: the forward pass on every position, the VJP on the first
    and the last (the VJP's program costs most)."""
    last = HIGH_RANK_POSITIONS - 1
    return (*((position, "forward") for position in range(HIGH_RANK_POSITIONS)), (0, "vjp"), (last, "vjp"))


def _cases(cases: Sequence[catalogue.Case]) -> tuple[int, ...]:
    return tuple(range(len(cases)))


CATALOGUES: dict[str, Catalogue] = {
    "empty_inputs": Catalogue(
        ("case", "quantity"), (_cases(catalogue.EMPTY), FIRST_ORDER), three_way=("case", "quantity", "op")
    ),
    "length_one_axis_is_exact": Catalogue(("case", "quantity"), (_cases(catalogue.LENGTH_ONE), FIRST_ORDER)),
    "zero_dimensional_input": Catalogue(("case", "quantity"), (_cases(catalogue.ZERO_DIMENSIONAL), FIRST_ORDER)),
    "single_row_and_column": Catalogue(("case", "quantity"), (_cases(catalogue.SINGLE_ROW), ("forward", "vjp"))),
    "every_axis_in_turn": Catalogue(("axis, quantity",), (_axis_calls(),)),
}


def axis_of(position: int, rank: int) -> int:
    """The axis a design's position stands for on a site of ``rank``: itself, or the last axis
    for a position past it (so the first and the last positions are always the first and last
    axes, and the union of the blocks reaches every axis of any rank)."""
    return min(position, rank - 1)


@dataclass(frozen=True)
class Design:
    """A catalogue's full product over the run's ops and dtypes, and its blocks."""

    catalogue: Catalogue
    product: tuple[Combination, ...]  # (inner factors..., op, dtype)
    blocks: tuple[tuple[Combination, ...], ...]


def _interactions(row: Combination, groups: Sequence[tuple[int, ...]]) -> set[tuple[tuple[int, Hashable], ...]]:
    return {tuple((index, row[index]) for index in group) for group in groups}


def _greedy_presets(remaining: Sequence[Combination], groups: Sequence[tuple[int, ...]]) -> list[Combination]:
    """Elements of ``remaining`` that each cover an interaction not yet covered, those that
    cover only new ones first: the start of a block that leaves covertable little to add."""
    chosen: list[Combination] = []
    covered: set[tuple[tuple[int, Hashable], ...]] = set()
    for only_new in (True, False):
        for row in remaining:
            if row in chosen:
                continue
            new = _interactions(row, groups) - covered
            if new and (len(new) == len(groups) or not only_new):
                chosen.append(row)
                covered |= new
    return chosen


# The shape pool's sites (:mod:`conformance.inputs.shape_pool`) are planned too: every property
# of an (op, dtype) draws from its pool, each drawn site is about five programs (forward, VJP,
# JVP, Jacobian, second order) on a compiled path, and each large-tier input a whole check at
# scale. The rank 1 site is in every pool (a row of a batch, checked alone, reuses its
# programs), and so are the long row and the high-rank site; the other kinds are dealt out in
# ``dev``: the rank 2, 3 and 4 batches, the SIMD-tail and the awkward row lengths, and the large
# tier's more than 65535 rows and rows of a vocabulary's length.
SHAPE_POOL = "shape_pool"
POOL_KINDS: tuple[str, ...] = ("rank 2", "rank 3", "rank 4", "tail", "awkward", "many rows", "vocabulary")
RANKED_KINDS = frozenset(POOL_KINDS[:3])  # the batches: every pool keeps one (batch_equals_rows needs it)
LARGE_KINDS = frozenset(POOL_KINDS[5:])  # the large tier: every pool keeps one
SHAPE_POOL_CATALOGUE = Catalogue(("site",), (POOL_KINDS,))

# The concurrent callers (:mod:`conformance.checks.concurrency`) are planned too: each of their
# two properties calls an (op, dtype) from four threads for rounds on end, until the callers'
# calls have crossed in time, on the pool's long rows. In ``dev`` each (op, dtype) is called so
# by one of them in a run and by the other in the next; every pair of (property, op, dtype)
# is in every block.
CONCURRENT_CALLERS = "concurrent_callers"
THREAD_PROPERTIES: tuple[str, ...] = ("concurrent_calls_agree", "same_bits_every_call")
CONCURRENT_CALLERS_CATALOGUE = Catalogue(("property",), (THREAD_PROPERTIES,))

# the plans made by dealing a catalogue's kinds out over (op, dtype), rather than by covertable
DEALT_OUT: dict[str, Catalogue] = {SHAPE_POOL: SHAPE_POOL_CATALOGUE, CONCURRENT_CALLERS: CONCURRENT_CALLERS_CATALOGUE}


def _dealt_out(planned: Catalogue, ops: tuple[str, ...], dtypes: tuple[str, ...]) -> Design:
    """The product of ``planned``'s kinds (its one factor) with the ops and dtypes, and its
    blocks: with two ops and two dtypes or more, two, each covering every pair of (kind, op,
    dtype) with the fewest kinds: each (op, dtype) takes the kinds of one parity of place in
    the factor, the parity shifted by the dtype, the op and the block. For the shape pool that
    is {rank 2, rank 4, awkward, vocabulary} or {rank 3, tail, many rows}, so that every pool
    holds a batch and one large input; for the concurrent callers, one of the two properties.
    Else one block, the full product: with a single op or dtype, every pair of a kind with it
    is the whole product."""
    [kinds] = planned.values
    product: tuple[Combination, ...] = tuple(itertools.product(kinds, ops, dtypes))
    if len(ops) < 2 or len(dtypes) < 2:
        return Design(planned, product, (product,))
    blocks = tuple(
        tuple(
            (kind, op, dtype)
            for kind, op, dtype in product
            if (kinds.index(kind) + dtypes.index(dtype) + block) % 2 == ops.index(op) % 2
        )
        for block in range(2)
    )
    return Design(planned, product, blocks)


@cache
def design(name: str, ops: tuple[str, ...], dtypes: tuple[str, ...]) -> Design:
    """The blocks of catalogue property ``name`` (or of a plan :data:`DEALT_OUT`) over ``ops``
    and ``dtypes``: computed once per process, the same on every machine (covertable orders by
    a fixed hash, not Python's)."""
    if name in DEALT_OUT:
        return _dealt_out(DEALT_OUT[name], ops, dtypes)
    shape = CATALOGUES[name]
    names = (*shape.factors, "op", "dtype")
    factors = dict(zip(names, (*shape.values, ops, dtypes), strict=True))
    groups: list[tuple[int, ...]] = list(itertools.combinations(range(len(names)), 2))
    sub_models = []
    if shape.three_way:
        groups += [tuple(names.index(factor) for factor in shape.three_way)]
        sub_models = [{"fields": list(shape.three_way), "strength": 3}]
    product = tuple(itertools.product(*factors.values()))
    order = {row: index for index, row in enumerate(product)}
    remaining = list(product)
    blocks: list[tuple[Combination, ...]] = []
    while remaining:
        presets = [dict(zip(names, row, strict=True)) for row in _greedy_presets(remaining, groups)]
        rows = make(factors, strength=2, sub_models=sub_models, presets=presets)
        block = tuple(sorted({tuple(row[factor] for factor in names) for row in rows}, key=order.__getitem__))
        blocks.append(block)
        taken = set(block)
        remaining = [row for row in remaining if row not in taken]
    return Design(shape, product, tuple(blocks))


@dataclass(frozen=True)
class Drawn:
    """What one record (op, dtype) of a catalogue property checks in this run."""

    combinations: tuple[Combination, ...]  # the inner factors' values, op and dtype left out
    of: int  # how many the record's full product holds
    block: int | None  # which block (from 0); None: the full product
    blocks: int
    described: str  # what the combinations are of: "(case, quantity)"

    def describe(self) -> str:
        """``checked 12 of 56 (case, quantity) combinations, block 3 of 8``."""
        where = "the full product" if self.block is None else f"block {self.block + 1} of {self.blocks}"
        return f"checked {len(self.combinations)} of {self.of} {self.described} combinations, {where}"


def drawn(name: str, op: str, dtype: str, ops: tuple[str, ...], dtypes: tuple[str, ...], run: int | None) -> Drawn:
    """The combinations that record (``op``, ``dtype``) of ``name`` checks in run number ``run``
    (None: every one). Every record checks at least one: (op, dtype) is a pair of factor
    values, which every block covers."""
    planned = design(name, ops, dtypes)
    own = [row[:-2] for row in planned.product if row[-2:] == (op, dtype)]
    described = planned.catalogue.describe()
    if run is None:
        return Drawn(tuple(own), len(own), None, len(planned.blocks), described)
    block = run % len(planned.blocks)
    chosen = tuple(row[:-2] for row in planned.blocks[block] if row[-2:] == (op, dtype))
    return Drawn(chosen, len(own), block, len(planned.blocks), described)


def coverage(ops: tuple[str, ...], dtypes: tuple[str, ...], run: int | None) -> dict[str, dict[str, int | None]]:
    """Per catalogue property, and for each plan :data:`DEALT_OUT`, the block run ``run`` checks
    (from 1; None: the full product), how many blocks there are, and how many of the product's
    combinations the block holds."""
    found: dict[str, dict[str, int | None]] = {}
    for name in (*CATALOGUES, *DEALT_OUT):
        planned = design(name, ops, dtypes)
        block = None if run is None else run % len(planned.blocks)
        checked = len(planned.product) if block is None else len(planned.blocks[block])
        found[name] = {
            "block": None if block is None else block + 1,
            "blocks": len(planned.blocks),
            "checked": checked,
            "of": len(planned.product),
        }
    return found


_PLANNED = "edge catalogues, shape pool and concurrent callers"


def coverage_line(entries: Mapping[str, Mapping[str, int | None]]) -> str:
    """One sentence for the summary and the report: which block ran, and what the history covers."""
    partial = {name: entry for name, entry in entries.items() if entry["block"] is not None}
    if not partial:
        return f"{_PLANNED}: the full product"
    most = max(int(entry["blocks"] or 1) for entry in partial.values())
    blocks = "; ".join(f"{name} block {entry['block']} of {entry['blocks']}" for name, entry in partial.items())
    return f"{_PLANNED}: {blocks}; the full product over the last {most} runs"
