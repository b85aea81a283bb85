"""The large tier: inputs past the sizes where real kernels change algorithm, in every run (in
``dev``, each (op, dtype) checks one of its two, as the run's block of the shape pool says: see
:mod:`conformance.inputs.covering`).

Each property takes one seeded input of its (op, dtype)'s pool (the same in every worker of a
run) and checks it as a whole, in O(N) memory: the forward pass and the VJP against the
oracle, every element (in ``dev``, a seeded sample of the rows and every row past 65535 rows and
2**24 elements), the VJP's block structure, and sampled rows against the same rows
computed alone (:mod:`conformance.checks.large.at_scale`). There is nothing for Hypothesis to draw:
the input is defined by its seed, and so is its reproducer.
"""

from __future__ import annotations

import pytest

from conformance.checks.large.at_scale import check_large_input, large_input, memory_short, reference_available
from conformance.checks.measure import count_example
from conformance.inputs.shape_pool import Site
from conformance.properties.marks import conformance_property

NOT_IN_BLOCK = "not drawn: this dev run's block of the shape pool gives this (op, dtype) the other large input"


def _check(subject, op, dtype, pool, site: Site | None, cotangents: int = 1, profile: str = "ci") -> None:
    if site is None:
        pytest.skip(NOT_IN_BLOCK if profile == "dev" else "no input of this size in this run")
    missing = reference_available(dtype)
    if missing is not None:
        pytest.skip(missing)
    short = memory_short(site, dtype, subject.framework)
    if short is not None:
        pytest.skip(short)
    count_example()
    x = large_input(site, dtype, pool.seed, op)
    check_large_input(subject, op, x, pool.row_axis, cotangents, sampled=profile == "dev")


@conformance_property("many_rows", needs=("forward",))
def test_more_rows_than_a_launch_grid_holds(subject, op, dtype, pool, run_profile):
    """More than 65535 rows; in the half types, past 2**24 elements too."""
    _check(subject, op, dtype, pool, pool.many_rows, profile=run_profile)


@conformance_property("vocabulary_rows", needs=("forward",))
def test_rows_longer_than_a_16_bit_counter_counts(subject, op, dtype, pool, run_profile):
    """Rows of a real language model's vocabulary, 100277 to 262144 logits."""
    _check(subject, op, dtype, pool, pool.vocabulary, profile=run_profile)


@conformance_property("past_2_31_elements", needs=("forward",), dtypes=("float16",), profiles=("thorough",))
def test_more_elements_than_int32_indices_reach(subject, op, dtype, pool):
    """Past 2**31 elements (float16, 4 GiB), in the thorough profile."""
    _check(subject, op, dtype, pool, pool.huge)


@conformance_property("large_input", needs=("forward",), on_request=True)
def test_the_large_input_bench_asks_for(subject, op, dtype, pool, large_site, large_cotangents):
    """The input ``bench`` gives (``--elements``, ``--row-length``), and only when asked."""
    _check(subject, op, dtype, pool, large_site, large_cotangents)
