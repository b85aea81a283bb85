"""Checks of a large input in O(N) memory: the same calls, bounds, messages and reproducers as
every other check, with the comparison made a chunk of rows at a time.

A full Jacobian of N elements has N**2 entries (4e16 bytes at N = 1e8 float32). These
checks see the bugs it would show through products with vectors instead:

* ``forward``: the op itself against the oracle, every element;
* ``vjp``: ``J^T g`` against the oracle, every element, for seeded random cotangents;
* ``block structure``: the first cotangent is exactly 0 on a random sixteenth of the rows, and
  the VJP must be exactly 0 on those rows (an output never depends on another row, for
  softmax and log_softmax alike). A leak from row i into row j shows when g_i is not 0 and
  g_j is: 15/256 of such pairs, against 99/10000 for a cotangent on a hundredth of the rows
  and 0 elsewhere, and without a third call of the full size;
* ``rows alone``: a few sampled rows of the forward pass and of the first VJP against the
  same rows computed alone (:mod:`conformance.checks.rows`).

Every call goes through :func:`conformance.checks.calls.invoke` (purity, deadline, shape,
dtype), every comparison through :class:`conformance.checks.assertions.Comparison` (the element
worst against its bound, in ulps), and a failure is the same :class:`ConformanceFailure` as
anywhere, naming the row and the element. Its reproducer makes the input again from its seed
(:mod:`conformance.checks.large.seeded`) instead of printing megabytes.

In ``dev`` the comparisons with the oracle take a seeded sample of the input's chunks of rows
(:func:`compared_chunks`), and every chunk that holds a row past the sizes where kernels change
algorithm (65535 rows, 2**24 elements); the record says so. The calls are whole in every profile,
and so are the block-structure check and the rows computed alone. ``ci`` and ``thorough``
compare every element.

Memory: the adapter necessarily sees the whole tensor (that is what is being checked), but
the suite holds at most x, one vector and one adapter output of N elements at a time. The
oracle and the bounds (the one tolerance model) are computed in float64 (long double for
float64 inputs) on chunks of rows, a few at once on threads.
"""

from __future__ import annotations

import contextlib
import functools
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from conformance.adapter import method_name, provided_method
from conformance.checks import heartbeat, measure
from conformance.checks.assertions import Comparison, format_value
from conformance.checks.calls import Subject
from conformance.checks.failures import ConformanceFailure, WorstElement
from conformance.checks.large.memory import gib, memory_available_bytes
from conformance.checks.large.seeded import Layout, Seeded
from conformance.checks.large.shared import Reference, locked, shared, shared_array
from conformance.checks.native import native_script
from conformance.checks.quantities import Outcome, likely_cause, run
from conformance.checks.reproducer import reproducer
from conformance.checks.rows import assert_row_alone_agrees
from conformance.inputs.arguments import Argument
from conformance.inputs.shape_pool import Site
from conformance.truth import oracle, tolerance
from conformance.truth.dtypes import dtype_name
from conformance.truth.oracle import Op, Quantity
from conformance.truth.tolerance import Bound

SAMPLED_ROWS = 8  # rows computed alone
GRID_ROWS = 65535  # a launch grid's limit: every row past it is compared in every profile
INDEX_ELEMENTS = 2**24  # float32's exact integers: every element past it is compared in every profile
SAMPLED_CHUNK_SHARE = 1 / 8  # of the other chunks of rows, compared with the oracle in dev
ZERO_ROW_FRACTION = 1 / 16  # share of rows on which the first cotangent is exactly 0 (block structure)
EXCLUSIVE_BYTES = 2**30  # an input this large takes the machine's memory lock (one such check at a time)
LOCK_FILE = os.path.join(tempfile.gettempdir(), "softmax-conformance-memory.lock")


def _busy() -> None:
    """Tell the runner that the worker is at the suite's own work on a large input (making it,
    comparing it): minutes at 2**31 elements, which must not be taken for a hang."""
    heartbeat.beat(None)


def large_input(site: Site, dtype: Any, seed: int, op: Op) -> Argument:
    """The seeded logits of ``site`` (2-d), the same in every worker of a run."""
    recipe = Seeded(site.shape, dtype_name(dtype), seed, f"{op}/x", site.axis, "logits")  # type: ignore[arg-type]
    return _made(recipe)


def _made(recipe: Seeded) -> Argument:
    """The argument ``recipe`` makes, made once per run and shared by its workers (:mod:`shared`)."""
    array = shared_array(recipe.source(), recipe.layout, recipe.numpy_dtype, lambda: recipe.build(_busy))
    return Argument(array, recipe=recipe)


# What checking an input takes at the peak, in multiples of its size: during the VJP the
# suite holds x and the cotangent, the framework its saved softmax and the gradient (4), and
# some frameworks make more of their own. Measured in float16 (the dtype that reaches 2**31
# elements), with a margin: torch 4.09, tensorflow 5.04, jax 7.46 (it computes in float32).
# An adapter of no built-in framework is given the most.
MEMORY_PER_INPUT = {"torch": 4.5, "tensorflow": 5.5, "jax": 8.0}
MEMORY_PER_INPUT_UNKNOWN = 8.0


def memory_short(site: Site, dtype: Any, framework: str | None = None) -> str | None:
    """Why the machine cannot check ``site`` in ``dtype`` with an adapter of ``framework`` now
    (too little memory available), or None: a worker the kernel kills for memory would be an
    error that says nothing about the adapter."""
    multiple = MEMORY_PER_INPUT.get(framework or "", MEMORY_PER_INPUT_UNKNOWN)
    needed = int(site.size * np.dtype(dtype).itemsize * multiple)
    available = memory_available_bytes()
    if available is None or needed <= available:
        return None
    return (
        f"not enough memory here: checking {site.size:,} {dtype_name(dtype)} elements takes about "
        f"{gib(needed)} with {framework or 'this adapter'}, and {gib(available)} is available"
    )


def reference_available(dtype: Any) -> str | None:
    """Why the large checks cannot compare ``dtype`` with the oracle here, or None: float64 needs
    long double, and the portable oracle's ~20 us an element would take hours at this size."""
    if np.dtype(oracle.reference_work(dtype)) == oracle.PORTABLE:
        return "no reference wider than float64 on this platform (long double is float64)"
    return None


def _threads() -> int:
    """Threads for the chunked oracle: this worker's share of the cores (NumPy releases the GIL)."""
    share = os.environ.get("OMP_NUM_THREADS", "")
    cores = int(share) if share.isdigit() else len(os.sched_getaffinity(0))
    return max(1, min(4, cores))


@contextlib.contextmanager
def exclusive_memory(nbytes: int) -> Iterator[None]:
    """Hold the machine-wide memory lock while checking an input of ``nbytes`` past
    EXCLUSIVE_BYTES, so that two workers (or two runs) never hold two such inputs at once."""
    if nbytes < EXCLUSIVE_BYTES:
        yield
        return
    with locked(LOCK_FILE):
        yield


def _recipe(x: Argument) -> Seeded:
    """The recipe of a large input (every large argument has one)."""
    assert isinstance(x.recipe, Seeded)
    return x.recipe


def _layout(x: Argument) -> Layout:
    return _recipe(x).layout


def _row_expression(name: str, layout: Layout, row: int) -> str:
    """Source for row ``row`` of array ``name``, 1-d."""
    return f"np.moveaxis({name}, {layout.axis}, -1)[{row}]"


def compared_chunks(recipe: Seeded, sampled: bool) -> tuple[int, ...]:
    """The chunks of rows of ``recipe``'s input whose elements are compared with the oracle: all
    of them, or, when ``sampled``, chunk 0, every chunk from the one holding row GRID_ROWS or
    element INDEX_ELEMENTS on, the chunks of the first row of each regime of the logits (exp
    overflow, near-equal), and a share of the rest drawn from the seed (the same in every
    worker of a run, which share the references)."""
    layout = recipe.layout
    every = tuple(range(layout.chunks))
    if not sampled:
        return every
    first_past = layout.chunk_of(min(GRID_ROWS, INDEX_ELEMENTS // max(layout.length, 1)))
    regimes = {layout.chunk_of(int(rows[0])) for rows in recipe.regime_rows if rows.size}
    rest = [k for k in every[1:first_past] if k not in regimes]
    rng = np.random.default_rng([recipe.seed, layout.batch, layout.length, 13])
    count = min(len(rest), max(1, round(len(rest) * SAMPLED_CHUNK_SHARE)))
    drawn: list[int] = [int(k) for k in rng.choice(rest, size=count, replace=False)] if rest else []
    return tuple(sorted({0, *regimes, *drawn, *every[first_past:]}))


def _note_sample(layout: Layout, chunks: tuple[int, ...]) -> None:
    """Say on the record that the oracle saw a sample of the rows (nothing when it saw all)."""
    if len(chunks) == layout.chunks:
        return
    rows = sum(layout.rows(k).stop - layout.rows(k).start for k in chunks)
    measure.note(
        f"compared {rows:,} of {layout.batch:,} rows with the oracle: a seeded sample, and every row past "
        f"{GRID_ROWS} rows and 2**24 elements (ci compares them all)"
    )


def _each_chunk(layout: Layout, work: Callable[[int], Any], chunks: tuple[int, ...] | None = None) -> list[Any]:
    """``[work(k) for k in chunks]`` (every chunk by default), a few at once on threads (NumPy
    lets go of the GIL)."""
    chunks = tuple(range(layout.chunks)) if chunks is None else chunks
    threads = _threads()
    if threads == 1 or len(chunks) < 2:
        return _beating(map(work, chunks))
    with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="oracle") as pool:
        return _beating(pool.map(work, chunks))


def _beating(results: Iterable[Any]) -> list[Any]:
    """``list(results)``, telling the runner the worker is busy after each (:func:`_busy`)."""
    listed = []
    for result in results:
        listed.append(result)
        _busy()
    return listed


def _compare_chunks(
    comparison: Comparison, out: np.ndarray, layout: Layout, reference: Reference, chunks: tuple[int, ...]
) -> None:
    """Compare ``out`` (shaped like x) with ``reference`` (chunk k -> its exact values and
    bound) on ``chunks``; the pieces are merged into ``comparison``."""
    view = layout.view(out)
    length = layout.length

    def piece(k: int) -> Comparison:
        rows = layout.rows(k)
        exact, bound = reference(k)
        part = comparison.part(k)
        part.add(view[rows], exact, bound, lambda flat: layout.index(rows.start + flat // length, flat % length))
        return part

    for part in _each_chunk(layout, piece, chunks):
        comparison.merge(part)
    _note_sample(layout, chunks)


def _shared(key: str, x: Argument, reference: Reference, chunks: tuple[int, ...]) -> Reference:
    """``reference`` on ``chunks``, computed once per run and shared by its workers (:mod:`shared`)."""
    layout = _layout(x)
    if len(chunks) < layout.chunks:
        key += f"|chunks {len(chunks)} of {layout.chunks}"
    return shared(key, layout, x.value.dtype, reference, lambda work: _each_chunk(layout, work, chunks))


def _in_row(comparison: Comparison, layout: Layout) -> str:
    """``; the worst is element 7 of row 65540 (of 65600 rows of 3)``."""
    if comparison.worst is None:
        return ""
    index = comparison.worst.index
    row, place = index[1 - layout.axis], index[layout.axis]
    return f"; the worst is element {place} of row {row} (of {layout.batch} rows of {layout.length})"


def _worst_row_cause(
    op: Op, quantity: Quantity, x: Argument, vectors: list[Argument], outcome: Outcome, comparison: Comparison
) -> str | None:
    """The likely cause (:mod:`conformance.checks.hints`) of the failure, from a second look at
    the row that holds the worst element alone: the large input's other rows are not needed
    to tell what went wrong in one."""
    if comparison.worst is None:
        return None
    layout = _layout(x)
    row = comparison.worst.index[1 - layout.axis]

    def pick(array: np.ndarray) -> np.ndarray:
        return np.ascontiguousarray(np.moveaxis(array, layout.axis, -1)[row])

    return likely_cause(
        op, quantity, pick(x.value), -1, [pick(vector.value) for vector in vectors], pick(outcome.actual)
    )


def _worst_element_source(outcome: Outcome, comparison: Comparison, layout: Layout, exact: Callable[[int], str]) -> str:
    """The call, then the worst element and what the oracle gives for it (``exact(row)``: the
    oracle on that row alone)."""
    shown: list[str | None] = []
    if comparison.worst is not None:
        index = comparison.worst.index
        row, place = index[1 - layout.axis], index[layout.axis]
        shown = [f"'result{list(index)}:', result[{', '.join(map(str, index))}]", f"'oracle:', {exact(row)}[{place}]"]
    return reproducer(outcome.call.spec, [*outcome.call.assignments(), f"result = {outcome.call.expression()}"], shown)


def check_forward(subject: Subject, op: Op, x: Argument, row_axis: int, chunks: tuple[int, ...] | None = None) -> None:
    """The op on the whole input against the oracle on ``chunks`` of its rows (all by default);
    then sampled rows of it against the same rows computed alone (``row_axis``)."""
    __tracebackhide__ = True
    chunks = compared_chunks(_recipe(x), sampled=False) if chunks is None else chunks
    layout, dtype = _layout(x), x.value.dtype
    work = oracle.reference_work(dtype)
    outcome = run(subject, op, "forward", x, _recipe(x).axis)

    def reference(k: int) -> tuple[np.ndarray, Bound]:
        xc = layout.view(x.value)[layout.rows(k)]
        terms = tolerance.row_terms(xc, -1, dtype)
        if np.dtype(work) == np.float64:
            exact = terms.softmax if op == "softmax" else terms.log_softmax
        else:
            exact = oracle.forward(op, xc, -1, work=work)
        return exact, tolerance.forward_bound(op, xc, -1, dtype, terms)

    comparison = Comparison(method_name(op, "forward"))
    forward_reference = _shared(f"{op}|forward|{_recipe(x).source()}", x, reference, chunks)
    _compare_chunks(comparison, outcome.actual, layout, forward_reference, chunks)
    comparison.conclude(
        outcome.where,
        lambda: _worst_element_source(
            outcome, comparison, layout, lambda row: f"oracle.forward({op!r}, {_row_expression('x', layout, row)}, -1)"
        ),
        dtype,
        _in_row(comparison, layout),
        explain=functools.partial(_worst_row_cause, op, "forward", x, [], outcome, comparison),
        native=functools.partial(native_script, outcome.call),
    )
    _rows_alone(subject, op, "forward", x, outcome, row_axis)


def seeded_vector(x: Argument, op: Op, stream: str, zero_fraction: float | None = None) -> Argument:
    """A seeded N(0, 1) vector shaped like the large input ``x``, named by ``stream`` (``zero_fraction``
    of its rows exactly 0), made once per run and shared by its workers."""
    base = _recipe(x)
    return _made(Seeded(base.shape, base.dtype, base.seed, f"{op}/{stream}", base.axis, "normal", zero_fraction))


def _vjp_exact(op: Op, xc: np.ndarray, gc: np.ndarray, dtype: Any) -> tuple[np.ndarray, Bound]:
    """The oracle's VJP of the rows ``xc`` with cotangent rows ``gc``, and its bound."""
    work = oracle.reference_work(dtype)
    terms = tolerance.row_terms(xc, -1, dtype)
    probabilities = terms.softmax if np.dtype(work) == np.float64 else None
    exact = oracle.vjp(op, xc, gc, -1, work=work, probabilities=probabilities)
    return exact, tolerance.vjp_bound(op, xc, gc, -1, dtype, terms)


def _vjp_reference(op: Op, x: Argument, cotangent: Argument, chunks: tuple[int, ...]) -> Reference:
    """Chunk k -> the oracle's VJP with ``cotangent`` and its bound, computed once per run."""
    layout, dtype = _layout(x), x.value.dtype
    rows_of_g = layout.view(cotangent.value)

    def reference(k: int) -> tuple[np.ndarray, Bound]:
        rows = layout.rows(k)
        return _vjp_exact(op, layout.view(x.value)[rows], rows_of_g[rows], dtype)

    return _shared(f"{op}|vjp|{_recipe(x).source()}|{_recipe(cotangent).source()}", x, reference, chunks)


def _vjp_oracle_source(op: Op, layout: Layout) -> Callable[[int], str]:
    def source(row: int) -> str:
        return (
            f"oracle.vjp({op!r}, {_row_expression('x', layout, row)}, {_row_expression('cotangent', layout, row)}, -1)"
        )

    return source


def check_vjp(
    subject: Subject, op: Op, x: Argument, cotangents: int, row_axis: int, chunks: tuple[int, ...] | None = None
) -> None:
    """``J^T g`` against the oracle on ``chunks`` of rows (all by default), for ``cotangents``
    seeded N(0, 1) cotangents.
    The first is exactly 0 on ZERO_ROW_FRACTION of the rows, where the VJP must be exactly 0
    (block structure); with it, sampled rows against the same rows computed alone (``row_axis``)."""
    __tracebackhide__ = True
    chunks = compared_chunks(_recipe(x), sampled=False) if chunks is None else chunks
    for number in range(cotangents):
        _check_vjp_with(subject, op, x, number, cotangents, row_axis, chunks)


def _check_vjp_with(
    subject: Subject, op: Op, x: Argument, number: int, cotangents: int, row_axis: int, chunks: tuple[int, ...]
) -> None:
    """The VJP with cotangent ``number``: one call of its own, so that the cotangent and the
    answer of one are freed before the next is made (two of each would be 2 more inputs' worth
    of memory at the peak)."""
    __tracebackhide__ = True
    layout, dtype = _layout(x), x.value.dtype
    cotangent = seeded_vector(x, op, f"cotangent-{number}", ZERO_ROW_FRACTION if number == 0 else None)
    outcome = run(subject, op, "vjp", x, _recipe(x).axis, [cotangent])
    if number == 0:
        _assert_zero_rows_are_zero(op, outcome, layout, _recipe(cotangent))
    comparison = Comparison(method_name(op, "vjp"))
    _compare_chunks(comparison, outcome.actual, layout, _vjp_reference(op, x, cotangent, chunks), chunks)
    note = _in_row(comparison, layout) + (f", with cotangent {number + 1} of {cotangents}" if cotangents > 1 else "")
    comparison.conclude(
        outcome.where,
        functools.partial(_worst_element_source, outcome, comparison, layout, _vjp_oracle_source(op, layout)),
        dtype,
        note,
        explain=functools.partial(_worst_row_cause, op, "vjp", x, [cotangent], outcome, comparison),
        native=functools.partial(native_script, outcome.call),
    )
    if number == 0:
        _rows_alone(subject, op, "vjp", x, outcome, row_axis)


def _assert_zero_rows_are_zero(op: Op, outcome: Outcome, layout: Layout, cotangent: Seeded) -> None:
    """The VJP is exactly 0 on every row where ``cotangent`` is (block structure), checked a
    chunk's worth of those rows at a time."""
    __tracebackhide__ = True
    zero_rows = cotangent.zero_rows
    view = layout.view(outcome.actual)
    wrong_rows: list[np.ndarray] = []
    nonzero_count = 0
    for start in range(0, zero_rows.size, layout.rows_per_chunk):
        picked = zero_rows[start : start + layout.rows_per_chunk]
        wrong = view[picked] != 0
        nonzero_count += int(np.count_nonzero(wrong))
        wrong_rows.append(picked[wrong.any(axis=1)])
        _busy()
    if not nonzero_count:
        return
    rows = np.concatenate(wrong_rows)
    row = int(rows[0])
    place = int(np.flatnonzero(view[row] != 0)[0])
    index = layout.index(row, place)
    value = view[row, place]
    quantity = method_name(op, "vjp")
    worst = WorstElement(quantity, tuple(index), float(value), 0.0)
    raise ConformanceFailure(
        f"{quantity}[{', '.join(map(str, index))}] = {format_value(value)}, but a row whose cotangent is 0 "
        f"must give exactly 0 (an output never depends on another row) {outcome.where}; "
        f"{nonzero_count} elements in {rows.size} such rows are not 0 "
        f"(the cotangent is 0 on {zero_rows.size} of {layout.batch} rows)",
        reproducer(
            outcome.call.spec,
            [*outcome.call.assignments(), f"result = {outcome.call.expression()}"],
            [
                f"'cotangent row {row} is all 0:', not {_row_expression('cotangent', layout, row)}.any()",
                f"'result{list(index)}:', result[{', '.join(map(str, index))}]",
            ],
        ),
        worst=worst,
        native_reproducer=native_script(outcome.call, worst, "but its cotangent's row is 0: expected exactly"),
    )


def _rows_alone(subject: Subject, op: Op, quantity: Quantity, x: Argument, batch: Outcome, row_axis: int) -> None:
    """SAMPLED_ROWS seeded rows of ``batch`` (the whole input's answer) against the same rows
    computed alone (1-d, ``row_axis``), with the same rows of the batch's vectors."""
    __tracebackhide__ = True
    base = _recipe(x)
    layout = base.layout
    rng = np.random.default_rng([base.seed, layout.batch, 7])
    picked = np.sort(rng.choice(layout.batch, size=min(SAMPLED_ROWS, layout.batch), replace=False))
    names = [name for name in batch.call.arrays if name != "x"]
    for row in (int(number) for number in picked):
        x_row = base.alone(x.value, row)
        row_vectors = []
        for name in names:
            recipe = batch.call.recipes[name]
            assert isinstance(recipe, Seeded)
            row_vectors.append(recipe.alone(batch.call.arrays[name], row))
        assert_row_alone_agrees(subject, op, quantity, batch, layout.axis, (row,), x_row, row_vectors, row_axis)


def check_large_input(
    subject: Subject, op: Op, x: Argument, row_axis: int, cotangents: int = 1, sampled: bool = False
) -> None:
    """Every check of the large tier on ``x``, under the machine's memory lock when it is huge;
    with ``sampled``, the oracle sees the chunks :func:`compared_chunks` picks."""
    __tracebackhide__ = True
    chunks = compared_chunks(_recipe(x), sampled)
    with exclusive_memory(x.value.nbytes * 4):
        check_forward(subject, op, x, row_axis, chunks)
        if provided_method(subject.adapter, op, "vjp") is not None:
            check_vjp(subject, op, x, cotangents, row_axis, chunks)
